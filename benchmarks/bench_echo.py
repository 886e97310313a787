"""Group "echo": our capturing ``Server`` against a ``websockets`` echo server, over real sockets.

Both servers echo every message back; ours also records every frame, every
message, each handshake and each close into its ``Capture`` while serving,
which is the whole point of it. Each server runs in its own process, so that
the client's work does not share a core or an event loop with it. One client
drives them all: ``websockets``' asyncio client (``compression=None``, no size
or queue limit), on 127.0.0.1, in this process; for one row, a raw client
(``raw_client.py``) that needs less CPU than either server.

Servers, as users run them:

* ``wsexplore``: the library, ``Server()`` in a fresh process (this file run
  with ``--serve``), nobody subscribed to its capture; its default echo
  answers each message in the turn that read it, with no task;
* ``wsexplore+task``: the same with an echo handler written as users write
  theirs (``async for message in conn: await conn.send(message)``), which
  runs in a task of its own like every handler but the default, and like
  every ``websockets`` handler (no goal: it shows what a handler task costs);
* ``serve|pipe`` and ``serve>file``: the real ``wsexplore serve`` command, with
  ``--save`` on, printing its line per handshake, frame and close to a pipe
  (read by a thread here) or to a file;
* ``websockets``: ``websockets.asyncio.server.serve`` with an echo handler.

Workloads (RFC 6455 data frames, one frame per message; section 5.6):

* sequential round trips of 32-byte text messages on one connection;
* pipelined: 20,000 text messages of 32 bytes sent without waiting, then all
  received;
* 100 concurrent connections, each doing sequential round trips; once with
  ``websockets``' client, which needs a whole core for it whichever server
  answers (the table shows the client's share of its core), so that row sets
  no goal; then with the raw client, which leaves the servers to set the pace;
* 1 MiB binary messages, one round trip at a time.

Each trial lasts a few tenths of a second at least (300 round trips per
connection, 150 MiB), longer than the scheduling hiccups of a small virtual
machine.

Every echo is checked (content and count) on the client. After every trial
the library server reports what its capture holds, and the group fails unless
the capture kept every data frame in both directions (count and total raw
length), every close frame, every message, every opening handshake and every
close, with nothing dropped; each trial then starts on a fresh ``Capture``,
and every server gives the memory it freed back to the system first, so that
no trial reuses the last one's as a new process could not.
``wsexplore serve`` must print every line of the trial (checked by counting
them, per direction and opcode) before the next trial starts, and save its
capture at the end (checked by loading the file). Trials rotate between the
servers, and each starts once no server process is busy (``_quiet``: a
``serve`` writing its capture between its trials would otherwise share the
machine with the next server's trial); the table gives the median of
``REPEAT`` (and the best). Its ratios pair the trials of each round, which ran
back to back, and take the median of those ratios (``common.paired_ratio``): the
host's load drifts over seconds, and a pair sees about the same. A second
table gives each server's CPU time per unit of work (every thread of the
process, from Linux ``/proc/PID/task/*/schedstat``), which scheduling noise
disturbs less than wall-clock rates on a small machine; for ``wsexplore
serve`` it is read once the console has printed the trial, so it includes
the printing. A third gives each server's minor page faults per unit
(``/proc/PID/stat``): memory the kernel had to map in fresh, which is what a
capture that keeps every payload pays for until it reaches its bounds. A fourth
times the 1 MiB workload once the library server's capture is at its bound (each
trial's connection echoes 300 MiB untimed first): the steady state of a server
that has run a while, where the first table times a capture filling up.

``benchmarks/run.py echo --profile`` runs our server under cProfile for one
trial of each workload and prints where its time goes.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

REPEAT = 9
#: How the ratio columns are computed (``common.paired_ratio``), as the tables say it.
PAIRED = "the median over the rounds of each round's ratio (a round runs every server's trial back to back)"
HOST = "127.0.0.1"
TEXT_SIZE = 32
SEQUENTIAL = 5_000
PIPELINED = 20_000
CONNECTIONS = 100
PER_CONNECTION = 300
BIG_SIZE = 1 << 20
BIG_COUNT = 150
MAX_SIZE = 16 * 1024 * 1024  # what both servers accept; our default is the same
GOAL_RATIO = 1.0
GOAL_CLI_RATIO = 0.95  # wsexplore serve, printing every line
SERVERS = ("wsexplore", "wsexplore+task", "websockets")  # the kinds this file serves with --serve
CAPTURED = ("wsexplore", "wsexplore+task")  # library servers whose whole capture is checked after each trial
CLI_OUTPUTS = {"serve|pipe": "pipe", "serve>file": "file"}  # ``wsexplore serve`` printing to ...
CONTENDERS = ("wsexplore", "wsexplore+task", *CLI_OUTPUTS, "websockets")
QUIET_CPU = 0.005  # seconds of CPU a server may use during one QUIET_LOOK and still count as idle
QUIET_LOOK = 0.1  # seconds between two looks at the servers' CPU before a trial
QUIET_MAX = 30.0  # seconds a trial waits at most for the other servers to be idle
WHOLE_RUN_SETTLE = 6.0  # seconds after the last trial (a save interval and one more) before the whole-run CPU
PRINT_TIMEOUT = 120.0  # seconds the console may take to print one trial's lines
STARTUP_TIMEOUT = 20.0
STATS_TIMEOUT = 20.0
_PROFILER: Any = None  # the server process's cProfile.Profile under --profile


# ============================================================================ server processes
def _capture_stats(capture: Any) -> dict[str, Any]:
    """What a capture holds, counted by kind, direction and opcode (read after a trial)."""
    from wsexplore.capture import CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord

    frames: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    message_bytes: Counter[str] = Counter()
    opens = closes = clean_closes = errors = violations = 0
    # permessage-deflate: data frames with RSV1, messages with a compressed size, client-to-server sizes.
    compressed_frames = compressed_messages = in_compressed = in_inflated = 0
    for r in capture:
        t = type(r)
        if t is FrameRecord:
            op = r.opcode
            key = f"{r.direction} {getattr(op, 'name', op)}"
            frames[key] += 1
            raw[key] += r.nbytes  # a large frame is kept as header and payload: not joined to be counted
            violations += r.error is not None
            compressed_frames += r.header.rsv1 and op in (1, 2)
        elif t is MessageRecord:
            key = f"{r.direction} {getattr(r.opcode, 'name', r.opcode)}"
            messages[key] += 1
            size = len(r.data.encode() if isinstance(r.data, str) else r.data)
            message_bytes[key] += size
            if r.compressed_size is not None:
                compressed_messages += 1
                if r.direction == "in":
                    in_compressed += r.compressed_size
                    in_inflated += size
        elif t is OpenRecord:
            opens += r.status == 101
        elif t is CloseRecord:
            closes += 1
            clean_closes += r.clean
        elif t is ErrorRecord:
            errors += 1
    return {
        "records": len(capture), "dropped": capture.dropped, "nbytes": capture.nbytes,
        "frames": dict(frames), "raw": dict(raw), "messages": dict(messages), "message_bytes": dict(message_bytes),
        "opens": opens, "closes": closes, "clean_closes": clean_closes, "errors": errors,
        "violations": violations, "compressed_frames": compressed_frames,
        "compressed_messages": compressed_messages, "in_ratio": in_compressed / in_inflated if in_inflated else 0.0,
    }


#: Server kinds with permessage-deflate (the "deflate" group): what each passes as ``compression``.
DEFLATE_KINDS = {
    "wsexplore+deflate": "deflate",  # our defaults: the parameters websockets' server picks (12-bit windows)
    "wsexplore+deflate15": "no limits",  # 15-bit windows, zlib's default memLevel: see bench_deflate.py
    "websockets+deflate": "deflate",
}


def _our_compression(kind: str) -> Any:
    if kind == "wsexplore+deflate15":
        from wsexplore.protocol.deflate import DeflateConfig

        return DeflateConfig()
    return DEFLATE_KINDS.get(kind)


async def _task_echo(conn: Any) -> None:
    """An echo handler as users write one: ``Server`` runs it in a task (its default echo runs inline)."""
    async for message in conn:
        await conn.send(message)


async def _serve_main(kind: str) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_commands() -> None:  # a thread: stdin is the control channel
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_commands, daemon=True).start()

    if kind == "wsexplore" or kind.startswith("wsexplore+"):
        from wsexplore.capture import Capture
        from wsexplore.live.server import Server

        # Default handler: echo.
        server = Server(HOST, 0, _task_echo if kind == "wsexplore+task" else None, max_message_size=MAX_SIZE,
                        compression=_our_compression(kind))
        await server.start()
        port = server.port

        async def stats() -> dict[str, Any]:
            deadline = loop.time() + 5
            while server.connections and loop.time() < deadline:  # closes still in flight
                await asyncio.sleep(0.01)
            if _PROFILER is not None:
                _PROFILER.disable()  # counting is the benchmark's work, not the server's
            out = _capture_stats(server.capture)
            if _PROFILER is not None:
                _PROFILER.enable()
            out["open_connections"] = len(server.connections)
            server.capture = Capture()  # the next trial's connections record into a fresh one
            _hand_back_freed_memory()
            return out

        stop: Callable[[], Awaitable[None]] = server.stop
    elif kind in ("websockets", "websockets+deflate"):
        from websockets.asyncio.server import serve

        async def echo(ws: Any) -> None:
            async for message in ws:
                await ws.send(message)

        ws_server = await serve(echo, HOST, 0, compression=DEFLATE_KINDS.get(kind), max_size=MAX_SIZE)
        port = ws_server.sockets[0].getsockname()[1]

        async def stats() -> dict[str, Any]:
            _hand_back_freed_memory()
            return {}

        async def stop() -> None:
            ws_server.close()
            await ws_server.wait_closed()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")

    print(f"PORT {port}", flush=True)
    while True:
        command = await commands.get()
        if command == "stats":
            print("STATS " + json.dumps(await stats()), flush=True)
        elif command == "quit":
            break
    await stop()


def _hand_back_freed_memory() -> None:
    """Between trials, in every server alike: give the memory freed by the last trial back to the system
    (glibc's ``malloc_trim``), so that each trial starts as a new process would, with nothing to reuse.
    Without it glibc hands memory back or keeps it depending on what the heap's top holds, and a capture
    filling up got fresh memory in one trial and reused the last trial's in the next (55 against 257
    page faults per MiB in two runs of the same tree)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def _serve(kind: str, profile: bool) -> None:
    """Entry point of a server process: ``bench_echo.py --serve KIND [--profile]``."""
    sys.path.insert(0, str(ROOT))
    if not profile:
        asyncio.run(_serve_main(kind))
        return
    import cProfile
    import io
    import pstats

    global _PROFILER
    prof = _PROFILER = cProfile.Profile()
    prof.enable()
    asyncio.run(_serve_main(kind))
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    print("PROFILE", flush=True)
    print(out.getvalue(), flush=True)


class _Measured:
    """A server process (``self.proc``) whose CPU time and page faults a trial reads before and after."""

    proc: subprocess.Popen

    def cpu_seconds(self) -> float | None:
        return process_cpu(self.proc.pid)

    def page_faults(self) -> int | None:
        return process_faults(self.proc.pid)


class ServerProcess(_Measured):
    """One server in its own process, driven through its stdin and stdout."""

    def __init__(self, kind: str, *, profile: bool = False) -> None:
        self.kind = kind
        self._stderr = tempfile.TemporaryFile()
        args = [sys.executable, str(Path(__file__).resolve()), "--serve", kind] + (["--profile"] if profile else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=ROOT, env=env, text=True, bufsize=1)
        try:
            line = self._readline(STARTUP_TIMEOUT)
            if not line.startswith("PORT "):
                raise RuntimeError(f"{kind} server did not start: {line!r}{self._stderr_tail()}")
        except BaseException:
            self.stop()  # never leave a process behind
            raise
        self.port = int(line.split()[1])
        self.url = f"ws://{HOST}:{self.port}/"

    def after_trial(self, workload: str, expected: Expected) -> dict[str, Any] | None:
        """What the library server's capture held (checked), or None for websockets."""
        stats = self.stats()
        if self.kind in CAPTURED:
            _check_capture(workload, stats, expected)
            return stats
        return None

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace")
        return f"\n--- {self.kind} server stderr ---\n{tail}" if tail else ""

    def _readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"{self.kind} server: no answer within {timeout} s{self._stderr_tail()}")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.kind} server exited (status {self.proc.poll()}){self._stderr_tail()}")
        return line.rstrip("\n")

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        line = self._readline(STATS_TIMEOUT)
        if not line.startswith("STATS "):
            raise RuntimeError(f"{self.kind} server: unexpected answer {line!r}{self._stderr_tail()}")
        return json.loads(line[6:])

    def stop(self) -> str:
        """Ask the server to quit, kill it if it does not; returns what it printed last."""
        out = ""
        try:
            if self.proc.poll() is None:
                out, _ = self.proc.communicate("quit\n", timeout=10)  # also closes stdin
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()
        return out or ""


def process_cpu(pid: int) -> float | None:
    """CPU time of every thread of process ``pid`` so far (Linux ``schedstat``, nanoseconds)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as fp:
                    total += int(fp.read().split()[0])
            except FileNotFoundError:  # a thread that just ended
                continue
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def process_faults(pid: int) -> int | None:
    """Minor page faults of process ``pid`` so far (``/proc/PID/stat``): pages of fresh memory the kernel mapped in."""
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return int(fp.read().rsplit(")", 1)[1].split()[7])
    except (OSError, ValueError, IndexError):
        return None


_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} #\S+\s+(?:(in  →|out ←) (\S+)|(handshake)|(closed)|(error))")


class ServeCLI(_Measured):
    """The real ``wsexplore serve`` (``--save`` on), printing to a pipe read here or to a file; its lines counted."""

    def __init__(self, output: str) -> None:
        self.kind = f"serve{'|pipe' if output == 'pipe' else '>file'}"
        self.output = output
        self._dir = tempfile.TemporaryDirectory(prefix="wsexplore-bench-")
        self.save_path = os.path.join(self._dir.name, "capture.jsonl")
        self._out_path = os.path.join(self._dir.name, "console.txt")
        self._stderr = tempfile.TemporaryFile()
        self._file: Any = open(self._out_path, "wb") if output == "file" else None  # noqa: SIM115
        self._counts: Counter[str] = Counter()
        self._seen = 0  # bytes of the file already counted
        self._partial = b""
        self._unread: list[bytes] = []  # what the pipe gave, not counted yet
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   PYTHONIOENCODING="utf-8")
        args = [sys.executable, "-m", "wsexplore", "serve", "--host", HOST, "--port", "0", "--save", self.save_path,
                "--max-message-size", str(MAX_SIZE)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._file or subprocess.PIPE,
                                     stderr=self._stderr, cwd=ROOT, env=env)
        self._banner: list[str] = []
        if output == "pipe":
            threading.Thread(target=self._read_pipe, daemon=True).start()
        try:
            port = self._wait_port()
        except BaseException:
            self.stop()
            raise
        self.url = f"ws://{HOST}:{port}/"

    # -- the console's lines ---------------------------------------------------------
    def _count(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        with self._changed:
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                m = _LINE.match(line)
                if m is None:
                    if len(self._banner) < 20:
                        self._banner.append(line)
                    continue
                if m.group(1):
                    self._counts[f"{'in' if m.group(1).startswith('in') else 'out'} {m.group(2)}"] += 1
                else:
                    self._counts["opens" if m.group(3) else "closes" if m.group(4) else "errors"] += 1
            self._changed.notify_all()

    def _read_pipe(self) -> None:
        """Drain the pipe and keep the bytes; they are counted by ``printed()``, outside the timed window.

        This thread shares the client's process: counting lines here, as they arrive, would take the
        interpreter from the client mid-trial and charge the bench's own work to the server's rate.
        """
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 16)
            with self._changed:
                self._unread.append(data)
                self._changed.notify_all()
            if not data:
                return

    def _take_output(self) -> None:
        """Count what the console printed since the last look: the file's new bytes, or the pipe's."""
        if self.output == "file":
            self._poll_file()
            return
        with self._lock:
            unread, self._unread = self._unread, []
        if unread:
            self._count(b"".join(unread))

    def _poll_file(self) -> None:
        with open(self._out_path, "rb") as fp:
            fp.seek(self._seen)
            data = fp.read()
        self._seen += len(data)
        if data:
            self._count(data)

    def _wait_port(self) -> int:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        pattern = re.compile(r"listening on \S+:(\d+)")
        while time.monotonic() < deadline:
            self._take_output()
            with self._changed:
                for line in self._banner:
                    m = pattern.search(line)
                    if m:
                        return int(m.group(1))
                if self.proc.poll() is not None:
                    break
                self._changed.wait(0.05)
        raise RuntimeError(f"wsexplore serve did not start: {self._banner}{self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode(errors="replace")
        return f"\n--- wsexplore serve stderr ---\n{tail}" if tail else ""

    def printed(self) -> Counter[str]:
        self._take_output()
        with self._lock:
            return Counter(self._counts)

    def after_trial(self, workload: str, expected: Expected) -> None:
        """Wait until the console printed every line of the trial (its complete output), then start counting anew."""
        op = expected.opcode
        want = Counter({f"in {op}": expected.messages, f"out {op}": expected.messages,
                        "in CLOSE": expected.connections, "out CLOSE": expected.connections,
                        "opens": expected.connections, "closes": expected.connections})
        deadline = time.monotonic() + PRINT_TIMEOUT
        while True:
            got = self.printed()
            if all(got[k] >= v for k, v in want.items()):
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                missing = {k: f"{got[k]}/{v}" for k, v in want.items() if got[k] < v}
                raise AssertionError(f"{workload}: {self.kind} printed too few lines: {missing}{self._stderr_tail()}")
            if self.output == "file":
                time.sleep(0.02)
            else:
                with self._changed:
                    self._changed.wait(0.05)
        extra = {k: got[k] - v for k, v in want.items() if got[k] != v}
        extra.update({k: n for k, n in got.items() if k not in want})
        if extra:
            raise AssertionError(f"{workload}: {self.kind} printed lines no trial made: {extra}")
        with self._lock:
            self._counts.clear()

    def stop(self) -> dict[str, Any]:
        """Stop it as Ctrl-C does; what it saved (records in the file, dropped, appended in all)."""
        info: dict[str, Any] = {}
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.returncode == 0 and os.path.exists(self.save_path):
                with open(self.save_path, encoding="utf-8") as fp:
                    header = json.loads(fp.readline())
                info = {"records": header.get("records"), "dropped": header.get("dropped"),
                        "appended": header.get("next_seq"), "bytes": os.path.getsize(self.save_path)}
            else:
                info = {"status": self.proc.returncode, "stderr": self._stderr_tail()}
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self._file is not None:
                self._file.close()
            self._stderr.close()
            self._dir.cleanup()
        return info


# ============================================================================ client workloads
@dataclass(frozen=True)
class Expected:
    """What our capture must hold after a trial (data frames counted per direction)."""

    connections: int
    messages: int
    opcode: str
    in_raw: int
    out_raw: int
    message_bytes: int


def _header_len(n: int, masked: bool) -> int:
    # Section 5.2: 2 bytes, then a 16- or 64-bit extended length, then the masking key.
    return 2 + (0 if n < 126 else 2 if n < 65536 else 8) + (4 if masked else 0)


def _expected(connections: int, sizes: list[int], opcode: str) -> Expected:
    return Expected(connections, len(sizes), opcode,
                    sum(_header_len(n, True) + n for n in sizes), sum(_header_len(n, False) + n for n in sizes),
                    sum(sizes))


def _texts(count: int, tag: int = 0) -> list[str]:
    """Distinct ASCII texts of exactly TEXT_SIZE bytes, so a misrouted echo is caught."""
    return [f"{tag:04d}-{i:08d}-".ljust(TEXT_SIZE, "x") for i in range(count)]


async def _connect(url: str) -> Any:
    from websockets.asyncio.client import connect

    return await connect(url, compression=None, max_size=None, max_queue=None, proxy=None, ping_interval=None)


class _Timer:
    """Wall time of a section, with the collector off as ``common.best_of`` does, and the share of one
    core that the client's thread used in it (near 1.0, the client sets the pace)."""

    #: The client's share of its core in the last section timed.
    last_share: float | None = None

    def __enter__(self) -> _Timer:
        self._gc = gc.isenabled()
        gc.collect()
        gc.disable()
        self.cpu0 = time.thread_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        _Timer.last_share = (time.thread_time() - self.cpu0) / self.seconds
        if self._gc:
            gc.enable()


async def _round_trips(ws: Any, messages: list[str] | list[bytes], what: str) -> int:
    """Send each message and wait for its echo, which must be the same; how many round trips."""
    send, recv = ws.send, ws.recv
    for message in messages:
        await send(message)
        if await recv() != message:
            raise AssertionError(f"{what}: an echo differs from what was sent")
    return len(messages)


async def _sequential(url: str, count: int = SEQUENTIAL) -> tuple[float, int, Expected]:
    texts = _texts(count)
    ws = await _connect(url)
    try:
        with _Timer() as t:
            await _round_trips(ws, texts, "sequential")
    finally:
        await ws.close()
    return t.seconds, count, _expected(1, [TEXT_SIZE] * count, "TEXT")


async def _pipelined(url: str, count: int = PIPELINED) -> tuple[float, int, Expected]:
    texts = _texts(count)
    ws = await _connect(url)
    try:
        send, recv = ws.send, ws.recv
        with _Timer() as t:
            for text in texts:
                await send(text)
            got = [await recv() for _ in range(count)]
    finally:
        await ws.close()
    if got != texts:
        bad = next(i for i, (a, b) in enumerate(zip(got, texts)) if a != b)
        raise AssertionError(f"pipelined: echo #{bad} is {got[bad]!r}, sent {texts[bad]!r}")
    return t.seconds, count, _expected(1, [TEXT_SIZE] * count, "TEXT")


async def _concurrent(url: str, connections: int = CONNECTIONS,
                      per_connection: int = PER_CONNECTION) -> tuple[float, int, Expected]:
    conns = await asyncio.gather(*(_connect(url) for _ in range(connections)))
    try:
        work = [_texts(per_connection, tag) for tag in range(connections)]
        with _Timer() as t:
            done = await asyncio.gather(*(_round_trips(ws, texts, "concurrent") for ws, texts in zip(conns, work)))
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    total = connections * per_connection
    if sum(done) != total:
        raise AssertionError(f"concurrent: {sum(done)} round trips, expected {total}")
    return t.seconds, total, _expected(connections, [TEXT_SIZE] * total, "TEXT")


async def _concurrent_raw(url: str, connections: int = CONNECTIONS,
                          per_connection: int = PER_CONNECTION) -> tuple[float, int, Expected]:
    """The 100-connection workload driven by ``raw_client``, which needs less CPU than either server."""
    from raw_client import close_all, open_clients, round_trips

    clients = await open_clients(url, [_texts(per_connection, tag) for tag in range(connections)])
    try:
        with _Timer() as t:
            done = await round_trips(clients)
    finally:
        await close_all(clients)
    total = connections * per_connection
    if done != total:
        raise AssertionError(f"concurrent, raw client: {done} round trips, expected {total}")
    return t.seconds, total, _expected(connections, [TEXT_SIZE] * total, "TEXT")


_BIG_BASE = os.urandom(BIG_SIZE)


def _big_payloads(count: int) -> list[bytes]:
    """``count`` distinct payloads of BIG_SIZE bytes (each numbered in its first 8)."""
    return [i.to_bytes(8, "big") + _BIG_BASE[8:] for i in range(count)]


async def _big(url: str, count: int = BIG_COUNT) -> tuple[float, int, Expected]:
    payloads = _big_payloads(count)
    ws = await _connect(url)
    try:
        with _Timer() as t:
            await _round_trips(ws, payloads, "1 MiB")
    finally:
        await ws.close()
    return t.seconds, count * BIG_SIZE, _expected(1, [BIG_SIZE] * count, "BINARY")


async def _big_at_bound(server: Any, warm: int, count: int = BIG_COUNT) -> tuple[float, float | None, float | None]:
    """1 MiB echoes after ``warm`` untimed ones on the same connection (enough to bring a capture to its
    bound): MiB/s, and the server's CPU seconds and page faults per MiB over the timed echoes only."""
    payloads = _big_payloads(warm + count)
    ws = await _connect(server.url)
    try:
        await _round_trips(ws, payloads[:warm], "1 MiB at the bound")
        cpu0, faults0 = server.cpu_seconds(), server.page_faults()
        with _Timer() as t:
            await _round_trips(ws, payloads[warm:], "1 MiB at the bound")
        cpu1, faults1 = server.cpu_seconds(), server.page_faults()
    finally:
        await ws.close()
    return (count / t.seconds, None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / count,
            None if faults0 is None or faults1 is None else (faults1 - faults0) / count)


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[str], Awaitable[tuple[float, int, Expected]]]
    unit: str
    scale: float  # units per second -> displayed number
    goal: bool = True  # False: shown, with no goal (the client sets its pace: see ``_Timer.last_share``)


WORKLOADS = [
    Workload(f"sequential, {TEXT_SIZE} B text ({SEQUENTIAL:,})", _sequential, "round trips/s", 1),
    Workload(f"pipelined, {TEXT_SIZE} B text ({PIPELINED:,})", _pipelined, "messages/s", 1),
    Workload(f"{CONNECTIONS} conns, {TEXT_SIZE} B text ({CONNECTIONS} x {PER_CONNECTION})", _concurrent,
             "round trips/s", 1, goal=False),
    Workload(f"{CONNECTIONS} conns, {TEXT_SIZE} B text ({CONNECTIONS} x {PER_CONNECTION}), raw client", _concurrent_raw,
             "round trips/s", 1),
    Workload(f"sequential, {BIG_SIZE >> 20} MiB binary ({BIG_COUNT})", _big, "MiB/s", 1 / BIG_SIZE),
]


def _check_capture(workload: str, stats: dict[str, Any], exp: Expected) -> None:
    """Fail unless our capture holds every frame, message, handshake and close of the trial."""
    op = exp.opcode
    problems = []

    def need(what: str, got: object, want: object) -> None:
        if got != want:
            problems.append(f"{what}: {got} (expected {want})")

    need("records dropped", stats["dropped"], 0)
    need("open connections left", stats["open_connections"], 0)
    need("accepted handshakes", stats["opens"], exp.connections)
    need("closes", stats["closes"], exp.connections)
    need("clean closes", stats["clean_closes"], exp.connections)
    need("violations", stats["violations"], 0)
    need("error records", stats["errors"], 0)
    need(f"frames in {op}", stats["frames"].get(f"in {op}", 0), exp.messages)
    need(f"frames out {op}", stats["frames"].get(f"out {op}", 0), exp.messages)
    need(f"raw bytes in {op}", stats["raw"].get(f"in {op}", 0), exp.in_raw)
    need(f"raw bytes out {op}", stats["raw"].get(f"out {op}", 0), exp.out_raw)
    need("close frames in", stats["frames"].get("in CLOSE", 0), exp.connections)
    need("close frames out", stats["frames"].get("out CLOSE", 0), exp.connections)
    need(f"messages in {op}", stats["messages"].get(f"in {op}", 0), exp.messages)
    need(f"message bytes in {op}", stats["message_bytes"].get(f"in {op}", 0), exp.message_bytes)
    if stats["messages"].get(f"out {op}"):  # outgoing messages are recorded too: all of them, then
        need(f"messages out {op}", stats["messages"][f"out {op}"], exp.messages)
        need(f"message bytes out {op}", stats["message_bytes"].get(f"out {op}", 0), exp.message_bytes)
    if problems:
        raise AssertionError(f"{workload}: our capture is incomplete: " + "; ".join(problems))


def _frames(stats: dict[str, Any]) -> int:
    return sum(stats["frames"].values())


@dataclass
class Results:
    """Every trial's figures, per workload name and server kind."""

    rate: dict[str, dict[str, list[float]]]  # units per second of wall time
    cpu: dict[str, dict[str, list[float]]]  # server CPU seconds per unit (empty where not measurable)
    faults: dict[str, dict[str, list[float]]]  # the server's minor page faults per unit
    captured: list[dict]  # our library server's capture report after each timed trial
    saved: dict[str, dict[str, Any]]  # what each ``wsexplore serve`` saved when stopped
    whole: dict[str, float]  # each server's CPU seconds over the whole run, up to the stop
    quiet: list[float]  # seconds each trial waited for the other servers to be idle
    client: dict[str, list[float]]  # the client thread's share of a core in each timed trial, per workload


async def _quiet(servers: dict[str, Any]) -> float:
    """Wait until no server process is busy, ``QUIET_MAX`` seconds at most; the seconds waited.

    A ``wsexplore serve`` writes its capture (``--save``) when its traffic pauses, which is when
    another server's trial runs; on a small machine that write would take a core from the trial.
    The write still happens and costs what it costs (the whole-run CPU note counts it), but not
    inside another server's timing.
    """
    start = time.monotonic()
    last = {kind: server.cpu_seconds() for kind, server in servers.items()}
    if None in last.values():
        return 0.0  # no per-process CPU here: nothing to wait on
    while time.monotonic() - start < QUIET_MAX:
        await asyncio.sleep(QUIET_LOOK)
        now = {kind: server.cpu_seconds() for kind, server in servers.items()}
        if all(now[kind] - last[kind] < QUIET_CPU for kind in servers):
            break
        last = now
    return time.monotonic() - start - QUIET_LOOK  # the one look every trial takes is not a wait


def _measure(servers: dict[str, Any], repeat: int) -> Results:
    """Run every workload ``repeat`` times on each server, rotating who goes first."""
    res = Results({w.name: {} for w in WORKLOADS}, {w.name: {} for w in WORKLOADS}, {w.name: {} for w in WORKLOADS},
                  [], {}, {}, [], {w.name: [] for w in WORKLOADS})
    captured = res.captured

    async def trial(workload: Workload, kind: str, run: Callable[[str], Awaitable[tuple[float, int, Expected]]]
                    ) -> tuple[float, int, Expected, float | None, int | None]:
        server = servers[kind]
        res.quiet.append(await _quiet(servers))
        cpu0, faults0 = server.cpu_seconds(), server.page_faults()
        result = await run(server.url)
        if isinstance(server, ServeCLI):
            await asyncio.to_thread(server.after_trial, workload.name, result[2])
            cpu1 = server.cpu_seconds()  # once its console printed the trial: printing included
            faults1 = server.page_faults()
        else:
            cpu1 = server.cpu_seconds()  # includes the untimed connect and close: every server alike
            faults1 = server.page_faults()
            stats = await asyncio.to_thread(server.after_trial, workload.name, result[2])
            if stats is not None:
                captured.append(dict(stats, workload=workload.name))
        return (*result, None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                None if faults0 is None or faults1 is None else faults1 - faults0)

    async def main() -> None:
        kinds = list(servers)
        # Warm every server up (imports, first connections, allocator) untimed.
        for kind in kinds:
            await trial(WORKLOADS[0], kind, lambda url: _sequential(url, 500))
            await trial(WORKLOADS[-1], kind, lambda url: _big(url, 3))
        captured.clear()
        for workload in WORKLOADS:
            for i in range(repeat):
                order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]  # rotate who goes first
                for kind in order:
                    seconds, units, _, cpu, faults = await trial(workload, kind, workload.run)
                    res.rate[workload.name].setdefault(kind, []).append(units / seconds)
                    if _Timer.last_share is not None:
                        res.client[workload.name].append(_Timer.last_share)
                    if cpu is not None:
                        res.cpu[workload.name].setdefault(kind, []).append(cpu / units)
                    if faults is not None:
                        res.faults[workload.name].setdefault(kind, []).append(faults / units)
        await asyncio.sleep(WHOLE_RUN_SETTLE)  # work left over from the last trials (a periodic save) is done
        for kind, server in servers.items():
            cpu = server.cpu_seconds()
            if cpu is not None:
                res.whole[kind] = cpu

    asyncio.run(main())
    return res


AT_BOUND_KINDS = ("wsexplore", "websockets")
#: Untimed 1 MiB echoes before the timed ones: past the 256 MiB bound of the library server's Capture.
AT_BOUND_WARM = 300


def _measure_at_bound(servers: dict[str, Any], repeat: int) -> dict[str, list[tuple[float, Any, Any]]]:
    """The 1 MiB workload once the library server's capture is full and evicting, as a long-running
    server's is: each trial first echoes ``AT_BOUND_WARM`` MiB untimed. Checked: the capture reached its
    bound (records were evicted), broke no rule, and holds the timed echoes."""
    out: dict[str, list[tuple[float, Any, Any]]] = {kind: [] for kind in AT_BOUND_KINDS}

    async def main() -> None:
        for i in range(repeat):
            for kind in AT_BOUND_KINDS if i % 2 == 0 else AT_BOUND_KINDS[::-1]:
                server = servers[kind]
                await _quiet(servers)
                out[kind].append(await _big_at_bound(server, AT_BOUND_WARM))
                stats = await asyncio.to_thread(server.stats)  # the library server starts a fresh Capture
                if kind in CAPTURED and (not stats["dropped"] or stats["violations"]
                                         or stats["frames"].get("in BINARY", 0) < BIG_COUNT):
                    raise AssertionError(f"1 MiB at the bound: the capture did not evict, or lost the timed"
                                         f" echoes: {stats['dropped']} dropped, {stats['frames']}")

    asyncio.run(main())
    return out


def _at_bound_table(at_bound: dict[str, list[tuple[float, Any, Any]]]) -> Any:
    from common import Goal, Table, fmt_rate, paired_ratio

    median = statistics.median
    table = Table(f"echo: {BIG_SIZE >> 20} MiB binary ({BIG_COUNT}) with the library server's capture at its bound,"
                  f" after {AT_BOUND_WARM} untimed echoes; median of {REPEAT} (ratio: {PAIRED})",
                  ["server", "MiB/s", "CPU per MiB", "page faults per MiB", "MiB/s / websockets"])
    rates = {kind: [rate for rate, _, _ in trials] for kind, trials in at_bound.items()}
    ratios = {kind: paired_ratio(rates[kind], rates["websockets"]) for kind in AT_BOUND_KINDS}
    for kind in AT_BOUND_KINDS:
        cpus = [c for _, c, _ in at_bound[kind] if c is not None]
        faults = [f for _, _, f in at_bound[kind] if f is not None]
        table.add(kind, f"{fmt_rate(median(rates[kind]))} ({fmt_rate(max(rates[kind]))})",
                  f"{median(cpus) * 1e6:.0f} µs" if cpus else "-", f"{median(faults):.0f}" if faults else "-",
                  f"{ratios[kind]:.2f}x")
    table.notes.append("the table above times a capture filling up: each MiB it keeps is memory the process never"
                       " used, which costs what the machine charges for fresh pages; a long-running server's capture"
                       " is full, and reuses what its evictions free. Here each trial's connection echoes"
                       f" {AT_BOUND_WARM} MiB first (untimed, past the Capture's 256 MiB bound); CPU and faults are"
                       " the timed echoes' only")
    ratio = ratios["wsexplore"]
    table.goals.append(Goal(f"capture at its bound: library >= {GOAL_RATIO:.1f}x websockets, recording every"
                            f" frame and evicting the oldest (now {ratio:.2f}x)", ratio >= GOAL_RATIO))
    return table


def _per_unit(w: Workload) -> tuple[str, float]:
    """What the per-unit tables count a figure per (a MiB, or one of the workload's units) and the factor to it."""
    return ("MiB", 1 / w.scale) if w.scale != 1 else (w.unit.removesuffix("/s").rstrip("s"), 1)


def _versions() -> str:
    import websockets

    try:
        from websockets.speedups import apply_mask  # noqa: F401

        speedups = "C speedups on"
    except ImportError:
        speedups = "C speedups OFF"
    return f"websockets {websockets.__version__} ({speedups})"


def _start(kind: str) -> Any:
    return ServeCLI(CLI_OUTPUTS[kind]) if kind in CLI_OUTPUTS else ServerProcess(kind)


def run() -> list:
    from common import Goal, Table, fmt_rate, paired_ratio

    servers: dict[str, Any] = {}
    saved: dict[str, dict[str, Any]] = {}
    try:
        for kind in CONTENDERS:
            servers[kind] = _start(kind)
        res = _measure(servers, REPEAT)
        at_bound = _measure_at_bound(servers, REPEAT)
    finally:
        for kind, server in servers.items():
            info = server.stop()
            if isinstance(server, ServeCLI):
                saved[kind] = info
    for kind, info in saved.items():
        if "records" not in info or info["records"] + info["dropped"] != info["appended"]:
            raise AssertionError(f"{kind}: the capture was not saved whole at the stop: {info}")

    median = statistics.median
    ours = [k for k in CONTENDERS if k != "websockets"]
    table = Table(
        f"echo: live servers on {HOST}, each in its own process, one client; median of {REPEAT}"
        f" trials (best in brackets); ratios: {PAIRED}",
        ["workload", "unit", *CONTENDERS, *(f"{k} / websockets" for k in ours), "frames captured"],
    )
    per_trial = {rec["workload"]: _frames(rec) for rec in res.captured}  # the same for every trial
    for w in WORKLOADS:
        rates = res.rate[w.name]
        ratios = {k: paired_ratio(rates[k], rates["websockets"]) for k in ours}
        table.add(w.name, w.unit, *(f"{fmt_rate(median(rates[k]) * w.scale)} ({fmt_rate(max(rates[k]) * w.scale)})"
                                    for k in CONTENDERS),
                  *(f"{ratios[k]:.2f}x" for k in ours), f"{per_trial[w.name]:,}")
        if not w.goal:
            continue
        table.goals.append(Goal(f"{w.name}: library >= {GOAL_RATIO:.1f}x websockets while capturing every frame"
                                f" (now {ratios['wsexplore']:.2f}x)", ratios["wsexplore"] >= GOAL_RATIO))
        for k in CLI_OUTPUTS:
            table.goals.append(Goal(f"{w.name}: {k} >= {GOAL_CLI_RATIO:.2f}x websockets, every line printed"
                                    f" (now {ratios[k]:.2f}x)", ratios[k] >= GOAL_CLI_RATIO))
    frames = sum(_frames(rec) for rec in res.captured)
    records = sum(rec["records"] for rec in res.captured)
    mib = sum(sum(rec["raw"].values()) for rec in res.captured) / (1 << 20)
    table.notes.append(
        f"the library's captures over all {len(res.captured)} timed trials: {records:,} records, {frames:,} frames"
        f" ({mib:,.1f} MiB raw), 0 dropped, 0 violations; after each trial every data and close frame both"
        " ways (count and raw length), message, handshake and close was checked, then a fresh Capture began")
    table.notes.append("wsexplore serve: every handshake, frame and close line of each trial counted (per direction"
                       " and opcode) before the next trial; saved at the stop: " + "; ".join(
                           f"{k} {v['records']:,} records in {v['bytes'] / 1e6:,.0f} MB ({v['dropped']:,} evicted"
                           f" by the capture's bounds)" for k, v in saved.items()))
    table.notes.append("'frames captured': frames one trial left in the library server's Capture")
    table.notes.append(f"{_versions()}; servers: Server(default echo handler, max_message_size=16 MiB), the same with"
                       " an async echo handler in a task (wsexplore+task), `wsexplore"
                       " serve --save PATH --max-message-size 16777216` and websockets.asyncio.server.serve(echo,"
                       " compression=None, max_size=16 MiB); client: websockets.asyncio.client.connect("
                       "compression=None, max_size=None, max_queue=None)")
    table.notes.append(f"every echo checked (content and count); connect and close not timed;"
                       f" {os.cpu_count()} CPU(s), so client and server each have about one core")
    if all(res.client.values()):
        table.notes.append(
            "the client's share of its core while timed (its thread's CPU time / wall time, median over every"
            " server's trials): " + "; ".join(f"{re.sub(r' [(][^)]*[)]', '', w.name)}: {median(res.client[w.name]):.2f}"
                                              for w in WORKLOADS)
            + ". Near 1.0 the client is busy all the time. With 100 connections websockets' client needs about"
            " as much CPU per round trip as the servers, so every server's best trial reaches about the same"
            " rate and their ratio follows the client's noise: that row is shown without a goal. The raw client"
            " (benchmarks/raw_client.py: handshake, masked frames serialised beforehand, every echo compared,"
            " closing handshake) drives the same workload with less CPU, leaving the servers to set the pace;"
            " its row has the goal")
    if res.quiet:
        waits = [w for w in res.quiet if w > 0.01]
        table.notes.append(f"before each trial, until no server process used CPU (a serve's periodic save): "
                           f"{len(waits)} of {len(res.quiet)} trials waited, {sum(waits):.1f} s in all, "
                           f"{max(res.quiet):.1f} s at most")
    tables = [table]

    if all(len(res.cpu[w.name]) == len(CONTENDERS) for w in WORKLOADS):
        cpu = Table(
            f"echo: server CPU time per unit (all its threads, /proc schedstat), median of {REPEAT}",
            ["workload", "per", *CONTENDERS, *(f"{k} / websockets" for k in ours)],
        )
        for w in WORKLOADS:
            cpus = {k: median(v) for k, v in res.cpu[w.name].items()}
            per, scale = _per_unit(w)
            cpu.add(w.name, per, *(f"{cpus[k] * scale * 1e6:.1f} µs" for k in CONTENDERS),
                    *(f"{cpus[k] / cpus['websockets']:.2f}x" for k in ours))
        cpu.notes.append("less sensitive to scheduling noise than wall-clock rates; includes each trial's"
                         " untimed connect and close (every server alike); for wsexplore serve, read once its"
                         " console printed the trial, so the printing is included")
        if len(res.whole) == len(CONTENDERS):
            cpu.notes.append(
                "each server's CPU over the whole run, warm-up and the gaps between trials included (wsexplore"
                " serve's periodic saves, which wait for a pause in the traffic, mostly run there; the library"
                " server's includes counting its capture after each trial), read"
                f" {WHOLE_RUN_SETTLE:.0f} s after the last trial, before the stop: " + ", ".join(
                    f"{k} {res.whole[k]:.1f} s ({res.whole[k] / res.whole['websockets']:.2f}x)" for k in CONTENDERS))
        tables.append(cpu)

    if all(len(res.faults[w.name]) == len(CONTENDERS) for w in WORKLOADS):
        faults = Table(f"echo: the server's minor page faults per unit (/proc/PID/stat), median of {REPEAT}",
                       ["workload", "per", *CONTENDERS])
        for w in WORKLOADS:
            counts = {k: median(v) for k, v in res.faults[w.name].items()}
            per, scale = _per_unit(w)
            faults.add(w.name, per, *(f"{counts[k] * scale:.2f}" for k in CONTENDERS))
        faults.notes.append(
            "a fault maps one 4 KiB page of fresh memory in (a few µs each on a virtual machine); a capture keeps"
            " every payload, so until it reaches its bounds each MiB it keeps is fresh memory (256 faults); a server"
            " that keeps nothing can reuse the memory it freed, when the C library has not handed it back to the"
            " system. Each library trial starts a fresh Capture, and between trials every server hands the memory it"
            " freed back to the system (malloc_trim), so each trial starts with nothing to reuse, as a new process."
            " wsexplore maps the fresh pages of a large payload or frame in with one system call"
            " (wsexplore.protocol.prefault): they are counted here all the same, at a lower cost (a 1 MiB unmask"
            " into fresh memory on a Linux 6.18 VM: 330-380 µs prefaulted, 565 µs a page at a time)")
        tables.append(faults)
    tables.append(_at_bound_table(at_bound))
    return tables


def profile() -> str:
    """cProfile of our server process over one trial of each workload."""
    server = ServerProcess("wsexplore", profile=True)
    try:
        async def main() -> None:
            for w in WORKLOADS:
                await w.run(server.url)
                await asyncio.to_thread(server.stats)

        asyncio.run(main())
    finally:
        out = server.stop()
    head, sep, text = out.partition("PROFILE\n")
    return text if sep else f"no profile from the server process:\n{head}"


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], "--profile" in sys.argv[3:])
    else:
        raise SystemExit(f"usage: {sys.argv[0]} --serve wsexplore|websockets [--profile]"
                         " (benchmarks/run.py echo runs the group)")
else:
    from common import register

    register("echo", "live echo servers over sockets: our capturing Server vs websockets", order=50,
             profile=profile)(run)
