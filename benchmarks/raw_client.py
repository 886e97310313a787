"""A WebSocket echo client that costs less than the servers it measures.

With 100 connections on a 2-core machine, ``websockets``' asyncio client needs
as much CPU per round trip as either server, and uses its whole core: the rate
it reaches is its own, whichever server answers. This client does only what
an echo round trip needs, in one ``asyncio.Protocol`` per connection: the
opening handshake (RFC 6455 section 4.1, ``Sec-WebSocket-Accept`` checked),
masked frames serialised beforehand by ``websockets.frames`` (a fresh random
masking key each, as section 5.3 requires), each echo parsed and compared with
what was sent, and the closing handshake (section 7). So the server, not the
client, sets the pace.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from urllib.parse import urlsplit

__all__ = ["RawEchoClient", "open_clients", "round_trips", "close_all"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # section 1.3
_TEXT_FIN = 0x81
_CLOSE_FIN = 0x88
CLOSE_TIMEOUT = 10.0


def _masked(opcode: int, payload: bytes) -> bytes:
    from websockets.frames import Frame, Opcode

    return Frame(Opcode(opcode), payload).serialize(mask=True)


class RawEchoClient(asyncio.Protocol):
    """One connection: sends its frames one at a time, each once the echo of the one before is in."""

    def __init__(self, host: str, path: str, texts: list[str]) -> None:
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[int] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._expected = [text.encode() for text in texts]
        self._frames = [_masked(1, data) for data in self._expected]
        self._key = base64.b64encode(os.urandom(16))
        self._request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {self._key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        self._buf = b""
        self._open = False
        self._next = 0
        self._close_received = False
        self._failed = False
        self.transport: asyncio.Transport | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if not self._open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            problem = self._handshake_problem(buf[:end])
            if problem:
                return self._fail(problem)
            buf = buf[end + 4:]
            self._open = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1]
            if n & 0x80:
                return self._fail("the server masked a frame (section 5.1 forbids it)")
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            end = pos + head + n
            if end > size:
                break
            payload = buf[pos + head:end]
            pos = end
            if b0 == _TEXT_FIN:
                self._echo(payload)
            elif b0 == _CLOSE_FIN:
                self._close_received = True
            else:
                return self._fail(f"unexpected frame, first byte 0x{b0:02x}")
        self._buf = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.done):
            if not future.done():
                future.set_exception(ConnectionError(f"the connection closed early ({exc})"))
        if not self.closed.done():
            if self._failed:
                self.closed.cancel()  # the failure is reported by ``opened`` or ``done``
            elif self._close_received:
                self.closed.set_result(None)
            else:
                self.closed.set_exception(ConnectionError("the server closed without a close frame"))

    # -- the exchange
    def start(self) -> None:
        """Send the first frame; each echo sends the next."""
        if not self._frames:
            self.done.set_result(0)
            return
        self.transport.write(self._frames[0])  # type: ignore[union-attr]

    def close(self) -> None:
        """Start the closing handshake: a masked close frame, code 1000 (section 7.1.2)."""
        self.transport.write(_masked(8, (1000).to_bytes(2, "big")))  # type: ignore[union-attr]

    def _echo(self, payload: bytes) -> None:
        i = self._next
        if i >= len(self._expected) or payload != self._expected[i]:
            return self._fail(f"echo #{i} is {payload[:40]!r}, not what was sent")
        i = self._next = i + 1
        if i < len(self._frames):
            self.transport.write(self._frames[i])  # type: ignore[union-attr]
        else:
            self.done.set_result(i)

    def _handshake_problem(self, head: bytes) -> str | None:
        """What is wrong with the server's response head, or None (section 4.1, the client's checks)."""
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 101"):
            return f"the server did not switch protocols: {lines[0]!r}"
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        if headers.get(b"sec-websocket-accept") != accept:
            return "wrong Sec-WebSocket-Accept (section 4.2.2)"
        return None

    def _fail(self, why: str) -> None:
        self._failed = True
        for future in (self.opened, self.done):
            if not future.done():
                future.set_exception(AssertionError(why))
        self.transport.abort()  # type: ignore[union-attr]


async def open_clients(url: str, work: list[list[str]]) -> list[RawEchoClient]:
    """One open connection per list of texts."""
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    clients = [RawEchoClient(parts.netloc, parts.path or "/", texts) for texts in work]
    await asyncio.gather(*(loop.create_connection(lambda c=c: c, host, port) for c in clients))
    await asyncio.gather(*(c.opened for c in clients))
    return clients


async def round_trips(clients: list[RawEchoClient]) -> int:
    """Run every client's round trips at once; how many there were."""
    for client in clients:
        client.start()
    return sum(await asyncio.gather(*(client.done for client in clients)))


async def close_all(clients: list[RawEchoClient]) -> None:
    """The closing handshake on every connection, then the server's TCP close."""
    for client in clients:
        if client.transport is not None and not client.transport.is_closing():
            client.close()
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), CLOSE_TIMEOUT)
