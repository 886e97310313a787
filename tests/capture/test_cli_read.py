"""``wsexplore read FILE [--summary]``: the lines ``serve`` prints, for any recording; exit 0, 1 or 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wsexplore.capture import Capture
from wsexplore.capture.lines import format_record
from wsexplore.cli import main
from wsexplore.live.console import DEFAULT_KINDS

from .recordings import editcap, load, packet_numbers, record


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "r.pcapng"
    record(path, conversations=("full", "raw"))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_read_prints_the_serve_lines(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["read", str(recording)], capsys)
    assert code == 0, err
    expected = [format_record(r) for r in load(recording) if r.kind in DEFAULT_KINDS]
    assert out.splitlines() == expected
    assert any(" in  → BINARY " in line and "len=71680" in line for line in expected)


def test_read_summary(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["read", "--summary", str(recording)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["conn", "peer", "status", "in", "out", "messages", "close"]
    assert len(lines) == 4  # two connections, then what the file held
    assert lines[-1].startswith("pcapng: ") and "2 WebSocket connections with a handshake" in lines[-1]
    assert load(recording).summary().splitlines() == lines[:3]


def test_read_exits_1_for_a_gap(recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "lost.pcapng"
    editcap(recording, target, str(packet_numbers(recording, "websocket.opcode==2")[0]))
    code, out, err = run(["read", str(target)], capsys)
    assert code == 1
    assert "error gap: " in out or " gap: " in out
    assert "0 frames broke a rule; 1 error record" in err


def test_read_exits_1_for_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = Capture()
    cap.opened(1, ("127.0.0.1", 5), b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 OK\r\n\r\n", 101)
    from wsexplore.protocol.connection import Connection
    from wsexplore.protocol.frames import Frame

    conn = Connection("server")
    cap.record_events(1, conn.receive_data(Frame(1, b"hi").encode()))  # unmasked from a client
    cap.save(tmp_path / "bad.jsonl")
    code, out, err = run(["read", str(tmp_path / "bad.jsonl")], capsys)
    assert code == 1 and "!! FramingError" in out and "1 frame broke a rule" in err


@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot open {path}: No such file or directory"),
    (b"hello", "{path}: not a capture file: it starts with 68 65 6c 6c 6f"),
    (b'{"format": "wsexplore-capture", "version": 99}\n',
     "{path}: line 1, field 'version': capture format version 99 is not supported"),
])
def test_read_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None,
                                    reason: str) -> None:
    path = tmp_path / "file"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(["read", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("wsexplore read: " + reason.format(path=path))


def test_read_into_a_closed_pipe_stops_quietly(recording: Path) -> None:
    command = f"{sys.executable} -m wsexplore read {recording} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.count("\n") == 1 and "Traceback" not in result.stderr


def test_lines_read_before_a_broken_block_are_printed_before_the_error(recording: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pcapng"
    broken.write_bytes(recording.read_bytes() + b"\x06\x00\x00\x00\x0d\x00\x00\x00" + bytes(8))  # length 13
    code, out, err = run(["read", str(broken)], capsys)
    assert code == 2
    assert out.splitlines() == [format_record(r) for r in load(recording) if r.kind in DEFAULT_KINDS]
    assert err.count("\n") == 1 and "block length 13 is not a multiple of 4" in err
