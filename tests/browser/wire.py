"""What went over loopback, recorded by tcpdump and read back by tshark: a witness that trusts no one.

A test that wants to prove what a browser put on the wire cannot ask the
software under test (the relay, the server) what it received. ``Wire(port)``
records every TCP segment to and from ``port`` on the loopback interface with
Debian's tcpdump while the test runs; ``streams()`` reads the capture with
tshark and puts each connection's two byte streams back together from the
segments' sequence numbers, refusing a stream with a hole in it.

Needs tcpdump and tshark (``make test`` installs them) and the right to capture
on ``lo`` (root, or CAP_NET_RAW).
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..tools import need_root, need_tools

START_TIMEOUT = 10.0


@dataclass
class TcpStream:
    """One TCP connection: what the client sent and what the server sent, each as one byte string."""

    client_port: int
    client: bytes
    server: bytes


class Wire:
    """tcpdump on ``lo`` for one TCP port, from ``start()`` to ``stop()``."""

    def __init__(self, port: int, directory: Path) -> None:
        need_tools("tcpdump", "tshark", why="the witness of what the browser put on the wire")
        need_root("tcpdump captures on the loopback interface")
        self.port = port
        self.path = directory / f"loopback-{port}.pcap"
        self.log = directory / f"tcpdump-{port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Wire:
        log = open(self.log, "wb")
        self.process = subprocess.Popen(
            # --immediate-mode: each packet is handed over as it comes, not held in a buffer that an
            # interrupt would throw away; -U: each one written to the file at once; -B: a 64 MiB
            # capture buffer, so that a busy machine does not make the kernel drop packets.
            ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-B", "65536", "-s", "0", "-w", str(self.path),
             "tcp", "port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while b"listening on" not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tcpdump did not start: {self.log.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.05)
        return self

    def stop(self) -> str:
        """Stop recording; tcpdump's own report (packets captured, dropped: a drop makes the record
        no witness, so the tests check there was none)."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return self.log.read_text(errors="replace")

    def streams(self) -> list[TcpStream]:
        """Every connection to ``port`` in the recording, its two directions reassembled."""
        out = subprocess.run(
            ["tshark", "-r", str(self.path), "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=/t",
             "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.seq", "-e", "tcp.payload"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        segments: dict[tuple[int, int], dict[int, bytes]] = {}
        ports: dict[int, int] = {}
        for line in out.stdout.splitlines():
            stream, src, dst, seq, payload = line.split("\t")
            client = int(dst) if int(src) == self.port else int(src)
            ports[int(stream)] = client
            segments.setdefault((int(stream), int(src)), {})[int(seq)] = bytes.fromhex(payload.replace(":", ""))
        return [TcpStream(client, _joined(segments.get((s, client), {})), _joined(segments.get((s, self.port), {})))
                for s, client in sorted(ports.items())]


def _joined(segments: dict[int, bytes]) -> bytes:
    """Segments keyed by sequence number as one byte string; a retransmission counts once, a hole fails."""
    data = bytearray()
    if not segments:
        return b""
    start = min(segments)
    for seq in sorted(segments):
        offset = seq - start
        assert offset <= len(data), f"a hole of {offset - len(data)} bytes in the recorded stream"
        chunk = segments[seq]
        data[offset : offset + len(chunk)] = chunk
    return bytes(data)
