"""A capture record as one line of text: its ``repr``, the terminal's line and the payload previews.

Two forms, each written once here and used wherever records are shown as text:

* ``describe(record)``, the ``repr`` of a record: compact, with no clock, so a
  notebook's text/plain is the same run to run (``#2 conn 1 in  TEXT FIN MASK
  12 B "发送数据"``);
* ``format_record(record)``, the line ``wsexplore serve`` prints and the
  Explorer shows above a selected record: a dissector's packet list, with the
  wall clock, every header bit (RFC 6455 section 5.2), the masking key
  (section 5.3), a payload preview, the rule a frame broke and, for a
  handshake (section 4), a few headers but never credentials.

Payload previews (``payload_preview``, ``data_preview``) are shared with the
Explorer's rows. Everything that came from the peer is escaped
(:func:`wsexplore.display.escape`), so a payload cannot move a terminal's
cursor. This module lives beside the records rather than in
:mod:`wsexplore.display` because it reads records and protocol values, while
``display`` imports nothing of the package; it dispatches on ``record.kind``
so that the records can use it for their ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..display import clock, data_size, escape, hex_preview, peer, plural, quote, text_or_hex
from ..protocol.frames import Frame
from ..protocol.handshake import SENSITIVE_HEADERS
from ..protocol.header import (
    FIN_MASK,
    OPCODE_MASK,
    RSV1_MASK,
    RSV2_MASK,
    RSV3_MASK,
    flag_names,
)
from ..protocol.masking import unmask_frame
from ..protocol.opcodes import Opcode, as_opcode, close_code_meaning, opcode_name

if TYPE_CHECKING:  # the records import this module for their repr
    from .records import CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord, Record

__all__ = [
    "describe",
    "describe_body",
    "direction_of",
    "format_record",
    "format_body",
    "payload_preview",
    "data_preview",
    "frame_bits",
    "via_label",
    "frame_line",
    "quick_frame_line",
    "CompressedFrames",
    "TEXT_PREVIEW",
    "HEX_PREVIEW",
]

#: Characters of text shown before a preview is cut (terminal lines and Explorer rows).
TEXT_PREVIEW = 60
#: Bytes shown in hex before a preview is cut (terminal lines and Explorer rows).
HEX_PREVIEW = 24

# Request headers worth a glance; anything else (credentials above all) stays out.
_SHOWN_HEADERS = (
    "Host",
    "Origin",
    "User-Agent",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
)
_SHOWN_RESPONSE_HEADERS = ("Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions")
_ARROWS = {"in": "in  →", "out": "out ←"}
# Short names of the paths a connection can take (OpenRecord.via), for table cells.
_VIA_LABELS = {"relay": "relay", "jupyter-server-proxy": "proxy", "tap": "tap"}


# ---------------------------------------------------------------------------- how a connection arrived
def via_label(opened: OpenRecord | None) -> str:
    """A connection's path in a word ("relay", "proxy", "tap"), "" when direct or unknown."""
    return "" if opened is None or opened.via is None else _VIA_LABELS.get(opened.via, opened.via)


# ---------------------------------------------------------------------------- what a frame record holds
def frame_bits(record: FrameRecord) -> tuple[int, bool] | None:
    """The first byte (FIN, RSV1-3, opcode) and the MASK bit: the Frame's when there is one,
    else as far as ``raw`` goes; None for a record without bytes."""
    frame: Frame | None = record.frame
    if frame is not None:
        b0 = ((FIN_MASK if frame.fin else 0) | (RSV1_MASK if frame.rsv1 else 0) | (RSV2_MASK if frame.rsv2 else 0)
              | (RSV3_MASK if frame.rsv3 else 0) | frame.opcode)
        return b0, frame.mask_key is not None
    header = record.header
    return None if header is None else (header.b0, header.masked)


def _close_body(payload: bytes) -> tuple[int, str | None, bytes]:
    """A close body of two bytes or more: the code, the reason as text (None when not UTF-8), its bytes."""
    code, rest = int.from_bytes(payload[:2], "big"), payload[2:]
    try:
        return code, rest.decode("utf-8"), rest
    except UnicodeDecodeError:
        return code, None, rest


# ---------------------------------------------------------------------------- previews
def payload_preview(opcode: Opcode | int | None, payload: bytes | None, length: int | None) -> str:
    """What a person wants to see of a payload (section 5.6 data, section 5.5 control bodies)."""
    if payload is None:
        have = "" if length is None else f" of {length} B"
        return f"(payload not complete{have})"
    if opcode == Opcode.TEXT:
        try:
            return quote(payload.decode("utf-8"), TEXT_PREVIEW)
        except UnicodeDecodeError:
            return f"{hex_preview(payload, HEX_PREVIEW)} (not UTF-8)"
    if opcode == Opcode.CLOSE:
        if not payload:
            return "(no code)"
        if len(payload) == 1:
            return f"{hex_preview(payload, HEX_PREVIEW)} (a 1-byte close body)"
        code, reason, rest = _close_body(payload)
        shown = f"code={close_code_meaning(code)}"
        if rest:
            shown += (f" reason={quote(reason, TEXT_PREVIEW)}" if reason is not None
                      else f" reason={hex_preview(rest, HEX_PREVIEW)} (not UTF-8)")
        return shown
    if opcode == Opcode.BINARY:
        return hex_preview(payload, HEX_PREVIEW)
    return text_or_hex(payload, TEXT_PREVIEW, HEX_PREVIEW)


def _deflate_preview(payload: bytes | None, length: int | None) -> str:
    """A compressed frame's payload: deflate data, in hex, never read as text (RFC 7692 section 6)."""
    if payload is None:
        return payload_preview(None, None, length)
    return f"deflate data {hex_preview(payload, HEX_PREVIEW)} (compressed: the message line gives its text)"


def data_preview(data: str | bytes) -> str:
    """A message's data: quoted text, or binary in hex."""
    return quote(data, TEXT_PREVIEW) if isinstance(data, str) else hex_preview(data, HEX_PREVIEW)


def _short_preview(opcode: Opcode | int | None, payload: bytes) -> str:
    """The ``repr`` form: a close code and reason, text for text and continuation frames, else hex."""
    if opcode == Opcode.CLOSE and len(payload) >= 2:
        code, reason, rest = _close_body(payload)
        if not rest:
            return f"code {code}"
        return f"code {code} {quote(reason) if reason is not None else hex_preview(rest)}"
    if opcode in (Opcode.TEXT, Opcode.CONTINUATION):
        try:
            return quote(payload.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return hex_preview(payload)


# ---------------------------------------------------------------------------- repr: describe()
def describe(record: Record) -> str:
    """The ``repr`` of a record: ``#seq conn N``, the direction of a frame or message, what happened."""
    head = f"#{record.seq}" if record.conn is None else f"#{record.seq} conn {record.conn}"
    direction = direction_of(record)
    if direction:
        return f"{head} {direction:<3} {describe_body(record)}"
    return f"{head} {describe_body(record)}"


def describe_body(record: Record) -> str:
    """``describe`` without the sequence number, connection and direction (a table has columns for them)."""
    return _FORMS[record.kind][0](record)


def direction_of(record: Record) -> str:
    """"in" or "out" for a frame or a message, "" for the other kinds."""
    return record.direction if record.kind in _DIRECTED else ""  # type: ignore[attr-defined]


_DIRECTED = frozenset({"frame", "message"})


def _describe_open(r: OpenRecord) -> str:
    if not r.handshake_seen:
        return f"open {peer(r.peer)} via {r.via} (no handshake captured) {quote(r.note, 80)}"
    target = " ".join(r.request_line.split(" ")[:2]) or "(no request line)"
    reason = r.status_line.split(" ", 2)[2:]
    status = f"{r.status} {reason[0]}" if reason else str(r.status)
    refused = "" if r.accepted else " (refused)"
    via = f" via {r.via}" if r.via is not None else ""
    return f"open {peer(r.peer)}{via} {target} -> {status}{refused}"


def _describe_frame(r: FrameRecord) -> str:
    bits = frame_bits(r)
    opcode = r.opcode
    parts = [opcode_name(opcode) if opcode is not None else "(no bytes)"]
    flags = flag_names(*bits) if bits is not None else ""
    if flags:
        parts.append(flags)
    length, payload = r.length, r.payload
    if length is not None:
        if payload is None:
            header = r.header
            have = r.nbytes - header.header_length if header is not None and header.header_length else 0
            parts.append(f"{length} B (only {max(have, 0)} B arrived)")
        else:
            parts.append(f"{length} B")
            if bits is not None and bits[0] & RSV1_MASK:
                # With RSV1 the payload is extension data (compressed with permessage-deflate):
                # never show it as text, even when the bytes happen to decode.
                parts.append(hex_preview(payload))
            elif payload or opcode != Opcode.CLOSE:
                parts.append(_short_preview(opcode, payload))
    text = " ".join(parts)
    if r.injected:
        text += " (injected)"
    if r.error is not None:
        text += f" !! {type(r.error).__name__}: {r.error}"
    return text


def _describe_message(r: MessageRecord) -> str:
    data = r.data
    preview = quote(data) if isinstance(data, str) else hex_preview(data)
    deflated = "" if r.compressed_size is None else f", compressed {r.compressed_size} B"
    return (f"message {opcode_name(r.opcode)} {data_size(data)} B {preview} "
            f"({_frames_text(r.frames)}{deflated})")


def _frames_text(frames: int) -> str:
    """``3 frames``; 0 means the source recorded messages only (a HAR file)."""
    return plural(frames, "frame") if frames else "no frames recorded"


def _close_text(r: CloseRecord, reason: str, closer: str) -> str:
    """``1000: normal closure{reason}, closed first by {closer}, clean``."""
    code = "no code" if r.code is None else close_code_meaning(r.code)
    return f"{code}{reason if r.reason else ''}, closed first by {closer}, {'clean' if r.clean else 'not clean'}"


def _describe_close(r: CloseRecord) -> str:
    return f"close {_close_text(r, f' {quote(r.reason)}', f'{r.closed_by} ({r.initiator})')}"


def _describe_error(r: ErrorRecord) -> str:
    return f"error {r.message}"


# ---------------------------------------------------------------------------- the terminal: format_record()
def format_record(record: Record, *, compressed: bool = False) -> str:
    """One line for ``record``: ``HH:MM:SS.mmm #conn`` then what happened (``format_body``).

    Frames: direction (``in  →`` client to server, ``out ←`` server to client),
    opcode, FIN/RSV1-3/MASK bits, payload length, masking key in hex, a payload
    preview (text quoted, binary in hex, close code and reason), and the rule
    broken after ``!!``. Handshakes: peer, request and status lines and a few
    headers, never credentials. ``compressed``: the frame carries permessage-deflate
    data (RFC 7692; :class:`CompressedFrames` tells), previewed as such rather than as text.
    """
    conn = "#-" if record.conn is None else f"#{record.conn}"
    return f"{clock(record.wall)} {conn:<4} {format_body(record, compressed=compressed)}"


def format_body(record: Record, *, compressed: bool = False) -> str:
    """``format_record`` without the clock and the connection."""
    if compressed and record.kind == "frame":
        return _format_frame(record, compressed=True)  # type: ignore[arg-type]
    forms = _FORMS.get(record.kind)
    return forms[1](record) if forms is not None else escape(repr(record))


class CompressedFrames:
    """Which frame records carry permessage-deflate data, told record by record as a printer sees them.

    A connection's 101 response says whether permessage-deflate was agreed
    (RFC 7692 section 5); on such a connection a data frame with RSV1 set
    starts a compressed message, and its continuation frames, which carry
    RSV1=0, hold the rest of its deflate data until FIN (section 6.1).
    """

    def __init__(self) -> None:
        self._agreed: set[int | None] = set()
        self._open: set[tuple[int | None, str]] = set()

    def agreed(self, conn: int | None) -> bool:
        """Whether permessage-deflate was agreed on ``conn``: if not, none of its frames is compressed."""
        return conn in self._agreed

    def __call__(self, record: Record) -> bool:
        """True when ``record`` is a frame whose payload is deflate data."""
        kind = record.kind
        if kind == "open":
            if _agrees_deflate(record):  # type: ignore[arg-type]
                self._agreed.add(record.conn)
            return False
        if kind == "close":
            self._agreed.discard(record.conn)
            self._open = {key for key in self._open if key[0] != record.conn}
            return False
        if kind != "frame" or record.conn not in self._agreed:
            return False
        header = record.header  # type: ignore[attr-defined]
        if header is None or record.error is not None or header.opcode >= 0x8:  # type: ignore[attr-defined]
            return False
        key = (record.conn, record.direction)  # type: ignore[attr-defined]
        compressed = header.rsv1 if header.opcode != Opcode.CONTINUATION else key in self._open
        if compressed and not header.fin:
            self._open.add(key)
        else:
            self._open.discard(key)
        return bool(compressed)


def _agrees_deflate(opened: OpenRecord) -> bool:
    """The handshake ended in 101 with permessage-deflate in its response."""
    from ..protocol.deflate import find_params
    from ..protocol.errors import ProtocolError
    from ..protocol.handshake import parse_response

    if opened.status != 101 or not opened.response:
        return False
    try:
        parsed = parse_response(opened.response)
        return parsed is not None and find_params(parsed[0].headers) is not None
    except (ProtocolError, ValueError):
        return False


def _header_values(raw: bytes, wanted: Iterable[str]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """First line, the ``wanted`` headers present (in ``wanted`` order) and the credential headers seen.

    Lenient on purpose: a refused request may be malformed, and it is still shown.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.replace("\r\n", "\n").split("\n")
    first, found, hidden = lines[0], {}, []
    lowered = {name.lower(): name for name in wanted}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        if key in SENSITIVE_HEADERS:
            hidden.append(name.strip())
        elif key in lowered:
            canonical = lowered[key]
            found[canonical] = f"{found[canonical]}, {value.strip()}" if canonical in found else value.strip()
    return first, [(n, found[n]) for n in wanted if n in found], hidden


def _format_open(r: OpenRecord) -> str:
    request_line, headers, hidden = _header_values(r.request, _SHOWN_HEADERS)
    status_line, response_headers, _ = _header_values(r.response, _SHOWN_RESPONSE_HEADERS)
    via = f" via {r.via}" if r.via is not None else ""
    if not r.handshake_seen:  # mid-stream or TLS: the note says which
        return f"handshake {escape(peer(r.peer))}{via} (no handshake captured) | {quote(r.note, 300)}"
    parts = [f"handshake {escape(peer(r.peer))}{via} {escape(request_line[:200]) or '(no request line)'}",
             f"-> {escape(status_line[:200]) or r.status}"]
    if not r.accepted:
        body = r.response.split(b"\r\n\r\n", 1)[1:] or [b""]
        reason = body[0].decode("utf-8", "replace").strip().split("\n", 1)[0]
        parts.append(f"(refused{': ' + quote(reason, 200) if reason else ''})")
    parts += [f"{name}: {quote(value, 120)}" for name, value in headers]
    parts += [f"{name}: {quote(value, 120)}" for name, value in response_headers]
    if hidden:
        parts.append(f"[{', '.join(dict.fromkeys(hidden))} not shown]")
    if r.note:
        parts.append(f"note: {escape(r.note)}")
    return " | ".join(parts)


def _violation(error: BaseException | None) -> str:
    return "" if error is None else f"!! {type(error).__name__}: {escape(str(error))}"


def _bits_text(b0: int, masked: bool) -> str:
    return (f"FIN={int(bool(b0 & FIN_MASK))} RSV1={int(bool(b0 & RSV1_MASK))} RSV2={int(bool(b0 & RSV2_MASK))} "
            f"RSV3={int(bool(b0 & RSV3_MASK))} MASK={int(masked)}")


# The bits' text for every first byte, unmasked then masked: looked up, as every frame's line shows them.
_BITS = tuple(_bits_text(b0 & 0xF0, bool(masked)) for b0 in range(0, 256, 16) for masked in (0, 1))


def _bits(b0: int, masked: bool) -> str:
    return _BITS[(b0 >> 3) & 0x1E | bool(masked)]


def frame_line(b0: int, masked: bool, opcode: Opcode | int | None, length: int | None, key: bytes | None,
               payload: bytes | None, error: BaseException | None = None, *, compressed: bool = False) -> str:
    """A frame in one line, as the terminal shows it after the direction: opcode, FIN/RSV1-3/MASK bits,
    ``len=``, ``key=`` (hex), a payload preview (None: not all there) and the rule broken after ``!!``.
    ``compressed``: the payload is permessage-deflate data, previewed as such rather than as text.

    ``wsexplore serve`` prints it in every frame's line, ``wsexplore decode --summary`` for every frame.
    """
    preview = _deflate_preview(payload, length) if compressed else payload_preview(opcode, payload, length)
    line = _frame_fields(f"{opcode_name(opcode) if opcode is not None else '?':<12}", b0, masked,
                         "?" if length is None else length, key.hex() if key is not None else "-", preview)
    return line if error is None else f"{line} {_violation(error)}"


def _frame_fields(column: str, b0: int, masked: bool | int, length: int | str, key: str, preview: str) -> str:
    """The fields of a frame's line, laid out once for ``frame_line`` and ``quick_frame_line``."""
    return f"{column} {_bits(b0, bool(masked))} len={length} key={key} {preview}"


def _format_frame(r: FrameRecord, compressed: bool = False) -> str:
    # Read from the raw bytes alone (one header parse, no Frame built): the console formats every frame.
    header = r.header
    if header is None:
        return " ".join(filter(None, (f"{_ARROWS[r.direction]} (no bytes)", _violation(r.error))))
    b0 = header.b0
    opcode = as_opcode(b0 & OPCODE_MASK)
    # Shown in hex (one byte more for its "…"): only the bytes shown are unmasked.
    shown = HEX_PREVIEW + 1 if compressed or opcode == Opcode.BINARY else None
    payload = r.payload_upto(header, shown)
    line = frame_line(b0, header.masked, opcode, header.length, header.mask_key, payload, r.error,
                      compressed=compressed)
    if r.injected:
        return f"{_ARROWS[r.direction]} {line} [injected by the tap]"
    return f"{_ARROWS[r.direction]} {line}"


# Each opcode's column, padded as frame_line pads it.
_OPCODE_COLUMNS = tuple(f"{opcode_name(value):<12}" for value in range(16))
_HEADS = {"in": f"{_ARROWS['in']} ", "out": f"{_ARROWS['out']} "}


def quick_frame_line(conn: int | None, wall: float, direction: str, raw: bytes) -> str | None:
    """``format_record``'s line for a frame record holding one whole text or binary frame with at most a
    16-bit length, read straight from ``raw`` (no record, header or Frame built); None for anything else,
    which ``format_record`` shows. Give it only frames that broke no rule, were not injected and carry no
    permessage-deflate data: the console prints every frame, and this is most of them.
    """
    fields = quick_frame_fields(raw)
    if fields is None:
        return None
    where = "#-" if conn is None else f"#{conn}"
    return f"{clock(wall)} {where:<4} {_HEADS[direction]}{fields}"


def quick_frame_fields(raw: bytes) -> str | None:
    """``frame_line`` for ``raw`` when it holds one whole text or binary frame with at most a 16-bit
    length and a payload to show as it is (a text frame's must be whole UTF-8); None for anything else.
    The caller knows the frame broke no rule (``quick_frame_line``, ``wsexplore decode --summary``)."""
    n = len(raw)
    if n < 2:
        return None
    b0, b1 = raw[0], raw[1]
    opcode = b0 & 0x0F
    if opcode != 1 and opcode != 2:
        return None
    length = b1 & 0x7F
    start = 2
    if length == 126:
        if n < 4:
            return None
        length = (raw[2] << 8) | raw[3]
        start = 4
    elif length == 127:
        return None
    masked = b1 & 0x80
    if masked:
        start += 4
        if n != start + length:
            return None
        payload = unmask_frame(raw, start, length) if length else b""
        key_text = raw[start - 4:start].hex()
    else:
        if n != start + length:
            return None
        payload = raw[start:]
        key_text = "-"
    if opcode == 1:
        try:
            preview = quote(payload.decode("utf-8"), TEXT_PREVIEW)
        except UnicodeDecodeError:
            return None
    else:
        preview = hex_preview(payload, HEX_PREVIEW)
    return _frame_fields(_OPCODE_COLUMNS[opcode], b0, masked, length, key_text, preview)


def _format_message(r: MessageRecord) -> str:
    carried = f"in {plural(r.frames, 'frame')}" if r.frames else "(no frames recorded)"
    if r.compressed_size is not None:
        carried += f", inflated from {r.compressed_size} B"
    return (f"{_ARROWS[r.direction]} message {opcode_name(r.opcode)} {data_size(r.data)} B {carried} "
            f"{data_preview(r.data)}")


def _format_close(r: CloseRecord) -> str:
    return f"closed {_close_text(r, f' reason={quote(r.reason, TEXT_PREVIEW)}', f'the {r.closed_by}')}"


def _format_error(r: ErrorRecord) -> str:
    kind = f"{type(r.error).__name__}: " if r.error is not None else ""
    return f"error {kind}{escape(r.message)}"


#: For each record kind, its two forms: the ``repr`` body and the terminal line's body.
_FORMS: dict[str, tuple[Callable, Callable]] = {
    "open": (_describe_open, _format_open),
    "frame": (_describe_frame, _format_frame),
    "message": (_describe_message, _format_message),
    "close": (_describe_close, _format_close),
    "error": (_describe_error, _format_error),
}
