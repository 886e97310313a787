"""WebSocket connections found in TCP flows: from segments to capture records.

``FlowTable`` takes every TCP segment of a capture, in file order. Each TCP
connection (a flow) gets two ``tcp.Stream``s, one per sender, and is told
apart by its first bytes:

* an HTTP request with ``Upgrade: websocket``: the request and response are
  parsed with the protocol's own head parsers; a 101 opens a WebSocket
  connection (``OpenRecord`` with both raw heads, via "pcap"), permessage-
  deflate is read from the response (RFC 7692), and each sender's bytes
  after its head go to a ``follower.Follower``; any other answer is recorded
  as a refused handshake;
* a TLS record: listed as a TLS connection (``OpenRecord`` with status 0 and a
  note): it cannot be read without the session keys;
* no handshake because the capture began mid-stream: both senders are searched
  for frames (``boundary``); the first direction that proves a frame boundary
  says which side is the client (masked frames) and opens the connection;
* anything else (another protocol, plain HTTP): not read.

The close is worked out from both directions: the first close frame gives the
code, reason and initiator; the close is clean when both close frames were
read (RFC 6455 section 7.1.4); a TCP end without them is 1006. A connection
still open when the capture ends gets no close record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...protocol.connection import DEFAULT_MAX_SIZE
from ...protocol.deflate import find_params
from ...protocol.errors import ProtocolError
from ...protocol.events import ConnectionClosed
from ...protocol.frames import Frame
from ...protocol.handshake import Request, RequestParser, Response, ResponseParser
from ...protocol.opcodes import CloseCode
from ..records import NO_HANDSHAKE
from ..store import Capture
from .boundary import CHAIN_ANYWHERE, CHAIN_ON_SEGMENT, Proof
from .follower import Follower
from .packets import Segment
from .tcp import DEFAULT_MAX_PENDING, Data, Gap, Stream
from .tls import describe_tls, looks_like_tls

__all__ = ["FlowTable", "ReadOptions"]

_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
_SYN_FIN_RST = _SYN | _FIN | _RST
_CLOSED_KEPT = 4096  # ended connections remembered, so that their late segments start nothing

Endpoint = tuple[str, int]
State = Literal["new", "http", "websocket", "mid-stream", "tls", "other", "done"]


@dataclass(frozen=True)
class ReadOptions:
    """Limits for reading a capture file.

    ``max_frame_size`` and ``max_message_size`` are those of the ``Connection``
    that reads each direction (a larger frame is recorded as a violation of the
    limit); ``max_pending`` bytes may wait behind a hole in a TCP stream before
    the hole is declared missing; a stream picked up mid-way is searched for a
    frame boundary in its first ``mid_stream_budget`` bytes at most.
    """

    max_frame_size: int = DEFAULT_MAX_SIZE
    max_message_size: int = DEFAULT_MAX_SIZE
    max_pending: int = DEFAULT_MAX_PENDING
    mid_stream_budget: int = 1024 * 1024


@dataclass
class Counts:
    """What the table saw, for a summary."""

    flows: int = 0
    websocket: int = 0
    mid_stream: int = 0
    tls: int = 0
    refused: int = 0
    other: int = 0
    gaps: int = 0
    duplicate_bytes: int = 0


def _show(endpoint: Endpoint) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FlowTable:
    """Every TCP flow of a capture, keyed by its two endpoints; records go to ``capture``."""

    def __init__(self, capture: Capture, options: ReadOptions | None = None) -> None:
        self.capture = capture
        self.options = options or ReadOptions()
        self.flows: dict[tuple[Endpoint, Endpoint], Flow] = {}
        self._closed: dict[tuple[Endpoint, Endpoint], None] = {}  # recently ended flows, oldest first
        self.counts = Counts()
        self._next_conn = max(capture.connections, default=0) + 1
        self.last_time = 0.0

    def new_conn(self) -> int:
        conn = self._next_conn
        self._next_conn += 1
        return conn

    def add(self, seg: Segment) -> None:
        """One TCP segment, in file order."""
        self.last_time = seg.time
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (a, b) if a <= b else (b, a)
        flow = self.flows.get(key)
        if seg.syn and not seg.has_ack and flow is not None and flow.state != "new":
            flow.finish("eof", seg.time)  # the same ports again: the old connection is over
            flow = None
        if flow is None:
            if not seg.syn and key in self._closed:
                return  # a late retransmission or ACK of a connection that ended
            flow = self.flows[key] = Flow(self, a, b)
            self.counts.flows += 1
        flow.segment(seg)
        if flow.state == "done":  # forget it: memory follows the connections open at once
            del self.flows[key]
            self._closed[key] = None
            if len(self._closed) > _CLOSED_KEPT:
                del self._closed[next(iter(self._closed))]

    def finish(self) -> None:
        """The end of the capture: every flow still open ends here."""
        for flow in self.flows.values():
            flow.finish("eof", self.last_time)
        self.flows.clear()


class Flow:
    """One TCP connection: its two byte streams, what it turned out to be, and its WebSocket records."""

    def __init__(self, table: FlowTable, first: Endpoint, second: Endpoint) -> None:
        self.table = table
        self.capture = table.capture
        self.options = table.options
        self.endpoints = (first, second)
        self.client: Endpoint | None = None
        self.syn_seen = False  # without a SYN, the connection was picked up mid-stream
        self.state: State = "new"
        self.conn: int | None = None
        self.streams: dict[Endpoint, Stream] = {}
        self.followers: dict[Endpoint, Follower] = {}
        self.request: RequestParser | None = None
        self.response: ResponseParser | None = None
        self.upgrade: Request | None = None  # the upgrade request, once complete
        self.early: list[tuple[int, bytes, float]] = []  # client bytes after the request, before the 101
        self.request_end = 0  # stream offsets where the WebSocket streams begin
        self.response_end = 0
        self.first_close: tuple[str, int | None, str] | None = None
        self.closed = False
        self.tcp_end: tuple[str, Endpoint] | None = None  # how TCP ended first (fin/rst) and by whom
        self.last_time = 0.0

    # -- records ------------------------------------------------------------------------
    def error(self, text: str, time: float) -> None:
        if "gap:" in text[:5]:
            self.table.counts.gaps += 1
        self.capture.error(self.conn, text, time=time, wall=time)

    def _server(self) -> Endpoint:
        assert self.client is not None
        return self.endpoints[1] if self.endpoints[0] == self.client else self.endpoints[0]

    # -- segments -------------------------------------------------------------------------
    def segment(self, seg: Segment) -> None:
        time = self.last_time = seg.time
        state = self.state
        if state == "done":
            return
        sender: Endpoint = (seg.src, seg.sport)
        flags = seg.flags
        stream = self.streams.get(sender)
        if (stream is not None and not flags & _SYN_FIN_RST and stream.fin is None and state != "tls"
                and state != "other"):
            # Most segments: data (or a bare ACK) on a connection being read; nothing starts or ends.
            items = stream.add(seg.seq, seg.payload, missing=seg.missing)
            if items:
                self._deliver(sender, items, time)
            if flags & _ACK:
                receiver = (seg.dst, seg.dport)
                other = self.streams.get(receiver)
                if other is not None and other.pending_bytes:
                    items = other.ack(seg.ack)
                    if items:
                        self._deliver(receiver, items, time)
            return
        receiver: Endpoint = (seg.dst, seg.dport)
        if seg.syn:
            self.syn_seen = True
            if not seg.has_ack:
                self.client = sender
            elif self.client is None:
                self.client = receiver
        if stream is None:
            stream = self.streams[sender] = Stream(seg.seq if seg.syn else None,
                                                   max_pending=self.options.max_pending)
        if self.state in ("tls", "other"):  # not read: only the end matters
            if seg.rst or seg.fin:
                self._tcp_end("rst" if seg.rst else "fin", sender, time)
            return
        items = stream.add(seg.seq, seg.payload, syn=seg.syn, fin=seg.fin, missing=seg.missing)
        if items:
            self._deliver(sender, items, time)
        if seg.has_ack:
            other = self.streams.get(receiver)
            if other is not None:
                items = other.ack(seg.ack)
                if items:
                    self._deliver(receiver, items, time)
        if seg.rst:
            self._tcp_end("rst", sender, time)
            for endpoint, each in list(self.streams.items()):
                self._deliver(endpoint, each.end(), time)
                self._stream_over(endpoint, "rst", time)
            self.finish("rst", time)
            return
        if seg.fin:
            self._tcp_end("fin", sender, time)
        if stream.ended:
            self._stream_over(sender, "fin", time)
        if len(self.streams) == 2 and all(s.ended for s in self.streams.values()):
            self.finish("fin", time)

    def _tcp_end(self, how: str, sender: Endpoint, time: float) -> None:
        if self.tcp_end is None:
            self.tcp_end = (how, sender)

    def _deliver(self, sender: Endpoint, items: list[Data | Gap], time: float) -> None:
        for item in items:
            if self.state in ("tls", "other", "done"):
                return
            if type(item) is Data:
                self._data(sender, item.offset, item.data, time)
            else:
                self._gap(sender, item, time)  # type: ignore[arg-type]

    def _stream_over(self, sender: Endpoint, how: Literal["fin", "rst", "eof"], time: float) -> None:
        follower = self.followers.get(sender)
        if follower is not None:
            follower.end(time, how=how)

    # -- what the flow is ---------------------------------------------------------------
    def _data(self, sender: Endpoint, offset: int, data: bytes, time: float) -> None:
        state = self.state
        if state == "websocket" or state == "mid-stream":
            follower = self.followers.get(sender)
            if follower is not None:
                base = self.request_end if sender == self.client else self.response_end
                follower.feed(offset - base, data, time)
            return
        if state == "http":
            self._http(sender, offset, data, time)
            return
        # new, or picked up mid-stream: the first bytes say what this flow is
        mid = not self.syn_seen
        if self.client is None and _http_request_start(data):
            self.client = sender
        if self.client == sender and offset == 0 and _http_request_start(data):
            self.state = "http"
            self.request, self.response = RequestParser(), ResponseParser()
            self._http(sender, offset, data, time)
        elif offset == 0 and looks_like_tls(data):
            self._tls(sender, data, time, mid)
        elif mid:
            self._start_mid_stream(sender, offset, data, time)
        else:
            self.state = "other"
            self.table.counts.other += 1

    def _tls(self, sender: Endpoint, data: bytes, time: float, mid: bool) -> None:
        self.state = "tls"
        self.table.counts.tls += 1
        if self.client is None:  # a server speaks second: the sender of a ClientHello is the client
            self.client = sender if data[0] == 22 and data[5:6] == b"\x01" else None
        client = self.client or sender
        server = self.endpoints[1] if self.endpoints[0] == client else self.endpoints[0]
        self.conn = self.table.new_conn()
        seen = "picked up mid-stream, " if mid else ""
        self.capture.opened(
            self.conn, client, b"", b"", NO_HANDSHAKE, via="pcap", time=time, wall=time,
            note=(f"TLS connection {_show(client)} → {_show(server)} ({seen}{describe_tls(data)}): encrypted, so a "
                  "WebSocket inside it (wss://) cannot be read; decrypting with the session keys (an SSLKEYLOGFILE) "
                  "is not supported yet"))

    # -- the HTTP handshake ---------------------------------------------------------------
    def _http(self, sender: Endpoint, offset: int, data: bytes, time: float) -> None:
        assert self.request is not None and self.response is not None
        if sender == self.client:
            if self.request.consumed:  # the request is complete: frames sent before the answer
                self.early.append((offset, data, time))
                return
            try:
                request = self.request.feed(data)
            except ProtocolError:
                self._not_websocket()
                return
            if request is None:
                return
            upgrade = (request.headers.get("Upgrade") or "").lower()
            if "websocket" not in upgrade:
                self._not_websocket()
                return
            self.upgrade = request
            self.request_end = self.request.consumed
            if self.request.rest:
                self.early.append((self.request_end, self.request.rest, time))
            return
        if not self.request.consumed:
            self._not_websocket()  # the server spoke first, or answered something else
            return
        try:
            response = self.response.feed(data)
        except ProtocolError as exc:
            self.conn = self.table.new_conn()
            target = self.upgrade.target if self.upgrade is not None else "?"
            self.error(f"the answer to the upgrade request for {target!r} from {_show(sender)} is not an HTTP "
                       f"response: {exc}", time)
            self.state = "other"
            return
        if response is None:
            return
        self.response_end = self.response.consumed
        self._opened(response, time)

    def _not_websocket(self) -> None:
        self.state = "other"
        self.table.counts.other += 1
        self.request = self.response = None
        self.early = []

    def _opened(self, response: Response, time: float) -> None:
        assert self.upgrade is not None and self.response is not None and self.client is not None
        raw_request = self.upgrade.raw
        self.conn = self.table.new_conn()
        server = self._server()
        if response.status != 101:
            self.table.counts.refused += 1
            self.capture.opened(self.conn, self.client, raw_request, response.raw, response.status, via="pcap",
                                note=f"TCP {_show(self.client)} → {_show(server)}", time=time, wall=time)
            self.state = "other"
            return
        note = f"TCP {_show(self.client)} → {_show(server)}"
        deflate = None
        try:
            deflate = find_params(response.headers)
        except ProtocolError as exc:
            note += f"; its Sec-WebSocket-Extensions cannot be read ({exc}), so compressed messages are not inflated"
        self.capture.opened(self.conn, self.client, raw_request, response.raw, 101, via="pcap", note=note,
                            time=time, wall=time)
        self.table.counts.websocket += 1
        self.state = "websocket"
        self.followers[self.client] = Follower(self, "in", deflate=deflate)
        self.followers[server] = Follower(self, "out", deflate=deflate)
        rest = self.response.rest
        if rest:
            self.followers[server].feed(0, rest, time)
        for offset, data, at in self.early:
            self.followers[self.client].feed(offset - self.request_end, data, at)
        self.early = []

    def _gap(self, sender: Endpoint, gap: Gap, time: float) -> None:
        follower = self.followers.get(sender)
        if follower is not None:
            base = self.request_end if sender == self.client else self.response_end
            follower.gap(gap.offset - base, gap.size, gap.seq, time)
            return
        if self.state in ("http", "new"):
            # The handshake (or the first bytes) were cut: read the rest as a connection picked up mid-stream.
            self.request = self.response = None
            self.early = []
            self._start_mid_stream(sender, gap.offset + gap.size, b"", time, after_gap=gap)

    # -- picked up mid-stream ---------------------------------------------------------------
    def _start_mid_stream(self, sender: Endpoint, offset: int, data: bytes, time: float,
                          after_gap: Gap | None = None) -> None:
        self.state = "mid-stream"
        self.request_end = self.response_end = 0
        for endpoint in self.endpoints:
            follower = Follower(self, None, deflate=None, deflate_known=False, mode="HUNT")
            stream = self.streams.get(endpoint)
            start = offset if endpoint == sender else (stream.delivered if stream is not None else 0)
            follower.start_mid_stream(start, stream.seq_of(start) if stream is not None else None, time)
            self.followers[endpoint] = follower
        if data:
            self.followers[sender].feed(offset, data, time)

    def hunt_budget_spent(self, follower: Follower) -> bool:
        """A stream picked up mid-way that shows no frame in its first bytes is not read further."""
        if self.state != "mid-stream" or self.conn is not None:
            return False
        return follower.fed > self.options.mid_stream_budget

    def roles_found(self, follower: Follower, proof: Proof) -> None:
        """A direction proved a frame boundary: its masking says who the client is; open the connection."""
        sender = next(e for e, f in self.followers.items() if f is follower)
        other = self.endpoints[1] if self.endpoints[0] == sender else self.endpoints[0]
        self.client = sender if proof.masked else other
        follower.direction = "in" if proof.masked else "out"
        other_follower = self.followers.get(other)
        if other_follower is not None:
            other_follower.direction = "out" if proof.masked else "in"
        self.conn = self.table.new_conn()
        self.table.counts.mid_stream += 1
        name = follower.name
        self.capture.opened(
            self.conn, self.client, b"", b"", NO_HANDSHAKE, via="pcap", time=follower.lost[0].time,
            wall=follower.lost[0].time,
            note=(f"TCP {_show(self.client)} → {_show(self._server())} captured mid-stream: the opening handshake is "
                  "not in the capture, so neither the request nor permessage-deflate is known; each direction is read "
                  f"from the first frame boundary that {CHAIN_ON_SEGMENT} whole frames in a row ending with a TCP "
                  f"segment (or {CHAIN_ANYWHERE} anywhere) prove, and offsets count from the first byte captured; the "
                  f"{name} stream is read from offset {follower.buf_start}"))

    # -- the close ------------------------------------------------------------------------
    def close_frame(self, direction: Literal["in", "out"], raw: bytes, time: float) -> None:
        """A close frame was read in ``direction``: the first says how, the second makes it clean."""
        if self.closed:
            return
        if self.first_close is None:
            code, reason = _close_body(raw)
            self.first_close = (direction, code, reason)
        elif self.first_close[0] != direction:
            self._record_close(True, time)

    def _record_close(self, clean: bool, time: float) -> None:
        if self.closed or self.conn is None:
            return
        self.closed = True
        if self.first_close is not None:
            direction, code, reason = self.first_close
            initiator = "remote" if direction == "in" else "local"
        else:  # TCP ended without a close frame: abnormal (RFC 6455 section 7.1.5)
            assert self.tcp_end is not None
            code, reason = CloseCode.ABNORMAL_CLOSURE, ""
            initiator = "remote" if self.tcp_end[1] == self.client else "local"
        event = ConnectionClosed(code, reason, initiator, clean)  # type: ignore[arg-type]
        self.capture.record_events(self.conn, [event], time=time, wall=time)

    def finish(self, how: Literal["fin", "rst", "eof"], time: float) -> None:
        """The flow is over (both FINs, a RST, or the end of the capture)."""
        if self.state == "done":
            return
        if how == "eof":
            for endpoint, stream in list(self.streams.items()):
                self._deliver(endpoint, stream.end(), time)
        for follower in self.followers.values():
            follower.end(time, how=how)
        if self.state in ("websocket", "mid-stream") and self.conn is not None and not self.closed:
            if self.first_close is not None or self.tcp_end is not None:
                self._record_close(False, time)
        for stream in self.streams.values():
            self.table.counts.duplicate_bytes += stream.duplicate_bytes
        self.state = "done"
        self.followers = {}
        self.streams = {}
        self.request = self.response = None


def _http_request_start(data: bytes) -> bool:
    """The first bytes of an HTTP/1.1 request line: an upper-case method and a space."""
    space = data.find(b" ", 0, 12)
    return space > 2 and data[:space].isalpha() and data[:space].isupper()


def _close_body(raw: bytes) -> tuple[int | None, str]:
    frame = Frame.decode(raw)
    code = frame.close_code
    if code is None:
        return None, ""
    return code, frame.payload[2:].decode("utf-8", "replace")
