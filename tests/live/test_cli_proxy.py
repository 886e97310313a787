"""``wsexplore proxy``: a real tap process in front of a real ``wsexplore serve`` process, a real client."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from websockets.sync.client import connect

from wsexplore.capture import Capture, FrameRecord, OpenRecord
from wsexplore.cli import main

from .test_cli_serve import TIMEOUT, ServeProcess


class ProxyProcess(ServeProcess):
    """``wsexplore proxy`` in a subprocess, read as ``ServeProcess`` reads ``serve``."""

    def __init__(self, *args: str) -> None:  # noqa: D107 - the same reader, another command
        exe = Path(sys.executable).parent / "wsexplore"
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "wsexplore"]
        env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([*command, "proxy", "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@pytest.fixture
def processes():
    started: list[ServeProcess] = []
    yield started
    for p in started:
        p.kill()


def test_proxy_prints_both_legs_and_saves_on_sigterm(processes, tmp_path: Path) -> None:
    upstream = ServeProcess()
    processes.append(upstream)
    upstream_url = upstream.url()
    saved = tmp_path / "tap.jsonl"
    tap = ProxyProcess("--upstream", upstream_url, "--save", str(saved))
    processes.append(tap)
    tap.wait_for(rf"passing connections on to {upstream_url}")
    url = tap.url()
    with connect(url, compression=None) as ws:
        ws.send("through the tap")
        assert ws.recv(timeout=TIMEOUT) == "through the tap"
    handshake = tap.wait_for(r"#1\s+handshake 127\.0\.0\.1:\d+ via tap GET / HTTP/1\.1 \| -> HTTP/1\.1 101").string
    assert f"note: tap to {upstream_url}" in handshake
    tap.wait_for(r'#1\s+in  → TEXT\s+FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=1 len=15 key=[0-9a-f]{8} "through the tap"')
    tap.wait_for(r'#1\s+out ← TEXT\s+FIN=1 RSV1=0 RSV2=0 RSV3=0 MASK=0 len=15 key=- "through the tap"')
    tap.wait_for(r"#1\s+closed 1000: normal closure, closed first by the client, clean")
    assert tap.stop(signal.SIGTERM) == 0
    assert any("stopping (SIGTERM)" in line for line in tap.lines)
    capture = Capture.load(saved)
    opened = next(r for r in capture if isinstance(r, OpenRecord))
    assert opened.via == "tap" and opened.forwarded_request is not None
    directions = [r.direction for r in capture if isinstance(r, FrameRecord)]
    assert directions.count("in") == 2 and directions.count("out") == 2  # text and close, each way


def test_a_dead_upstream_is_a_502_line(processes) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        tap = ProxyProcess("--upstream", f"ws://127.0.0.1:{port}/")
        processes.append(tap)
        url = tap.url()
        with pytest.raises(Exception, match="502"):
            connect(url, open_timeout=TIMEOUT)
    tap.wait_for(r"handshake .* -> HTTP/1\.1 502 Bad Gateway \| \(refused: \"wsexplore tap: cannot reach the upstream")
    assert tap.stop() == 0


def test_proxy_argument_errors(capsys) -> None:
    assert main(["proxy", "--upstream", "http://example.org/"]) == 2
    assert "ws:// or wss://" in capsys.readouterr().err
    assert main(["proxy", "--upstream", "ws://127.0.0.1:1/", "--insecure"]) == 2
    assert "wss://" in capsys.readouterr().err
    assert main(["proxy", "--upstream", "ws://127.0.0.1:1/", "--save", "/no/such/dir/x.jsonl"]) == 2
    assert "no directory" in capsys.readouterr().err
    assert main(["proxy"]) == 2  # --upstream is required
