"""Test peers for the tap: a recording TCP relay and a raw upstream that speaks bytes chosen by a test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RecordingRelay:
    """A TCP relay that records every byte each way: what the tap's neighbour really sent and got.

    ``to_server`` holds the bytes that went from the connecting side to the
    target, ``to_client`` those that came back, for the last connection.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.to_server = bytearray()
        self.to_client = bytearray()
        self.server: asyncio.base_events.Server | None = None
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> RecordingRelay:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bytearray) -> None:
            try:
                while data := await src.read(65536):
                    record += data
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    if dst.can_write_eof():
                        dst.write_eof()
                except (OSError, RuntimeError):
                    pass

        await asyncio.gather(pump(reader, up_writer, self.to_server), pump(up_reader, writer, self.to_client))
        writer.close()
        up_writer.close()
        self.done.set()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def accept_101(request: bytes, extra: bytes = b"") -> bytes:
    """A minimal valid 101 answer to ``request`` (its Sec-WebSocket-Key answered), with ``extra`` header lines."""
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n")


RawHandler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawUpstream:
    """An upstream whose bytes a test writes: it reads the request head, then calls ``handler``.

    ``requests`` keeps each request head as it arrived (as the tap forwarded it).
    """

    def __init__(self, handler: RawHandler | None = None) -> None:
        self.handler = handler if handler is not None else self._accept_and_record
        self.requests: list[bytes] = []
        self.received = bytearray()  # what the default handler read after its 101
        self.finished = asyncio.Event()  # ... until the end of the stream
        self.server: asyncio.base_events.Server | None = None

    async def _accept_and_record(self, head: bytes, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        writer.write(accept_101(head))
        await writer.drain()
        while data := await reader.read(65536):
            self.received.extend(data)
        self.finished.set()

    async def start(self) -> RawUpstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            await self.handler(head, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
