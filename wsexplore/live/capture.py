"""Capture: everything a live connection did, in order, with its exact bytes.

The live server appends one record per event: a connection opened (with the raw
handshake, RFC 6455 section 4), each frame in each direction (section 5.2) with
its raw bytes and stream offset, each reassembled message (section 5.4), each
close (section 7) and each error. Appending stays cheap, O(1) and without
dissection: the rich, bit-level view is computed when someone looks
(``record.dissect()``).

Records are seen from the server: ``"in"`` is client to server (masked on the
wire, section 5.3), ``"out"`` is server to client; a close ``initiator`` of
``"local"`` is the server, ``"remote"`` the client (the vocabulary of
``wsexplore.protocol.events.ConnectionClosed``).

The store is bounded by record count and by bytes held; the oldest records are
evicted first and every eviction is counted. It can be saved to JSON Lines and
loaded back without loss; the handshake's credentials (Cookie, Authorization,
Proxy-Authorization, Set-Cookie) are redacted in displays and exports unless
asked for.
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import logging
import os
import re
from collections import deque
from dataclasses import dataclass
from itertools import islice
from time import monotonic
from time import time as wall_clock
from typing import IO, Any, Callable, ClassVar, Iterable, Iterator, Literal, Sequence, Union, overload

from ..protocol.errors import ProtocolError
from ..protocol.events import (
    ConnectionClosed,
    FrameReceived,
    FrameSent,
    MessageReceived,
    ProtocolViolation,
)
from ..protocol.frames import Frame
from ..protocol.handshake import SENSITIVE_HEADERS, redact
from ..protocol.masking import apply_mask
from ..protocol.opcodes import Opcode, close_code_meaning

__all__ = [
    "Capture",
    "Records",
    "Record",
    "OpenRecord",
    "FrameRecord",
    "MessageRecord",
    "CloseRecord",
    "ErrorRecord",
    "AnyRecord",
    "Direction",
    "Initiator",
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_MAX_BYTES",
]

log = logging.getLogger(__name__)

Direction = Literal["in", "out"]
Initiator = Literal["local", "remote"]

DEFAULT_MAX_RECORDS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FORMAT = "wsexplore-capture"
FORMAT_VERSION = 1

_DIRECTIONS = ("in", "out")
_INITIATORS = ("local", "remote")
_set = object.__setattr__
_OPCODES: dict[int, Opcode | int] = {v: v for v in range(16)}
_OPCODES.update({op.value: op for op in Opcode})


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

    def _direction(self) -> str:
        return ""

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"#{self.seq}" if self.conn is None else f"#{self.seq} conn {self.conn}"
        direction = self._direction()
        if direction:
            return f"{head} {direction:<3} {self._describe()}"
        return f"{head} {self._describe()}"

    def _text(self) -> str:
        """What ``Capture.filter(text=...)`` searches when given a str."""
        return ""

    def _bytes(self) -> bytes:
        """What ``Capture.filter(text=...)`` searches when given bytes."""
        return self._text().encode()


@dataclass(frozen=True, slots=True, repr=False)
class OpenRecord(Record):
    """An opening handshake (section 4): the raw request and response, and the HTTP status.

    A refused upgrade (400, 403, 404, 426, 431, ...) is recorded too; only a
    101 opens a WebSocket connection. ``request`` and ``response`` are exactly
    the bytes that crossed the wire, credentials included: display them with
    ``handshake()`` (redacted by default).
    """

    peer: tuple | str | None
    request: bytes
    response: bytes
    status: int

    kind: ClassVar[str] = "open"

    @property
    def accepted(self) -> bool:
        return self.status == 101

    @property
    def request_line(self) -> str:
        """'GET /chat HTTP/1.1' (printable, at most 200 characters)."""
        return _first_line(self.request)

    @property
    def status_line(self) -> str:
        """'HTTP/1.1 101 Switching Protocols' (printable, at most 200 characters)."""
        return _first_line(self.response)

    def redacted(self) -> OpenRecord:
        """The same record with credential header values replaced (header names kept)."""
        return OpenRecord(self.seq, self.conn, self.time, self.wall, self.peer,
                          _redact_raw(self.request), _redact_raw(self.response), self.status)

    def handshake(self, *, include_secrets: bool = False) -> str:
        """Request and response as text, credentials redacted unless ``include_secrets``."""
        rec = self if include_secrets else self.redacted()
        return (rec.request.decode("latin-1") + rec.response.decode("latin-1")).replace("\r\n", "\n")

    def _describe(self) -> str:
        target = " ".join(self.request_line.split(" ")[:2]) or "(no request line)"
        reason = self.status_line.split(" ", 2)[2:]
        status = f"{self.status} {reason[0]}" if reason else str(self.status)
        refused = "" if self.accepted else " (refused)"
        return f"open {_peer(self.peer)} {target} -> {status}{refused}"

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
    """

    direction: Direction
    offset: int
    raw: bytes
    error: ProtocolError | None
    _frame: Frame | None

    kind: ClassVar[str] = "frame"

    def __init__(self, seq: int, conn: int | None, time: float, wall: float, direction: Direction, offset: int,
                 raw: bytes, frame: Frame | None = None, error: ProtocolError | None = None) -> None:
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

    @property
    def frame(self) -> Frame | None:
        frame = self._frame
        if frame is None and self.error is None:
            frame = _parse_frame(self.raw)
            if frame is not None:
                _set(self, "_frame", frame)
        return frame

    def __eq__(self, other: object) -> bool:
        if type(other) is not FrameRecord:
            return NotImplemented
        return (
            (self.seq, self.conn, self.time, self.wall, self.direction, self.offset, self.raw, self.error)
            == (other.seq, other.conn, other.time, other.wall, other.direction, other.offset, other.raw,
                other.error)
            and self.frame == other.frame
        )

    __hash__ = Record.__hash__

    @property
    def sender(self) -> Literal["client", "server"]:
        return "client" if self.direction == "in" else "server"

    @property
    def opcode(self) -> Opcode | int | None:
        """The opcode (read from the first byte: no parsing needed)."""
        if self._frame is not None:
            return self._frame.opcode
        return _OPCODES[self.raw[0] & 0x0F] if self.raw else None

    @property
    def payload(self) -> bytes | None:
        """The unmasked payload: None when the bytes end before the payload does."""
        frame = self.frame
        if frame is not None:
            return frame.payload
        return _peek(self.raw).payload

    @property
    def is_violation(self) -> bool:
        return self.error is not None

    def dissect(self, **kwargs: Any) -> Any:
        """The full dissection of ``raw``: an "in" frame was sent by a client, so it is
        read as a server reads it (masked frames required), an "out" frame as a client does."""
        from ..protocol.dissector import dissect

        return dissect(self.raw, role="server" if self.direction == "in" else "client", **kwargs)

    def _direction(self) -> str:
        return self.direction

    def _describe(self) -> str:
        f = self.frame
        p = _peek(self.raw) if f is None else None
        if f is not None:
            opcode, payload, length = f.opcode, f.payload, len(f.payload)
            flags = _flags(f.fin, f.rsv1, f.rsv2, f.rsv3, f.mask_key is not None)
        elif p is not None and p.b0 is not None:
            opcode, payload, length = _OPCODES[p.b0 & 0x0F], p.payload, p.length
            b0 = p.b0
            flags = _flags(bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10), p.masked)
        else:
            opcode, payload, length, flags = None, None, None, ""
        parts = [_opcode_name(opcode) if opcode is not None else "(no bytes)"]
        if flags:
            parts.append(flags)
        if length is not None:
            if payload is None:
                have = len(self.raw) - p.header_length if p is not None and p.header_length else 0
                parts.append(f"{length} B (only {max(have, 0)} B arrived)")
            else:
                parts.append(f"{length} B")
                if "RSV1" in flags:
                    # With RSV1 the payload is extension data (compressed with permessage-deflate):
                    # never show it as text, even when the bytes happen to decode.
                    parts.append(_payload_preview(Opcode.BINARY, payload))
                elif payload or opcode != Opcode.CLOSE:
                    parts.append(_payload_preview(opcode, payload))
        text = " ".join(parts)
        if self.error is not None:
            text += f" !! {type(self.error).__name__}: {self.error}"
        return text

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
        _m_opcode(self, opcode)
        _m_data(self, data)
        _m_frames(self, frames)
        _m_compressed_size(self, compressed_size)

    @property
    def compressed(self) -> bool:
        return self.compressed_size is not None

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)

    def _direction(self) -> str:
        return self.direction

    def _describe(self) -> str:
        data = self.data
        size = _utf8_len(data) if isinstance(data, str) else len(data)
        preview = _text_preview(data) if isinstance(data, str) else _hex_preview(data)
        plural = "" if self.frames == 1 else "s"
        deflated = "" if self.compressed_size is None else f", compressed {self.compressed_size} B"
        return f"message {_opcode_name(self.opcode)} {size} B {preview} ({self.frames} frame{plural}{deflated})"

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

    def _describe(self) -> str:
        code = "no code" if self.code is None else close_code_meaning(self.code)
        reason = f" {_text_preview(self.reason)}" if self.reason else ""
        how = "clean" if self.clean else "not clean"
        return f"close {code}{reason}, closed first by {self.closed_by} ({self.initiator}), {how}"

    def _text(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True, repr=False)
class ErrorRecord(Record):
    """Something that went wrong outside a frame: a handshake error, a socket error,
    a subscriber that raised. ``error`` keeps a ``ProtocolError`` when there is one."""

    message: str
    error: ProtocolError | None = None

    kind: ClassVar[str] = "error"

    def _describe(self) -> str:
        return f"error {self.message}"

    def _text(self) -> str:
        return self.message


(_f_seq, _f_conn, _f_time, _f_wall, _f_direction, _f_offset, _f_raw, _f_error, _f_frame) = (
    getattr(FrameRecord, name).__set__
    for name in ("seq", "conn", "time", "wall", "direction", "offset", "raw", "error", "_frame")
)

(_m_seq, _m_conn, _m_time, _m_wall, _m_direction, _m_opcode, _m_data, _m_frames, _m_compressed_size) = (
    getattr(MessageRecord, name).__set__
    for name in ("seq", "conn", "time", "wall", "direction", "opcode", "data", "frames", "compressed_size")
)

AnyRecord = Union[OpenRecord, FrameRecord, MessageRecord, CloseRecord, ErrorRecord]
_KINDS: dict[str, type[Record]] = {
    cls.kind: cls for cls in (OpenRecord, FrameRecord, MessageRecord, CloseRecord, ErrorRecord)
}


# ---------------------------------------------------------------------------- queries
class _Query:
    """Reading a sequence of records: shared by ``Capture`` and its views (``Records``)."""

    __slots__ = ()

    def _items(self) -> Sequence[Record]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[Record]:
        return iter(self._items())

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Records: ...
    def __getitem__(self, index: int | slice) -> Record | Records:
        items = self._items()
        if isinstance(index, slice):
            start, stop, step = index.indices(len(items))
            if step == 1:
                return Records(islice(items, start, stop))
            return Records(list(items)[index])
        return items[index]

    @property
    def connections(self) -> tuple[int, ...]:
        """Connection ids, in the order first seen."""
        return tuple(dict.fromkeys(r.conn for r in self._items() if r.conn is not None))

    @property
    def nbytes(self) -> int:
        """Bytes of data the records hold: raw frames and handshakes, message data, texts."""
        return sum(_size(r) for r in self._items())

    def filter(
        self,
        conn: int | Iterable[int] | None = None,
        direction: Direction | None = None,
        opcode: int | Iterable[int] | None = None,
        text: str | bytes | None = None,
        kind: str | Iterable[str] | None = None,
    ) -> Records:
        """The records matching every criterion given, in order.

        ``direction`` and ``opcode`` only match frames and messages. ``text``
        (a substring) searches payloads and message data (str: decoded as
        UTF-8; bytes: as is), handshakes, close reasons and error messages.
        """
        conns = _as_set(conn)
        opcodes = _as_set(opcode)
        kinds = _as_set(kind)
        if kinds is not None:
            unknown = kinds - _KINDS.keys()
            if unknown:
                raise ValueError(f"unknown kind(s) {sorted(unknown)}; kinds are {list(_KINDS)}")
        if direction is not None and direction not in _DIRECTIONS:
            raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
        if text is not None and not isinstance(text, (str, bytes)):
            raise TypeError("text must be str or bytes")
        out = []
        for r in self._items():
            if conns is not None and r.conn not in conns:
                continue
            if kinds is not None and r.kind not in kinds:
                continue
            if direction is not None and getattr(r, "direction", None) != direction:
                continue
            if opcodes is not None and (
                not isinstance(r, (FrameRecord, MessageRecord)) or r.opcode not in opcodes
            ):
                continue
            if text is not None:
                haystack = r._text() if isinstance(text, str) else r._bytes()
                if text not in haystack:  # type: ignore[operator]
                    continue
            out.append(r)
        return Records(out)

    def frames(self, **criteria: Any) -> Records:
        """Frame records (``filter(kind="frame", ...)``)."""
        return self.filter(kind="frame", **criteria)

    def messages(self, **criteria: Any) -> Records:
        """Message records (``filter(kind="message", ...)``)."""
        return self.filter(kind="message", **criteria)

    def violations(self) -> Records:
        """Frame records that broke a rule."""
        return Records(r for r in self._items() if isinstance(r, FrameRecord) and r.error is not None)

    def summary(self) -> str:
        """One line per connection: handshake status, frames and bytes each way, messages, close."""
        rows = [("conn", "peer", "status", "in", "out", "messages", "close")]
        per: dict[int, dict[str, Any]] = {}
        for r in self._items():
            if r.conn is None:
                continue
            c = per.setdefault(r.conn, {"peer": "?", "status": "-", "in": [0, 0], "out": [0, 0],
                                        "messages": 0, "close": "-"})
            if isinstance(r, OpenRecord):
                c["peer"], c["status"] = _peer(r.peer), str(r.status)
            elif isinstance(r, FrameRecord):
                c[r.direction][0] += 1
                c[r.direction][1] += len(r.raw)
            elif isinstance(r, MessageRecord):
                c["messages"] += 1
            elif isinstance(r, CloseRecord):
                c["close"] = f"{r.code if r.code is not None else '-'} by {r.closed_by}" + (
                    "" if r.clean else " (not clean)")
        for conn, c in per.items():
            rows.append((str(conn), c["peer"], c["status"],
                         _count(c["in"][0], "frame") + f", {_fmt_bytes(c['in'][1])}",
                         _count(c["out"][0], "frame") + f", {_fmt_bytes(c['out'][1])}",
                         str(c["messages"]), c["close"]))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)

    def _repr_html_(self) -> str:
        items = self._items()
        n = len(items)
        rows: list[Record | None]
        if n > _HTML_ROWS:
            half = _HTML_ROWS // 2
            rows = [*islice(items, 0, half), None, *islice(items, n - half, n)]
        else:
            rows = list(items)
        t0 = items[0].time if n else 0.0
        cells = []
        for r in rows:
            if r is None:
                cells.append(f'<tr><td colspan="6">… {n - 2 * (_HTML_ROWS // 2)} more …</td></tr>')
                continue
            style = ' style="color:#b00"' if (getattr(r, "error", None) is not None or r.kind == "error") else ""
            cells.append(
                f"<tr{style}><td>{r.seq}</td><td>{'' if r.conn is None else r.conn}</td>"
                f"<td>+{r.time - t0:.3f} s</td><td>{r._direction()}</td><td>{r.kind}</td>"
                f"<td style=\"text-align:left\"><code>{html.escape(r._describe())}</code></td></tr>"
            )
        return (
            f"<div><p><code>{html.escape(self._header())}</code></p>"
            "<table><thead><tr><th>#</th><th>conn</th><th>time</th><th>dir</th><th>kind</th>"
            f"<th style=\"text-align:left\">record</th></tr></thead><tbody>{''.join(cells)}</tbody></table></div>"
        )

    def _header(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


_HTML_ROWS = 40
_REPR_LINES = 20


class Records(_Query):
    """An immutable view: the result of ``filter`` or of slicing a capture."""

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self._records: tuple[Record, ...] = tuple(records)

    def _items(self) -> tuple[Record, ...]:
        return self._records

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Records):
            return self._records == other._records
        if isinstance(other, (list, tuple)):
            return self._records == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _header(self) -> str:
        n = len(self._records)
        conns = len(self.connections)
        return (f"<Records {n} record{'' if n == 1 else 's'}, {conns} connection{'' if conns == 1 else 's'}, "
                f"{_fmt_bytes(self.nbytes)}>")

    def __repr__(self) -> str:
        lines = [self._header()]
        lines += [repr(r) for r in self._records[:_REPR_LINES]]
        if len(self._records) > _REPR_LINES:
            lines.append(f"… {len(self._records) - _REPR_LINES} more")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the store
class Capture(_Query):
    """A bounded, ordered store of records that a live server appends to.

    ``max_records`` and ``max_bytes`` bound it; when either is exceeded the
    oldest records are evicted (the newest record is always kept) and counted
    in ``dropped`` and ``dropped_bytes``. Subscribers are called synchronously
    with each new record; one that raises is logged, detached, kept in
    ``subscriber_errors`` and reported as an error record, and never disturbs
    the caller.
    """

    def __init__(self, *, max_records: int = DEFAULT_MAX_RECORDS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._records: deque[Record] = deque()
        self._sizes: deque[int] = deque()
        self._nbytes = 0
        self._seq = 0
        # Entries appended since the records were last read: the server's hot path appends
        # plain tuples there (no record object, nothing for the collector to track) and
        # they become records on first read, see ``_materialize``.
        self._pending = 0
        self._conns: dict[int, None] = {}
        self._subscribers: tuple[Callable[[Record], object], ...] = ()
        #: Records evicted so far, and the bytes they held.
        self.dropped = 0
        self.dropped_bytes = 0
        #: ``(callback, exception)`` for each subscriber that raised and was detached.
        self.subscriber_errors: list[tuple[Callable[[Record], object], Exception]] = []

    def _items(self) -> deque[Record]:
        if self._pending:
            self._materialize()
        return self._records

    def __len__(self) -> int:
        return len(self._records)

    def _materialize(self) -> None:
        """Turn the tuples of the hot path (always among the newest entries) into records, in place."""
        records = self._records
        k = min(self._pending, len(records))  # evictions may have taken some already
        self._pending = 0
        if not k:
            return
        tail = [records.pop() for _ in range(k)]
        tail.reverse()
        records.extend(_from_tuple(x) if type(x) is tuple else x for x in tail)

    @property
    def connections(self) -> tuple[int, ...]:
        """Every connection id seen, in order, including those whose records were evicted."""
        return tuple(self._conns)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def _header(self) -> str:
        n = len(self._records)
        conns = len(self._conns)
        dropped = f"{self.dropped} dropped"
        if self.dropped:
            dropped += f" ({_fmt_bytes(self.dropped_bytes)})"
        return (f"<Capture {n} record{'' if n == 1 else 's'}, {conns} connection{'' if conns == 1 else 's'}, "
                f"{_fmt_bytes(self._nbytes)}, {dropped}>")

    def __repr__(self) -> str:
        return self._header()

    # -- appending -----------------------------------------------------------
    def _add(self, record: Record, size: int) -> None:
        records = self._records
        records.append(record)
        if self._pending:
            self._pending += 1
        self._sizes.append(size)
        self._nbytes += size
        if record.conn is not None and record.conn not in self._conns:
            self._conns[record.conn] = None
        if len(records) > self.max_records or self._nbytes > self.max_bytes:
            self._evict()
        if self._subscribers:
            self._notify(record)

    def _evict(self) -> None:
        records, sizes = self._records, self._sizes
        while len(records) > 1 and (len(records) > self.max_records or self._nbytes > self.max_bytes):
            records.popleft()
            size = sizes.popleft()
            self._nbytes -= size
            self.dropped += 1
            self.dropped_bytes += size

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def opened(self, conn: int, peer: tuple | str | None, request_raw: bytes, response_raw: bytes,
               status: int) -> OpenRecord:
        """An opening handshake, accepted (101) or refused (any other status)."""
        rec = OpenRecord(self._next(), conn, monotonic(), wall_clock(), _peer_value(peer),
                         bytes(request_raw), bytes(response_raw), int(status))
        self._add(rec, len(rec.request) + len(rec.response))
        return rec

    def frame(self, conn: int, direction: Direction, offset: int, raw: bytes, frame: Frame | None = None,
              error: ProtocolError | None = None) -> FrameRecord:
        """A frame's exact bytes at ``offset`` of the ``direction`` stream; O(1), no dissection."""
        if direction != "in" and direction != "out":
            raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
        if type(raw) is not bytes:
            raw = bytes(raw)
        self._seq += 1
        rec = FrameRecord(self._seq, conn, monotonic(), wall_clock(), direction, offset, raw, frame, error)
        self._add(rec, len(raw))
        return rec

    def message(self, conn: int, direction: Direction, opcode: Opcode | int, data: str | bytes,
                frames: int = 1, *, compressed_size: int | None = None) -> MessageRecord:
        """A reassembled message (text as str, binary as bytes) and how many frames carried it.

        ``compressed_size``: the message was compressed (permessage-deflate) into that many payload bytes.
        """
        if direction != "in" and direction != "out":
            raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
        if not isinstance(data, str) and type(data) is not bytes:
            data = bytes(data)
        rec = MessageRecord(self._next(), conn, monotonic(), wall_clock(), direction, _OPCODES[opcode], data,
                            frames, None if compressed_size is None else int(compressed_size))
        self._add(rec, _data_size(data))
        return rec

    # -- reading in context ----------------------------------------------------
    def deflate_params(self, conn: int | None) -> Any:
        """The permessage-deflate parameters connection ``conn`` agreed on (from its 101 response), or None."""
        from ..protocol.deflate import find_params
        from ..protocol.handshake import parse_response

        for r in self._items():
            if type(r) is OpenRecord and r.conn == conn and r.status == 101:
                try:
                    parsed = parse_response(r.response)
                    return None if parsed is None else find_params(parsed[0].headers)
                except (ProtocolError, ValueError):
                    return None
        return None

    def dissect(self, record: FrameRecord | int) -> Any:
        """A frame record (or its ``seq``) dissected in its connection's context.

        When the connection negotiated permessage-deflate (RFC 7692), RSV1 is
        read as "per-message compressed" and a compressed frame is shown with
        the message it inflates to: the ``MessageRecord`` that follows its
        frames (with context takeover a compressed frame does not inflate on
        its own). Without that context it is ``record.dissect()``.
        """
        items = self._items()
        if isinstance(record, int):
            found = next((r for r in items if r.seq == record), None)
            if not isinstance(found, FrameRecord):
                raise KeyError(f"no frame record #{record} in this capture")
            record = found
        params = self.deflate_params(record.conn)
        if params is None:
            return record.dissect()
        return record.dissect(deflate=params, inflated=self.inflated_message(record))

    def inflated_message(self, record: FrameRecord) -> str | bytes | None:
        """The inflated message a compressed frame belongs to, from the message record after its frames."""
        raw = record.raw
        if len(raw) < 2 or record.error is not None or raw[0] & 0x0F >= 8:
            return None
        items = list(self._items())
        try:
            pos = next(i for i, r in enumerate(items) if r is record)
        except StopIteration:
            return None

        def same(r: Record) -> bool:
            return r.conn == record.conn and getattr(r, "direction", None) == record.direction

        if raw[0] & 0x0F == 0:  # a continuation: its message is compressed when its first frame says so
            first = next((r for r in reversed(items[:pos]) if type(r) is FrameRecord and same(r) and r.raw
                          and r.raw[0] & 0x0F in (1, 2)), None)
            if first is None or not first.raw[0] & 0x40:
                return None
        elif not raw[0] & 0x40:
            return None
        for r in items[pos + 1:]:
            if not same(r):
                continue
            if type(r) is MessageRecord:
                return r.data if r.compressed_size is not None else None
            if type(r) is FrameRecord and r.raw and r.raw[0] & 0x0F in (1, 2):
                return None  # another message began: this one never completed
        return None

    def closed(self, conn: int, code: int | None, reason: str, initiator: Initiator, clean: bool) -> CloseRecord:
        """The connection ended; ``initiator`` "local" is the server, "remote" the client."""
        if initiator not in _INITIATORS:
            raise ValueError(f"initiator must be 'local' (the server) or 'remote' (the client), got {initiator!r}")
        rec = CloseRecord(self._next(), conn, monotonic(), wall_clock(), None if code is None else int(code),
                          reason, initiator, bool(clean))
        self._add(rec, _utf8_len(reason))
        return rec

    def error(self, conn: int | None, message: str | BaseException) -> ErrorRecord:
        """An error; a ``ProtocolError`` is kept whole, any other exception as its text."""
        error = message if isinstance(message, ProtocolError) else None
        if isinstance(message, BaseException):
            text = f"{type(message).__name__}: {message}"
        else:
            text = str(message)
        rec = ErrorRecord(self._next(), conn, monotonic(), wall_clock(), text, error)
        self._add(rec, _utf8_len(text))
        return rec

    def record_events(self, conn: int, events: Iterable[object]) -> None:
        """Record what a server-side ``Connection`` reported (frames, messages, violations, close).

        Ping, pong and close-received events are not recorded on their own:
        the frames that carried them are.
        """
        for ev in events:
            t = type(ev)
            if t is FrameReceived:
                self.frame(conn, "in", ev.offset, ev.raw)  # type: ignore[attr-defined]  # Frame decoded on demand
            elif t is FrameSent:
                self.frame(conn, "out", ev.offset, ev.raw, ev.frame)  # type: ignore[attr-defined]
            elif t is MessageReceived:
                self.message(conn, "in", ev.opcode, ev.data, ev.frames,  # type: ignore[attr-defined]
                             compressed_size=ev.compressed_size)  # type: ignore[attr-defined]
            elif t is ProtocolViolation:
                self.frame(conn, "in", ev.offset, ev.raw, None, ev.error)  # type: ignore[attr-defined]
            elif t is ConnectionClosed:
                self.closed(conn, ev.code, ev.reason, ev.initiator, ev.clean)  # type: ignore[attr-defined]

    def _wire(self, conn: int, direction: Direction, offset: int, raw: bytes, error: ProtocolError | None,
              now: float, wall: float) -> None:
        """The server's hot path for a frame: what ``frame`` records (the Frame is decoded
        from ``raw`` on demand), with the clocks read once for all events of one read or send."""
        if type(raw) is not bytes:
            raw = bytes(raw)
        self._seq = seq = self._seq + 1
        if self._subscribers:
            self._add(FrameRecord(seq, conn, now, wall, direction, offset, raw, None, error), len(raw))
            return
        self._append((seq, conn, now, wall, direction, offset, raw, error), conn, len(raw))

    def _wire_message(self, conn: int, opcode: int, data: str | bytes, frames: int, now: float,
                      wall: float) -> None:
        """The server's hot path for a received message: what ``message(conn, "in", ...)`` records."""
        if not isinstance(data, str) and type(data) is not bytes:
            data = bytes(data)
        self._seq = seq = self._seq + 1
        size = len(data) if type(data) is bytes or data.isascii() else _data_size(data)
        if self._subscribers:
            self._add(MessageRecord(seq, conn, now, wall, "in", _OPCODES[opcode], data, frames), size)
            return
        self._append((seq, conn, now, wall, int(opcode), data, frames), conn, size)

    def _append(self, entry: tuple, conn: int, size: int) -> None:
        records = self._records
        records.append(entry)
        self._pending += 1
        self._sizes.append(size)
        self._nbytes += size
        if conn not in self._conns:
            self._conns[conn] = None
        if len(records) > self.max_records or self._nbytes > self.max_bytes:
            self._evict()

    # -- subscribers -----------------------------------------------------------
    def subscribe(self, callback: Callable[[Record], object]) -> Callable[[], None]:
        """Call ``callback(record)`` for each new record; returns a function that unsubscribes."""
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._detach(callback)

        return unsubscribe

    def _detach(self, callback: Callable[[Record], object]) -> None:
        subs = list(self._subscribers)
        for i, cb in enumerate(subs):
            if cb is callback:
                del subs[i]
                self._subscribers = tuple(subs)
                return

    def _notify(self, record: Record) -> None:
        failed = None
        for callback in self._subscribers:
            try:
                callback(record)
            except Exception as exc:  # a broken view must never break the server
                if failed is None:
                    failed = []
                failed.append((callback, exc))
        if failed:
            # Detached first, so that none of them sees its own report; reported only
            # once every subscriber has seen this record, so that order holds.
            for callback, _ in failed:
                self._detach(callback)
            for callback, exc in failed:
                self.subscriber_errors.append((callback, exc))
                name = getattr(callback, "__qualname__", type(callback).__qualname__)
                log.error("capture subscriber %s raised on record #%d and was detached", name, record.seq,
                          exc_info=exc)
                self.error(None, f"subscriber {name} raised {type(exc).__name__}: {exc} "
                                 f"on record #{record.seq} and was detached")

    # -- export ----------------------------------------------------------------
    def save(self, path: str | os.PathLike | IO[str], *, include_secrets: bool = False) -> None:
        """Write JSON Lines: a header line, then one object per record (bytes as base64).

        Credential header values are replaced unless ``include_secrets``.
        """
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "records": len(self._records),
            "next_seq": self._seq,
            "dropped": self.dropped,
            "dropped_bytes": self.dropped_bytes,
            "max_records": self.max_records,
            "max_bytes": self.max_bytes,
            "connections": list(self._conns),
            "secrets": include_secrets,
        }
        lines = [json.dumps(header)]
        lines += [json.dumps(_record_to_json(r, include_secrets)) for r in self._items()]
        text = "\n".join(lines) + "\n"
        if hasattr(path, "write"):
            path.write(text)  # type: ignore[union-attr]
        else:
            with open(path, "w", encoding="utf-8") as fp:  # type: ignore[arg-type]
                fp.write(text)

    @classmethod
    def load(cls, path: str | os.PathLike | IO[str], *, max_records: int | None = None,
             max_bytes: int | None = None) -> Capture:
        """A capture written by ``save``, for offline exploration (bounds from the file unless given)."""
        if hasattr(path, "read"):
            lines = path.read().splitlines()  # type: ignore[union-attr]
        else:
            with open(path, encoding="utf-8") as fp:  # type: ignore[arg-type]
                lines = fp.read().splitlines()
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise ValueError("empty file: not a wsexplore capture")
        header = json.loads(lines[0])
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("not a wsexplore capture (the first line is not its header)")
        if header.get("version") != FORMAT_VERSION:
            raise ValueError(f"capture format version {header.get('version')} is not supported "
                             f"(this version reads {FORMAT_VERSION})")
        if header.get("records", len(lines) - 1) != len(lines) - 1:
            raise ValueError(f"truncated capture: the header announces {header['records']} records, "
                             f"the file holds {len(lines) - 1}")
        cap = cls(max_records=max_records or header.get("max_records", DEFAULT_MAX_RECORDS),
                  max_bytes=max_bytes if max_bytes is not None else header.get("max_bytes", DEFAULT_MAX_BYTES))
        cap.dropped = header.get("dropped", 0)
        cap.dropped_bytes = header.get("dropped_bytes", 0)
        for conn in header.get("connections", ()):
            cap._conns[conn] = None
        for number, line in enumerate(lines[1:], 2):
            try:
                record = _record_from_json(json.loads(line))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"line {number}: not a capture record ({exc})") from exc
            cap._add(record, _size(record))
        records = cap._items()
        cap._seq = max(header.get("next_seq", 0), records[-1].seq if records else 0)
        return cap


# ---------------------------------------------------------------------------- hot-path entries
_new = object.__new__


def _from_tuple(entry: tuple) -> Record:
    """The record a ``Capture._wire`` or ``_wire_message`` tuple stands for.

    Built through the slot descriptors (what ``object.__setattr__`` ends up doing):
    the values were checked when appended.
    """
    if len(entry) == 8:
        seq, conn, now, wall, direction, offset, raw, error = entry
        rec = _new(FrameRecord)
        _f_seq(rec, seq)
        _f_conn(rec, conn)
        _f_time(rec, now)
        _f_wall(rec, wall)
        _f_direction(rec, direction)
        _f_offset(rec, offset)
        _f_raw(rec, raw)
        _f_error(rec, error)
        _f_frame(rec, None)
        return rec
    seq, conn, now, wall, opcode, data, frames = entry
    return MessageRecord(seq, conn, now, wall, "in", _OPCODES[opcode], data, frames)


# ---------------------------------------------------------------------------- sizes and display
def _data_size(data: str | bytes) -> int:
    return _utf8_len(data) if isinstance(data, str) else len(data)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _size(r: Record) -> int:
    """Bytes of data a record holds; the same rule the appenders use."""
    if isinstance(r, FrameRecord):
        return len(r.raw)
    if isinstance(r, OpenRecord):
        return len(r.request) + len(r.response)
    if isinstance(r, MessageRecord):
        return _data_size(r.data)
    if isinstance(r, CloseRecord):
        return _utf8_len(r.reason)
    if isinstance(r, ErrorRecord):
        return _utf8_len(r.message)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024  # type: ignore[assignment]
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
    raise AssertionError  # pragma: no cover


def _as_set(value: Any) -> frozenset | None:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        return frozenset((value,))
    return frozenset(value)


def _peer_value(peer: Any) -> tuple | str | None:
    if peer is None or isinstance(peer, str):
        return peer
    return tuple(peer)


def _peer(peer: tuple | str | None) -> str:
    if peer is None:
        return "?"
    if isinstance(peer, str):
        return peer
    if len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return ":".join(map(str, peer))


def _first_line(data: bytes, limit: int = 200) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")[:limit].decode("latin-1")
    return line if line.isprintable() else repr(line)[1:-1]


def _opcode_name(opcode: Opcode | int) -> str:
    return opcode.name if isinstance(opcode, Opcode) else f"0x{opcode:X}"


def _flags(fin: bool, rsv1: bool, rsv2: bool, rsv3: bool, masked: bool) -> str:
    return " ".join(name for name, on in (("FIN", fin), ("RSV1", rsv1), ("RSV2", rsv2), ("RSV3", rsv3),
                                          ("MASK", masked)) if on)


def _text_preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _hex_preview(data: bytes, limit: int = 16) -> str:
    if not data:
        return "b''"
    return data[:limit].hex(" ") + (" …" if len(data) > limit else "")


def _payload_preview(opcode: Opcode | int | None, payload: bytes) -> str:
    if opcode == Opcode.CLOSE and len(payload) >= 2:
        code = int.from_bytes(payload[:2], "big")
        rest = payload[2:]
        try:
            reason = f" {_text_preview(rest.decode())}" if rest else ""
        except UnicodeDecodeError:
            reason = f" {_hex_preview(rest)}"
        return f"code {code}{reason}"
    if opcode in (Opcode.TEXT, Opcode.CONTINUATION):
        try:
            return _text_preview(payload.decode())
        except UnicodeDecodeError:
            pass
    return _hex_preview(payload)


@dataclass(frozen=True, slots=True)
class _Peek:
    """As much of a frame header as ``raw`` holds (for frames that could not be parsed)."""

    b0: int | None
    masked: bool
    length: int | None
    header_length: int | None
    payload: bytes | None


def _peek(raw: bytes) -> _Peek:
    """Read the header fields of section 5.2 as far as the bytes go; unmask a complete payload."""
    if not raw:
        return _Peek(None, False, None, None, None)
    b0 = raw[0]
    if len(raw) < 2:
        return _Peek(b0, False, None, None, None)
    b1 = raw[1]
    masked = bool(b1 & 0x80)
    len7 = b1 & 0x7F
    ext = 0 if len7 < 126 else (2 if len7 == 126 else 8)
    hl = 2 + ext + (4 if masked else 0)
    if len(raw) < 2 + ext:
        return _Peek(b0, masked, None, None, None)
    length = int.from_bytes(raw[2 : 2 + ext], "big") if ext else len7
    if len(raw) < hl + length:
        return _Peek(b0, masked, length, hl, None)
    payload = raw[hl : hl + length]
    if masked:
        payload = apply_mask(payload, raw[hl - 4 : hl])
    return _Peek(b0, masked, length, hl, payload)


def _parse_frame(raw: bytes) -> Frame | None:
    """The frame ``raw`` encodes, if it holds exactly one complete frame (no rule checked)."""
    p = _peek(raw)
    if p.payload is None or p.header_length is None or p.length is None or p.header_length + p.length != len(raw):
        return None
    return Frame.decode(raw, payload=p.payload)


# ---------------------------------------------------------------------------- redaction
_LINE = re.compile(rb"\r?\n")


def _redact_raw(raw: bytes) -> bytes:
    """``raw`` HTTP head with the values of credential headers replaced, names kept.

    Works on bytes as they crossed the wire, even a malformed request that was
    refused; the replacement text comes from ``handshake.redact``. Only the head
    (up to the empty line) is rewritten; folded continuation lines of a
    credential header (obs-fold, RFC 9112 section 5.2) are folded into it.
    """
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        head_end = raw.find(b"\n\n")
    head, rest = (raw, b"") if head_end < 0 else (raw[:head_end], raw[head_end:])
    parts = _LINE.split(head)
    seps = _LINE.findall(head)
    out = [parts[0]]
    pending: list[bytes] | None = None  # name, then value pieces, of a credential header

    def flush() -> None:
        name, value = pending[0], b"".join(pending[1:]).strip(b" \t")  # type: ignore[index]
        out.append(name + b": " + redact(name.decode("latin-1"), value.decode("latin-1")).encode("latin-1"))

    changed = False
    for sep, line in zip(seps, parts[1:]):
        if pending is not None and line[:1] in (b" ", b"\t"):
            pending.append(b" " + line.strip(b" \t"))
            continue
        if pending is not None:
            flush()
            pending = None
        name, colon, value = line.partition(b":")
        out.append(sep)
        if colon and name.strip().decode("latin-1").lower() in SENSITIVE_HEADERS:
            pending = [name.strip(), value]
            changed = True
        else:
            out.append(line)
    if pending is not None:
        flush()
    if not changed:
        return raw
    return b"".join(out) + rest


def _redact_headers(headers: Any) -> Any:
    """A headers list of (name, value) pairs with credential values replaced."""
    try:
        return [[name, redact(str(name), str(value))] for name, value in headers]
    except (TypeError, ValueError):
        return headers


# ---------------------------------------------------------------------------- JSON Lines
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"base64": _b64(value)}
    raise TypeError(type(value).__name__)


def _unjson(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_unjson(v) for v in value)
    if isinstance(value, dict) and set(value) == {"base64"}:
        return _unb64(value["base64"])
    return value


def _error_to_json(err: ProtocolError, include_secrets: bool) -> dict[str, Any]:
    cls = type(err)
    attrs: dict[str, Any] = {}
    for name, value in vars(err).items():
        if name == "headers" and not include_secrets:
            value = _redact_headers(value)
        try:
            attrs[name] = _jsonable(value)
        except TypeError:
            continue
    attrs.setdefault("message", str(err))
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "attrs": attrs}


def _error_from_json(data: dict[str, Any]) -> ProtocolError:
    """The same exception class with the same attributes (classes outside wsexplore are not imported)."""
    module, _, qualname = data["type"].partition(":")
    cls: type = ProtocolError
    if module == "wsexplore" or module.startswith("wsexplore."):
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if isinstance(obj, type) and issubclass(obj, ProtocolError):
            cls = obj
    attrs = {name: _unjson(value) for name, value in data["attrs"].items()}
    err = cls.__new__(cls)
    Exception.__init__(err, attrs["message"])
    err.__dict__.update(attrs)
    return err


def _frame_to_json(rec: FrameRecord) -> Any:
    f = rec.frame
    if f is None:
        return None
    if rec._frame is None or _parse_frame(rec.raw) == f:
        return True  # decoded back from raw
    return {"opcode": int(f.opcode), "payload": _b64(f.payload), "fin": f.fin, "rsv1": f.rsv1,
            "rsv2": f.rsv2, "rsv3": f.rsv3, "mask_key": f.mask_key.hex() if f.mask_key is not None else None}


def _frame_from_json(value: Any, raw: bytes, has_error: bool) -> Frame | None:
    if value is None:
        return None
    if value is True:
        if not has_error:
            return None  # decoded from raw on first access
        frame = _parse_frame(raw)
        if frame is None:
            raise ValueError("the raw bytes of a parsed frame do not hold one complete frame")
        return frame
    return Frame(value["opcode"], _unb64(value["payload"]), fin=value["fin"], rsv1=value["rsv1"],
                 rsv2=value["rsv2"], rsv3=value["rsv3"],
                 mask_key=bytes.fromhex(value["mask_key"]) if value["mask_key"] is not None else None)


def _record_to_json(r: Record, include_secrets: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": r.kind, "seq": r.seq, "conn": r.conn, "time": r.time, "wall": r.wall}
    if isinstance(r, FrameRecord):
        d.update(direction=r.direction, offset=r.offset, raw=_b64(r.raw), frame=_frame_to_json(r),
                 error=None if r.error is None else _error_to_json(r.error, include_secrets))
    elif isinstance(r, OpenRecord):
        shown = r if include_secrets else r.redacted()
        d.update(peer=_jsonable(r.peer), request=_b64(shown.request), response=_b64(shown.response),
                 status=r.status)
    elif isinstance(r, MessageRecord):
        d.update(direction=r.direction, opcode=int(r.opcode), frames=r.frames)
        if r.compressed_size is not None:
            d["compressed_size"] = r.compressed_size
        if isinstance(r.data, str):
            d["text"] = r.data
        else:
            d["data"] = _b64(r.data)
    elif isinstance(r, CloseRecord):
        d.update(code=r.code, reason=r.reason, initiator=r.initiator, clean=r.clean)
    elif isinstance(r, ErrorRecord):
        d.update(message=r.message, error=None if r.error is None else _error_to_json(r.error, include_secrets))
    else:  # pragma: no cover
        raise TypeError(f"cannot export {type(r).__name__}")
    return d


def _record_from_json(d: dict[str, Any]) -> Record:
    kind = d["kind"]
    common = (d["seq"], d["conn"], d["time"], d["wall"])
    if kind == "frame":
        raw = _unb64(d["raw"])
        error = None if d.get("error") is None else _error_from_json(d["error"])
        return FrameRecord(*common, d["direction"], d["offset"], raw, _frame_from_json(d.get("frame"), raw, error is not None), error)
    if kind == "open":
        return OpenRecord(*common, _unjson(d["peer"]), _unb64(d["request"]), _unb64(d["response"]), d["status"])
    if kind == "message":
        data = d["text"] if "text" in d else _unb64(d["data"])
        return MessageRecord(*common, d["direction"], _OPCODES[d["opcode"]], data, d["frames"],
                             d.get("compressed_size"))
    if kind == "close":
        return CloseRecord(*common, d["code"], d["reason"], d["initiator"], d["clean"])
    if kind == "error":
        error = None if d.get("error") is None else _error_from_json(d["error"])
        return ErrorRecord(*common, d["message"], error)
    raise ValueError(f"unknown record kind {kind!r}")
