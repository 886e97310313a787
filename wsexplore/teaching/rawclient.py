"""A WebSocket client on a plain TCP socket that sends exactly the bytes it is given, for the notebooks.

A real client library fixes what it sends (fresh masking keys, valid
frames, its own reads); to show what a server does with one exact byte
sequence, read boundaries included, a notebook needs a client that writes
what it is told, when it is told, and reads exactly what it asks for.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from ..protocol import handshake
from ..protocol.header import header_length, parse_header

__all__ = ["RawClient", "RFC_KEY"]

#: The key of RFC 6455's own example (section 1.3): its accept is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class RawClient:
    """One TCP connection: ``await RawClient.open(port)`` sends an upgrade request and reads the answer's head.

    ``answer`` is the head of the server's answer (what came before the
    server closed, when it closed before a whole head; None when it said
    nothing within ``timeout``).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.answer: bytes | None = None

    @classmethod
    async def open(cls, port: int, request: bytes | None = None, *, then: bytes = b"", host: str = "127.0.0.1",
                   timeout: float = 2.0) -> RawClient:
        """Connect to ``host:port``, write ``request`` (a valid upgrade by default) and ``then`` in one write."""
        if request is None:
            request, _ = handshake.client_request(host, port, "/", key=RFC_KEY)
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        writer.write(request + then)
        try:
            client.answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.IncompleteReadError as exc:
            client.answer = exc.partial
        except ConnectionResetError:
            client.answer = b""
        except asyncio.TimeoutError:
            client.answer = None
        return client

    @property
    def status_line(self) -> str:
        """The answer's first line, or what happened instead."""
        if self.answer is None:
            return "(no answer)"
        if not self.answer:
            return "(closed without an answer)"
        return self.answer.split(b"\r\n", 1)[0].decode("latin-1")

    async def send(self, data: bytes) -> None:
        """Write ``data`` in one write."""
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, n: int, timeout: float = 5.0) -> bytes:
        """Exactly ``n`` bytes (fewer only if the server closes first)."""
        try:
            return await asyncio.wait_for(self.reader.readexactly(n), timeout)
        except asyncio.IncompleteReadError as exc:
            return exc.partial

    async def read_frame(self, timeout: float = 5.0) -> bytes:
        """One whole frame, as long as its header says (what there is, if the server closes first)."""
        data = await self.read(2, timeout)
        if len(data) < 2:
            return data
        data += await self.read(header_length(data[1]) - 2, timeout)
        header = parse_header(data)
        if header is None or header.frame_length is None:
            return data
        return data + await self.read(header.frame_length - len(data), timeout)

    async def rest(self, timeout: float = 0.5) -> tuple[bytes, str]:
        """What arrives within ``timeout`` seconds, and how the connection stands then.

        The state is "closed" (the server closed: end of stream), "reset", or
        "open" (still open after ``timeout``: a server that says nothing can
        only be shown silent for a while).
        """
        data = bytearray()
        try:
            async with asyncio.timeout(timeout):
                while chunk := await self.reader.read(65536):
                    data += chunk
            return bytes(data), "closed"
        except TimeoutError:
            return bytes(data), "open"
        except ConnectionResetError:
            return bytes(data), "reset"

    def close(self) -> None:
        """Close the socket (the peer sees FIN)."""
        self.writer.close()

    def end(self) -> None:
        """End our side (FIN) and keep reading."""
        self.writer.write_eof()

    def abort(self) -> None:
        """Reset the connection (the peer sees RST)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def __repr__(self) -> str:
        return f"<RawClient: {self.status_line}>"
