"""A live asyncio WebSocket server that records every byte it sees into a ``Capture``.

It moves bytes between sockets and a sans-I/O ``Connection`` and decides nothing
about the protocol itself: the handshake module judges the upgrade, the
connection judges the frames. It runs on whatever loop is current, so inside a
Jupyter kernel it serves while cells stay usable.

One port serves three things: the browser client page (``GET /``), WebSocket
upgrades on ``/`` and ``/ws``, and a tiny ``POST /api/ping`` that makes the
server ping every open connection (a browser page cannot send pings itself).
Every upgrade attempt is recorded, refused ones included (with their status);
plain page requests are not, so a browser fetching the page leaves no noise.

Flow control, so that one peer that stops reading cannot hurt the others:

* writes go into the transport's buffer; above ``write_limit`` asyncio calls
  ``pause_writing`` and every ``send`` waits (``drain``) until the peer reads;
* while writes are paused, or while the handler has not taken ``64`` received
  messages (or 1 MiB of them), the server stops reading that peer, so its TCP
  window closes and the peer's own writes block;
* closing never waits forever: the TCP connection is dropped ``close_timeout``
  seconds after the close handshake started without finishing;
* the handler's answers to messages that arrived together are written together:
  while more received messages wait for it, what it sends is held back (at
  most 64 KiB, and never past the current turn of the event loop), so that a
  read of pipelined messages costs one write, not one per message.

Safe by default (``access``, and the limits below):

* every request must name a loopback ``Host`` while the server listens on
  loopback (DNS rebinding), and browser pages of other sites are refused
  (``Origin``); refusals are recorded like any refused handshake;
* fair under load: the bytes of one read are fed to the protocol a slice per
  turn of the event loop (a slice is sized to report about
  ``_EVENTS_PER_TURN`` events, at most ``_SLICE_MAX`` bytes unless it only
  completes a frame in progress), and reading pauses meanwhile, so a flooding
  peer delays the others by one slice of work;
* memory: a peer that stops inside a frame or message for ``idle_timeout``
  seconds is failed with 1008, and the bytes held for unfinished messages,
  inflation and unprocessed reads are counted across connections: the
  connection that takes the total past ``max_buffered`` is failed with 1013
  (try again later), since its message is not too big in itself (that is
  1009) but the server is short of the memory it set aside, for now.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from importlib import resources

from ..capture import Capture
from ..display import format_size
from ..jupyter import preamble, registry
from ..jupyter.preamble import Relayed
from ..protocol import handshake
from ..protocol.buffers import LARGE_FROM
from ..protocol.connection import DEFAULT_MAX_SIZE, Connection, InvalidState, State
from ..protocol.deflate import SERVER_DEFAULT, DeflateConfig, PerMessageDeflate
from ..protocol.errors import HandshakeError
from ..protocol.events import (
    ConnectionClosed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    PongReceived,
    ProtocolViolation,
)
from ..protocol.frames import Frame
from ..protocol.header import MAX_HEADER_BYTES
from . import api
from .access import AccessPolicy
from .handlers import echo
from .paths import arrival

__all__ = ["Server", "ServerConnection", "ConnectionClosedError", "Handler"]

log = logging.getLogger("wsexplore.server")

Handler = Callable[["ServerConnection"], Awaitable[None]]

_STATIC = {
    "/": ("client.html", "text/html; charset=utf-8"),
    "/client.js": ("client.js", "text/javascript; charset=utf-8"),
    "/client.css": ("client.css", "text/css; charset=utf-8"),
}
_WS_PATHS = frozenset({"/", "/ws"})
# Stop reading from a peer while this many received messages (or bytes) wait for its handler.
_MAX_QUEUED_MESSAGES = 64
_MAX_QUEUED_BYTES = 1024 * 1024
_BACKLOG = 1024
# Fairness: the bytes of a read are fed a slice per event-loop turn. A slice is sized from the
# bytes per event of the one before, to report about _EVENTS_PER_TURN events (some 50 small
# messages), between _SLICE_MIN and _SLICE_MAX bytes; the rest of a frame in progress is fed
# in one go whatever its size, as it completes one frame at most.
_EVENTS_PER_TURN = 100
_SLICE_MIN = 256
_SLICE_MAX = 16 * 1024
# A stalled peer is noticed by counting reads, checked this many times per idle_timeout.
_IDLE_CHECKS = 4
# The payload made ahead for a connection's next large frame goes after this long with no read.
_PREPARED_FOR = 1.0
# A violation right after whole messages in one read: the handler has this long to answer them
# before the close frame goes out (Connection's answer_before_failing), looked at every _ANSWER_POLL.
_ANSWER_GRACE = 1.0
_ANSWER_POLL = 0.002
# Bytes of answers held back at most while the handler has more received messages to answer (write_frames).
_UNSENT_MAX = 64 * 1024


class ConnectionClosedError(Exception):
    """Sending on, or waiting for a message from, a connection that is closed."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _http_response(status: int, reason: str, body: bytes, content_type: str = "text/plain; charset=utf-8",
                   extra: Iterable[tuple[str, str]] = ()) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
            "Cache-Control: no-store", "Connection: close"]
    head += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _write_chunks(transport: asyncio.WriteTransport, chunks: list[bytes]) -> None:
    """Write chunks in order: runs of small ones joined into one write, each large payload
    (``LARGE_FROM`` bytes on) written as it is rather than copied into a joined buffer."""
    small: list[bytes] = []
    for chunk in chunks:
        if len(chunk) < LARGE_FROM:
            small.append(chunk)
            continue
        if small:
            transport.write(b"".join(small))
            small = []
        transport.write(chunk)
    if small:
        transport.write(small[0] if len(small) == 1 else b"".join(small))


def _handler_name(handler: object) -> str:
    name = getattr(handler, "__name__", None) or getattr(getattr(handler, "func", None), "__name__", None)
    return name or type(handler).__name__


class ServerConnection:
    """A handler's view of one WebSocket connection.

    ``async for message in conn`` yields ``str`` (text) or ``bytes`` (binary)
    until the connection closes; ``send``, ``ping`` and ``close`` write frames.
    ``id`` is the connection's id in the capture, ``remote`` the peer's
    address, ``request`` the parsed handshake request, ``relayed`` what the
    Jupyter server's relay said of it (None for a direct connection).
    """

    def __init__(self, server: Server, proto: _Protocol, conn_id: int, remote: tuple,
                 request: handshake.Request, accepted: handshake.ServerHandshake | None = None,
                 deflate: PerMessageDeflate | None = None) -> None:
        self.server = server
        self.id = conn_id
        self.remote = remote
        self.request = request
        self.handshake = accepted
        self.relayed: Relayed | None = proto.relayed
        self.protocol = Connection(
            "server", max_frame_size=server.max_message_size, max_message_size=server.max_message_size,
            deflate=deflate, answer_before_failing=True,
        )
        self._proto = proto
        self._messages: deque[str | bytes] = deque()
        self._queued = 0
        self._waiter: asyncio.Future | None = None
        self._loop = asyncio.get_running_loop()
        self._closed: asyncio.Future = self._loop.create_future()
        self._pings: list[tuple[bytes, asyncio.Future, float]] = []
        self.close_code: int | None = None
        self.close_reason: str = ""

    def __repr__(self) -> str:
        return f"<ServerConnection #{self.id} {self.remote[0]}:{self.remote[1]} {self.protocol.state.name}>"

    # -- receiving -------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosedError:
                return

    async def recv(self) -> str | bytes:
        """The next message; raises ``ConnectionClosedError`` once closed and drained."""
        while not self._messages:
            if self._closed.done():
                raise ConnectionClosedError(self.close_code or 1006, self.close_reason)
            if self._waiter is not None:
                raise RuntimeError("recv() is already being awaited on this connection")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        size = len(message)
        self._queued -= size
        proto = self._proto
        if proto._held:
            proto._held -= size
            self.server._buffered -= size
        if proto._paused_by_handler and (
            len(self._messages) <= _MAX_QUEUED_MESSAGES // 2 and self._queued <= _MAX_QUEUED_BYTES // 2
        ):
            proto.resume_reading_for_handler()
        return message

    def _deliver(self, message: str | bytes) -> None:
        messages = self._messages
        messages.append(message)
        self._queued += len(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(messages) >= _MAX_QUEUED_MESSAGES or self._queued >= _MAX_QUEUED_BYTES:
            self._proto.pause_reading_for_handler()

    def _pong(self, payload: bytes) -> None:
        """A pong acknowledges the ping with the same payload and every ping sent before it."""
        pings = self._pings
        for i, (data, _, _) in enumerate(pings):
            if data == payload:
                now = self._loop.time()
                for _, waiter, sent in pings[: i + 1]:
                    if not waiter.done():
                        waiter.set_result(now - sent)
                del pings[: i + 1]
                return

    def _set_closed(self, code: int, reason: str) -> None:
        if not self._closed.done():
            self.close_code, self.close_reason = code, reason
            self._closed.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        for _, waiter, _ in self._pings:
            if not waiter.done():
                waiter.set_exception(ConnectionClosedError(code, reason))
                # Retrieved here, so that a ping nobody awaited is not reported at garbage collection.
                waiter.exception()
        self._pings.clear()

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    # -- sending ---------------------------------------------------------
    def _check_open(self) -> None:
        if self.protocol.state is not State.OPEN:
            raise ConnectionClosedError(self.close_code or 1006, self.close_reason)

    async def send(self, message: str | bytes | bytearray | memoryview, *, fragment_size: int | None = None) -> None:
        """Send a text (``str``) or binary message; waits while the peer's buffer is full."""
        self._write_message(message, fragment_size)
        proto = self._proto
        if proto._paused_writing is not None:
            await proto.drain()

    def _write_message(self, message: str | bytes | bytearray | memoryview, fragment_size: int | None,
                       more: bool | None = None) -> None:
        """Send at once. ``more``: answers to come in this turn, written with this one (see ``write_frames``);
        by default, while received messages wait for the handler, its answers to them are written together."""
        self._check_open()
        protocol = self.protocol
        chunks = protocol.send_message(message, fragment_size=fragment_size)
        self._proto.write_frames(protocol.last_sent, chunks, more=bool(self._messages) if more is None else more)
        if protocol.deflate is not None:
            # The frames hold deflate bytes: the message record keeps what they inflate to.
            sent = protocol.last_sent
            self._proto.capture.record_message(self.id, "out", sent[0].frame.opcode, message, len(sent),
                                               sum(len(s.frame.payload) for s in sent)
                                               if sent[0].frame.rsv1 else None)  # sent as it is: not smaller compressed

    async def send_frame(self, frame: Frame) -> None:
        """Send ``frame`` exactly as built, even an invalid one, to see how a peer reacts."""
        self._check_open()
        data = self.protocol.send_frame(frame)
        self._proto.write_frames(self.protocol.last_sent, [data])
        await self._proto.drain()

    async def ping(self, payload: bytes | None = None) -> asyncio.Future[float]:
        """Send a ping (section 5.5.2); returns a future that the matching pong resolves with the latency.

        Without ``payload`` a random 4-byte one is used, so that the pong can be told apart.
        ``await (await conn.ping())`` waits for the pong.
        """
        self._check_open()
        if payload is None:
            payload = secrets.token_bytes(4)
        data = self.protocol.send_ping(bytes(payload))
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings.append((bytes(payload), waiter, self._loop.time()))
        self._proto.write_frames(self.protocol.last_sent, [data])
        await self._proto.drain()
        return waiter

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the close handshake (section 7.1.2); drop TCP after ``close_timeout`` without an answer."""
        if self.protocol.state is State.OPEN:
            data = self.protocol.send_close(code, reason)
            self._proto.write_frames(self.protocol.last_sent, [data])
        if self._closed.done():
            return
        timeout = self.server.close_timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), timeout)
        except asyncio.TimeoutError:
            if not self._closed.done():
                capture = self.server.capture
                capture.error(
                    self.id, f"no close frame from the peer within close_timeout={timeout}s; TCP connection dropped")
                closed = ConnectionClosed(1006, "close handshake timed out", "local", False)
                capture.record_events(self.id, [closed])
                self._proto.finish(closed, abort=True)


class _Protocol(asyncio.Protocol):
    """Bytes of one TCP connection: first the HTTP request, then WebSocket frames."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.capture = server.capture
        self._conn_id: int | None = None
        self.transport: asyncio.Transport | None = None
        self.ws: ServerConnection | None = None
        self.remote: tuple = ("?", 0)
        #: Set when a relay preamble with this server's token arrived: the Jupyter server authenticated
        #: this connection and applied its Origin rules (see wsexplore.jupyter.preamble), so ``access``
        #: lets it in as it is. None: a direct peer.
        self.relayed: Relayed | None = None
        self._preamble_read = False
        self._request = bytearray()  # the bytes of the head so far, for the record of a refused one
        self._parser = handshake.RequestParser()
        self._answered = False  # an HTTP response was written (upgrade or refusal)
        # Fairness: the rest of a read still to feed (a slice per turn), and the slice size.
        self._backlog: memoryview | None = None
        self._backlog_pos = 0
        self._slice = _SLICE_MAX // 4
        self._drain_handle: asyncio.Handle | None = None
        self._peer_eof = False  # the peer ended its side (handled once the backlog is fed)
        self._lost_error: Exception | None = None  # why the connection was lost, recorded after the backlog
        # Memory: bytes this connection holds, as last added to the server's total.
        self._held = 0
        # Stall detection: reads so far, the count at the last check, and checks without one.
        self._reads = 0
        self._idle_reads = -1
        self._idle_quiet = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        # Idle-time work after a large masked frame (Connection.prepare), and the timer that undoes it.
        self._prepare_handle: asyncio.Handle | None = None
        self._prepared_timer: asyncio.TimerHandle | None = None
        self._prepared_reads = 0
        self._handler_task: asyncio.Task | None = None
        self._echoing = False  # the built-in echo handler, run inline (see _handle)
        self._answer_deadline: float | None = None  # while a violation waits for the handler's answers
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused_writing: asyncio.Future | None = None
        self._paused_by_handler = False
        # Frames written while the handler answers a batch of messages, waiting for its last answer.
        self._unsent: list[bytes] | None = None
        self._unsent_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
        self._closing = False  # our side is shutting the TCP connection down
        self._lost = False
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol -------------------------------------------------
    @property
    def conn_id(self) -> int:
        """Numbered on first use, so plain page requests do not use up connection ids."""
        if self._conn_id is None:
            self._conn_id = next(self.server._ids)
        return self._conn_id

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.remote = transport.get_extra_info("peername") or ("?", 0)
        transport.set_write_buffer_limits(high=self.server.write_limit)
        self.server._protocols.add(self)
        loop = asyncio.get_running_loop()
        self._handshake_timer = loop.call_later(self.server.handshake_timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is None:
            if not self._answered:
                self._receive_request(data)
            return  # bytes after our HTTP answer are read and dropped, so closing sends no RST
        if self._backlog is not None:  # not expected while reading is paused; kept in order all the same
            self._backlog = memoryview(bytes(self._backlog[self._backlog_pos:]) + data)
            self._backlog_pos = 0
            return
        if len(data) <= self._slice or len(data) <= ws.protocol.frame_end(data):
            # The capture keeps the bytes of a read that held one frame: a copy, not the socket's
            # read buffer, which is allocated at the full read size (with glibc an mmap, shrunk to
            # a page), so that a kept 32 B frame holds 32 B and not a mapped page.
            self._feed(ws, bytes(memoryview(data)) if len(data) < 65536 else data)
            return
        # More than a turn's work: feed it a slice per turn and read nothing more meanwhile.
        self._backlog = memoryview(data)
        self._backlog_pos = 0
        if self._account(ws):
            self._over_budget(ws)
            return
        self._drain()

    def _drain(self) -> None:
        """Feed the next slice of the backlog; come back next turn for the rest (see ``_update_reading``)."""
        self._drain_handle = None
        ws, backlog = self.ws, self._backlog
        if ws is None or backlog is None:
            return
        if not self._lost and (self._paused_by_handler or self._paused_writing is not None):
            self._update_reading()  # reading stays paused; the next slice comes once they caught up
            return
        start = self._backlog_pos
        frame_end = ws.protocol.frame_end(backlog[start:start + MAX_HEADER_BYTES])
        if ws.protocol.bytes_needed:  # the rest of the frame in progress, alone: the next slice starts at a boundary
            end = min(start + frame_end, len(backlog))
        else:  # a frame larger than a slice is fed whole (cut, it would be copied again to be joined)
            end = min(start + max(self._slice, frame_end), len(backlog))
        chunk = bytes(backlog[start:end])
        if end == len(backlog):
            self._backlog = None
            self._backlog_pos = 0
        else:
            self._backlog_pos = end
        self._feed(ws, chunk)
        if ws.closed:
            self._backlog = None
        if self._backlog is not None:
            if self._lost:  # the connection is gone: nobody to wait for, one slice a turn all the same
                self._drain_handle = asyncio.get_running_loop().call_soon(self._drain)
            else:
                self._update_reading()  # schedules the next slice unless the handler or the peer is behind
        elif self._lost:
            self._end_after_loss(ws)
        elif self._peer_eof:
            self._end_of_stream(ws)
        else:
            self._update_reading()

    def _feed(self, ws: ServerConnection, data: bytes) -> None:
        """Hand bytes to the protocol, record and act on what they carried, count what is held."""
        self._reads += 1
        events = ws.protocol.receive_data(data)
        count = len(events)
        if count > _EVENTS_PER_TURN or len(data) >= self._slice:
            self._resize_slice(len(data), count)
        self._handle(ws, events)
        unmasking = ws.protocol._unmasking
        if unmasking is not None and unmasking.spent is not None and self._prepare_handle is None:
            # A large masked frame was read, and its reply written: the next payload is made when the
            # loop has a moment, while the peer reads the reply (see protocol.unmasking).
            self._prepare_handle = asyncio.get_running_loop().call_soon(self._prepare)
        if self._account(ws):
            self._over_budget(ws)

    def _prepare(self) -> None:
        """Idle time after a large masked frame: the next one's payload is made now, not while the peer waits."""
        self._prepare_handle = None
        ws = self.ws
        if ws is None or ws.closed:
            return
        ws.protocol.prepare()
        if self._prepared_timer is None:
            self._prepared_reads = self._reads
            self._prepared_timer = asyncio.get_running_loop().call_later(_PREPARED_FOR, self._prepared_check)

    def _prepared_check(self) -> None:
        """Let the payload made ahead go once a while passed with no read: no large frame is coming."""
        self._prepared_timer = None
        ws = self.ws
        if ws is None:
            return
        if self._reads == self._prepared_reads or ws.closed:
            ws.protocol.release_prepared()
            return
        self._prepared_reads = self._reads
        self._prepared_timer = asyncio.get_running_loop().call_later(_PREPARED_FOR, self._prepared_check)

    def _resize_slice(self, size: int, count: int) -> None:
        """The next slice: about ``_EVENTS_PER_TURN`` events at the bytes per event of ``size`` bytes that
        gave ``count`` events (twice as many bytes when none came). Reads smaller than the slice that
        gave few events leave it as it is."""
        if count:
            size = size * _EVENTS_PER_TURN // count
            self._slice = _SLICE_MAX if size > _SLICE_MAX else _SLICE_MIN if size < _SLICE_MIN else size
        elif self._slice < _SLICE_MAX:
            self._slice = min(_SLICE_MAX, self._slice * 2)

    def _account(self, ws: ServerConnection) -> bool:
        """Bring the server's count of bytes held up to date; True when this connection took it past
        ``max_buffered``. Held: the frame and message in progress (inflated), messages waiting for
        the handler, and the rest of a read not fed yet."""
        held = ws.protocol.buffered + ws._queued
        if self._backlog is not None:
            held += len(self._backlog) - self._backlog_pos
        grown = held - self._held
        if not grown:
            return False
        self._held = held
        server = self.server
        server._buffered += grown
        return grown > 0 and server._buffered > server.max_buffered

    def _release(self) -> None:
        """This connection holds nothing more for the server's count."""
        self.server._buffered -= self._held
        self._held = 0

    def _over_budget(self, ws: ServerConnection) -> None:
        server = self.server
        total, limit = server._buffered, server.max_buffered
        self._give_up(ws, 1013, f"server busy: {format_size(total)} held for unfinished messages (max "
                                f"{format_size(limit)}); try again later",
                      f"max_buffered={limit} reached: {total} bytes held across connections for unfinished "
                      f"messages, inflation and unread input, {self._held} of them by this connection; "
                      "it is closed with 1013 (try again later)")

    def _give_up(self, ws: ServerConnection, code: int, reason: str, why: str) -> None:
        """Fail the connection for a reason of the server's (a limit, a stall), saying why in the capture."""
        if ws.closed:
            return
        self.capture.error(self.conn_id, why)
        self._backlog = None
        self._handle(ws, ws.protocol.fail(code, reason))
        self._account(ws)

    def _idle_check(self) -> None:
        """Fail a peer that sent nothing for ``idle_timeout`` while inside a frame or message."""
        self._idle_timer = None
        ws = self.ws
        if ws is None or ws.closed or self._lost:
            return
        waiting_for_peer = ws.protocol.incomplete and not (
            self._paused_by_handler or self._paused_writing is not None or self._backlog is not None)
        if self._reads == self._idle_reads and waiting_for_peer:
            self._idle_quiet += 1
        else:
            self._idle_quiet = 0
            self._idle_reads = self._reads
        timeout = self.server.idle_timeout
        assert timeout is not None
        if self._idle_quiet >= _IDLE_CHECKS:
            held = ws.protocol.buffered
            self._give_up(ws, 1008, f"no data for {timeout:g} s inside a frame or message",
                          f"the peer sent nothing for idle_timeout={timeout:g}s in the middle of a frame or "
                          f"message ({held} bytes of it held); closed with 1008")
            return
        self._idle_timer = asyncio.get_running_loop().call_later(timeout / _IDLE_CHECKS, self._idle_check)

    def eof_received(self) -> bool | None:
        self._peer_eof = True
        ws = self.ws
        if ws is not None and not ws.closed:
            if self._backlog is not None:
                return True  # the transport stays open until the bytes read before the end are fed
            self._handle(ws, ws.protocol.receive_eof())
        return None  # close our side too

    def _end_of_stream(self, ws: ServerConnection) -> None:
        """The peer's end of stream, once every byte before it was fed: close TCP, record the end."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._flush()
            transport.close()
        if not ws.closed:
            self._handle(ws, ws.protocol.receive_eof())

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.server._protocols.discard(self)
        for timer in (self._handshake_timer, self._close_timer, self._idle_timer, self._prepared_timer):
            if timer is not None:
                timer.cancel()
        self._handshake_timer = self._close_timer = self._idle_timer = self._prepared_timer = None
        ws = self.ws
        if ws is not None:
            ws.protocol.release_prepared()
        if ws is None:
            if not self._answered and self._request:
                self.capture.error(self.conn_id, f"connection closed by the peer after {len(self._request)} bytes"
                                                 " of an incomplete handshake")
        elif not ws.closed and self._backlog is not None:
            # What was read before the end still counts: fed a slice a turn as before, then the end.
            self._lost_error = exc
            if self._drain_handle is None:
                self._drain_handle = asyncio.get_running_loop().call_soon(self._drain)
            return
        elif not ws.closed:
            self._lost_error = exc
            self._end_after_loss(ws)
            return
        self._finish_lost()

    def _end_after_loss(self, ws: ServerConnection) -> None:
        """Record the end of a connection that was lost, once every byte read before it was fed."""
        if not ws.closed:
            if self._lost_error is not None:
                self.capture.error(self.conn_id, self._lost_error)
            self._handle(ws, ws.protocol.receive_eof())
        self._finish_lost()

    def _finish_lost(self) -> None:
        self._backlog = None
        self._release()
        waiter = self._paused_writing
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._paused_writing = None
        if not self.lost.done():
            self.lost.set_result(None)
        self._unlink()

    def _unlink(self, _task: object = None) -> None:
        """Once both the TCP connection and the handler are over, drop the link to the handler's
        view: the two refer to each other, and the cycle would hold this connection's capture (every
        payload it recorded) until a full garbage collection, long after the capture was replaced."""
        task = self._handler_task
        if self.lost.done() and (task is None or task.done()):
            self.ws = None

    def pause_writing(self) -> None:
        if self._paused_writing is None:
            self._paused_writing = asyncio.get_running_loop().create_future()
        self._update_reading()

    def resume_writing(self) -> None:
        waiter = self._paused_writing
        self._paused_writing = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._update_reading()

    # -- flow control ------------------------------------------------------
    async def drain(self) -> None:
        waiter = self._paused_writing
        if waiter is not None:
            # Shielded: one cancelled sender must not cancel the future that every sender waits on.
            await asyncio.shield(waiter)

    def _update_reading(self) -> None:
        """Read while shutting down (to see the peer's EOF), else unless writes or the handler are
        behind or a backlog is being fed; feed the backlog's next slice next turn when nothing is behind."""
        transport = self.transport
        if transport is None or self._lost or transport.is_closing():
            return
        behind = self._paused_by_handler or self._paused_writing is not None
        if self._backlog is not None:
            want = False
            if not behind and self._drain_handle is None:
                self._drain_handle = asyncio.get_running_loop().call_soon(self._drain)
        else:
            want = self._closing or not behind
        if want != transport.is_reading():
            if want:
                transport.resume_reading()
                self._idle_quiet = 0  # the peer gets a whole idle_timeout from now on
            else:
                transport.pause_reading()

    def pause_reading_for_handler(self) -> None:
        if not self._paused_by_handler:
            self._paused_by_handler = True
            self._update_reading()

    def resume_reading_for_handler(self) -> None:
        if self._paused_by_handler:
            self._paused_by_handler = False
            self._update_reading()

    def _shutdown(self) -> None:
        """Close our side of TCP after what was written, then wait up to ``close_timeout`` for the peer's.

        Half-closing (``write_eof``) and reading on until the peer's EOF avoids
        closing a socket with unread bytes in it, which would send an RST that
        can destroy our last frame or HTTP answer before the peer reads it.
        """
        transport = self.transport
        if transport is None or self._lost or self._closing:
            return
        self._flush()
        self._closing = True
        self._backlog = None
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if transport.is_closing():
            return
        if self._peer_eof:
            transport.close()  # the peer's side is closed already: nothing to wait for
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._update_reading()
        else:
            transport.close()
        self._close_timer = asyncio.get_running_loop().call_later(self.server.close_timeout, self._close_expired)

    def _close_expired(self) -> None:
        self._close_timer = None
        if self._lost or self.transport is None:
            return
        if self.ws is not None:
            self.capture.error(self.conn_id, f"the peer kept the TCP connection open for close_timeout="
                                             f"{self.server.close_timeout}s after the close; dropped")
        self.transport.abort()

    # -- opening handshake ------------------------------------------------
    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.ws is None and not self._answered and self.transport is not None:
            self.capture.error(
                self.conn_id,
                f"no complete handshake within handshake_timeout={self.server.handshake_timeout}s"
                f" ({len(self._request)} bytes received); dropped",
            )
            self._answered = True
            self.transport.close()

    def _read_preamble(self, data: bytes) -> bytes | None:
        """Strip a relay preamble with this server's token; the bytes after it, or None while undecided."""
        buf = self._request
        buf += data
        try:
            found = preamble.decode(buf, self.server._relay_token)
        except preamble.PreambleError as exc:
            self._reject(bytes(buf), exc)
            return None
        if found is None:
            return None
        self._preamble_read = True
        relayed, length = found
        if relayed is not None:
            self.relayed = relayed
            self.remote = relayed.peer  # the browser, as the Jupyter server saw it
        rest = bytes(buf[length:])
        self._request = bytearray()
        return rest

    def _receive_request(self, data: bytes) -> None:
        """Feed the request head parser (linear in the bytes, however they are split); act on the head."""
        if not self._preamble_read:
            rest = self._read_preamble(data)
            if rest is None:
                return
            data = rest
        self._request += data
        try:
            request = self._parser.feed(data)
        except HandshakeError as exc:
            self._reject(bytes(self._request), exc)
            return
        if request is None:
            return
        rest = self._parser.rest
        raw_request = request.raw
        self._request = bytearray()
        path = request.path.split("?", 1)[0]
        upgrade = request.headers.get("Upgrade") is not None
        refused = self.server.access.refusal(request, relayed=self.relayed is not None,
                                             check_origin=upgrade or path == api.PING_PATH)
        if refused is not None:
            self._reject(raw_request, refused, request)
            return
        if not upgrade:
            self._serve_http(request, path)
            return
        if path not in _WS_PATHS:
            self._reject(raw_request, HandshakeError(f"no WebSocket endpoint at {path}; use / or /ws",
                                                     status=404), request)
            return
        try:
            accepted = handshake.validate_request(request)
        except HandshakeError as exc:
            self._reject(raw_request, exc, request)
            return
        # Only permessage-deflate may be answered (RFC 7692), and only with compression="deflate";
        # any other offer is declined by leaving it out (section 9.1).
        deflate = None
        config = self.server._deflate
        negotiation = config.negotiate(accepted.extensions_offered) if config is not None else None
        if negotiation is not None and negotiation.params is not None:
            response = handshake.accept_response(request, extensions=[negotiation.params.extension()])
            deflate = config.connection(negotiation.params, "server")  # type: ignore[union-attr]
        else:
            response = handshake.accept_response(request)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        assert self.transport is not None
        self._answered = True
        self.transport.write(response)
        self.capture.opened(self.conn_id, self.remote, raw_request, response, 101,
                            **arrival(self.relayed, request, raw_request))
        ws = ServerConnection(self.server, self, self.conn_id, self.remote, request, accepted, deflate)
        self.ws = ws
        self.server.connections[self.conn_id] = ws
        loop = asyncio.get_running_loop()
        if self.server.handler is echo:
            self._echoing = True  # no task: _handle answers each message as it is read
        else:
            task = self._handler_task = loop.create_task(self._run_handler(ws))
            self.server._tasks.add(task)
            task.add_done_callback(self.server._tasks.discard)
            task.add_done_callback(self._unlink)
        if self.server.idle_timeout:
            self._idle_timer = loop.call_later(self.server.idle_timeout / _IDLE_CHECKS, self._idle_check)
        if rest:
            self.data_received(rest)

    def _reject(self, raw_request: bytes, exc: HandshakeError, request: handshake.Request | None = None) -> None:
        """Refuse a request (a handshake, or a plain request the access rules refuse), recorded with its status."""
        response = handshake.reject_response(exc)
        self.capture.opened(self.conn_id, self.remote, raw_request, response, exc.status,
                            **arrival(self.relayed, request, raw_request))
        self.capture.error(self.conn_id, exc)
        self._answer(response)

    def _serve_http(self, request: handshake.Request, path: str) -> None:
        method = request.method
        if method in ("GET", "HEAD") and path in _STATIC:
            name, ctype = _STATIC[path]
            response = _http_response(200, "OK", _static(name), ctype)
        elif method == "POST" and path == api.PING_PATH:
            response = _http_response(200, "OK", api.ping_answer(self.server._ping_all()).encode())
        else:
            response = _http_response(404, "Not Found", f"nothing at {path}\n".encode())
        if method == "HEAD":
            response = response[: response.index(b"\r\n\r\n") + 4]
        self._answer(response)

    def _answer(self, response: bytes) -> None:
        assert self.transport is not None
        self._answered = True
        self.transport.write(response)
        self._shutdown()

    # -- frames ------------------------------------------------------------
    def write_frames(self, sent: list[FrameSent], chunks: list[bytes], *, more: bool = False) -> None:
        """Record and write the frames of one send, ``chunks`` as ``Connection.send_message`` gives them.
        ``more``: the handler has more received messages to answer at once, so the bytes wait for its
        last answer of this turn and all go in one write (one system call for a whole read of pipelined
        messages); a flush is scheduled all the same, and at most ``_UNSENT_MAX`` bytes wait."""
        self.capture.record_events(self.conn_id, sent)  # one send: one pair of clock reads
        transport = self.transport
        if transport is None or self._closing or transport.is_closing():
            return
        unsent = self._unsent
        if more or unsent is not None:
            if unsent is None:
                unsent = self._unsent = []
                self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            unsent += chunks
            self._unsent_bytes += len(chunks[0]) if len(chunks) == 1 else sum(map(len, chunks))
            if more and self._unsent_bytes < _UNSENT_MAX:
                return
            self._flush()
        elif len(chunks) == 1:
            transport.write(chunks[0])
        else:
            _write_chunks(transport, chunks)

    def _flush(self) -> None:
        """Write the bytes held back by ``write_frames``; before anything else is written or closed."""
        unsent = self._unsent
        if unsent is None:
            return
        size = self._unsent_bytes
        self._unsent = None
        self._unsent_bytes = 0
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if size < LARGE_FROM:  # no large payload among them: one write
            transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))
        else:
            _write_chunks(transport, unsent)

    def _handle(self, ws: ServerConnection, events: list[Event]) -> None:
        """Record the events of one read (they arrived together), then act on them."""
        if not events:
            return
        self.capture.record_events(self.conn_id, events)
        echoes: list[str | bytes] | None = None
        for event in events:
            kind = type(event)
            if kind is FrameReceived:
                continue  # recorded, nothing more to do: the most common event, so looked at first
            if kind is MessageReceived:
                if not self._echoing:
                    ws._deliver(event.data)
                elif echoes is None:
                    echoes = [event.data]
                else:
                    echoes.append(event.data)
            elif kind is FrameSent:  # an automatic reply: a pong, or the close frame answering one
                transport = self.transport
                if transport is not None and not self._closing and not transport.is_closing():
                    self._flush()  # what the handler sent before goes first
                    transport.write(event.raw)
            elif kind is PongReceived:
                if ws._pings:
                    ws._pong(event.payload)
            elif kind is ConnectionClosed:
                self.finish(event)
            elif kind is ProtocolViolation and ws.protocol.failure_pending:  # its close waits for the answers
                loop = asyncio.get_running_loop()
                self._answer_deadline = loop.time() + _ANSWER_GRACE
                loop.call_soon(self._finish_failure)
        if echoes is not None and ws.protocol.state is State.OPEN:
            # The built-in echo, in this turn: after the read's automatic replies (pongs), which the
            # capture recorded with the read, so that the capture keeps the order of the wire.
            last = len(echoes) - 1
            for i, message in enumerate(echoes):
                ws._write_message(message, None, more=i < last)

    def _finish_failure(self) -> None:
        """Send the close for a violation once the handler answered the messages that came before it.

        Answered: it took them all and waits for the next one (or it returned), so whatever it sent
        in reply is written before the close frame; or ``_ANSWER_GRACE`` passed.
        """
        ws = self.ws
        if ws is None or not ws.protocol.failure_pending:
            self._answer_deadline = None
            return
        loop = asyncio.get_running_loop()
        task = self._handler_task
        answered = not ws._messages and (ws._waiter is not None or task is None or task.done())
        assert self._answer_deadline is not None
        if not answered and not self._lost and loop.time() < self._answer_deadline:
            loop.call_later(_ANSWER_POLL, self._finish_failure)
            return
        self._answer_deadline = None
        self._handle(ws, ws.protocol.finish_failure())

    def finish(self, closed: ConnectionClosed, *, abort: bool = False) -> None:
        """Wake the handler and close TCP once the close is recorded (the server closes first, section 7.1.1)."""
        ws = self.ws
        if ws is None or ws.closed:
            return
        ws._set_closed(closed.code, closed.reason)
        self.server.connections.pop(self.conn_id, None)
        if abort:
            if self.transport is not None and not self._lost:
                self.transport.abort()
        else:
            self._shutdown()

    async def _run_handler(self, ws: ServerConnection) -> None:
        try:
            await self.server.handler(ws)
        except ConnectionClosedError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken handler must not take the server down
            log.exception("handler failed on connection %s", ws.id)
            self.capture.error(ws.id, f"handler raised {type(exc).__name__}: {exc}")
            if ws.protocol.state is State.OPEN:
                await ws.close(1011, "handler error")
            return
        if ws.protocol.state is State.OPEN:
            await ws.close(1000, "")


class Server:
    """A capturing WebSocket server; see the module docstring.

    ``await server.start()`` returns once listening and leaves the server
    running on the current loop (a notebook cell can start it and end);
    ``await server.stop()`` closes every connection with 1001 (going away).
    ``async with Server(...) as server:`` does both. ``handler`` is called with
    each ``ServerConnection`` (``handlers.echo`` by default), in a task of its
    own. The default echo is the exception: the server sends the messages of
    a read back as it handles the read, in the same turn of the event loop,
    after the read's automatic pongs (small ones in one write), which saves a
    task switch per message. Its connections' ``recv()`` never returns a message.
    ``ping_interval``
    pings every connection that often. ``write_limit`` is the per-connection
    write buffer above which sends wait for the peer.

    Who may connect (``access``, an :class:`~wsexplore.live.access.AccessPolicy`):
    browser pages of this server, of ``localhost``/``127.0.0.1``/``[::1]`` (a
    local notebook) and of the ``origins`` listed, plus every client that
    sends no ``Origin``; ``origins="*"`` allows any page. While listening on
    loopback, only loopback names and the ``hosts`` listed are served as
    ``Host`` (DNS rebinding). Refusals are 403 and 421, recorded.

    Limits: ``idle_timeout`` seconds without a byte inside a frame or message
    fail the connection with 1008 (None: never); ``max_buffered`` bounds the
    bytes held across connections for unfinished messages, inflation and
    unread input (default four times ``max_message_size``): the connection
    that takes the total past it is failed with 1013 (try again later).

    ``compression="deflate"`` accepts a client's permessage-deflate offer
    (RFC 7692; every Chromium handshake makes one) and compresses messages;
    a ``DeflateConfig`` chooses its parameters (``"deflate"``: ``deflate.SERVER_DEFAULT``,
    12-bit windows). The capture then keeps the
    compressed frames as they crossed the wire and, in message records, the
    inflated messages both ways. Off by default: frames stay plain.

    Inside an IPython kernel a started server registers with the Jupyter
    server's relay (``{base_url}wsexplore/PORT/``, :mod:`wsexplore.jupyter`),
    so that the notebook's browser page can reach it byte for byte; ``stop()``
    unregisters it. ``relay=False`` keeps it out of reach of the relay. A
    connection that came through the relay has ``relayed`` set (on its
    ``ServerConnection``): the Jupyter server authenticated it and applied its
    Origin rules before forwarding it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        handler: Handler | None = None,
        *,
        max_message_size: int = DEFAULT_MAX_SIZE,
        handshake_timeout: float = 10,
        close_timeout: float = 5,
        origins: Iterable[str | None] | str | None = None,
        hosts: Iterable[str] = (),
        ping_interval: float | None = None,
        capture: Capture | None = None,
        write_limit: int = 64 * 1024,
        compression: str | DeflateConfig | None = None,
        idle_timeout: float | None = 30,
        max_buffered: int | None = None,
        relay: bool = True,
    ) -> None:
        if compression == "deflate":
            self._deflate: DeflateConfig | None = SERVER_DEFAULT
        elif compression is None or isinstance(compression, DeflateConfig):
            self._deflate = compression
        else:
            raise ValueError(f"compression must be None, 'deflate' or a DeflateConfig, got {compression!r}")
        self.compression = compression
        self.host = host
        self._port = port
        self.handler: Handler = echo if handler is None else handler
        self.max_message_size = max_message_size
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        any_origin = origins == "*"
        listed = () if origins is None or any_origin else ([origins] if isinstance(origins, str) else origins)
        # None in a list of origins allows requests without one, which are always allowed now.
        self.access = AccessPolicy(host, origins=[o for o in listed if o is not None], hosts=hosts,
                                   any_origin=any_origin)
        self.idle_timeout = idle_timeout if idle_timeout else None
        self.max_buffered = 4 * max_message_size if max_buffered is None else max_buffered
        self._buffered = 0  # bytes held across connections (see _Protocol._account)
        self.ping_interval = ping_interval
        self.capture = capture if capture is not None else Capture()
        self.write_limit = write_limit
        self.relay = relay
        # The secret a relay preamble must carry (None: no preamble is accepted); see wsexplore.jupyter.
        self._relay_token: str | None = secrets.token_urlsafe(32) if relay else None
        #: The registration file that lets the Jupyter server's relay reach this server, while started.
        self.relay_registration: registry.Registration | None = None
        #: Open WebSocket connections by id.
        self.connections: dict[int, ServerConnection] = {}
        self._ids = itertools.count(1)
        self._protocols: set[_Protocol] = set()
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None
        self._pinger: asyncio.Task | None = None

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._server is not None else "stopped"
        return (f"<Server {state}, {len(self.connections)} open connection(s), "
                f"handler={_handler_name(self.handler)}>")

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    @property
    def http_url(self) -> str:
        return "http" + self.url[2:]

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def buffered(self) -> int:
        """Bytes held now across connections for unfinished messages, inflation, messages waiting for
        their handler and input not fed yet: what ``max_buffered`` bounds."""
        return self._buffered

    async def start(self) -> Server:
        """Listen; returns as soon as the socket is bound (port 0 picks a free one)."""
        if self._server is not None:
            return self
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), self.host, self._port, backlog=_BACKLOG)
        if self._port == 0:
            self._port = self.port  # keep the address after stop(), for a restart on the same port
        if self._relay_token is not None:
            self.relay_registration = registry.register(self.port, self.host, self._relay_token)
        if self.ping_interval:
            self._pinger = loop.create_task(self._ping_periodically(self.ping_interval))
        return self

    async def stop(self) -> None:
        """Close every connection with 1001 (going away), then stop listening."""
        server = self._server
        if server is None:
            return
        self._server = None
        registry.unregister(self.relay_registration)
        self.relay_registration = None
        server.close()
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        for proto in list(self._protocols):  # handshakes in progress: nothing to say to them
            if proto.ws is None and not proto._closing and proto.transport is not None:
                proto.transport.abort()
        closing = [ws.close(1001, "server stopping") for ws in list(self.connections.values())]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        # Let peers close their side after the close handshake, then drop whoever did not.
        waiting = [proto.lost for proto in self._protocols]
        if waiting:
            await asyncio.wait(waiting, timeout=self.close_timeout)
        for proto in list(self._protocols):
            if proto.transport is not None:
                proto.transport.abort()
        await asyncio.sleep(0)  # handlers see the close and return
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def broadcast(self, message: str | bytes) -> int:
        """Send ``message`` to every open connection; returns how many got it.

        It never waits for a slow peer: a connection whose write buffer is full
        is skipped (and the skip recorded as an error), as a stalled peer would
        otherwise hold back every other one or grow its buffer without bound.
        """
        sent = 0
        for ws in list(self.connections.values()):
            if ws.protocol.state is not State.OPEN:
                continue
            if ws._proto._paused_writing is not None:
                self.capture.error(ws.id, "broadcast skipped: the peer is not reading (write buffer full)")
                continue
            try:
                ws._write_message(message, None)
                sent += 1
            except (ConnectionClosedError, InvalidState):
                pass
        return sent

    def _ping_all(self) -> int:
        count = 0
        for ws in list(self.connections.values()):
            if ws.protocol.state is State.OPEN:
                data = ws.protocol.send_ping(b"wsexplore")
                ws._proto.write_frames(ws.protocol.last_sent, [data])
                count += 1
        return count

    async def _ping_periodically(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._ping_all()
