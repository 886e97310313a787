"""Run one scenario against the tutorial's toy under Node and against the Python port; say what each did.

A scenario is a list of steps done by raw-socket clients. The same steps run
against both; what the clients received, the console output and the end of
the process (crashed with which error, or still running) are compared.

Reads must fall where the scenario puts them (the toy takes each read for a
frame), so a step that makes the toy print waits for the print before the
next bytes go out: the port runs first and each ``Out`` step notes how much
it had printed by then; the Node run waits for the same amount.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsexplore.teaching.node import NodeProcess
from wsexplore.teaching.rawclient import RawClient
from wsexplore.teaching.toy import MyWebsocket, ToyServer

TOY = Path(__file__).resolve().parent
#: Date.now() in both (the replies carry it).
NOW = 1700000000000
#: index.js's 2000 ms, shortened for the tests in both.
INTERVAL_MS = 150

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
KEY = bytes.fromhex("37fa213d")


def masked(opcode: int, payload: bytes, key: bytes = KEY, *, fin: bool = True, rsv: int = 0,
           form: str | None = None) -> bytes:
    """A client frame, built by hand (``form`` forces "7", "16" or "64" for the length)."""
    n = len(payload)
    form = form or ("7" if n < 126 else "16" if n < 65536 else "64")
    first = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if form == "7":
        head = first + bytes([0x80 | n])
    elif form == "16":
        head = first + b"\xfe" + n.to_bytes(2, "big")
    else:
        head = first + b"\xff" + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


# ------------------------------------------------------------------------------------------ steps
@dataclass(frozen=True)
class Step:
    kind: str
    conn: str = ""
    data: bytes = b""
    n: int = 0
    seconds: float = 0.0


def Connect(conn: str = "a", request: bytes = REQUEST, then: bytes = b"") -> Step:  # noqa: N802
    """Open a connection, write ``request`` (and ``then`` in the same write), read the answer's head."""
    return Step("connect", conn, request + then)


def ConnectRefused(conn: str = "a") -> Step:  # noqa: N802
    """Try to connect: the listening socket is gone."""
    return Step("refused", conn)


def Send(conn: str, data: bytes) -> Step:  # noqa: N802
    return Step("send", conn, data)


def Out() -> Step:  # noqa: N802
    """Wait for the next console line."""
    return Step("out")


def Read(conn: str, n: int) -> Step:  # noqa: N802
    """Read exactly ``n`` bytes."""
    return Step("read", conn, n=n)


def Quiet(conn: str, seconds: float = 0.3) -> Step:  # noqa: N802
    """Nothing arrives for ``seconds`` and the connection stays open (or say what happened instead)."""
    return Step("quiet", conn, seconds=seconds)


def Eof(conn: str) -> Step:  # noqa: N802
    """Read to the end: the bytes, then whether the server closed (EOF) or reset."""
    return Step("eof", conn)


def Close(conn: str) -> Step:  # noqa: N802
    """The client closes its socket (FIN)."""
    return Step("close", conn)


def HalfClose(conn: str) -> Step:  # noqa: N802
    """The client ends its side (FIN) and keeps reading."""
    return Step("half-close", conn)


def Abort(conn: str) -> Step:  # noqa: N802
    """The client resets the connection (RST)."""
    return Step("abort", conn)


def Exit() -> Step:  # noqa: N802
    """Wait for the process to end (a crash)."""
    return Step("exit")


def Sleep(seconds: float) -> Step:  # noqa: N802
    return Step("sleep", seconds=seconds)


# ------------------------------------------------------------------------------------------ targets
@dataclass
class Outcome:
    """What one run of a scenario showed."""

    seen: list[tuple[Any, ...]] = field(default_factory=list)
    stdout: bytes = b""
    console_errors: list[str] = field(default_factory=list)
    crash: tuple[str, str | None, str | None] | None = None  # (header, first frame in the tutorial's code, event)
    alive: bool = True


class PortTarget:
    """The Python port in this process: ``ToyServer`` (index.js) or a ``MyWebsocket`` driven as send.js does."""

    def __init__(self, script: str = "index.js", args: tuple[str, ...] = (), interval_ms: int = INTERVAL_MS) -> None:
        self.script, self.args = script, args
        self.interval = interval_ms / 1000
        self.toy: ToyServer | None = None
        self.process: NodeProcess
        self.marks: list[int] = []

    async def start(self) -> int | None:
        if self.script == "index.js":
            self.toy = await ToyServer(interval=self.interval, clock=lambda: NOW).start()
            self.process = self.toy.process
            return self.toy.port
        # send.js: a MyWebsocket with one 'data' listener, or a send() right after it is made.
        self.process = NodeProcess()
        ws = MyWebsocket(self.process)
        await ws.listen()
        self._ws = ws
        values: dict[str, Any] = {"text": "hello", "number": 42, "object": {"a": 1}, "null": None}
        value = values[self.args[1]]
        if self.args[0] == "early":
            self.process.run(ws.send, value)
        else:
            ws.on("data", lambda _data: ws.send(value))
        return ws.server.address[1] if self.process.alive and ws.server.address else None

    def stdout(self) -> bytes:
        return self.process.stdout.encode("utf-8")

    async def out(self, index: int) -> None:
        printed = len(self.process.output)
        for _ in range(300):
            if len(self.process.output) > printed or not self.process.alive:
                break
            await asyncio.sleep(0.01)
        self.marks.append(len(self.stdout()))

    async def wait_exit(self, timeout: float = 5) -> None:
        for _ in range(int(timeout / 0.01)):
            if not self.process.alive:
                return
            await asyncio.sleep(0.01)

    async def finish(self, outcome: Outcome) -> None:
        outcome.alive = self.process.alive
        outcome.stdout = self.stdout()
        crashed = self.process.crashed
        errors = [line.text for line in self.process.output if line.stream == "stderr"]
        if crashed is not None:
            errors = errors[:-1]
            outcome.crash = (crashed.header, crashed.at, f"{crashed.event}" if crashed.event else None)
        outcome.console_errors = errors
        self.process.exit()
        await asyncio.sleep(0)


_DUMP_START = re.compile(r"(node:[\w/]+|/.*\.js):\d+")
_HEADER = re.compile(r"(\w*Error(?: \[[A-Z_]+\])?: .*)")
_FRAME = re.compile(r"\s+at (.+?) \((?:.*/)?((?:ws|index|send)\.js:\d+:\d+)\)")


def parse_node_stderr(text: str) -> tuple[list[str], tuple[str, str | None, str | None] | None]:
    """``console.error`` lines, then the crash Node printed: (header, first frame in the tutorial's code, event)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _DUMP_START.fullmatch(line)), len(lines))
    console, dump = lines[:start], lines[start:]
    if not dump:
        return console, None
    header = next((m.group(1) for line in dump if (m := _HEADER.fullmatch(line))), "?")
    at = next((f"{m.group(1)} ({m.group(2)})" for line in dump if (m := _FRAME.fullmatch(line))), None)
    event = "Socket" if "Emitted 'error' event on Socket instance" in text else None
    return console, (header, at, event)


class NodeTarget:
    """The tutorial's files, unchanged, run by ``node`` (with ``harness.js`` preloaded)."""

    def __init__(self, script: str = "index.js", args: tuple[str, ...] = (), interval_ms: int = INTERVAL_MS,
                 marks: list[int] | None = None) -> None:
        self.script, self.args, self.interval_ms = script, args, interval_ms
        self.marks = marks or []
        self._stdout = bytearray()
        self._grew = asyncio.Event()

    async def start(self) -> int | None:
        fd, self._port_file = tempfile.mkstemp(prefix="toy-port-")
        os.close(fd)
        env = dict(os.environ, TOY_PORT="0", TOY_PORT_FILE=self._port_file, TOY_NOW=str(NOW),
                   TOY_INTERVAL_MS=str(self.interval_ms))
        self.proc = await asyncio.create_subprocess_exec(
            "node", "-r", str(TOY / "harness.js"), str(TOY / self.script), *self.args, env=env, cwd=str(TOY),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.get_running_loop().create_task(self._read_stdout())
        for _ in range(500):
            text = Path(self._port_file).read_text()
            if text:
                return int(text)
            if self.proc.returncode is not None:
                return None
            await asyncio.sleep(0.01)
        raise TimeoutError("node did not start listening within 5 s")

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self._stdout += chunk
            self._grew.set()

    async def out(self, index: int) -> None:
        want = self.marks[index] if index < len(self.marks) else len(self._stdout) + 1
        try:
            async with asyncio.timeout(3):
                while len(self._stdout) < want and self.proc.returncode is None:
                    self._grew.clear()
                    waiter = asyncio.ensure_future(self._grew.wait())
                    exited = asyncio.ensure_future(self.proc.wait())
                    await asyncio.wait([waiter, exited], return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    exited.cancel()
        except TimeoutError:
            pass

    async def wait_exit(self, timeout: float = 5) -> None:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def finish(self, outcome: Outcome) -> None:
        outcome.alive = self.proc.returncode is None
        if outcome.alive:
            self.proc.terminate()
        await self.proc.wait()
        await self._reader
        assert self.proc.stderr is not None
        stderr = (await self.proc.stderr.read()).decode("utf-8", "replace")
        outcome.stdout = bytes(self._stdout)
        outcome.console_errors, outcome.crash = parse_node_stderr(stderr)
        if outcome.alive:
            assert self.proc.returncode == -15, f"node ended with {self.proc.returncode}: {stderr}"
        else:
            assert self.proc.returncode == 1, f"node ended with {self.proc.returncode}: {stderr}"
        os.unlink(self._port_file)


# ------------------------------------------------------------------------------------------ running
def _answer(client: RawClient) -> tuple[Any, ...]:
    if client.answer is None:
        return ("no answer",)
    if client.answer.endswith(b"\r\n\r\n"):
        return ("answer", client.answer)
    return ("closed", client.answer)


async def run(target: PortTarget | NodeTarget, steps: list[Step]) -> Outcome:
    """Do ``steps`` against ``target``; what the clients saw, what it printed, how it ended."""
    outcome = Outcome()
    port = await target.start()
    conns: dict[str, RawClient] = {}
    outs = 0
    seen = outcome.seen
    try:
        for step in steps:
            kind, name = step.kind, step.conn
            if kind == "connect":
                assert port is not None, "the process ended before it listened"
                conns[name] = await RawClient.open(port, step.data, timeout=1.0)
                seen.append((name, *_answer(conns[name])))
            elif kind == "refused":
                try:
                    await RawClient.open(port, b"", timeout=0.1)
                    seen.append((name, "connected"))
                except ConnectionRefusedError:
                    seen.append((name, "refused"))
            elif kind == "send":
                await conns[name].send(step.data)
            elif kind == "out":
                await target.out(outs)
                outs += 1
            elif kind == "read":
                try:
                    data = await conns[name].read(step.n, timeout=3)
                    seen.append((name, "read" if len(data) == step.n else "read, then EOF", data.hex(" ")))
                except TimeoutError:
                    seen.append((name, "read: timed out"))
            elif kind == "quiet":
                data, end = await conns[name].rest(step.seconds)
                seen.append((name, "quiet" if not data and end == "open" else "not quiet", data.hex(" "), end))
            elif kind == "eof":
                data, end = await conns[name].rest(3)
                seen.append((name, "to the end", data.hex(" "), end))
            elif kind == "close":
                conns[name].close()
            elif kind == "half-close":
                conns[name].end()
            elif kind == "abort":
                conns[name].abort()
            elif kind == "exit":
                await target.wait_exit()
            elif kind == "sleep":
                await asyncio.sleep(step.seconds)
            else:  # pragma: no cover
                raise ValueError(kind)
    finally:
        await target.finish(outcome)
        for client in conns.values():
            client.writer.transport.abort()
    return outcome


async def both(steps: list[Step], script: str = "index.js", args: tuple[str, ...] = (),
               interval_ms: int = INTERVAL_MS) -> tuple[Outcome, Outcome]:
    """The port's outcome and Node's, for the same steps."""
    port = PortTarget(script, args, interval_ms)
    ours = await run(port, steps)
    node = await run(NodeTarget(script, args, interval_ms, marks=port.marks), steps)
    return ours, node
