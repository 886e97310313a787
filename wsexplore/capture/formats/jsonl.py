"""JSON Lines, the capture's own file format: a header line, then one object per record.

Lossless: bytes are base64, a frame's ``Frame`` is written only when it is
not what its raw bytes decode to, and a ``ProtocolError`` keeps its class and
attributes. Loading is parsing, never executing: an error's class is looked up
in ``ERROR_TYPES``, a fixed table of this package's exceptions, every field is
type-checked (:mod:`.fields`), and a file that loads is safe for every view. The handshake's credentials (Cookie, Authorization,
Proxy-Authorization, Set-Cookie) are redacted unless ``include_secrets``, in
the raw handshakes and in the headers an error carries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from math import isfinite
from typing import Any, NamedTuple

from ...protocol.deflate import CompressionError
from ...protocol.errors import (
    FramingError,
    HandshakeError,
    InvalidCloseCode,
    InvalidUTF8,
    MessageTooBig,
    ProtocolError,
    TruncatedFrame,
)
from ...protocol.frames import Frame
from ...protocol.header import HEADER_LENGTHS, payload_length
from ..records import (
    DIRECTIONS,
    INITIATORS,
    KINDS,
    VIA,
    WALL_RANGE,
    CloseRecord,
    ErrorRecord,
    FrameRecord,
    MessageRecord,
    OpenRecord,
    PendingRecord,
    Record,
    build,
    parse_frame,
)
from ..redact import redact_headers
from .b64 import decode as _decode_b64
from .b64 import encode as _encode_b64
from .fields import MAX_INT, CaptureFileError, Fields, json_type

__all__ = ["FORMAT", "FORMAT_VERSION", "ERROR_TYPES", "CaptureFileError", "Saved", "dumps", "lines", "header_line",
           "record_lines", "record_pieces", "LargeLine", "loads"]

FORMAT = "wsexplore-capture"
FORMAT_VERSION = 1


@dataclass
class Saved:
    """What a file holds: the records and the state of the capture they came from (records may
    still be pending tuples when taken with ``Capture._saved(pending=True)``)."""

    records: list[Record | PendingRecord]
    last_seq: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    max_records: int | None = None
    max_bytes: int | None = None
    connections: list[int] = field(default_factory=list)


def dumps(saved: Saved, *, include_secrets: bool = False) -> str:
    """The file's text: the header line, then one line per record."""
    return "".join(line.decode("utf-8") for line in lines(saved, include_secrets=include_secrets))


#: Base64 fields at least this long are written as they are, not through ``json.dumps`` (see ``lines``).
_SPLICED = 64 * 1024
# The record fields that hold base64 text (``record_to_json``): never anything JSON must escape.
_BASE64_FIELDS = ("raw", "data", "request", "response", "forwarded_request")


def lines(saved: Saved, *, include_secrets: bool = False) -> Iterator[bytes]:
    """The file's lines as UTF-8 bytes, each ending in a newline, one record at a time.

    A writer goes through them one by one, so saving never holds the whole text (a capture of
    large frames is hundreds of MiB of it). A long base64 field is appended after the rest of its
    record rather than passed through ``json.dumps``, whose scan for characters to escape finds
    none in base64 and cost most of the time; JSON objects have no order, and ``loads`` reads
    the field wherever it is.
    """
    yield header_line(saved, include_secrets=include_secrets)
    yield from record_lines(saved.records, include_secrets=include_secrets)


def header_line(saved: Saved, *, include_secrets: bool = False) -> bytes:
    """The file's first line: the format, the number of records and the capture's state."""
    return json.dumps(_header(saved, include_secrets)).encode() + b"\n"


def record_lines(records: Iterable[Record | PendingRecord], *, include_secrets: bool = False) -> Iterator[bytes]:
    """The lines of ``records``, one each, as ``lines`` writes them after the header: a record's line
    depends on the record alone (records never change), so a line written once can be copied.

    A pending record (the tuple a capture keeps until someone reads the record) is written from
    the tuple when it is a plain frame or message, and built first otherwise.
    """
    for piece in record_pieces(records, include_secrets=include_secrets):
        yield piece if type(piece) is bytes else b"".join(piece.parts())  # type: ignore[union-attr]


class LargeLine(NamedTuple):
    """The line of a large frame or message, its base64 field still to make: ``start``, the base64 of
    ``data``, then ``end``. A writer takes ``parts()`` one by one, so that the line is never held
    whole (nor the base64 of its data)."""

    start: bytes
    data: bytes
    end: bytes

    @property
    def size(self) -> int:
        return len(self.start) + _base64_size(len(self.data)) + len(self.end)

    def parts(self) -> Iterator[bytes]:
        yield self.start
        data = self.data
        if len(data) <= _BASE64_CHUNK:
            yield _encode_b64(data)
        else:
            view = memoryview(data)
            for i in range(0, len(data), _BASE64_CHUNK):  # whole groups of 3 bytes: the pieces join up
                yield _encode_b64(view[i:i + _BASE64_CHUNK])
        yield self.end


_BASE64_CHUNK = 3 * 32 * 1024  # bytes encoded at a time: 128 KiB of base64, memory the allocator reuses


def record_pieces(records: Iterable[Record | PendingRecord], *,
                  include_secrets: bool = False) -> Iterator[bytes | LargeLine]:
    """``record_lines``, with the line of a large frame or message given as a ``LargeLine``."""
    small = _SPLICED * 3 // 4  # data bytes below which no base64 field reaches _SPLICED characters
    for record in records:
        if type(record) is tuple:
            line = _pending_line(record, small)  # type: ignore[arg-type]
            if line is not None:
                yield line
                continue
            record = build(record)
        size = record.nbytes
        kind = type(record)
        if size < small:
            line = _frame_line(record) if kind is FrameRecord else _message_line(record) \
                if kind is MessageRecord else None
            yield _spliced_line(record, include_secrets, False) if line is None else line
            continue
        large = _large_line(record) if kind is FrameRecord or kind is MessageRecord else None
        yield _spliced_line(record, include_secrets, True) if large is None else large


def _spliced_line(record: Record, include_secrets: bool, large: bool) -> bytes:
    """Any record's line, through ``json.dumps``; a ``large`` one's base64 fields of ``_SPLICED``
    characters or more are moved to the end and spliced in, not escaped by the encoder."""
    d = record_to_json(record, include_secrets)
    big = [(key, d.pop(key)) for key in _BASE64_FIELDS if len(d.get(key) or "") >= _SPLICED] if large else []
    if not big:
        return json.dumps(d).encode() + b"\n"
    parts = [json.dumps(d).encode()[:-1]]  # without its closing brace
    for key, value in big:
        parts.append(b', "%s": "%s"' % (key.encode(), value.encode("ascii")))
    parts.append(b"}\n")
    return b"".join(parts)


def _base64_size(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _large_line(r: FrameRecord | MessageRecord) -> LargeLine | None:
    """``_spliced_line`` of a large frame or message record that ``_frame_line`` or ``_message_line``
    would write if it were small, made with its base64 as bytes from the start (no str made of it and
    copied back); None for any other record."""
    if type(r) is FrameRecord:
        plain = _plain_frame(r)
        if plain is None:
            return None
        raw = r.raw  # for a frame kept as header and payload: its bytes made again
        if _base64_size(len(raw)) < _SPLICED:  # not moved to the end
            return None
        head, decoded = plain
        start = f'{head}"offset": {r.offset}, "frame": {"true" if decoded else "null"}, "error": null, "raw": "'
        return LargeLine(start.encode(), raw, b'"}\n')
    data = r.data
    if type(data) is not bytes or _base64_size(len(data)) < _SPLICED:
        return None
    start = _message_start(r.seq, r.conn, r.time, r.wall, r.direction, r.opcode, r.frames, r.compressed_size)
    return None if start is None else LargeLine(f'{start}"data": "'.encode(), data, b'"}\n')


_FRAME, _MESSAGE = FrameRecord.kind, MessageRecord.kind
_HEAD = '{"kind": "%s", "seq": %d, "conn": %s, "time": %s, "wall": %s, "direction": "%s", '


def _head(kind: str, seq: int, conn: Any, time: Any, wall: Any, direction: str) -> str | None:
    """The start of the line of a frame or message record written out directly, up to its direction, as
    ``json.dumps`` writes it; None when its connection or clocks need ``json.dumps`` to be written."""
    if (conn is not None and type(conn) is not int or type(time) is not float or type(wall) is not float
            or not (isfinite(time) and isfinite(wall))):
        return None
    return _HEAD % (kind, seq, "null" if conn is None else conn, float.__repr__(time), float.__repr__(wall),
                    direction)


def _plain_frame(r: FrameRecord) -> tuple[str, bool] | None:
    """For a frame record that broke no rule and was not injected, whose line is written out
    directly: the line's start (``_head``), and True when the line says ``"frame": true`` (its
    ``Frame`` is what its bytes decode to) rather than ``null`` (not decoded). None for any other
    record."""
    if r.error is not None or r.injected:
        return None
    head = _head(_FRAME, r.seq, r.conn, r.time, r.wall, r.direction)
    if head is None:
        return None
    frame = _frame_to_json(r)
    if frame is not True and frame is not None:
        return None
    return head, frame is True


def _frame_line(r: FrameRecord) -> bytes | None:
    """The line of a frame record written out directly (``_plain_frame``): what
    ``json.dumps(record_to_json(r))`` writes (a capture is mostly such frames), or None."""
    plain = _plain_frame(r)
    if plain is None:
        return None
    head, decoded = plain
    return (_FRAME_LINE % (head, r.offset, _b64(r.raw), "true" if decoded else "null")).encode()


_FRAME_LINE = '%s"offset": %d, "raw": "%s", "frame": %s, "error": null}\n'
_dumps_str = json.encoder.encode_basestring_ascii  # json.dumps of a str, without its dispatch


def _message_line(r: MessageRecord) -> bytes | None:
    """The line of a message record written out directly, as ``_frame_line`` writes a frame's:
    what ``json.dumps(record_to_json(r))`` writes, or None for a record it leaves to that."""
    return _message_fields_line(r.seq, r.conn, r.time, r.wall, r.direction, r.opcode, r.data, r.frames,
                                r.compressed_size)


def _message_start(seq: int, conn: Any, time: Any, wall: Any, direction: str, opcode: int,
                   frames: object, compressed: object) -> str | None:
    """The line of a message record written out directly, up to its text or data; None for a
    record whose line ``json.dumps`` writes."""
    if type(frames) is not int or compressed is not None and type(compressed) is not int:
        return None
    head = _head(_MESSAGE, seq, conn, time, wall, direction)
    if head is None:
        return None
    start = f'{head}"opcode": {int(opcode)}, "frames": {frames}, '
    return start if compressed is None else f'{start}"compressed_size": {compressed}, '


def _message_fields_line(seq: int, conn: Any, time: Any, wall: Any, direction: str, opcode: int,
                         data: object, frames: object, compressed: object) -> bytes | None:
    if type(data) is str:
        body = f'"text": {_dumps_str(data)}'
    elif type(data) is bytes:
        body = f'"data": "{_b64(data)}"'
    else:
        return None
    start = _message_start(seq, conn, time, wall, direction, opcode, frames, compressed)
    return None if start is None else f'{start}{body}}}\n'.encode()


def _pending_line(e: PendingRecord, small: int) -> bytes | None:
    """``_frame_line`` or ``_message_line`` of the record a pending tuple stands for, read from the
    tuple (its fields in ``FrameRecord``'s or ``MessageRecord``'s order, after the kind); None
    for one that ``record_lines`` leaves to the record."""
    kind = e[0]
    if kind == _FRAME:
        raw = e[7]
        # Not yet decoded (no Frame), no error, not injected, kept whole and small.
        if e[8] is not None or e[9] is not None or len(e) > 10 and e[10] or type(raw) is not bytes \
                or len(raw) >= small:
            return None
        head = _head(_FRAME, e[1], e[2], e[3], e[4], e[5])
        if head is None:
            return None
        return (_FRAME_LINE % (head, e[6], _b64(raw), "true" if _whole_frame(raw) else "null")).encode()
    if kind == _MESSAGE:
        data = e[7]
        if len(data) >= small:
            return None
        return _message_fields_line(e[1], e[2], e[3], e[4], e[5], e[6], data, e[8], e[9])
    return None


def _header(saved: Saved, include_secrets: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "records": len(saved.records),
        "next_seq": saved.last_seq,
        "dropped": saved.dropped,
        "dropped_bytes": saved.dropped_bytes,
        "max_records": saved.max_records,
        "max_bytes": saved.max_bytes,
        "connections": saved.connections,
        "secrets": include_secrets,
    }


def loads(text: str) -> Saved:
    """What ``dumps`` wrote. Parsing only: every value is type-checked and nothing named in the file
    is imported or called. Any other text raises one ``CaptureFileError`` (a ValueError) naming
    the line and the field: not a capture, its version, truncation, a bad record.

    Each line is taken from ``text`` as it is parsed, not split off all at once: a capture of
    large frames is hundreds of MiB of text, which a list of its lines would hold a second time."""
    numbered = _line_spans(text)
    if not numbered:
        raise CaptureFileError(None, None, "empty file: not a wsexplore capture")
    first, start, end = numbered[0]
    header = _json(text[start:end], first)
    if type(header) is not dict or header.get("format") != FORMAT:
        raise CaptureFileError(first, None, "not a wsexplore capture (the first line is not its header)")
    saved = _read_header(Fields(header, first))
    announced = saved.records
    if announced != len(numbered) - 1:
        raise CaptureFileError(None, None, f"truncated capture: the header announces {announced} records, "
                                           f"the file holds {len(numbered) - 1}")
    records: list[Record] = []
    for number, start, end in numbered[1:]:
        record = record_from_json(_json(text[start:end], number), number)
        if records and record.seq <= records[-1].seq:
            raise CaptureFileError(number, "seq", f"{record.seq} does not follow the record before "
                                                  f"(seq {records[-1].seq}): records are in order")
        records.append(record)
    return Saved(records=records, last_seq=saved.last_seq, dropped=saved.dropped,
                 dropped_bytes=saved.dropped_bytes, max_records=saved.max_records, max_bytes=saved.max_bytes,
                 connections=saved.connections)


_NOT_BLANK = re.compile(r"\S")  # what str.strip() would leave: a line with it holds a record


def _line_spans(text: str) -> list[tuple[int, int, int]]:
    """(line number from 1, start, end) of each line of ``text`` that is not blank."""
    spans = []
    find, not_blank = text.find, _NOT_BLANK.search
    size = len(text)
    start = 0
    number = 1
    while True:
        end = find("\n", start)
        if end < 0:
            end = size
        if not_blank(text, start, end) is not None:
            spans.append((number, start, end))
        if end == size:
            return spans
        start = end + 1
        number += 1


def _json(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except RecursionError:
        raise CaptureFileError(number, None, "not JSON this reader takes: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of too many digits
        raise CaptureFileError(number, None, f"not JSON ({exc})") from None


@dataclass
class _Header:
    """The header line: how many records follow and the state of the capture they came from."""

    records: int
    last_seq: int
    dropped: int
    dropped_bytes: int
    max_records: int | None
    max_bytes: int | None
    connections: list[int]


def _read_header(f: Fields) -> _Header:
    f.choice("format", (FORMAT,))
    version = f.raw("version", default=None)
    if type(version) is not int or version != FORMAT_VERSION:
        raise f.fail("version", f"capture format version {version!r} is not supported "
                                f"(this version reads {FORMAT_VERSION})")
    header = _Header(
        records=f.integer("records"),
        last_seq=f.integer("next_seq", default=0),
        dropped=f.integer("dropped", default=0),
        dropped_bytes=f.integer("dropped_bytes", default=0),
        max_records=f.integer("max_records", low=1, nullable=True, default=None),
        max_bytes=f.integer("max_bytes", nullable=True, default=None),
        connections=f.array("connections", default=[]),
    )
    for i, conn in enumerate(header.connections):
        if type(conn) is not int or not 0 <= conn <= MAX_INT:
            raise f.fail(f"connections[{i}]", f"expected a connection id (an integer from 0), got "
                                              f"{json_type(conn)}")
    f.flag("secrets", default=False)
    f.done()
    return header


# ---------------------------------------------------------------------------- values
def _b64(data: bytes) -> str:
    return _encode_b64(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return _decode_b64(text.encode("ascii"))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return {"base64": _b64(value)}
    raise TypeError(type(value).__name__)


# The exception classes a file may name, and the attributes each keeps: a fixed table of this
# package's own classes. A name that is not in it is refused; nothing is ever imported by name.
ERROR_TYPES: dict[str, type[ProtocolError]] = {
    f"{cls.__module__}:{cls.__qualname__}": cls
    for cls in (ProtocolError, FramingError, InvalidCloseCode, InvalidUTF8, MessageTooBig, TruncatedFrame,
                HandshakeError, CompressionError)
}
_COMMON_ATTRS = ("message", "field", "bit_offset", "rfc", "close_code")
_EXTRA_ATTRS: dict[type, tuple[str, ...]] = {
    HandshakeError: ("status", "header", "headers"),
    TruncatedFrame: ("missing",),
}


def _attrs_of(cls: type) -> tuple[str, ...]:
    return _COMMON_ATTRS + next((extra for base, extra in _EXTRA_ATTRS.items() if issubclass(cls, base)), ())


def _error_to_json(err: ProtocolError, include_secrets: bool) -> dict[str, Any]:
    cls = type(err)
    known = next((c for c in cls.__mro__ if c in ERROR_TYPES.values()), ProtocolError)
    attrs: dict[str, Any] = {}
    for name in _attrs_of(known):
        if name not in vars(err):
            continue  # a class default (close_code), or never set
        value = getattr(err, name)
        if name == "headers" and not include_secrets:
            value = redact_headers(value)
        try:
            attrs[name] = _jsonable(value)
        except TypeError:
            continue
    attrs.setdefault("message", str(err))
    return {"type": f"{known.__module__}:{known.__qualname__}", "attrs": attrs}


def _error_from_json(f: Fields) -> ProtocolError:
    """The same exception class (from ``ERROR_TYPES``) with the same attributes, each type-checked."""
    name = f.text("type")
    cls = ERROR_TYPES.get(name)
    if cls is None:
        raise f.fail("type", f"{name[:80]!r} is not one of this package's errors ({', '.join(ERROR_TYPES)})")
    a = f.object("attrs")
    assert a is not None
    values: dict[str, Any] = {
        "message": a.text("message"),
        "field": a.text("field", nullable=True, default=None),
        "bit_offset": a.integer("bit_offset", nullable=True, default=None),
        "rfc": a.text("rfc", nullable=True, default=None),
    }
    if a.has("close_code"):
        values["close_code"] = a.integer("close_code", high=65535)
    if issubclass(cls, HandshakeError):
        values["status"] = a.integer("status", low=100, high=599, default=400)
        values["header"] = a.text("header", nullable=True, default=None)
        values["headers"] = _header_pairs(a, "headers")
    if issubclass(cls, TruncatedFrame):
        values["missing"] = a.integer("missing", default=1)
    a.done()
    f.done()
    err = cls.__new__(cls)
    Exception.__init__(err, values["message"])
    err.__dict__.update(values)
    return err


def _header_pairs(f: Fields, field: str) -> tuple[tuple[str, str], ...]:
    pairs = f.array(field, default=[])
    for i, pair in enumerate(pairs):
        if type(pair) is not list or len(pair) != 2 or not all(type(v) is str for v in pair):
            raise f.fail(f"{field}[{i}]", f"expected a [name, value] pair of strings, got {json_type(pair)}")
    return tuple((name, value) for name, value in pairs)


def _frame_to_json(rec: FrameRecord) -> bool | dict[str, Any] | None:
    """True: the frame is the one ``raw`` decodes to; None: there is none; else the frame itself.

    A record that holds no Frame of its own is judged from its header alone: reading its ``frame``
    would decode one, and keep it in the record, for every frame of every save."""
    f = rec._frame
    if f is None:
        if rec.error is not None:
            return None
        raw = rec._raw
        if type(raw) is not bytes:
            return True  # a large frame kept as header and payload: whole by construction
        return True if _whole_frame(raw) else None
    if parse_frame(rec.raw) == f:
        return True  # decoded back from raw
    return {"opcode": int(f.opcode), "payload": _b64(f.payload), "fin": f.fin, "rsv1": f.rsv1,
            "rsv2": f.rsv2, "rsv3": f.rsv3, "mask_key": f.mask_key.hex() if f.mask_key is not None else None}


def _whole_frame(raw: bytes) -> bool:
    """``raw`` is exactly one whole frame: as long as its header says (read here without a ``Header``)."""
    length = payload_length(raw)
    return length is not None and len(raw) == HEADER_LENGTHS[raw[1]] + length


def _frame_from_json(f: Fields, raw: bytes, has_error: bool) -> Frame | None:
    value = f.raw("frame", default=None)
    if value is None:
        return None
    if value is True:
        if not has_error:
            return None  # decoded from raw on first access
        frame = parse_frame(raw)
        if frame is None:
            raise f.fail("frame", "the raw bytes of a parsed frame do not hold one complete frame")
        return frame
    g = f.object("frame")
    assert g is not None
    opcode = g.integer("opcode", high=15)
    payload = g.base64("payload")
    flags = [g.flag(name) for name in ("fin", "rsv1", "rsv2", "rsv3")]
    key_hex = g.text("mask_key", nullable=True)
    g.done()
    key = None
    if key_hex is not None:
        if len(key_hex) != 8 or not all(c in "0123456789abcdefABCDEF" for c in key_hex):
            raise g.fail("mask_key", f"expected 4 bytes as 8 hex digits, got {key_hex[:20]!r}")
        key = bytes.fromhex(key_hex)
    try:
        return Frame(opcode, payload, fin=flags[0], rsv1=flags[1], rsv2=flags[2], rsv3=flags[3], mask_key=key)
    except (TypeError, ValueError) as exc:
        raise f.fail("frame", f"not a frame: {exc}") from None


# ---------------------------------------------------------------------------- records
def record_to_json(r: Record, include_secrets: bool) -> dict[str, Any]:
    """One record as a JSON object (credentials redacted unless ``include_secrets``)."""
    d: dict[str, Any] = {"kind": r.kind, "seq": r.seq, "conn": r.conn, "time": r.time, "wall": r.wall}
    if isinstance(r, FrameRecord):
        d.update(direction=r.direction, offset=r.offset, raw=_b64(r.raw), frame=_frame_to_json(r),
                 error=None if r.error is None else _error_to_json(r.error, include_secrets))
        if r.injected:
            d["injected"] = True
    elif isinstance(r, OpenRecord):
        shown = r if include_secrets else r.redacted()
        d.update(peer=_jsonable(r.peer), request=_b64(shown.request), response=_b64(shown.response),
                 status=r.status)
        if r.via is not None:
            d["via"] = r.via
        if r.note:
            d["note"] = r.note
        if shown.forwarded_request is not None:
            d["forwarded_request"] = _b64(shown.forwarded_request)
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


# Where a record's clocks may be: any finite monotonic time; a wall clock in WALL_RANGE.
_MAX_TIME = 1e15


def record_from_json(d: Any, line: int | None = None) -> Record:
    """The record ``record_to_json`` wrote; ``CaptureFileError`` names the field that is not."""
    f = Fields(d, line)
    kind = f.choice("kind", tuple(KINDS))
    common = (f.integer("seq"), f.integer("conn", nullable=True), f.number("time", low=-_MAX_TIME, high=_MAX_TIME),
              f.number("wall", low=WALL_RANGE[0], high=WALL_RANGE[1]))
    record: Record
    if kind == "frame":
        direction = f.choice("direction", DIRECTIONS)
        offset = f.integer("offset")
        raw = f.base64("raw")
        e = f.object("error", nullable=True, default=None)
        error = None if e is None else _error_from_json(e)
        record = FrameRecord(*common, direction, offset, raw, _frame_from_json(f, raw, error is not None), error,
                             f.flag("injected", default=False))
    elif kind == "open":
        peer = _peer(f)
        request, response = f.base64("request"), f.base64("response")
        status = f.integer("status", high=999)  # 0: no handshake was seen (a capture picked up mid-stream)
        via = f.choice("via", tuple(VIA), default=None)
        note = f.text("note", default="")
        forwarded = f.base64("forwarded_request", nullable=True, default=None)
        record = OpenRecord(*common, peer, request, response, status, via, note, forwarded)
    elif kind == "message":
        direction = f.choice("direction", DIRECTIONS)
        opcode = f.integer("opcode", high=15)
        frames = f.integer("frames")
        compressed = f.integer("compressed_size", nullable=True, default=None)
        if f.has("text") == f.has("data"):
            raise f.fail(None, "a message has either 'text' (a string) or 'data' (base64), and not both")
        data = f.text("text") if f.has("text") else f.base64("data")
        record = MessageRecord(*common, direction, opcode, data, frames, compressed)
    elif kind == "close":
        record = CloseRecord(*common, f.integer("code", high=65535, nullable=True), f.text("reason"),
                             f.choice("initiator", INITIATORS), f.flag("clean"))
    else:
        message = f.text("message")
        e = f.object("error", nullable=True, default=None)
        record = ErrorRecord(*common, message, None if e is None else _error_from_json(e))
    f.done()
    return record


def _peer(f: Fields) -> tuple | str | None:
    """An address: null, a string, or [host, port] / [host, port, flowinfo, scope_id] (IPv6)."""
    value = f.raw("peer", default=None)
    if value is None or type(value) is str:
        return value
    if (type(value) is list and len(value) in (2, 4) and type(value[0]) is str
            and all(type(v) is int and 0 <= v <= 0xFFFFFFFF for v in value[1:]) and value[1] <= 65535):
        return tuple(value)
    raise f.fail("peer", f"expected null, a string or [host, port], got {json_type(value)}")
