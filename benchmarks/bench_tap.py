"""Group "tap": round trips through the tap (``wsexplore.Proxy``) against the same server reached directly.

The server is a ``websockets`` echo server in its own process (as in the
"echo" group); the tap runs in a third process in front of it, capturing
every frame of both legs. One ``websockets`` client drives both paths, so
the ratio "through the tap / direct" is what putting the tap in the path
costs. Workloads: sequential round trips of 32-byte texts, 20,000 pipelined
32-byte texts, and sequential 1 MiB binary round trips (each echo checked).

After every trial through the tap its capture must hold every data and close
frame both ways (count and raw length), every message, the handshake and the
close, with nothing dropped; each trial then starts on a fresh ``Capture``.
Trials alternate between the two paths; the best of ``REPEAT`` counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench_echo import STARTUP_TIMEOUT, ServerProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

REPEAT = 3
GOALS = {"small": 0.5, "big": 0.7}  # through the tap / direct, at least
#: 1 MiB echoes a trial. The tap's capture keeps each payload twice (the client's message and the
#: server's, separate objects) and must hold the whole trial (nothing evicted), so fewer than 128.
BIG_COUNT = 50


async def _serve_tap(upstream: str) -> None:
    """Entry point of the tap process: ``bench_tap.py --serve-tap URL``; commands on stdin, as bench_echo's."""
    from bench_echo import MAX_SIZE, _capture_stats

    from wsexplore.capture import Capture
    from wsexplore.live.proxy import Proxy

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_commands() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_commands, daemon=True).start()
    proxy = await Proxy(upstream, max_message_size=MAX_SIZE).start()
    print(f"PORT {proxy.port}", flush=True)
    while True:
        command = await commands.get()
        if command == "stats":
            deadline = loop.time() + 5
            while proxy._taps and loop.time() < deadline:  # closes are recorded as the TCP connections end
                await asyncio.sleep(0.01)
            stats = _capture_stats(proxy.capture)
            stats["open_connections"] = len(proxy._taps)
            proxy.capture = Capture()
            print("STATS " + json.dumps(stats), flush=True)
        elif command == "quit":
            break
    await proxy.stop()


class TapProcess(ServerProcess):
    """The tap in its own process, driven through stdin and stdout as ``bench_echo.ServerProcess`` is."""

    def __init__(self, upstream: str) -> None:  # the same control channel, another command line
        self.kind = "tap"
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-tap", upstream],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=ROOT, env=env, text=True, bufsize=1)
        try:
            line = self._readline(STARTUP_TIMEOUT)
            if not line.startswith("PORT "):
                raise RuntimeError(f"tap did not start: {line!r}{self._stderr_tail()}")
        except BaseException:
            self.stop()  # never leave a process behind
            raise
        self.port = int(line.split()[1])
        self.url = f"ws://127.0.0.1:{self.port}/"


def run() -> list:
    from bench_echo import BIG_SIZE, WORKLOADS, Workload, _big, _check_capture, _frames, _sequential
    from common import Goal, Table, fmt_rate

    workloads = [w for w in WORKLOADS if "conns" not in w.name and w.run is not _big]  # sequential, pipelined
    workloads.append(Workload(f"sequential, {BIG_SIZE >> 20} MiB binary ({BIG_COUNT})",
                              lambda url: _big(url, BIG_COUNT), "MiB/s", 1 / BIG_SIZE))
    server = ServerProcess("websockets")
    tap = None
    try:
        tap = TapProcess(server.url)
        paths = {"direct": server.url, "tap": tap.url}
        rates: dict[str, dict[str, float]] = {w.name: {} for w in workloads}
        frames: dict[str, int] = {}

        async def trial(workload: Any, path: str, run_: Any) -> float:
            seconds, units, expected = await run_(paths[path])
            if path == "tap":
                stats = await asyncio.to_thread(tap.stats)
                _check_capture(workload.name, stats, expected)
                frames[workload.name] = _frames(stats)
            return units / seconds

        async def main() -> None:
            for path in paths:  # warm up, untimed
                await trial(workloads[0], path, lambda url: _sequential(url, 500))
                await trial(workloads[-1], path, lambda url: _big(url, 3))
            for workload in workloads:
                for i in range(REPEAT):
                    for path in (("direct", "tap") if i % 2 == 0 else ("tap", "direct")):
                        rate = await trial(workload, path, workload.run)
                        rates[workload.name][path] = max(rates[workload.name].get(path, 0.0), rate)

        asyncio.run(main())
    finally:
        if tap is not None:
            tap.stop()
        server.stop()

    table = Table(f"tap: a websockets echo server reached directly and through the tap, best of {REPEAT}",
                  ["workload", "unit", "direct", "through the tap", "tap / direct", "frames captured"])
    for w in workloads:
        direct, tapped = rates[w.name]["direct"], rates[w.name]["tap"]
        ratio = tapped / direct
        table.add(w.name, w.unit, fmt_rate(direct * w.scale), fmt_rate(tapped * w.scale), f"{ratio:.2f}x",
                  f"{frames[w.name]:,}")
        goal = GOALS["big"] if w.scale != 1 else GOALS["small"]
        table.goals.append(Goal(f"{w.name}: >= {goal:.1f}x direct through the tap, every frame captured"
                                f" (now {ratio:.2f}x)", ratio >= goal))
    table.notes.append("three processes: client (this one), tap, websockets.asyncio.server.serve(echo,"
                       " compression=None, max_size=16 MiB); the tap's capture is checked after every trial"
                       " (every data and close frame both ways, messages, handshake, close; nothing dropped)")
    table.notes.append("on a 2-core machine the tap takes CPU from the client and the server: a ratio here is a"
                       " floor, not what a tap beside an app on a bigger machine costs")
    return [table]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-tap":
        sys.path.insert(0, str(ROOT))
        asyncio.run(_serve_tap(sys.argv[2]))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} --serve-tap UPSTREAM_URL (benchmarks/run.py tap runs the group)")
else:
    from common import register

    register("tap", "round trips through the tap vs straight to the server, every frame captured", order=60)(run)
