"""One direction of a WebSocket connection, read from a recording, into capture records.

A ``Follower`` gets the bytes one sender put on the wire, in order, from
the TCP reassembly (``tcp.Stream``), with the capture time of each piece,
and the places where bytes are missing. It reads them with the protocol's own
``Connection`` in the role that receives them (a "server" reads what a client
sent), so a frame from a file is judged exactly as a live one. It is an
observer (``Connection(observer=True)``, as the tap uses): it reads and never
answers, since a recording is only watched.

It is in one of four modes:

* ``FEED``: bytes go to the ``Connection``; its frames, messages and
  violations become records (``Capture.record_events``).
* ``WALK``: at a frame boundary the reader can prove, but not at the start
  of a message: frames are split here and recorded as they are (a
  continuation frame whose message began in a gap, a control frame), until a
  frame starts a message and ``FEED`` takes over. With permessage-deflate and
  context takeover, a lost piece of the stream loses the compression history,
  so the direction stays in ``WALK`` from then on: frames, no messages.
* ``HUNT``: after a gap, or in a connection captured mid-stream, looking for
  the first frame boundary that can be proved (``boundary.find_boundary``);
  nothing is recorded from the bytes skipped, and the gap record says how
  many there were.
* ``CLOSED``: the sender's close frame was read; what follows is counted, not read.
  (``DROP``: a stream picked up mid-way that never showed a frame: not read.)

Offsets are those of the WebSocket stream: from the first byte after the
handshake (or, captured mid-stream, the first byte captured), as a live
capture counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ...display import plural
from ...protocol.connection import Connection
from ...protocol.deflate import DeflateParams, PerMessageDeflate
from ...protocol.errors import ProtocolError
from ...protocol.events import FrameReceived, MessageReceived, ProtocolViolation
from ...protocol.header import RSV1_MASK, parse_header
from ...protocol.opcodes import Opcode
from ...protocol.rules import header_violation
from .boundary import Masking, Proof, find_boundary

if TYPE_CHECKING:
    from .flows import Flow

__all__ = ["Follower", "Direction", "HUNT_MAX_FRAME"]

Direction = Literal["in", "out"]
Mode = Literal["FEED", "WALK", "HUNT", "CLOSED", "DROP"]

#: The largest frame a boundary search will wait for (a chain through a larger one is not proved).
HUNT_MAX_FRAME = 4 * 1024 * 1024
_NAMES = {"in": "client → server", "out": "server → client"}
_MESSAGE_START = (Opcode.TEXT, Opcode.BINARY)


@dataclass
class _Lost:
    """A stretch of the stream not read: a gap, a frame that broke a header rule, or a mid-stream start."""

    kind: Literal["gap", "resync", "mid-stream"]
    offset: int  # where the unread bytes start
    size: int  # bytes missing from the capture (0 for a mid-stream start)
    seq: int | None  # the TCP sequence number there
    cut: str  # what the gap cut (a frame in progress), or ""
    time: float


class Follower:
    """What one sender wrote, read as WebSocket frames (see the module's notes)."""

    def __init__(self, flow: Flow, direction: Direction | None, *, deflate: DeflateParams | None,
                 deflate_known: bool = True, mode: Mode = "FEED") -> None:
        self.flow = flow
        self.direction = direction
        self.deflate = deflate
        #: False when the handshake (and so permessage-deflate) was not captured.
        self.deflate_known = deflate_known
        #: False once the compression history is lost: messages can no longer be inflated.
        self.inflating = True
        self.mode: Mode = mode
        self.conn: Connection | None = None
        self.base = 0  # the stream offset of the Connection's offset 0
        self.fed = 0  # the stream offset after the last byte read
        self.frame_end = 0  # the stream offset after the last whole frame
        self.buf = bytearray()  # WALK and HUNT: bytes not read yet, from buf_start
        self.buf_start = 0
        self.skip_to = 0  # WALK: bytes before this offset are not read (the rest of a frame that broke a rule)
        # WALK and HUNT: (end offset, capture time) of each captured piece in ``buf``: where segments
        # ended (a boundary search uses them) and when each frame's last byte was captured.
        self.pieces: list[tuple[int, float]] = []
        self.hunt_from = 0
        self.lost: list[_Lost] = []  # HUNT: what the boundary search is making up for
        self.after_close = 0
        self.ended = False
        if mode == "FEED":
            self.conn = self._connection()

    def __repr__(self) -> str:
        return f"<Follower {self.direction or '?'} {self.mode} at {self.fed}>"

    @property
    def name(self) -> str:
        return _NAMES.get(self.direction or "", "unidentified")

    @property
    def role(self) -> Literal["server", "client"]:
        """The side that reads what this sender writes."""
        return "server" if self.direction == "in" else "client"

    @property
    def masking(self) -> Masking:
        if self.direction is None:
            return "either"
        return "masked" if self.direction == "in" else "unmasked"

    def _rsv_allowed(self) -> int:
        return RSV1_MASK if (self.deflate is not None or not self.deflate_known) else 0

    def _connection(self) -> Connection:
        deflate = None
        if self.deflate is not None and self.inflating:
            try:
                deflate = PerMessageDeflate(self.deflate, self.role)
            except ValueError as exc:  # a window zlib cannot set up: frames only
                self.inflating = False
                self._note(f"permessage-deflate ({exc}): the {self.name} messages are not inflated; their frames "
                           "are recorded", self.flow.last_time)
        return Connection(self.role, deflate=deflate, max_frame_size=self.flow.options.max_frame_size,
                          max_message_size=self.flow.options.max_message_size, observer=True)

    def _note(self, text: str, time: float) -> None:
        self.flow.error(text, time)

    # -- bytes in -----------------------------------------------------------------------
    def feed(self, offset: int, data: bytes, time: float) -> None:
        """``data`` at stream ``offset`` (always where the previous piece ended), captured at ``time``."""
        self.fed = offset + len(data)
        mode = self.mode
        if mode == "FEED":
            self._feed_connection(data, offset, time)
        elif mode == "CLOSED":
            self.after_close += len(data)
        elif mode == "DROP":
            return
        else:
            if not self.buf:
                self.buf_start = offset
            self.buf += data
            self.pieces.append((self.fed, time))
            if mode == "HUNT":
                self._hunt(time)
            else:
                self._walk(time)

    def gap(self, offset: int, size: int, seq: int | None, time: float) -> None:
        """``size`` bytes at ``offset`` are not in the capture: look for a frame boundary after them."""
        if self.mode == "DROP":
            return
        if self.mode == "CLOSED":
            self.after_close += size
            self.fed = offset + size
            return
        cut = self._cut(offset)
        self.fed = offset + size
        if self.deflate is not None and self.inflating and not self.deflate.no_context_takeover(
                "client" if self.direction == "in" else "server"):
            self.inflating = False
            cut += ("; permessage-deflate with context takeover: the compression history is lost with the gap, "
                    f"so from here on the {self.name} frames are recorded but their messages cannot be inflated")
        self.lost.append(_Lost("gap", offset, size, seq, cut, time))
        self._start_hunt(self.fed)

    def start_mid_stream(self, offset: int, seq: int | None, time: float) -> None:
        """The stream was picked up at ``offset`` without its start: hunt for the first frame."""
        self.lost.append(_Lost("mid-stream", offset, 0, seq, "", time))
        self._start_hunt(offset)

    def end(self, time: float, *, how: Literal["fin", "rst", "eof"]) -> None:
        """No more bytes: FIN or RST from the sender, or the end of the capture file."""
        if self.ended:
            return
        self.ended = True
        if self.mode == "FEED" and self.conn is not None:
            held = self.base + self.conn.bytes_received - self.frame_end
            if held > 0:
                self._unfinished(held, time, how)
        elif self.mode == "HUNT":
            self._hunt(time)
            if self.mode == "HUNT":
                self._report_lost(None, time)
        if self.mode == "WALK" and self.buf:
            self._unfinished(len(self.buf), time, how)
        if self.after_close:
            self._note(f"{plural(self.after_close, 'byte')} followed the {self.name} close frame and were not read "
                       "(nothing may follow a close frame, RFC 6455 section 5.5.1)", time)

    def _unfinished(self, held: int, time: float, how: str) -> None:
        where = {"fin": "the sender closed TCP (FIN)", "rst": "the connection was reset (RST)",
                 "eof": "the capture ends"}[how]
        self._note(f"{where} {plural(held, 'byte')} into a {self.name} frame at offset {self.frame_end}: "
                   "the rest of it was never captured, so it is not recorded as a frame", time)

    # -- FEED ---------------------------------------------------------------------------
    def _feed_connection(self, data: bytes, offset: int, time: float) -> None:
        conn = self.conn
        assert conn is not None
        base = self.base
        kept: list = []
        closes: list[bytes] = []
        violation: ProtocolViolation | None = None
        for event in conn.receive_data(data):
            kind = type(event)
            if kind is FrameReceived:
                if base:
                    event = FrameReceived(event.raw, event.offset + base, event._payload)
                raw = event.raw
                kept.append(event)
                self.frame_end = event.offset + len(raw)
                if raw[0] & 0x0F == Opcode.CLOSE:
                    closes.append(raw)
            elif kind is MessageReceived:
                kept.append(event)
            elif kind is ProtocolViolation:
                if base:
                    event = ProtocolViolation(event.error, event.raw, event.offset + base)
                kept.append(event)
                violation = event
        flow = self.flow
        if kept:
            flow.capture.record_events(flow.conn, kept, time=time, wall=time, received=self.direction or "in")
        for raw in closes:
            flow.close_frame(self.direction or "in", raw, time)
        if closes:
            self.mode = "CLOSED"
            self.conn = None
            self.after_close += self.fed - self.frame_end
        elif violation is not None:
            self._after_violation(violation, data, offset, time)

    def _after_violation(self, violation: ProtocolViolation, data: bytes, offset: int, time: float) -> None:
        """A peer would close the connection here; the recording goes on, and so does the reading."""
        header = parse_header(violation.raw)
        frame_length = None if header is None else header.frame_length
        structural = header is None or frame_length is None or header_violation(
            header.b0, header.b1, header.length, role=self.role, rsv_allowed=self._rsv_allowed() & ~RSV1_MASK,
            permessage_deflate=bool(self._rsv_allowed())) is not None
        self.conn = None
        if self.deflate is not None and self.inflating:
            self.inflating = False
            lost = ("; the compression history is lost with the broken frame, so the messages after it are not "
                    "inflated")
        else:
            lost = ""
        if structural:
            resume = violation.offset + 1
            self._note(f"the {self.name} frame at offset {violation.offset} broke a rule of its header: reading on "
                       f"from the next frame boundary that can be proved{lost}", time)
            self.lost.append(_Lost("resync", violation.offset + 1, 0, None, "", time))
            self._start_hunt(resume)
            rest = data[resume - offset:] if resume < offset + len(data) else b""
            if rest:
                self.buf_start = resume
                self.buf += rest
                self.pieces.append((self.fed, time))
                self._hunt(time)
            return
        resume = violation.offset + frame_length  # type: ignore[operator]
        self._note(f"reading the {self.name} stream on from offset {resume}, after the frame that broke a rule "
                   f"(a peer would have closed the connection there){lost}", time)
        self.mode = "WALK"
        self.buf = bytearray()
        self.skip_to = resume
        self.frame_end = resume
        if resume < offset + len(data):
            self.buf_start = max(resume, offset)
            self.buf += data[self.buf_start - offset:]
            self.pieces.append((self.fed, time))
            self._walk(time)
        else:
            self.buf_start = resume

    def _cut(self, offset: int) -> str:
        """What a gap at ``offset`` cut: the frame whose first bytes were read, if any."""
        if self.mode == "FEED" and self.conn is not None:
            held = self.base + self.conn.bytes_received - self.frame_end
        elif self.mode == "WALK":
            held = self.buf_start + len(self.buf) - max(self.frame_end, self.buf_start) if self.buf else 0
        else:
            held = 0
        self.conn = None
        if held <= 0:
            return ""
        return (f"; it cut the frame at offset {self.frame_end}, of which {plural(held, 'byte')} were captured "
                "(not recorded as a frame)")

    # -- WALK -----------------------------------------------------------------------------
    def _walk(self, time: float) -> None:
        """Split whole frames off ``buf`` and record them, until one starts a message that FEED can take."""
        buf = self.buf
        if self.skip_to > self.buf_start:
            drop = min(self.skip_to - self.buf_start, len(buf))
            del buf[:drop]
            self.buf_start += drop
            if not buf:
                return
        pos = 0
        while True:
            header = parse_header(buf, pos)
            if header is None or not header.complete:
                break
            offset = self.buf_start + pos
            err = header_violation(header.b0, header.b1, header.length, role=self.role,
                                   rsv_allowed=self._rsv_allowed() & ~RSV1_MASK,
                                   permessage_deflate=bool(self._rsv_allowed()))
            size = header.frame_length
            assert size is not None
            if err is None and size > self.flow.options.max_frame_size:
                err = ProtocolError(f"frame of {size} bytes exceeds max_frame_size={self.flow.options.max_frame_size}",
                                    field="Payload length", bit_offset=9, rfc="10.4", close_code=1009)
            if err is not None:
                raw = bytes(buf[pos:pos + min(size, len(buf) - pos)])
                self._record([ProtocolViolation(err, raw, offset)], self._time_at(offset + len(raw), time))
                self.lost.append(_Lost("resync", offset + 1, 0, None, "", time))
                del buf[:pos + 1]
                self.buf_start = offset + 1
                self._drop_pieces()
                self.mode = "HUNT"
                self.hunt_from = 0
                self._hunt(time)
                return
            if pos + size > len(buf):
                break
            if header.opcode in _MESSAGE_START and self._can_feed(header.b0):
                rest = bytes(buf[pos:])
                pieces = self.pieces
                self.buf = bytearray()
                self.pieces = []
                self.mode = "FEED"
                self.base = offset
                self.conn = self._connection()
                # Piece by piece, so that each frame keeps the time its last byte was captured
                # (and a piece after a violation or a close goes where the new mode says).
                start, stop = offset, offset + len(rest)
                for end, at in pieces:
                    if end > start:
                        self.feed(start, rest[start - offset:end - offset], at)
                        start = end
                if start < stop:
                    self.feed(start, rest[start - offset:], time)
                return
            raw = bytes(buf[pos:pos + size])
            self.frame_end = offset + size
            pos += size
            self._record([FrameReceived(raw, offset)], self._time_at(self.frame_end, time))
            if header.opcode == Opcode.CLOSE:
                self.flow.close_frame(self.direction or "in", raw, self._time_at(self.frame_end, time))
                self.after_close += len(buf) - pos
                self.buf = bytearray()
                self.pieces = []
                self.mode = "CLOSED"
                return
        del buf[:pos]
        self.buf_start += pos
        self._drop_pieces()

    def _time_at(self, end: int, default: float) -> float:
        """When the byte before stream offset ``end`` was captured (the piece that held it)."""
        for piece_end, at in self.pieces:
            if piece_end >= end:
                return at
        return default

    def _drop_pieces(self) -> None:
        """Forget the pieces wholly before ``buf_start`` (already read or skipped)."""
        pieces = self.pieces
        keep = 0
        while keep < len(pieces) and pieces[keep][0] <= self.buf_start:
            keep += 1
        if keep:
            del pieces[:keep]

    def _record(self, events: list, time: float) -> None:
        flow = self.flow
        flow.capture.record_events(flow.conn, events, time=time, wall=time, received=self.direction or "in")

    def _can_feed(self, b0: int) -> bool:
        """Whether a message starting with this first byte can be read by a ``Connection`` (and inflated)."""
        if self.deflate is not None:
            return self.inflating
        if not self.deflate_known:  # mid-stream: compressed messages cannot be inflated without the handshake
            return not b0 & RSV1_MASK and self.inflating
        return True

    # -- HUNT -----------------------------------------------------------------------------
    def _start_hunt(self, offset: int) -> None:
        self.mode = "HUNT"
        self.conn = None
        self.buf = bytearray()
        self.buf_start = offset
        self.pieces = []
        self.hunt_from = 0

    def _hunt(self, time: float) -> None:
        proof, resume = find_boundary(
            self.buf, self.hunt_from, segment_ends=[end - self.buf_start for end, _ in self.pieces],
            ended=self.ended, masking=self.masking, rsv_allowed=self._rsv_allowed(),
            max_frame=min(HUNT_MAX_FRAME, self.flow.options.max_frame_size))
        if proof is None:
            # Candidates before ``resume`` can never be proved: their bytes are not needed any more.
            if resume:
                del self.buf[:resume]
                self.buf_start += resume
                self._drop_pieces()
            self.hunt_from = 0
            if self.flow.hunt_budget_spent(self):
                self.mode = "DROP"  # not WebSocket as far as the budget goes: stop reading
            return
        del self.buf[:proof.offset]
        self.buf_start += proof.offset
        self._drop_pieces()
        if self.direction is None:
            self.flow.roles_found(self, proof)
        if proof.rsv1 and not self.deflate_known:
            self.inflating = False
            self._note(f"the {self.name} frames have RSV1 set: compressed with permessage-deflate, negotiated in a "
                       "handshake that was not captured, so their messages cannot be inflated; the frames are "
                       "recorded", time)
        self._report_lost(proof, time)
        self.mode = "WALK"
        self.frame_end = self.buf_start
        self._walk(time)

    def _report_lost(self, proof: Proof | None, time: float) -> None:
        """The records that say what was not read, once the search has an answer (or never will)."""
        flow = self.flow
        for lost in self.lost:
            seq = "" if lost.seq is None else f" (TCP sequence number {lost.seq})"
            if proof is not None:
                skipped = self.buf_start - lost.offset - lost.size
                after = (f"read on from offset {self.buf_start}, the first frame boundary proved after it by "
                         f"{plural(proof.frames, 'whole frame')} in a row ({plural(max(skipped, 0), 'byte')} "
                         "skipped)")
            else:
                unread = self.buf_start + len(self.buf) - lost.offset - lost.size
                after = (f"no frame boundary could be proved in the {plural(max(unread, 0), 'byte')} after it, so "
                         "they are not read")
            if lost.kind == "gap":
                flow.error(f"gap: {plural(lost.size, 'byte')} of the {self.name} stream at offset {lost.offset}"
                           f"{seq} are not in the capture{lost.cut}; {after}", lost.time)
            elif lost.kind == "resync":
                flow.error(f"the {self.name} stream after offset {lost.offset - 1}: {after}", lost.time)
            elif proof is None and flow.conn is not None:  # mid-stream, and this direction never made sense
                flow.error(f"the {self.name} stream, captured mid-stream: {after}", lost.time)
        self.lost = []
