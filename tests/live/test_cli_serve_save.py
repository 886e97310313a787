"""``wsexplore serve --save``: the path is tried before serving, the capture is written while it grows
(so a crash loses little), and compressed frames read as deflate data on the console."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from wsexplore.capture import Capture, FrameRecord, MessageRecord
from wsexplore.cli import main

from .test_cli_serve import LINE, TIMEOUT, serve_process  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(("where", "reason"), [
    ("dir", "is a directory"),
    ("missing/capture.jsonl", "no directory"),
    ("/proc/wsexplore-capture.jsonl", "cannot create a file in /proc"),
])
def test_an_unusable_save_path_is_refused_before_serving(where: str, reason: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dir").mkdir()
    path = where if where.startswith("/") else str(tmp_path / where)
    code = main(["serve", "--port", "0", "--save", path])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"cannot save to {path}: " in err and reason in err
    assert "listening" not in out  # refused before the server started, not after its capture is gone


def test_save_every_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--save", str(tmp_path / "c.jsonl"), "--save-every", "0"]) == 2
    assert "--save-every must be a positive" in capsys.readouterr().err


def _load_when(path: Path, predicate, timeout: float = TIMEOUT) -> Capture:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            cap = Capture.load(path)
            if predicate(cap):
                return cap
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never held the expected records")
        time.sleep(0.05)


def test_the_capture_is_written_while_serving_and_survives_a_crash(serve_process, tmp_path: Path) -> None:
    saved = tmp_path / "capture.jsonl"
    server = serve_process("--save", str(saved), "--save-every", "0.2")
    url = server.url()
    server.wait_for(r"saved to .* every 0\.2 s")
    assert saved.exists() and Capture.load(saved).connections == ()  # written at once, empty
    with connect(url, compression=None) as ws:
        ws.send("before the crash")
        assert ws.recv() == "before the crash"
        cap = _load_when(saved, lambda c: any(isinstance(r, MessageRecord) and r.data == "before the crash"
                                              for r in c))
        assert server.proc.poll() is None  # written while the server still runs
        server.proc.send_signal(signal.SIGKILL)  # a crash: no handler, no final save
        server.proc.wait(timeout=TIMEOUT)
    kept = Capture.load(saved)
    assert [r.seq for r in kept] == [r.seq for r in cap]
    assert any(isinstance(r, FrameRecord) and r.payload == b"before the crash" for r in kept)
    assert not list(tmp_path.glob(".capture.jsonl.*"))  # no temporary file left beside it


def test_the_console_shows_compressed_frames_as_deflate_data(serve_process) -> None:
    server = serve_process("--compression", "deflate")
    url = server.url()
    message = "发送数据" * 20
    with connect(url, compression="deflate") as ws:
        ws.send(message)
        assert ws.recv() == message
    server.wait_for(r"out ← message TEXT 240 B")
    assert server.stop() == 0
    frames = [line for line in server.lines if LINE.match(line) and " TEXT " in line and "RSV1=1" in line]
    assert len(frames) == 2 and all("deflate data " in line for line in frames), server.lines
    assert not any("not UTF-8" in line for line in server.lines)
    inflated = [line for line in server.lines if " message TEXT 240 B in 1 frame, inflated from " in line]
    assert len(inflated) == 2 and all(json.dumps(message, ensure_ascii=False)[:20] in line for line in inflated)
