"""One tapped conversation: two TCP connections, the bytes between them, and the two observers reading them.

``TappedConnection`` reads the client's upgrade request, connects to the
upstream, passes the answer back and then moves bytes both ways: each read
is written to the other side first, then fed to the observer of its
direction (a ``Connection`` with ``observer=True``), whose events go to the
capture. Injections wait in a queue per direction until the observer is at
a frame boundary. ``wsexplore.live.proxy`` has the whole story.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from ..capture.records import Direction
from ..protocol import handshake
from ..protocol.connection import Connection, State
from ..protocol.deflate import NAME as DEFLATE, DeflateParams, PerMessageDeflate, find_params
from ..protocol.errors import HandshakeError
from ..protocol.events import CloseReceived, Event, ProtocolViolation
from ..protocol.frames import Frame
from ..protocol.handshake import Extension, parse_extensions, parse_subprotocols
from ..protocol.header import MASK_KEY_BYTES, RSV1_MASK, RSV_MASK
from ..protocol.opcodes import CloseCode
from .upstream import rewrite_request

if TYPE_CHECKING:
    from .proxy import Proxy

__all__ = ["TappedConnection", "InjectionError", "Side"]

log = logging.getLogger("wsexplore.proxy")

Side = Literal["server", "client"]
# The direction a side reads: "in" is client -> server, "out" server -> client.
_TOWARD: dict[str, Direction] = {"server": "in", "client": "out"}
_SENDER = {"in": "client", "out": "server"}


class InjectionError(RuntimeError):
    """A frame cannot be inserted: the connection is not open, or that direction can no longer be parsed."""


def _refusal(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    return handshake.reject_response(HandshakeError(message, status=status, rfc=None, headers=headers))


# ---------------------------------------------------------------------------- one TCP connection each side
class _Leg(asyncio.Protocol):
    """One TCP connection of a tapped pair: hands everything to its ``TappedConnection``."""

    def __init__(self, tap: TappedConnection, side: Side) -> None:
        self.tap = tap
        self.side = side
        self.transport: asyncio.Transport | None = None
        self.write_paused = False  # our write buffer is full: the other side stops reading
        self.held = False  # reading stopped while the handshake is under way
        self.eof = False  # the peer ended its side
        self.ended = False  # we ended our side (write_eof): nothing more may be written
        self.lost = False
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._drained: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.tap.proxy.write_limit)
        if self.side == "client":
            self.tap._start()

    def data_received(self, data: bytes) -> None:
        self.tap._data_from(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.tap._eof_from(self)
        # Plain TCP stays half-open so the other way keeps flowing; TLS cannot (asyncio closes it).
        return not (self.side == "server" and self.tap.proxy._tls is not None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.done.done():
            self.done.set_result(None)
        self._wake()
        self.tap._lost(self, exc)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.tap._flow_changed()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake()
        self.tap._flow_changed()

    def _wake(self) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        """Wait while the write buffer is above the limit (or until the connection is gone)."""
        if self.write_paused and not self.lost:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    # -- helpers for the tap
    @property
    def open(self) -> bool:
        t = self.transport
        return t is not None and not self.lost and not self.ended and not t.is_closing()

    def write(self, data: bytes) -> None:
        if self.open:
            self.transport.write(data)  # type: ignore[union-attr]

    def set_reading(self, want: bool) -> None:
        t = self.transport
        if t is None or self.lost or t.is_closing() or want == t.is_reading():
            return
        if want:
            t.resume_reading()
        else:
            t.pause_reading()

    def end_writing(self) -> None:
        """Pass an EOF on: half-close where the transport can, else close after what is buffered."""
        t = self.transport
        if t is None or self.lost or t.is_closing():
            return
        self.ended = True
        if t.can_write_eof():
            t.write_eof()
        else:
            t.close()

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()


# ---------------------------------------------------------------------------- one tapped conversation
class TappedConnection:
    """One client, its connection to the upstream, and what the tap saw of them.

    ``id`` is the connection's id in the capture, ``client`` the client's
    address, ``request`` and ``response`` the parsed handshake (``response``
    is None until the upstream answered), ``observers`` the two reading
    ``Connection``s by direction ("in": the client's frames, "out": the
    server's) once the upstream accepted.
    """

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.capture = proxy.capture
        self._ids = proxy._ids
        self._id: int | None = None
        self._client = _Leg(self, "client")
        self._upstream: _Leg | None = None
        self.client: tuple = ("?", 0)
        self.request: handshake.Request | None = None
        self.response: handshake.Response | None = None
        self.observers: dict[Direction, Connection] = {}
        self.state: Literal["request", "connecting", "response", "open", "relay", "closed"] = "request"
        self._parser = handshake.RequestParser()
        self._raw_request = b""
        self._forwarded = b""
        self._early = b""  # client bytes read with its request head: frames sent before the answer
        self._answer = bytearray()  # the upstream's bytes until its answer is complete
        self._response_parser = handshake.ResponseParser()
        self._timer: asyncio.TimerHandle | None = None
        self._connector: asyncio.Task | None = None
        # Per direction: bytes the receiver was given (its stream offset), where parsing stopped,
        # bytes passed on unparsed, injections waiting for a frame boundary, close frames seen.
        self._wire: dict[Direction, int] = {"in": 0, "out": 0}
        self._parsed_until: dict[Direction, int | None] = {"in": None, "out": None}
        self._stopped_why: dict[Direction, str] = {}
        self._queue: dict[Direction, deque[tuple[bytes, asyncio.Future]]] = {"in": deque(), "out": deque()}
        self._closes: dict[Direction, tuple[int | None, str]] = {}
        self._first_end: Literal["local", "remote"] | None = None
        self._close_recorded = False
        self._finished = False
        self._noted_unparsed: set[str] = set()

    @property
    def id(self) -> int:
        """Numbered on first use, so plain page requests do not use up connection ids."""
        if self._id is None:
            self._id = next(self._ids)
        return self._id

    def __repr__(self) -> str:
        return f"<TappedConnection #{self.id} {self.client[0]}:{self.client[1]} -> {self.proxy.upstream.url} {self.state}>"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    # -- reading ----------------------------------------------------------------
    def _data_from(self, leg: _Leg, data: bytes) -> None:
        state = self.state
        if state == "open":
            self._pass("in" if leg is self._client else "out", data)
        elif leg is self._client:
            if state == "request":
                self._read_request(data)
            elif state == "relay":
                pass  # a refused upgrade: nothing more of the client's goes upstream
        elif state == "response":
            self._read_response(data)
        elif state == "relay":
            self._client.write(data)

    def _eof_from(self, leg: _Leg) -> None:
        """One side ended its stream: pass the EOF on (half-close), and close once both have."""
        if self._first_end is None:
            self._first_end = "remote" if leg is self._client else "local"
        state = self.state
        if state == "open":
            self._observe_eof("in" if leg is self._client else "out")
            other = self._upstream if leg is self._client else self._client
            if other is not None:
                other.end_writing()
            if self._client.eof and self._upstream is not None and self._upstream.eof:
                self._close_both()
        elif leg is self._upstream and state == "response":
            self._bad_gateway(502, "the upstream closed the connection before its answer was complete "
                                   f"({len(self._answer)} bytes received)")
        elif state in ("request", "connecting", "response", "relay"):
            if state == "connecting" and self._connector is not None:
                self._connector.cancel()
            self.state = "closed" if state != "relay" else state
            self._close_both()

    def _lost(self, leg: _Leg, exc: Exception | None) -> None:
        if self._first_end is None:
            self._first_end = "remote" if leg is self._client else "local"
        if exc is not None and self.state == "open":
            who = "client" if leg is self._client else "upstream"
            self.capture.error(self.id, f"{who} connection lost: {type(exc).__name__}: {exc}")
        if self.state == "open":
            self._observe_eof("in" if leg is self._client else "out")
        other = self._upstream if leg is self._client else self._client
        if other is not None and not other.lost:
            other.close()  # what was written still goes out first
        if self._connector is not None and not self._connector.done() and leg is self._client:
            self._connector.cancel()
        if self._client.lost and (self._upstream is None or self._upstream.lost):
            self._finish()

    def _flow_changed(self) -> None:
        """A side reads while the other side's write buffer has room (and its handshake allows)."""
        upstream = self._upstream
        self._client.set_reading(not self._client.held and not (upstream is not None and upstream.write_paused))
        if upstream is not None:
            upstream.set_reading(not upstream.held and not self._client.write_paused)

    # -- the handshake ------------------------------------------------------------
    def _start(self) -> None:
        transport = self._client.transport
        assert transport is not None
        self.client = transport.get_extra_info("peername") or ("?", 0)
        self.proxy._taps.add(self)
        self._timer = asyncio.get_running_loop().call_later(self.proxy.handshake_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if self.state == "request":
            if self._parser._buffer:
                self.capture.error(self.id, f"no complete request within handshake_timeout="
                                            f"{self.proxy.handshake_timeout}s ({len(self._parser._buffer)} bytes); "
                                            "dropped")
            self.state = "closed"
            self._client.close()
        elif self.state in ("connecting", "response"):
            self._bad_gateway(504, f"the upstream {self.proxy.upstream.url} did not answer within "
                                   f"handshake_timeout={self.proxy.handshake_timeout}s")

    def _read_request(self, data: bytes) -> None:
        try:
            request = self._parser.feed(data)
        except HandshakeError as exc:
            raw = bytes(self._parser._buffer)
            response = handshake.reject_response(exc)
            self.capture.opened(self.id, self.client, raw, response, exc.status, via="tap",
                                note="refused by the tap: the request is not HTTP it can forward")
            self.capture.error(self.id, exc)
            self._refuse(response)
            return
        if request is None:
            return
        self.request = request
        self._raw_request = request.raw
        self._early = self._parser.rest
        upgrade = request.headers.get("Upgrade") is not None
        refused = self.proxy.access.refusal(request, check_origin=upgrade)
        if refused is not None:  # a page of another site, or a rebound Host: nothing is passed on
            response = handshake.reject_response(refused)
            self.capture.opened(self.id, self.client, request.raw, response, refused.status, via="tap",
                                note="refused by the tap: not a client it serves")
            self.capture.error(self.id, refused)
            self._refuse(response)
            return
        if not upgrade:
            # Not an upgrade: nothing for the tap to pass on (not recorded, as a Server does not record page loads).
            self._refuse(_refusal(426, f"this is a WebSocket tap in front of {self.proxy.upstream.url}: only "
                                       "WebSocket upgrade requests are passed on", (("Upgrade", "websocket"),)))
            return
        self._forwarded = rewrite_request(request.raw, self.proxy.upstream.authority, self.proxy.origin)
        self.state = "connecting"
        self._client.held = True
        self._flow_changed()
        self._connector = asyncio.get_running_loop().create_task(self._connect())

    def _refuse(self, response: bytes) -> None:
        self.state = "closed"
        self._cancel_timer()
        self._client.write(response)
        self._client.end_writing()

    async def _connect(self) -> None:
        proxy = self.proxy
        up = proxy.upstream
        loop = asyncio.get_running_loop()
        try:
            _, leg = await asyncio.wait_for(
                loop.create_connection(lambda: _Leg(self, "server"), up.host, up.port, ssl=proxy._tls,
                                       server_hostname=up.host if proxy._tls is not None else None),
                proxy.connect_timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            self._bad_gateway(502, f"cannot reach the upstream {up.url}: no connection within "
                                   f"connect_timeout={proxy.connect_timeout}s")
            return
        except ssl.SSLCertVerificationError as exc:
            self._bad_gateway(502, f"cannot reach the upstream {up.url}: its TLS certificate was not accepted: "
                                   f"{exc.verify_message or exc}")
            return
        except OSError as exc:  # refused, unreachable, no such host, a TLS failure
            self._bad_gateway(502, f"cannot reach the upstream {up.url}: {_why(exc)}")
            return
        if self.state != "connecting" or self._client.lost:
            leg.abort()
            return
        self._upstream = leg
        self.state = "response"
        leg.write(self._forwarded + self._early)  # the client's early bytes follow its request, in order

    def _read_response(self, data: bytes) -> None:
        self._answer += data
        try:
            response = self._response_parser.feed(data)
        except HandshakeError as exc:
            self._bad_gateway(502, f"the upstream's answer is not an HTTP response the tap can pass on: "
                                   f"{exc.message}")
            return
        if response is None:
            return
        self.response = response
        self._cancel_timer()
        answer = bytes(self._answer)
        self._answer = bytearray()
        self._client.write(answer)  # unchanged
        note = self._note(response)
        self.capture.opened(self.id, self.client, self._raw_request, answer[:self._response_parser.consumed],
                            response.status, via="tap", note=note,
                            forwarded_request=self._forwarded if self._forwarded != self._raw_request else None)
        if response.status != 101:
            # A refused upgrade: the client gets the answer, then the tap closes (a keep-alive request would
            # reach the upstream without its Host rewritten). Without Content-Length the body runs to the EOF.
            self.state = "relay"
            if "Content-Length" in response.headers or response.status in (204, 304):
                self._close_both()
            return
        self._open(self._response_parser.rest)

    def _bad_gateway(self, status: int, reason: str) -> None:
        """The upstream is dead, silent or speaks no HTTP: tell the client why, and record it."""
        if self.state in ("open", "closed"):
            return
        log.warning("connection %s: %s", self.id, reason)
        self._cancel_timer()
        response = _refusal(status, f"wsexplore tap: {reason}")
        self.capture.opened(self.id, self.client, self._raw_request, response, status, via="tap",
                            note=f"answered by the tap, not the upstream: {reason}",
                            forwarded_request=self._forwarded if self._forwarded != self._raw_request else None)
        self.capture.error(self.id, reason)
        self.state = "closed"
        if self._upstream is not None:
            self._upstream.abort()
        self._client.write(response)
        self._client.end_writing()

    def _note(self, response: handshake.Response) -> str:
        proxy = self.proxy
        parts = [f"tap to {proxy.upstream.url}"]
        host = self.request.headers.get("Host") if self.request is not None else None
        if host != proxy.upstream.authority:
            parts.append(f"Host {host!r} forwarded as {proxy.upstream.authority!r}")
        if proxy.origin is not None:
            parts.append(f"Origin forwarded as {proxy.origin!r}")
        if proxy._tls is not None:
            parts.append(proxy.tls_description(self._upstream.transport if self._upstream else None))
        if response.status == 101:
            try:
                protocols = parse_subprotocols(response.headers)
            except HandshakeError:
                protocols = response.headers.get_all("Sec-WebSocket-Protocol")
            if protocols:
                parts.append(f"subprotocol {', '.join(protocols)} passed through (payloads shown as they are)")
        return "; ".join(parts)

    def _open(self, rest: bytes) -> None:
        """The upstream accepted: one observer per direction, then the bytes that came with the answers."""
        assert self.response is not None
        proxy = self.proxy
        deflate_params, opaque, why = _extensions(self.response)
        if why:
            self.capture.error(self.id, why)
        limits = {"max_frame_size": proxy.max_message_size, "max_message_size": proxy.max_message_size}
        opaque_rsv = RSV_MASK & ~RSV1_MASK if deflate_params is not None else RSV_MASK
        opaque_rsv = opaque_rsv if opaque else 0
        self.observers = {
            "in": Connection("server", observer=True, opaque_rsv=opaque_rsv, **limits,
                             deflate=None if deflate_params is None else
                             PerMessageDeflate(deflate_params, "server", inflate_only=True)),
            "out": Connection("client", observer=True, opaque_rsv=opaque_rsv, **limits,
                              deflate=None if deflate_params is None else
                              PerMessageDeflate(deflate_params, "client", inflate_only=True)),
        }
        self.state = "open"
        proxy.connections[self.id] = self
        if self._early:
            self._observe("in", self._early)  # written upstream already, right after the request
        if rest:
            self._observe("out", rest)  # written to the client already, with the answer
        self._client.held = False
        self._flow_changed()

    # -- the byte path --------------------------------------------------------------
    def _pass(self, direction: Direction, data: bytes) -> None:
        """Bytes from one side: written to the other side as they are, then read by the observer."""
        receiver = self._upstream if direction == "in" else self._client
        assert receiver is not None
        if not self._queue[direction]:
            receiver.write(data)
            self._observe(direction, data)
            return
        # Injections wait for a frame boundary: cut the read there.
        observer = self.observers[direction]
        pos, n = 0, len(data)
        while pos < n:
            self._flush_injections(direction)
            need = observer.bytes_needed
            end = n if not self._queue[direction] or need == 0 else min(n, pos + need)
            chunk = data[pos:end] if pos or end != n else data
            receiver.write(chunk)
            self._observe(direction, chunk)
            pos = end
        self._flush_injections(direction)

    def _observe(self, direction: Direction, data: bytes, injected: bool = False) -> None:
        observer = self.observers[direction]
        start = self._wire[direction]
        self._wire[direction] = start + len(data)
        if observer.state is not State.OPEN:
            self._unparsed(direction, start)
            return
        if len(data) < 65536 and type(data) is bytes:
            # A copy: a frame kept in the capture must not pin the socket's whole read buffer.
            data = bytes(memoryview(data))
        events = observer.receive_data(data)
        if events:
            self.capture.record_events(self.id, events, received=direction, injected=injected)
        if observer.state is not State.OPEN:
            self._stopped(direction, events)
            if self._wire[direction] > (self._parsed_until[direction] or 0):
                self._unparsed(direction, self._parsed_until[direction] or 0)

    def _observe_eof(self, direction: Direction) -> None:
        observer = self.observers.get(direction)
        if observer is None or observer.state is not State.OPEN:
            return
        events = observer.receive_eof()
        if events:
            self.capture.record_events(self.id, events, received=direction)

    def _stopped(self, direction: Direction, events: list[Event]) -> None:
        """The observer of ``direction`` read a close frame or a violation: it reads no more."""
        sender = _SENDER[direction]
        for event in events:
            if type(event) is CloseReceived:
                self._closes[direction] = (event.code, event.reason)
                self._parsed_until[direction] = self.observers[direction].bytes_received
                self._stopped_why[direction] = f"after the {sender}'s close frame"
                self._close_seen()
            elif type(event) is ProtocolViolation:
                self._parsed_until[direction] = event.offset + len(event.raw)
                self._stopped_why[direction] = (f"after the {sender}'s frame at offset {event.offset} broke a rule, "
                                                "the stream can no longer be parsed reliably")
        for item in self._queue[direction]:
            self._fail_injection(item, f"the stream toward the {_receiver(direction)} is no longer parsed "
                                       f"({self._stopped_why.get(direction, 'it ended')}): no frame boundary to "
                                       "insert at")
        self._queue[direction].clear()

    def _unparsed(self, direction: Direction, start: int) -> None:
        """Note once where a direction's bytes start passing unparsed (the total comes at the end)."""
        if direction in self._noted_unparsed:
            return
        self._noted_unparsed.add(direction)
        why = self._stopped_why.get(direction, "the stream ended")
        self.capture.error(self.id, f"{_SENDER[direction]} -> {_receiver(direction)}: from offset {start} on, "
                                    f"bytes are passed on unchanged but unparsed ({why})")

    def _close_seen(self) -> None:
        closes = self._closes
        if len(closes) == 2 and not self._close_recorded:
            self._record_close(clean=True)

    def _record_close(self, *, clean: bool) -> None:
        self._close_recorded = True
        closes = self._closes
        first = next(iter(closes), None)  # dicts keep the order the close frames came in
        if first is not None:
            code, reason = closes[first]
            initiator: Literal["local", "remote"] = "remote" if first == "in" else "local"
            self.capture.closed(self.id, CloseCode.NO_STATUS_RCVD if code is None else code, reason, initiator,
                                clean)
        else:
            self.capture.closed(self.id, CloseCode.ABNORMAL_CLOSURE, "", self._first_end or "remote", False)

    def _close_both(self) -> None:
        self._cancel_timer()
        self._client.close()
        if self._upstream is not None:
            self._upstream.close()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._cancel_timer()
        self.proxy._taps.discard(self)
        if self._id is not None:
            self.proxy.connections.pop(self._id, None)
        if self.state in ("open", "closed") and self.observers:
            for direction in ("in", "out"):
                start = self._parsed_until[direction]
                end = self._wire[direction]
                if start is not None and end > start:
                    self.capture.error(self.id, f"{_SENDER[direction]} -> {_receiver(direction)}: {end - start} "
                                                f"bytes (offsets {start}-{end}) passed on unparsed "
                                                f"({self._stopped_why[direction]})")
            if not self._close_recorded:
                self._record_close(clean=False)
        for direction in ("in", "out"):
            for item in self._queue[direction]:
                self._fail_injection(item, "the connection closed before a frame boundary came")
            self._queue[direction].clear()
        self.state = "closed"
        # Both TCP connections are over: asyncio calls their legs no more. A leg and its tap refer to each
        # other, and the cycle would hold this connection's capture (every payload it recorded) until a
        # full garbage collection, long after the capture was replaced.
        for leg in (self._client, self._upstream):
            if leg is not None and leg.lost:
                leg.tap = None  # type: ignore[assignment]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- injection ---------------------------------------------------------------------
    async def inject(self, data: Frame | bytes | bytearray | memoryview, to: Side = "server") -> bytes:
        """Insert ``data`` toward ``to`` between two whole frames; returns the bytes written.

        A ``Frame`` is encoded; going to the server without a masking key it is
        masked with a fresh one (section 5.3). Raw bytes are written as given,
        even a broken frame or a part of one. Waits for a frame boundary when a
        frame is partly through, then while the receiver's buffer is full.
        """
        if to not in _TOWARD:
            raise ValueError(f"to must be 'server' or 'client', got {to!r}")
        direction = _TOWARD[to]
        if isinstance(data, Frame):
            if to == "server" and data.mask_key is None:
                data = Frame(data.opcode, data.payload, fin=data.fin, rsv1=data.rsv1, rsv2=data.rsv2,
                             rsv3=data.rsv3, mask_key=secrets.token_bytes(MASK_KEY_BYTES))
            raw = data.encode()
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
            if not raw:
                raise ValueError("nothing to inject: no bytes")
        else:
            raise TypeError(f"inject takes a Frame or bytes, got {type(data).__name__}")
        if self.state != "open":
            raise InjectionError(f"connection #{self.id} is not open (it is {self.state})")
        observer = self.observers[direction]
        if observer.state is not State.OPEN:
            raise InjectionError(f"the stream toward the {to} is no longer parsed "
                                 f"({self._stopped_why.get(direction, 'it ended')}): no frame boundary to insert at")
        waiter: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue[direction].append((raw, waiter))
        self._flush_injections(direction)
        await waiter
        receiver = self._upstream if direction == "in" else self._client
        if receiver is not None:
            await receiver.drain()
        return raw

    def _flush_injections(self, direction: Direction) -> None:
        queue = self._queue[direction]
        observer = self.observers.get(direction)
        while queue and observer is not None and observer.state is State.OPEN and observer.bytes_needed == 0:
            raw, waiter = queue.popleft()
            receiver = self._upstream if direction == "in" else self._client
            if receiver is None or not receiver.open:
                self._fail_injection((raw, waiter), f"the {_receiver(direction)} connection is closed")
                continue
            receiver.write(raw)
            self._observe(direction, raw, injected=True)
            if observer.state is State.OPEN and observer.bytes_needed:
                self.capture.error(self.id, f"the {len(raw)} injected bytes toward the {_receiver(direction)} end "
                                            f"inside a frame: the {_receiver(direction)} reads the "
                                            f"{_SENDER[direction]}'s next bytes as the rest of it")
            if not waiter.done():
                waiter.set_result(None)

    @staticmethod
    def _fail_injection(item: tuple[bytes, asyncio.Future], why: str) -> None:
        waiter = item[1]
        if not waiter.done():
            waiter.set_exception(InjectionError(why))


def _why(exc: OSError) -> str:
    """A connection failure in words: asyncio's own message hides the errno's text."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror}"
    if exc.errno:
        return f"{os.strerror(exc.errno)} ({exc.strerror or exc})"
    return exc.strerror or str(exc)


def _receiver(direction: Direction) -> str:
    return "server" if direction == "in" else "client"


def _extensions(response: handshake.Response) -> tuple[DeflateParams | None, bool, str]:
    """What the upstream agreed to: permessage-deflate parameters, whether other extensions are on (their
    RSV bits are then read as extension data), and a note when the tap cannot follow something."""
    try:
        agreed = parse_extensions(response.headers)
    except HandshakeError as exc:
        return None, True, f"the upstream's Sec-WebSocket-Extensions cannot be read ({exc.message}): frames with " \
                           "RSV bits are shown as extension data"
    others = [e for e in agreed if e.name != DEFLATE]
    note = ""
    params = None
    if any(e.name == DEFLATE for e in agreed):
        try:
            params = find_params(agreed)
        except (HandshakeError, ValueError) as exc:
            reason = exc.message if isinstance(exc, HandshakeError) else str(exc)
            return None, True, f"the upstream's permessage-deflate answer cannot be followed ({reason}): " \
                               "compressed frames are shown as extension data"
    if others:
        note = (f"extension(s) {_names(others)} passed through unknown to the tap: their frames' RSV bits are read "
                "as extension data, not as violations")
    return params, bool(others), note


def _names(extensions: Iterable[Extension]) -> str:
    return ", ".join(dict.fromkeys(e.name for e in extensions))
