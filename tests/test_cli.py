"""``wsexplore decode``: output and exit status 0 (valid), 1 (violation), 2 (unusable input)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    characters are the bytes dissected. What shows the mix-up is the diagram, which writes
    each byte with its character, so the hex digits of the dump are there to read."""
    text = "81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48\n"
    path = tmp_path / "frames.hex"
    path.write_text(text, encoding="ascii")
    code, out, err = run(["decode", "--file", str(path)], capsys)
    assert err == ""
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
    assert code == 0 and out.strip() == f"wsexplore {version('wsexplore')}"
