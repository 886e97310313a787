"""Node's ``http`` server and ``net.Socket``, as the tutorial's toy meets them, over asyncio.

What the toy's behaviour depends on, each as Node 20 does it (checked
against a real ``node`` by ``tests/toy``):

* **The request.** Node's parser (llhttp) reads the head; a malformed one
  (an unknown method, a bare LF, a space before a colon, a control character,
  a folded line) gets ``400 Bad Request``, a head of 16 KiB or more ``431``;
  both then close (the size as Node counts it: URL, names and values). Header names are lower-cased, values read as Latin-1 and
  trimmed, repeated headers joined with ", " (``req.headers``).
* **Upgrade or not.** A request is an upgrade when its ``Connection`` lists
  ``upgrade`` and it has a non-empty ``Upgrade`` header, whatever the method,
  version or ``Upgrade`` value: the server's ``'upgrade'`` listener gets
  ``(req, socket, head)``, where ``head`` holds the bytes that came after the
  request in the same read. Any other request goes to ``'request'``, which
  the toy does not listen to: no answer, ever.
* **Reads.** Each read of at most 64 KiB is one ``'data'`` event, as libuv
  reads.
* **The end of a connection.** Node's ``http`` server makes its sockets
  ``allowHalfOpen``: when the peer closes its side, the socket stays open for
  writing and is never closed by itself. A failed read or write
  (``ECONNRESET``, ``EPIPE``) is an ``'error'`` event on the socket; the
  toy listens to none, so it is thrown, and kills the process.

The sockets listen on 127.0.0.1 by default (Node's ``listen(port)`` listens
on every interface); ``port=0`` picks a free port.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket as _socket
from dataclasses import dataclass, field

from .node import EventEmitter, JSError, NodeProcess

__all__ = ["HttpServer", "IncomingMessage", "Socket", "HTTP_METHODS", "MAX_HEADER_SIZE", "READ_SIZE"]

#: ``require('http').METHODS`` in Node 20: the methods its parser knows.
HTTP_METHODS = frozenset(
    "ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE "
    "NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE "
    "UNBIND UNLINK UNLOCK UNSUBSCRIBE".split())
#: ``http.maxHeaderSize``: URL, header names and values together.
MAX_HEADER_SIZE = 16384
#: libuv reads up to 64 KiB at a time: one ``'data'`` event each.
READ_SIZE = 65536

# Node counts the URL, header names and values; an unfinished head is refused once its bytes, separators
# and all, pass the limit by this much (so a head Node would still read is never refused early).
_SEPARATORS = 1024

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
HEADERS_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"

_REQUEST_LINE = re.compile(rb"([A-Z-]+) ([^\x00-\x20\x7f]+) HTTP/(\d)\.(\d)")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class _BadRequest(Exception):
    def __init__(self, response: bytes) -> None:
        super().__init__(response.split(b"\r\n", 1)[0].decode())
        self.response = response


@dataclass
class IncomingMessage:
    """``req``: what the ``'upgrade'`` listener reads (``req.headers['sec-websocket-key']``)."""

    method: str
    url: str
    http_version: str
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


def _parse_head(head: bytes) -> IncomingMessage:
    """The request head (ending in CRLF CRLF) as Node's parser reads it; raises ``_BadRequest``."""
    lines = head[:-4].split(b"\r\n")
    if any(b"\n" in line or b"\r" in line for line in lines):
        raise _BadRequest(BAD_REQUEST)  # a bare LF or CR: Node's parser wants CRLF
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None or match.group(1).decode() not in HTTP_METHODS:
        raise _BadRequest(BAD_REQUEST)
    method, url = match.group(1).decode(), match.group(2).decode("latin-1")
    size = len(url)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        header = _HEADER_LINE.fullmatch(line)
        if header is None or _BAD_VALUE.search(header.group(2)):
            raise _BadRequest(BAD_REQUEST)  # also a folded line (one that starts with a space)
        name, value = header.group(1).decode().lower(), header.group(2).decode("latin-1")
        size += len(header.group(1)) + len(header.group(2))
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if size >= MAX_HEADER_SIZE:
        raise _BadRequest(HEADERS_TOO_LARGE)
    return IncomingMessage(method, url, f"{match.group(3).decode()}.{match.group(4).decode()}", headers, head)


def _is_upgrade(req: IncomingMessage) -> bool:
    tokens = {t.strip().lower() for t in req.headers.get("connection", "").split(",")}
    return "upgrade" in tokens and bool(req.headers.get("upgrade", "").strip())


class Socket(EventEmitter):
    """``net.Socket`` after the upgrade: ``'data'`` per read, ``write``, and ``'error'``/``'close'`` at the end."""

    def __init__(self, process: NodeProcess, conn: _Connection) -> None:
        super().__init__()
        self.process = process
        self._conn = conn
        self._write_site: str | None = None
        peer = conn.transport.get_extra_info("peername") if conn.transport is not None else None
        self.remote_address, self.remote_port = (peer[0], peer[1]) if peer else (None, None)
        #: The peer closed its side (``'end'``); the socket stays open for writing (``allowHalfOpen``).
        self.ended = False

    @property
    def destroyed(self) -> bool:
        transport = self._conn.transport
        return transport is None or transport.is_closing()

    def write(self, data: str | bytes, *, site: str | None = None) -> bool:
        """``socket.write(data)``: a string goes out as UTF-8; a write on a destroyed socket is ignored.

        ``site`` names the caller in the tutorial's code, for the report of a write that fails.
        """
        transport = self._conn.transport
        if transport is None or transport.is_closing():
            return False
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._write_site = site
        transport.write(data)
        if transport.is_closing():  # the write failed at once (EPIPE, ECONNRESET): an 'error' event follows
            self._conn.failed_syscall = "write"
        return True

    def set_keep_alive(self, enable: bool = True) -> None:
        """``socket.setKeepAlive(true)``: TCP keep-alive probes, with the system's timings."""
        transport = self._conn.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1 if enable else 0)

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else "half-open (the peer ended)" if self.ended else "open"
        return f"<Socket {self.remote_address}:{self.remote_port} {state}>"


class _Connection(asyncio.BufferedProtocol):
    """One TCP connection to the http server: first the request head, then (after an upgrade) a ``Socket``."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.process = server.process
        self.transport: asyncio.Transport | None = None
        self.socket: Socket | None = None
        self.failed_syscall: str | None = None
        self._buffer = bytearray(READ_SIZE)
        self._head = bytearray()
        self._state = "head"  # "head", "waiting" (a request nobody answers), "upgraded", "closed"

    # -- asyncio ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._connections.add(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        chunk = bytes(self._buffer[:nbytes])
        if not self.process.alive:
            return
        if self._state == "upgraded":
            assert self.socket is not None
            self.process.run(self.socket.emit, "data", chunk)
        elif self._state == "head":
            self._read_head(chunk)
        # "waiting": later bytes of a connection whose request nobody answers are read and dropped

    def eof_received(self) -> bool:
        if self._state == "upgraded" and self.process.alive:
            assert self.socket is not None
            self.socket.ended = True
            self.process.run(self.socket.emit, "end")
            return True  # allowHalfOpen: our side stays open; the toy never closes it
        return False  # before an upgrade Node ends its side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self._state = "closed"
        socket = self.socket
        if socket is None or not self.process.alive:
            return  # errors before an upgrade are handled by Node's http server, quietly
        if exc is None:
            self.process.run(socket.emit, "close", False)
            return
        syscall = self.failed_syscall or ("write" if isinstance(exc, BrokenPipeError) else "read")
        code = errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)
        error = JSError("Error", f"{syscall} {code}", event="Socket",
                        at=socket._write_site if syscall == "write" else None)
        self.process.run(socket.emit, "error", error)

    # -- the request ------------------------------------------------------------------
    def _read_head(self, chunk: bytes) -> None:
        head = self._head
        head += chunk
        end = head.find(b"\r\n\r\n")
        try:
            if end < 0:
                self._check_partial(head)
                return
            req = _parse_head(bytes(head[:end + 4]))
        except _BadRequest as bad:
            self._refuse(bad.response)
            return
        rest = bytes(head[end + 4:])
        self._head = bytearray()
        if req.method == "CONNECT":
            self._state = "closed"  # Node emits 'connect'; with no listener it destroys the socket
            assert self.transport is not None
            self.transport.abort()
        elif _is_upgrade(req):
            self._state = "upgraded"
            self.socket = Socket(self.process, self)
            self.process.run(self.server.emit, "upgrade", req, self.socket, rest)
        else:
            self._state = "waiting"  # 'request', and nobody listens: no answer
            self.process.run(self.server.emit, "request", req)

    def _check_partial(self, head: bytearray) -> None:
        """Fail as early as Node's parser: a complete line that is wrong, or too many bytes."""
        lines = bytes(head).split(b"\r\n")
        done = lines[:-1]
        if any(b"\n" in line or b"\r" in line for line in done) or b"\n" in lines[-1]:
            raise _BadRequest(BAD_REQUEST)
        if done:
            match = _REQUEST_LINE.fullmatch(done[0])
            if match is None or match.group(1).decode() not in HTTP_METHODS:
                raise _BadRequest(BAD_REQUEST)
            for line in done[1:]:
                if _HEADER_LINE.fullmatch(line) is None or _BAD_VALUE.search(line):
                    raise _BadRequest(BAD_REQUEST)
        if len(head) >= MAX_HEADER_SIZE + _SEPARATORS:
            raise _BadRequest(HEADERS_TOO_LARGE)

    def _refuse(self, response: bytes) -> None:
        self._state = "closed"
        assert self.transport is not None
        self.transport.write(response)
        self.transport.close()


class HttpServer(EventEmitter):
    """``http.createServer()``: emits ``'upgrade'`` (req, socket, head) and ``'request'`` (req)."""

    def __init__(self, process: NodeProcess) -> None:
        super().__init__()
        self.process = process
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        process.at_exit(self._close_everything)

    async def listen(self, port: int = 0, host: str = "127.0.0.1") -> HttpServer:
        loop = asyncio.get_running_loop()
        self.process.use_timers(loop.call_later)
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        return self

    @property
    def address(self) -> tuple[str, int] | None:
        if self._server is None or not self._server.sockets:
            return None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def _close_everything(self) -> None:
        """The process is gone: the listening socket and every connection close with it."""
        if self._server is not None:
            self._server.close()
        connections, self._connections = list(self._connections), set()
        for conn in connections:  # gone with the process now, whenever asyncio reports each one lost
            if conn.transport is not None:
                conn.transport.abort()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    def __repr__(self) -> str:
        where = f"{self.address[0]}:{self.address[1]}" if self.address else "not listening"
        return f"<HttpServer {where}, {self.open_connections} connection(s)>"
