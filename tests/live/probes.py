"""Hostile peers as reusable probes: raw sockets against anything that listens and captures.

A probe takes a :class:`Target`, a port to dial and the capture its records land in, so
the same probes run against every capture point: the capturing ``Server`` today, and the
tap and the Jupyter relay once they exist (add a factory to ``TARGETS`` in conftest.py).
Every wait is bounded; nothing measures wall-clock speed.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wsexplore.capture import Capture
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

T = 10.0  # seconds: the bound on any single network wait
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


@dataclass
class Target:
    """What a probe needs of a capture point: where to dial, and where its records land."""

    port: int
    capture: Capture
    host: str = "127.0.0.1"
    #: The object behind it (a ``Server``, a tap), for assertions that are about that object.
    thing: Any = field(default=None, repr=False)

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.authority}/"


#: ``await make_target(**options)``: a started capture point with those options (origins, hosts,
#: idle_timeout, max_buffered, max_message_size, compression, handler ...), stopped after the test.
TargetFactory = Callable[..., Awaitable[Target]]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


def upgrade_request(target: Target, *, host: str | None = None, origin: str | None = None, path: str = "/",
                    extra: str = "") -> bytes:
    """An opening handshake request; ``host`` replaces the Host (default: the address dialled)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host if host is not None else target.authority}",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def http_request(target: Target, method: str = "GET", path: str = "/", *, host: str | None = None,
                 origin: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host if host is not None else target.authority}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if method == "POST":
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, body, raw)


async def eventually(predicate: Callable[[], object], timeout: float = T, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds (in this task: no helper task that would show in
    ``asyncio.all_tasks()``); fails the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def connect(target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(target.host, target.port), T)


async def exchange(target: Target, request: bytes) -> Response:
    """Send ``request`` on a fresh connection; the answer, read until the other side closes."""
    reader, writer = await connect(target)
    try:
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(), T)
    finally:
        writer.transport.abort()
    return parse_response(raw)


async def status_of(target: Target, request: bytes) -> int:
    """The status a request gets (read from the answer's head, so an accepted upgrade need not close)."""
    reader, writer = await connect(target)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    finally:
        writer.transport.abort()
    return parse_response(head).status


async def open_websocket(target: Target, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw socket after an accepted opening handshake."""
    reader, writer = await connect(target)
    writer.write(upgrade_request(target, **kwargs))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False) -> bytes:
    return Frame(opcode, payload, fin=fin, rsv1=rsv1, mask_key=MASK).encode()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next (unmasked) frame from the server: opcode and payload."""
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), T)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), T))
    elif length == 127:
        (length,) = struct.unpack("!Q", await asyncio.wait_for(reader.readexactly(8), T))
    return b0 & 0x0F, await asyncio.wait_for(reader.readexactly(length), T)


async def read_close(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Skip frames until the close frame; its code and reason."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == Opcode.CLOSE:
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


# ---------------------------------------------------------------------------- slow and stalled peers
async def send_in_pieces(target: Target, data: bytes, pieces: list[bytes],
                         delivered: Callable[[int], Awaitable[None]]) -> Response:
    """Send ``pieces`` (which make up ``data``) one write each; after each, ``delivered(count)`` waits until
    the other side has taken that many pieces, so that each arrives as a read of its own."""
    assert b"".join(pieces) == data
    reader, writer = await connect(target)
    try:
        for count, piece in enumerate(pieces, 1):
            writer.write(piece)
            await writer.drain()
            await delivered(count)
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    finally:
        writer.transport.abort()
    return parse_response(raw)


async def stall_inside_frame(target: Target, *, payload: int = 4096, sent: int = 1000,
                             fragment_first: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a WebSocket, send ``sent`` bytes of a ``payload``-byte frame (after a first fragment when
    ``fragment_first``), then go quiet; the socket, still open."""
    reader, writer = await open_websocket(target)
    if fragment_first:
        writer.write(client_frame(Opcode.TEXT, b"first half", fin=False))
    frame = client_frame(Opcode.BINARY if not fragment_first else Opcode.CONTINUATION, bytes(payload))
    writer.write(frame[: len(frame) - payload + sent])
    await writer.drain()
    return reader, writer


# ---------------------------------------------------------------------------- floods
def tiny_frames(count: int) -> bytes:
    """``count`` of the smallest data frames a client can send (6 bytes each: header and key, no payload)."""
    return client_frame(Opcode.BINARY, b"") * count


async def flood(target: Target, stop: asyncio.Event, *, chunk: bytes, started: asyncio.Event) -> int:
    """Write ``chunk`` again and again on one WebSocket until ``stop`` is set, reading (and dropping)
    whatever comes back; the bytes written. ``started`` is set after the first write."""
    reader, writer = await open_websocket(target)

    async def drop_echoes() -> None:
        while await reader.read(1 << 16):
            pass

    sink = asyncio.get_running_loop().create_task(drop_echoes())
    sent = 0
    try:
        while not stop.is_set():
            writer.write(chunk)
            sent += len(chunk)
            started.set()
            await asyncio.wait_for(writer.drain(), T)
    finally:
        writer.transport.abort()
        sink.cancel()
        await asyncio.gather(sink, return_exceptions=True)
    return sent
