"""Group "limits": what a hostile or greedy peer costs everyone else, measured on real sockets.

* **Round trips while another peer floods**: a monitor (``websockets`` client) times 32-byte
  text round trips on one connection while a raw socket floods another connection with the
  smallest text frames and reads the echoes. Against our server twice, each in its own
  process: ``Server()`` as a library uses it, and ``wsexplore serve``, which also prints a
  line per frame (to /dev/null here, a terminal costs more).
* **A request head sent one line per write**: eight clients each send an 8 KiB head a line
  at a time (``TCP_NODELAY``, a pause after each line so that each is a read of its own);
  the server's CPU time (``/proc/PID/stat``) per head, next to the clients' own.
* **Memory per 100 MiB of capture**: a ``Capture(max_bytes=100 MiB)`` filled until it has
  turned over once through ``record_events`` (the live path) with what a server ``Connection``
  reported, then read as the console reads it (``format_record`` of every record);
  ``tracemalloc`` and the process's resident size (RSS), in MiB per 100 MiB of bound.

The machine is shared: times move with its load, so run it a few times.
``benchmarks/run.py limits``; checked out elsewhere, the same file measures that version.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
ROUND_TRIPS = 200
GAP = 0.005  # seconds between the monitor's round trips
MONITOR_FOR = 60.0  # seconds at most: a server that is not fair may take seconds a round trip
HEAD_SENDERS = 8
HEAD_BYTES = 8 * 1024
LINE_PAUSE = 0.002
MIB = 1024 * 1024
BOUND = 100 * MIB
MASK = b"\x01\x02\x03\x04"
STARTUP_TIMEOUT = 20.0


# ============================================================================ server processes
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Served:
    """``wsexplore serve`` (console to /dev/null) or a bare ``Server()``, in a process of its own."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = _free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        if kind == "serve":
            args = [sys.executable, "-m", "wsexplore", "serve", "--port", str(self.port)]
        else:
            code = ("import asyncio, sys, wsexplore\n"
                    "async def main():\n"
                    f"    server = await wsexplore.Server({HOST!r}, {self.port}).start()\n"
                    "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n"
                    "    await server.stop()\n"
                    "asyncio.run(main())\n")
            args = [sys.executable, "-c", code]
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err,
                                     cwd=ROOT, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    self._err.seek(0)
                    raise RuntimeError(f"{kind} did not start: {self._err.read()[-2000:]!r}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/"

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as fp:
            fields = fp.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _upgrade(port: int, extra: str = "") -> bytes:
    return (f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def _masked_text(payload: bytes) -> bytes:
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + masked


# ============================================================================ flood and monitor
async def _flood(port: int, stop: asyncio.Event) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(_upgrade(port))
    await reader.readuntil(b"\r\n\r\n")
    chunk = _masked_text(b"hi") * 16_384  # 128 KiB of 8-byte frames a write

    async def drop() -> None:
        while await reader.read(1 << 16):
            pass

    sink = asyncio.get_running_loop().create_task(drop())
    sent = 0
    try:
        while not stop.is_set():
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
    finally:
        writer.transport.abort()
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
    return sent


async def _round_trips(url: str, flood: bool, port: int) -> tuple[list[float], int]:
    from websockets.asyncio.client import connect

    stop = asyncio.Event()
    flooding = asyncio.get_running_loop().create_task(_flood(port, stop)) if flood else None
    if flooding is not None:
        await asyncio.sleep(0.5)  # under way
    times = []
    try:
        async with connect(url, compression=None, open_timeout=20, max_queue=None) as ws:
            message = "x" * 32
            deadline = time.perf_counter() + MONITOR_FOR
            for _ in range(ROUND_TRIPS):
                if time.perf_counter() > deadline:
                    break
                t0 = time.perf_counter()
                await ws.send(message)
                await asyncio.wait_for(ws.recv(), 30)
                times.append(time.perf_counter() - t0)
                await asyncio.sleep(GAP)
    finally:
        stop.set()
        sent = await flooding if flooding is not None else 0
    return times, sent


def _latency_table():
    from common import Table

    table = Table("limits: the monitor's 32 B round trips while another connection floods (ms)",
                  ["server", "flood", "round trips", "median", "p95", "max", "flood sent"])
    for kind, label in (("plain", "Server()"), ("serve", "wsexplore serve")):
        for flood in (False, True):
            served = Served(kind)
            try:
                times, sent = asyncio.run(_round_trips(served.url, flood, served.port))
            finally:
                served.stop()
            ms = sorted(t * 1000 for t in times)
            table.add(label, "8 B frames" if flood else "none", str(len(ms)), f"{statistics.median(ms):.2f}",
                      f"{ms[int(len(ms) * 0.95) - 1]:.2f}", f"{ms[-1]:.2f}", f"{sent / MIB:.0f} MiB" if flood else "")
    table.notes.append(f"{ROUND_TRIPS} round trips {GAP * 1000:.0f} ms apart (or as many as fit in {MONITOR_FOR:.0f} s); the flood: a raw socket writing 128 KiB "
                       "of 8-byte masked text frames at a time and reading the echoes; each server in its own "
                       "process, console (serve) to /dev/null; 2 shared CPUs, so the times move with the load")
    return table


# ============================================================================ heads one line per write
def _head_lines(port: int) -> list[bytes]:
    filler = "".join(f"X-Filler-{i:03d}: {'f' * 60}\r\n" for i in range((HEAD_BYTES - 200) // 80))
    request = _upgrade(port, filler)
    return [line + b"\n" for line in request.split(b"\n")[:-1]]


def _send_head(port: int) -> int:
    lines = _head_lines(port)
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for line in lines:
            sock.sendall(line)
            time.sleep(LINE_PAUSE)
        answer = sock.recv(4096)
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/") else 0


def _head_table():
    import threading

    from common import Table

    table = Table(f"limits: request heads of {HEAD_BYTES // 1024} KiB sent one line per write, {HEAD_SENDERS} "
                  "senders at once", ["server", "lines a head", "server CPU per head", "senders' CPU per head",
                                      "answers"])
    for kind, label in (("plain", "Server()"), ("serve", "wsexplore serve")):
        served = Served(kind)
        try:
            statuses: list[int] = []
            cpu0, own0 = served.cpu_seconds(), time.process_time()
            threads = [threading.Thread(target=lambda: statuses.append(_send_head(served.port)))
                       for _ in range(HEAD_SENDERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu, own = served.cpu_seconds() - cpu0, time.process_time() - own0
        finally:
            served.stop()
        table.add(label, str(len(_head_lines(served.port))), f"{cpu / HEAD_SENDERS * 1000:.1f} ms",
                  f"{own / HEAD_SENDERS * 1000:.1f} ms", ", ".join(str(s) for s in sorted(set(statuses))))
    table.notes.append(f"TCP_NODELAY and {LINE_PAUSE * 1000:.0f} ms after each line, so each line is a read of its "
                       "own; CPU from /proc/PID/stat (10 ms ticks: small values are coarse)")
    return table


# ============================================================================ capture memory
def _rss() -> int:
    with open("/proc/self/statm") as fp:
        return int(fp.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fill(capture, messages: list[bytes], used) -> bool:
    """Until the capture is full and has turned over once (as many records evicted as it holds);
    False when it took three times its bound in memory first (``used()``) and filling stopped."""
    from wsexplore.protocol.connection import Connection

    conn = Connection("server")
    chunk = b"".join(messages)
    reads = 0
    while not capture.dropped or capture.dropped < len(capture):
        read = bytes(bytearray(chunk))  # a fresh object, as every socket read is
        capture.record_events(1, conn.receive_data(read))
        reads += 1
        if reads % 256 == 0 and used() > 3 * BOUND:
            return False
    return True


WORKLOADS = {
    "64 KiB binary messages": (2, 64 * 1024, 1),
    "1 KiB text messages": (1, 1024, 16),
    "2 B text messages": (1, 2, 1000),
}


def _measure_memory(name: str, traced: bool) -> dict:
    """In a fresh process: fill a capture with workload ``name``, then read it; memory in bytes."""
    from wsexplore.capture import Capture
    from wsexplore.capture.lines import format_record
    from wsexplore.protocol.frames import Frame

    opcode, size, per_read = WORKLOADS[name]
    messages = [Frame(opcode, b"x" * size, mask_key=MASK).encode()] * per_read
    gc.collect()
    if traced:
        tracemalloc.start()
    now = (lambda: tracemalloc.get_traced_memory()[0]) if traced else _rss
    base = now()
    capture = Capture(max_records=10**8, max_bytes=BOUND)
    full = _fill(capture, messages, lambda: now() - base)
    gc.collect()
    filled = now() - base
    for record in capture:
        format_record(record)
    gc.collect()
    return {"records": len(capture), "filled": filled, "read": now() - base, "full": full}


def _memory_table():
    import json

    from common import Table

    table = Table("limits: memory a full Capture(max_bytes=100 MiB) takes (MiB)",
                  ["workload", "records", "tracemalloc", "after reading all", "RSS growth", "RSS after reading"])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for name in WORKLOADS:
        results = {}
        for mode in ("traced", "rss"):
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory", name, mode],
                                 capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        traced, rss = results["traced"], results["rss"]
        more = "" if traced["full"] else " (not full: stopped at 3x the bound)"
        table.add(name + more, f"{traced['records']:,}", f"{traced['filled'] / MIB:.0f}",
                  f"{traced['read'] / MIB:.0f}", f"{rss['filled'] / MIB:.0f}", f"{rss['read'] / MIB:.0f}")
    table.notes.append("each in a fresh process, filled through record_events (the live path) until it turned over "
                       "once, max_records out of the way; 'after reading': format_record of every record, as the "
                       "console does; RSS (another run, without tracemalloc) includes what the allocator keeps")
    return table


def run() -> list:
    return [_latency_table(), _head_table(), _memory_table()]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        import json

        print(json.dumps(_measure_memory(sys.argv[2], sys.argv[3] == "traced")))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} --memory WORKLOAD traced|rss (benchmarks/run.py limits runs the group)")
else:
    from common import register

    register("limits", "a flooding peer, a head one line per write, memory per 100 MiB captured", order=60)(run)
