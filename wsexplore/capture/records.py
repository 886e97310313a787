"""The five kinds of record a capture holds: frozen values with their exact bytes.

Records are seen from the server: ``"in"`` is client to server (masked on the
wire, RFC 6455 section 5.3), ``"out"`` is server to client; a close
``initiator`` of ``"local"`` is the server, ``"remote"`` the client (the
vocabulary of ``wsexplore.protocol.events.ConnectionClosed``).

A frame record keeps the raw bytes and decodes its ``Frame`` on first access:
recording stays O(1) and the rich view (``dissect()``) is computed when someone
looks. The one-line text of a record (its ``repr``) is written by
:mod:`wsexplore.capture.lines`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

from ..display import data_size, utf8_size
from ..protocol.dissector import Dissection, dissect
from ..protocol.errors import ProtocolError
from ..protocol.frames import Frame, frame_payload, join_frame, split_frame
from ..protocol.header import OPCODE_MASK, Header, parse_header
from ..protocol.opcodes import Opcode, as_opcode
from .lines import describe
from .redact import redact_head

__all__ = [
    "Record",
    "OpenRecord",
    "FrameRecord",
    "MessageRecord",
    "CloseRecord",
    "ErrorRecord",
    "AnyRecord",
    "Direction",
    "Initiator",
    "DIRECTIONS",
    "INITIATORS",
    "VIA",
    "REFRAMING_VIA",
    "NO_HANDSHAKE",
    "KINDS",
    "PendingRecord",
    "build",
    "compressed_message",
    "frame_payload",
    "parse_frame",
    "WALL_RANGE",
    "FRAME_CACHE_LIMIT",
    "SPLIT_FROM",
    "SPLIT_COST",
    "join_frame",
    "FRAME_COST",
    "SMALL_FRAME_COST",
    "MESSAGE_COST",
    "memory_cost",
]

#: The paths bytes can take to a capture point (``OpenRecord.via``), and what each means for them.
VIA: dict[str | None, str] = {
    None: "direct: the capture point talked to the peer itself; the bytes are the peer's own",
    "relay": ("through the Jupyter server's byte relay: the frames are the peer's own bytes; the request head "
              "was re-serialised by the relay"),
    "jupyter-server-proxy": ("through jupyter-server-proxy, which ends the WebSocket and opens its own: the "
                             "handshake and every frame are the proxy's, not the peer's"),
    "tap": "through a wsexplore tap: every byte after the handshake passed on unchanged",
    "pcap": ("read from a packet capture (pcap, pcapng): the bytes as captured on the wire, TCP segments put "
             "back in order; the times are the capture's"),
    "har": ("read from a HAR file: messages only, no frames (no FIN, RSV, lengths, masking keys or control "
            "frames); the handshake is rebuilt from the headers the browser listed"),
}
#: ``OpenRecord.status`` of a connection whose HTTP handshake was not captured (mid-stream, TLS).
NO_HANDSHAKE = 0
#: Paths on which the frames recorded are a proxy's own, not the peer's.
REFRAMING_VIA = frozenset({"jupyter-server-proxy"})

#: The wall clocks a record may hold, in seconds since the epoch: year 1 to year 9999, the dates
#: every view can show (``display.clock``, ``datetime``, ``to_pandas``). File readers refuse others.
WALL_RANGE = (-62135596800.0, 253402300799.0)

Direction = Literal["in", "out"]
Initiator = Literal["local", "remote"]

DIRECTIONS = ("in", "out")
INITIATORS = ("local", "remote")

_set = object.__setattr__


# ---------------------------------------------------------------------------- bytes of one frame
def parse_frame(raw: bytes) -> Frame | None:
    """The frame ``raw`` encodes, if it holds exactly one complete frame (no rule checked)."""
    header = parse_header(raw)
    if header is None or header.frame_length != len(raw):
        return None
    return Frame.decode(raw, payload=frame_payload(raw, header))


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True, repr=False)
class Record:
    """What every record has: a capture-wide sequence number, the connection and two clocks.

    ``time`` is ``time.monotonic()`` (for intervals), ``wall`` is ``time.time()``
    (for dates). ``conn`` is None for an error that belongs to no connection.
    """

    seq: int
    conn: int | None
    time: float
    wall: float

    kind: ClassVar[str] = "record"

    def __repr__(self) -> str:
        return describe(self)

    @property
    def nbytes(self) -> int:
        """Bytes of data the record holds: what the capture's ``max_bytes`` counts."""
        return 0

    def _text(self) -> str:
        """What ``filter(text=...)`` searches when given a str."""
        return ""

    def _bytes(self) -> bytes:
        """What ``filter(text=...)`` searches when given bytes."""
        return self._text().encode()


@dataclass(frozen=True, slots=True, repr=False)
class OpenRecord(Record):
    """An opening handshake (section 4): the raw request and response, and the HTTP status.

    A refused upgrade (400, 403, 404, 426, 431, ...) is recorded too; only a
    101 opens a WebSocket connection. ``request`` and ``response`` are exactly
    the bytes that crossed the wire at the capture point, credentials
    included: display them with ``handshake()`` (redacted by default).

    Where the bytes came from, when not straight from the peer:

    * ``via`` names the path (see ``VIA``): None when the capture point talked
      to the peer itself; ``"relay"`` for the Jupyter server's byte relay (the
      frames are the peer's own bytes, the request head was re-serialised by
      the relay); ``"jupyter-server-proxy"`` for a proxy that ends the
      WebSocket and opens its own (handshake and frames are the proxy's, not
      the peer's); ``"tap"`` for a ``wsexplore`` tap between a client and a
      server (bytes passed on unchanged); ``"pcap"`` for a packet capture file
      (TCP reassembled, the capture's times); ``"har"`` for a HAR file
      (messages only: a HAR holds no frames).
    * ``note`` says in words what a hop changed or added.

    ``status`` 0 means no HTTP handshake was captured: a connection recorded
    mid-stream (its frames are read from the first frame boundary that could
    be proved) or a TLS connection that cannot be read; ``note`` says which.
    * ``forwarded_request`` is the request as passed on, when that differs
      from ``request`` (a tap sets the upstream's ``Host``).
    """

    peer: tuple | str | None
    request: bytes
    response: bytes
    status: int
    via: str | None = None
    note: str = ""
    forwarded_request: bytes | None = None

    kind: ClassVar[str] = "open"

    @property
    def reframed(self) -> bool:
        """True when a proxy re-framed the traffic: the frames are not the peer's own bytes."""
        return self.via in REFRAMING_VIA

    @property
    def via_text(self) -> str:
        """How the bytes arrived, in one line ("" when direct): what every record of the connection inherits."""
        return "" if self.via is None else f"via {self.via}: {VIA[self.via]}"

    @property
    def accepted(self) -> bool:
        return self.status == 101

    @property
    def handshake_seen(self) -> bool:
        """False for a connection whose opening handshake was not captured (``status`` 0)."""
        return self.status != NO_HANDSHAKE

    @property
    def request_line(self) -> str:
        """'GET /chat HTTP/1.1' (printable, at most 200 characters)."""
        return _first_line(self.request)

    @property
    def status_line(self) -> str:
        """'HTTP/1.1 101 Switching Protocols' (printable, at most 200 characters)."""
        return _first_line(self.response)

    @property
    def nbytes(self) -> int:
        return len(self.request) + len(self.response) + len(self.forwarded_request or b"")

    def redacted(self) -> OpenRecord:
        """The same record with credential header values replaced (header names kept)."""
        forwarded = None if self.forwarded_request is None else redact_head(self.forwarded_request)
        return OpenRecord(self.seq, self.conn, self.time, self.wall, self.peer,
                          redact_head(self.request), redact_head(self.response), self.status,
                          self.via, self.note, forwarded)

    def handshake(self, *, include_secrets: bool = False) -> str:
        """Request and response as text, credentials redacted unless ``include_secrets``."""
        rec = self if include_secrets else self.redacted()
        return (rec.request.decode("latin-1") + rec.response.decode("latin-1")).replace("\r\n", "\n")

    def _text(self) -> str:
        return (self.request + self.response).decode("latin-1")

    def _bytes(self) -> bytes:
        return self.request + self.response


@dataclass(frozen=True, slots=True, repr=False, eq=False, init=False)
class FrameRecord(Record):
    """One frame as it crossed the wire at ``offset`` of its direction's byte stream.

    ``raw`` is exact. ``error`` is the rule the frame broke (``raw`` then holds
    the offending bytes as far as they had arrived). ``frame`` is the parsed
    ``Frame``, None for a violation recorded without one; when none was given
    it is decoded from ``raw`` on first access, so recording stays cheap.
    ``dissect()`` labels every bit.

    ``injected`` is True for a frame that no endpoint sent: a tap inserted it
    into the conversation (``Proxy.inject``). It is part of the stream the
    receiver reads, so its offset and those after it count its bytes.

    A large frame recorded live (``SPLIT_FROM`` bytes or more) is kept as its
    header and its unmasked payload, ``raw`` given as that pair: the payload is
    the bytes object the connection handed on as the message's data (and, for
    an echo, sent back), so the capture holds it once instead of keeping a
    masked copy and an encoded copy beside it. ``raw`` puts the exact wire bytes
    back together when read (masking again with the frame's own key).
    """

    direction: Direction
    offset: int
    _raw: bytes | tuple[bytes, bytes]
    error: ProtocolError | None
    _frame: Frame | None
    injected: bool

    kind: ClassVar[str] = "frame"

    def __init__(self, seq: int, conn: int | None, time: float, wall: float, direction: Direction, offset: int,
                 raw: bytes | tuple[bytes, bytes], frame: Frame | None = None, error: ProtocolError | None = None,
                 injected: bool = False) -> None:
        # The slot descriptors' own setters: what object.__setattr__ ends up calling, for less.
        _f_seq(self, seq)
        _f_conn(self, conn)
        _f_time(self, time)
        _f_wall(self, wall)
        _f_direction(self, direction)
        _f_offset(self, offset)
        _f_raw(self, raw)
        _f_error(self, error)
        _f_frame(self, frame)
        _f_injected(self, injected)

    @property
    def raw(self) -> bytes:
        """The frame's exact bytes as they crossed the wire (a large frame's are put back together)."""
        raw = self._raw
        return raw if type(raw) is bytes else join_frame(*raw)  # type: ignore[misc]

    @property
    def frame(self) -> Frame | None:
        """The parsed frame; one decoded from ``raw`` is kept only for a small frame (up to
        ``FRAME_CACHE_LIMIT`` bytes), so that reading a capture never doubles what it holds."""
        frame = self._frame
        if frame is None and self.error is None:
            raw = self._raw
            if type(raw) is not bytes:
                return split_frame(*raw)  # type: ignore[misc]
            frame = parse_frame(raw)  # type: ignore[arg-type]
            if frame is not None and len(raw) <= FRAME_CACHE_LIMIT:
                _set(self, "_frame", frame)
        return frame

    def __eq__(self, other: object) -> bool:
        if type(other) is not FrameRecord:
            return NotImplemented
        return (
            (self.seq, self.conn, self.time, self.wall, self.direction, self.offset, self.raw, self.error,
             self.injected)
            == (other.seq, other.conn, other.time, other.wall, other.direction, other.offset, other.raw,
                other.error, other.injected)
            and self.frame == other.frame
        )

    __hash__ = Record.__hash__

    @property
    def sender(self) -> Literal["client", "server"]:
        return "client" if self.direction == "in" else "server"

    @property
    def header(self) -> Header | None:
        """The header fields of ``raw``, as far as the bytes go (None when there are none)."""
        raw = self._raw
        return parse_header(raw if type(raw) is bytes else raw[0])  # type: ignore[arg-type]

    @property
    def opcode(self) -> Opcode | int | None:
        """The opcode (read from the first byte: no parsing needed)."""
        if self._frame is not None:
            return self._frame.opcode
        raw = self._raw
        if type(raw) is not bytes:
            raw = raw[0]  # type: ignore[assignment]
        return as_opcode(raw[0] & OPCODE_MASK) if raw else None

    @property
    def payload(self) -> bytes | None:
        """The unmasked payload: None when the bytes end before the payload does."""
        frame = self.frame
        if frame is not None:
            return frame.payload
        return frame_payload(self.raw, self.header)

    def payload_upto(self, header: Header | None, limit: int | None) -> bytes | None:
        """The first ``limit`` bytes of the unmasked payload (all of it for None), ``header`` being
        ``self.header``: a preview of a large frame unmasks or copies no more than it shows."""
        raw = self._raw
        if type(raw) is bytes:
            return frame_payload(raw, header, limit)
        payload = raw[1]
        return payload if limit is None or limit >= len(payload) else payload[:limit]

    @property
    def length(self) -> int | None:
        """The payload length: the frame's, else what the header announces (None if cut before it)."""
        frame = self.frame
        if frame is not None:
            return len(frame.payload)
        header = self.header
        return None if header is None else header.length

    @property
    def is_violation(self) -> bool:
        return self.error is not None

    @property
    def nbytes(self) -> int:
        raw = self._raw
        return len(raw) if type(raw) is bytes else len(raw[0]) + len(raw[1])

    def dissect(self, **kwargs: Any) -> Dissection:
        """The full dissection of ``raw``: an "in" frame was sent by a client, so it is
        read as a server reads it (masked frames required), an "out" frame as a client does.
        ``kwargs`` go to :func:`wsexplore.protocol.dissector.dissect` (``deflate``, ``inflated``, ...)."""
        return dissect(self.raw, role="server" if self.direction == "in" else "client", **kwargs)

    def _payload_bytes(self) -> bytes:
        payload = self.payload
        return payload if payload is not None else b""

    def _text(self) -> str:
        return self._payload_bytes().decode("utf-8", "replace")

    def _bytes(self) -> bytes:
        return self._payload_bytes()


@dataclass(frozen=True, slots=True, repr=False, init=False)
class MessageRecord(Record):
    """A whole message (section 5.4), reassembled from ``frames`` frames; text as str.

    ``frames`` is 0 when the source recorded messages and no frames (a HAR
    file): there are then no frame records for it, and nothing is made up.

    A message compressed with permessage-deflate (RFC 7692) holds its inflated
    ``data`` and ``compressed_size``, the payload bytes of its frames (None for
    a message that crossed the wire uncompressed). Its frames, recorded before
    it, keep the compressed bytes. Compressed messages are recorded in both
    directions, so that ``Capture.dissect`` can show what any compressed frame
    inflates to.
    """

    direction: Direction
    opcode: Opcode | int
    data: str | bytes
    frames: int = 1
    compressed_size: int | None = None

    kind: ClassVar[str] = "message"

    def __init__(self, seq: int, conn: int | None, time: float, wall: float, direction: Direction,
                 opcode: Opcode | int, data: str | bytes, frames: int = 1,
                 compressed_size: int | None = None) -> None:
        _m_seq(self, seq)
        _m_conn(self, conn)
        _m_time(self, time)
        _m_wall(self, wall)
        _m_direction(self, direction)
        _m_opcode(self, as_opcode(opcode))
        _m_data(self, data)
        _m_frames(self, frames)
        _m_compressed_size(self, compressed_size)

    @property
    def compressed(self) -> bool:
        return self.compressed_size is not None

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)

    @property
    def nbytes(self) -> int:
        return data_size(self.data)

    def _text(self) -> str:
        return self.data if isinstance(self.data, str) else self.data.decode("utf-8", "replace")

    def _bytes(self) -> bytes:
        return self.data.encode() if isinstance(self.data, str) else self.data


@dataclass(frozen=True, slots=True, repr=False)
class CloseRecord(Record):
    """The end of a connection (section 7): the code and reason it closed with,
    who sent the first close frame (or failed the connection), and whether both
    close frames were exchanged (``clean``, section 7.1.4)."""

    code: int | None
    reason: str
    initiator: Initiator
    clean: bool

    kind: ClassVar[str] = "close"

    @property
    def closed_by(self) -> Literal["server", "client"]:
        """The side that closed first: "local" is the server, "remote" the client."""
        return "server" if self.initiator == "local" else "client"

    @property
    def nbytes(self) -> int:
        return utf8_size(self.reason)

    def _text(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True, repr=False)
class ErrorRecord(Record):
    """Something that went wrong outside a frame: a handshake error, a socket error,
    a subscriber that raised. ``error`` keeps a ``ProtocolError`` when there is one."""

    message: str
    error: ProtocolError | None = None

    kind: ClassVar[str] = "error"

    @property
    def nbytes(self) -> int:
        return utf8_size(self.message)

    def _text(self) -> str:
        return self.message


(_f_seq, _f_conn, _f_time, _f_wall, _f_direction, _f_offset, _f_raw, _f_error, _f_frame, _f_injected) = (
    getattr(FrameRecord, name).__set__
    for name in ("seq", "conn", "time", "wall", "direction", "offset", "_raw", "error", "_frame", "injected")
)

(_m_seq, _m_conn, _m_time, _m_wall, _m_direction, _m_opcode, _m_data, _m_frames, _m_compressed_size) = (
    getattr(MessageRecord, name).__set__
    for name in ("seq", "conn", "time", "wall", "direction", "opcode", "data", "frames", "compressed_size")
)

AnyRecord = Union[OpenRecord, FrameRecord, MessageRecord, CloseRecord, ErrorRecord]
KINDS: dict[str, type[Record]] = {
    cls.kind: cls for cls in (OpenRecord, FrameRecord, MessageRecord, CloseRecord, ErrorRecord)
}

# ---------------------------------------------------------------------------- memory
# What a capture's max_bytes counts: a record's data plus what holding it costs in Python objects
# (the record or its pending tuple, whichever is larger, its clock floats and integers, the header
# of its bytes or str object, and the store's two deque slots with the size kept for it). Worked
# out with sys.getsizeof, so it follows the running Python. A small frame may keep its decoded
# Frame (see FrameRecord.frame): its cost counts that too, whether or not it is ever read.

#: Frames up to this many bytes keep their decoded ``Frame`` once read.
FRAME_CACHE_LIMIT = 256
#: Frames of this many bytes or more are recorded live as their header and unmasked payload (``FrameRecord``).
#: The payload is the object the connection handed on as the message (or the handler sent): it is
#: counted once, on the newest record that holds it (``Capture.record_events``): a received frame's
#: on its message, an echo's on the frame sent back. From 4 KiB on, keeping the masked bytes as well
#: (three copies of an echo's payload instead of one) cost more in fresh memory than splitting costs:
#: a 4 KiB echo recorded 21 -> 17-19 µs, 16 KiB 32-37 -> 27-30 µs; at 1 KiB splitting cost 3-4 µs more.
SPLIT_FROM = 4 * 1024
#: What holding a frame as header and payload costs beyond ``FRAME_COST``: the pair and its header (up to 14 bytes).
SPLIT_COST = sys.getsizeof((b"", b"")) + sys.getsizeof(b"") + 14

_INT = sys.getsizeof(1 << 40)
_FLOAT = sys.getsizeof(0.5)
#: The record's slots in the store's three deques, and its cost (an int object); its size is one too
#: only from 257 bytes on, where 32 bytes are lost in the data it counts.
_SLOTS = 3 * 8 + _INT
_BYTES = sys.getsizeof(b"")


def _fixed_cost(cls: type, fields: int, ints: int) -> int:
    instance_or_tuple = max(cls.__basicsize__ + 16, sys.getsizeof((None,) * (fields + 1)))
    return instance_or_tuple + 2 * _FLOAT + ints * _INT + _SLOTS


#: Bytes a frame record costs beyond its raw bytes (``len(raw)`` more).
FRAME_COST = _fixed_cost(FrameRecord, 10, 2) + _BYTES
#: ... and a frame of at most ``FRAME_CACHE_LIMIT`` bytes, which may keep its ``Frame``
#: (the object, its payload's bytes object and its masking key): ``2 * len(raw)`` more.
SMALL_FRAME_COST = FRAME_COST + Frame.__basicsize__ + 16 + _BYTES + sys.getsizeof(b"1234")
#: Bytes a message record costs beyond ``sys.getsizeof(data)``.
MESSAGE_COST = _fixed_cost(MessageRecord, 9, 1)
_OPEN_COST = _fixed_cost(OpenRecord, 11, 1) + sys.getsizeof(("", 0, 0, 0)) + 2 * _INT + 49 + 10
_CLOSE_COST = _fixed_cost(CloseRecord, 8, 2)
_ERROR_COST = _fixed_cost(ErrorRecord, 6, 0)
# A ProtocolError kept whole: the exception, its attribute dict and a few short strings.
_EXCEPTION_COST = 1024


def memory_cost(record: Record) -> int:
    """What holding ``record`` in a capture costs in memory, as ``Capture.max_bytes`` counts it."""
    if isinstance(record, FrameRecord):
        n = record.nbytes
        return n + (n + SMALL_FRAME_COST if n <= FRAME_CACHE_LIMIT else FRAME_COST) + (
            _EXCEPTION_COST if record.error is not None else 0) + (0 if type(record._raw) is bytes else SPLIT_COST)
    if isinstance(record, MessageRecord):
        return sys.getsizeof(record.data) + MESSAGE_COST
    if isinstance(record, OpenRecord):
        return (_OPEN_COST + sys.getsizeof(record.request) + sys.getsizeof(record.response)
                + sys.getsizeof(record.note) + (0 if record.forwarded_request is None
                                                else sys.getsizeof(record.forwarded_request)))
    if isinstance(record, CloseRecord):
        return _CLOSE_COST + sys.getsizeof(record.reason)
    if isinstance(record, ErrorRecord):
        return _ERROR_COST + sys.getsizeof(record.message) + (_EXCEPTION_COST if record.error is not None else 0)
    raise TypeError(f"not a record: {type(record).__name__}")


#: A record the live path has not built yet: its ``kind``, then its constructor's arguments in order.
#: Only plain values (str, int, float, bytes, None): the garbage collector stops tracking such a
#: tuple, where a record object (or a class, or an ``Opcode`` member) would be traversed at every
#: full collection. ``build`` makes the record the first time someone reads it.
PendingRecord = tuple


def compressed_message(entry: Record | PendingRecord) -> bool:
    """A message record (or pending one) whose frames carried permessage-deflate data."""
    if type(entry) is tuple:
        return entry[0] == "message" and len(entry) > 9 and entry[9] is not None
    return entry.kind == "message" and entry.compressed_size is not None  # type: ignore[union-attr]


def build(entry: Record | PendingRecord) -> Record:
    """The record ``entry`` stands for (a record is returned as it is)."""
    if type(entry) is tuple:
        return KINDS[entry[0]](*entry[1:])
    return entry  # type: ignore[return-value]


def _first_line(data: bytes, limit: int = 200) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit].decode("latin-1")
    return line if line.isprintable() else repr(line)[1:-1]
