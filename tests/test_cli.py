"""``wsexplore decode``: output and exit status 0 (valid), 1 (violation), 2 (unusable input)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wsexplore.cli import HexError, main, parse_hex

CHROMIUM = "81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48 82 83 e8 5d 0b 2b e9 5f 08"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_hex_accepts_common_dump_forms() -> None:
    assert parse_hex("81 8c\n55:d0 0xe1 0XE6") == bytes.fromhex("818c55d0e1e6")
    assert parse_hex("0x818c") == b"\x81\x8c"
    assert parse_hex("") == b""


@pytest.mark.parametrize(("text", "message"), [
    ("81 8g", "not hex: 'g' at position 5"),
    ("81\n8c zz", "not hex: 'z' at position 7 (line 2, column 4)"),
    ("810x8c", "not hex: 'x' at position 4"),
    ("81 8", "odd number of hex digits (3)"),
])
def test_parse_hex_errors(text: str, message: str) -> None:
    with pytest.raises(HexError) as info:
        parse_hex(text)
    assert message in str(info.value)


def test_decode_two_valid_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["decode", *CHROMIUM.split()], capsys)
    assert code == 0, err
    assert "== frame 1 at offset 0 (18 bytes) ==" in out
    assert "== frame 2 at offset 18 (9 bytes) ==" in out
    assert "|1|0|0|0|0 0 0 1|1|0 0 0 1 1 0 0|0 1 0 1 0 1 0 1 1 1 0 1 0 0 0 0|" in out
    assert '"发送数据"' in out and "unmasked 01 02 03" in out
    assert out.count("no violation") == 2
    assert out.rstrip().endswith("2 frames in 27 bytes: all valid")


def test_decode_violation_exits_1_after_printing_everything(capsys: pytest.CaptureFixture[str]) -> None:
    # An unmasked frame is a violation for the default role (server), then a valid masked frame.
    code, out, _ = run(["decode", "81 02 68 69", "82 83 e8 5d 0b 2b e9 5f 08"], capsys)
    assert code == 1
    assert "violation: FramingError: [MASK, bit 8]" in out
    assert "== frame 2 at offset 4 (9 bytes) ==" in out
    assert "2 frames in 13 bytes: 1 with a violation" in out


def test_decode_role_client(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["decode", "--role", "client", "81 02 68 69"], capsys)[0] == 0
    assert run(["decode", "--role", "client", CHROMIUM], capsys)[0] == 1


def test_decode_truncated_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["decode", "81 8c 55 d0 e1 e6 b0"], capsys)
    assert code == 1
    assert "TruncatedFrame" in out and "11 bytes missing" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["decode", "81", "zz"], "not hex: 'z' at position 4"),
    (["decode", "818"], "odd number of hex digits"),
    (["decode", "  "], "no bytes to decode"),
    (["decode", "--file", "/nonexistent/frames.bin"], "cannot read /nonexistent/frames.bin"),
])
def test_decode_unusable_input_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert out == ""


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["decode", "--role", "proxy", "81 00"]) == 2
    assert main(["decode", "--help"]) == 0
    assert "--role" in capsys.readouterr().out


def test_decode_file_reads_raw_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "frames.bin"
    path.write_bytes(bytes.fromhex(CHROMIUM))
    code, out, _ = run(["decode", "--file", str(path)], capsys)
    assert code == 0 and "2 frames in 27 bytes" in out


def test_decode_reads_hex_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("0x81:0x8c 55 d0 e1 e6\nb0 5f 70 0f d5 51 07 73 e5 36 6c 48\n"))
    code, out, _ = run(["decode", "-"], capsys)
    assert code == 0 and "1 frame in 18 bytes: all valid" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("81 02 68 69"))
    assert run(["decode"], capsys)[0] == 1


def test_decode_file_holding_hex_text_is_read_as_raw_bytes(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``--file`` is raw bytes by contract, even when the file holds a hex dump: its ASCII
    characters are the bytes dissected, and one line on stderr says the file looks like hex.
    The diagram writes each byte with its character, so the hex digits of the dump are there to read."""
    text = "81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48\n"
    path = tmp_path / "frames.hex"
    path.write_text(text, encoding="ascii")
    code, out, err = run(["decode", "--file", str(path)], capsys)
    assert err.count("\n") == 1 and f"{path} looks like hex text; --file reads raw bytes" in err
    assert f"wsexplore decode - < {path}" in err
    assert code == 1  # '8' (0x38) reads as FIN=0, RSV2=1, RSV3=1, a CLOSE opcode: a violation
    first = ord(text[0])
    bits = "|".join(f"{first:08b}"[:4]) + "|" + " ".join(f"{first:08b}"[4:])
    assert f"|{bits}|" in out  # the first frame's first byte is the character '8', bit by bit
    assert "== frame 1 at offset 0 (" in out
    assert re.search(r"\b38 ['\"]8['\"]", out), out  # the byte shown with its character
    assert "55 d0 e1 e6" in out  # the dump's own text, read as a close reason
    assert out.rstrip().endswith(f"in {len(text)} bytes: 2 with a violation")
    # The same dump given as HEX is the one valid frame it spells.
    code, out, _ = run(["decode", text], capsys)
    assert code == 0 and out.rstrip().endswith("1 frame in 18 bytes: all valid")


def test_decode_file_of_raw_bytes_gives_no_hex_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "frames.bin"
    path.write_bytes(bytes.fromhex(CHROMIUM))
    assert run(["decode", "--file", str(path)], capsys)[2] == ""


def test_decode_of_a_missing_file_name_as_hex_suggests_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["decode", str(tmp_path / "frames.bin")], capsys)
    assert code == 2 and out == ""
    assert err == f"wsexplore decode: not hex: '/' at position 1; to read a file's bytes, use --file PATH\n"
    # Plain bad hex gets no such hint.
    assert "--file" not in run(["decode", "81", "zz"], capsys)[2]


def test_decode_of_a_file_path_as_hex_suggests_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "frames.bin"
    path.write_bytes(bytes.fromhex(CHROMIUM))
    code, out, err = run(["decode", str(path)], capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"wsexplore decode: {path} is a file; HEX arguments are hex text: to read the file's bytes, " \
                       f"use --file {path}"
    assert lines[1].startswith("wsexplore decode: not hex: ")
    # A file whose name happens to be hex is still pointed out, and the name decoded as hex.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "8100").write_bytes(b"")
    code, out, err = run(["decode", "8100"], capsys)
    assert "8100 is a file" in err and "use --file 8100" in err
    assert code == 1 and "1 frame in 2 bytes: 1 with a violation" in out  # unmasked, read by a server


def test_decode_summary_prints_one_line_per_frame_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["decode", "--summary", CHROMIUM], capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == [
        '#1 @0 TEXT         FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=1 len=12 key=55d0e1e6 "发送数据"',
        "#2 @18 BINARY       FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=1 len=3 key=e85d0b2b 01 02 03",
        "opcodes: TEXT 1, BINARY 1",
        "2 frames in 27 bytes: all valid",
    ]


def test_decode_summary_line_is_the_console_line_of_the_frame(capsys: pytest.CaptureFixture[str]) -> None:
    """The same frame, seen by the capture console (``serve``) and by ``decode --summary``: one form."""
    from wsexplore.capture import Capture
    from wsexplore.capture.lines import format_body
    from wsexplore.protocol.connection import Connection

    capture = Capture()
    # The two frames, then an unmasked one: a violation the connection reports as such.
    wire = bytes.fromhex(CHROMIUM) + bytes.fromhex("81 02 68 69")
    capture.record_events(1, Connection("server").receive_data(wire))
    console = [format_body(r).removeprefix("in  → ") for r in capture if r.kind == "frame" and r.direction == "in"]
    assert len(console) == 3
    code, out, _ = run(["decode", "--summary", wire.hex()], capsys)
    assert code == 1
    assert [line.split(" ", 2)[2] for line in out.splitlines()[:3]] == console


@given(st.booleans(), st.sampled_from([0, 0, 0, 1, 2, 4, 7]), st.sampled_from([1, 1, 2, 2, 0, 8, 9, 10, 3, 15]),
       st.one_of(st.binary(max_size=300), st.text(max_size=60).map(str.encode)),
       st.one_of(st.none(), st.binary(min_size=4, max_size=4)), st.sampled_from(["server", "client"]),
       st.integers(0, 3), st.binary(max_size=3), st.data())
@example(True, 0, 1, "発".encode(), b"\x01\x02\x03\x04", "server", 0, b"", None)
@example(True, 0, 1, b"hi", b"\x01\x02\x03\x04", "server", 3, b"", None)  # a 16-bit length of 2
@example(True, 0, 2, b"\x01", b"\x01\x02\x03\x04", "client", 0, b"", None)  # masked, read by a client
@example(False, 0, 1, "発".encode()[:2], None, "client", 0, b"", None)  # a character the next frame ends
@settings(max_examples=300)
def test_decode_summary_reads_common_frames_quickly_and_says_what_judging_says(
        fin: bool, rsv: int, opcode: int, payload: bytes, key: bytes | None, role: str, length_form: int,
        after: bytes, data) -> None:
    """``--summary`` reads most frames straight from their bytes; for any header bits, any length
    encoding (minimal or not), masked or not, cut short or followed by more bytes, its line is the
    line of the frame judged by every rule."""
    from wsexplore.cli_decode import _judged_summary, _summary
    from wsexplore.protocol.framing import FramePiece

    b0, n = fin << 7 | rsv << 4 | opcode, len(payload)
    forms = [bytes([n]) if n < 126 else None, bytes([126]) + n.to_bytes(2, "big"),
             bytes([127]) + n.to_bytes(8, "big"), bytes([126]) + n.to_bytes(2, "big")]
    form = forms[length_form]
    if form is None:
        form = forms[1]
    masked = bytes([form[0] | (0x80 if key is not None else 0)]) + form[1:]
    body = payload if key is None else bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    raw = bytes([b0]) + masked + (key or b"") + body + after
    if data is not None:
        raw = raw[:data.draw(st.integers(1, len(raw)), label="cut")]
    piece = FramePiece(7, raw, len(raw))
    assert _summary(3, piece, role, 1 << 20) == _judged_summary(3, piece, role, 1 << 20)


def test_decode_summary_names_each_violation(capsys: pytest.CaptureFixture[str]) -> None:
    # An unmasked frame (a violation for a server), a valid one, then a frame the input cuts short.
    code, out, _ = run(["decode", "--summary", "81 02 68 69", "82 83 e8 5d 0b 2b e9 5f 08", "81 8c 55 d0 e1"],
                       capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith('#1 @0 TEXT         FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=0 len=2 key=- "hi" !! FramingError:')
    assert lines[1].startswith("#2 @4 BINARY") and "!!" not in lines[1]
    assert lines[2].startswith("#3 @13 TEXT") and "len=12 key=55d0e1 (payload not complete of 12 B)" not in lines[2]
    assert "(payload not complete of 12 B) !! TruncatedFrame:" in lines[2]
    assert lines[3:] == ["opcodes: TEXT 2, BINARY 1", "violations: FramingError 1, TruncatedFrame 1",
                         "3 frames in 18 bytes: 2 with a violation"]


def _frame(payload: bytes, opcode: int = 0x2, key: bytes = b"\x01\x02\x03\x04") -> bytes:
    from wsexplore.protocol.frames import Frame

    return Frame(opcode, payload, mask_key=key).encode()


@pytest.mark.parametrize("summary", [False, True])
def test_decode_a_frame_longer_than_max_frame_size_is_shown_as_far_as_it_and_passed_over(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], summary: bool) -> None:
    long, short = _frame(bytes(5000)), _frame(b"ok", 0x1)
    path = tmp_path / "frames.bin"
    path.write_bytes(long + short)
    code, out, err = run(["decode", "--file", str(path), "--max-frame-size", "100"] + ["--summary"] * summary,
                         capsys)
    assert code == 0 and err == ""
    if summary:
        first, second = out.splitlines()[:2]
        assert first.startswith("#1 @0 BINARY") and first.endswith(
            "(payload not complete of 5000 B) (100 of 5000 payload bytes kept, the rest not judged)")
        assert "!!" not in first
        assert second == f'#2 @{len(long)} TEXT         FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=1 len=2 key=01020304 "ok"'
    else:
        assert f"== frame 1 at offset 0 (108 bytes of {len(long)}) ==" in out
        assert (f"(frame of {len(long)} bytes: its payload is longer than --max-frame-size (100 bytes), so only its"
                f" first 108 bytes are dissected; 4900 more bytes read and passed over, not judged)") in out
        assert f"== frame 2 at offset {len(long)} ({len(short)} bytes) ==" in out
    assert out.rstrip().endswith(f"2 frames in {len(long) + len(short)} bytes: all valid; 1 not judged past"
                                 " --max-frame-size")


def test_decode_a_long_frame_the_input_ends_inside_is_a_violation(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # A 64-bit length of 2^40 bytes (a header that announces far more than the input holds).
    head = bytes((0x82, 0xFF)) + (1 << 40).to_bytes(8, "big") + b"\x01\x02\x03\x04"
    path = tmp_path / "frames.bin"
    path.write_bytes(head + bytes(3000))
    code, out, _ = run(["decode", "--file", str(path), "--max-frame-size", "1000"], capsys)
    assert code == 1
    assert "2000 more bytes read and passed over, not judged; the input ends" in out
    assert out.rstrip().endswith(f"1 frame in {len(head) + 3000} bytes: 1 with a violation")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_decode_shows_progress_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from wsexplore import cli_decode

    monkeypatch.setattr(cli_decode, "PROGRESS_EVERY", 0.0)  # every look at the clock updates it
    monkeypatch.setattr(cli_decode, "_PROGRESS_CHECK", 2)  # and it looks every 2 frames
    data = b"".join(_frame(bytes([i])) for i in range(5))
    path = tmp_path / "frames.bin"
    path.write_bytes(data)
    out, err = io.StringIO(), _Tty()
    code = cli_decode.run_decode(_args(["decode", "--summary", "--file", str(path)]), out, err, io.StringIO())
    assert code == 0
    shown = err.getvalue()
    assert f"\rdecode: 2 frames, 0.0 MB of 0.0 MB (100%) " in shown and "\rdecode: 4 frames" in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is cleared at the end
    assert out.getvalue().count("\n") == 5 + 2
    # Not on a terminal, or when the frames themselves go to the terminal: no progress.
    for out, err in ((io.StringIO(), io.StringIO()), (_Tty(), _Tty())):
        cli_decode.run_decode(_args(["decode", "--summary", "--file", str(path)]), out, err, io.StringIO())
        assert err.getvalue() == ""


class _HexStream(io.TextIOBase):
    """A text stream of ``frames`` hex-dumped frames, made as it is read (never all in memory)."""

    def __init__(self, frame: bytes, frames: int) -> None:
        self.line = frame.hex(" ") + "\n"
        self.left = frames
        self.calls: list[int] = []

    def read(self, size: int | None = -1) -> str:
        self.calls.append(-1 if size is None else size)
        assert size is not None and 0 < size <= 1 << 20, "stdin must be read a piece at a time"
        count = min(self.left, max(1, size // len(self.line)))
        self.left -= count
        return self.line * count


def test_decode_streams_a_large_input_in_flat_memory(tmp_path: Path) -> None:
    """Input and output go a piece at a time: the peak of memory allocated while decoding 12 MiB (from a
    file) or 24 MB of hex text (from stdin) stays a small fraction of the input."""
    import tracemalloc

    from wsexplore import cli_decode

    frame = _frame(bytes(range(200)) * 40)  # 8000-byte payloads: few frames, much data
    path = tmp_path / "big.bin"
    count = 12 * (1 << 20) // len(frame)
    with open(path, "wb") as fh:
        for _ in range(count):
            fh.write(frame)
    for argv, stdin in ((["decode", "--summary", "--file", str(path)], io.StringIO()),
                        (["decode", "--summary", "-"], _HexStream(frame, count)),
                        (["decode", "--file", str(path)], io.StringIO())):
        out = open(tmp_path / "out.txt", "w", encoding="utf-8")  # noqa: SIM115
        tracemalloc.start()
        try:
            code = cli_decode.run_decode(_args(argv), out, io.StringIO(), stdin)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            out.close()
        assert code == 0
        assert peak < 8 << 20, f"{argv}: {peak} bytes at the peak"
        last = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()[-1]
        assert last == f"{count} frames in {count * len(frame)} bytes: all valid"
        if isinstance(stdin, _HexStream):
            assert stdin.left == 0 and len(stdin.calls) > 10


def _args(argv: list[str]):  # type: ignore[no-untyped-def]
    from wsexplore.cli import _build_parser

    return _build_parser().parse_args(argv)


def test_console_script_is_installed_and_runs() -> None:
    """``make test`` installs the package, so the ``wsexplore`` console script must be there and work."""
    exe = Path(sys.executable).parent / "wsexplore"
    assert exe.is_file(), f"the console script {exe} is missing: install the package (pip install -e '.[test]')"
    done = subprocess.run([str(exe), "decode", *CHROMIUM.split()], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "== frame 1 at offset 0 (18 bytes) ==" in done.stdout
    assert "== frame 2 at offset 18 (9 bytes) ==" in done.stdout
    assert done.stdout.rstrip().endswith("2 frames in 27 bytes: all valid")
    done = subprocess.run([str(exe), "decode", "nothex"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not hex: 'n' at position 1" in done.stderr
    assert done.stdout == ""
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "decode" in done.stdout and "serve" in done.stdout


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run(["--version"], capsys)
    from wsexplore.protocol.masking import ACCELERATED

    # Whether the C extension was built is checked in tests/protocol/test_masking.py; here, that it is said.
    masking = "masking in C" if ACCELERATED else "masking in Python, without its C extension"
    assert code == 0 and out.strip() == f"wsexplore {version('wsexplore')} ({masking})"


def test_version_says_when_masking_runs_without_the_c_extension() -> None:
    from wsexplore.protocol.masking import NO_SPEEDUPS

    env = {**os.environ, NO_SPEEDUPS: "1"}
    done = subprocess.run([sys.executable, "-m", "wsexplore", "--version"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert " ".join(done.stdout.split()).endswith("(masking in Python, without its C extension)")
