"""Any bytes -> labelled fields of RFC 6455 frames, plus the first rule they break.

The dissector explains; it never raises on input. It labels every field that
the bytes reach (a field cut by the end of the input keeps the bits that
exist), and judges the frame with :mod:`wsexplore.protocol.rules`, the one place
where frame rules live. Its only own check is truncation.

Field names follow the figure of RFC 6455 section 5.2 and Wireshark's order.
``FIELD_TABLE`` holds every field's name, label, RFC section and description as
data: the dissector, the text diagram and the HTML view all read it, so they
cannot disagree.

Judgement notes (deliberate choices):

* ``Dissection.frame`` is None only when the bytes end before the frame does.
  A complete frame that breaks a rule is still returned as a ``Frame`` (any
  header bits can be represented); ``error`` says what is wrong. Its
  ``encode()`` may differ from ``data`` when the length form was not minimal.
* When the input is truncated, ``error`` is the header violation if there is
  one, else ``TruncatedFrame``; the payload of a truncated frame is shown (and
  unmasked when the key is there) but not judged.
* A text frame with FIN=0 is a fragment: an incomplete UTF-8 sequence at its
  end is not a violation, bytes invalid anywhere are (section 5.6, 8.1).
  Continuation frames are not judged as text: their message type is unknown
  without the frames before them.
* When an RSV bit set on the frame is allowed (an extension was negotiated),
  the payload is extension data and is neither decoded nor judged.
* Under permessage-deflate (``deflate=``, RFC 7692) RSV1 means "per-message
  compressed" and is only allowed on the first frame of a data message. The
  Payload field keeps the compressed bytes (its ``value`` is them, unmasked);
  ``inflated`` and ``text`` give the message they inflate to. A frame that
  is a whole message inflates on its own unless it refers to earlier
  messages (context takeover); then the caller supplies ``inflated=`` (a
  capture knows the message) or ``dissect_stream`` inflates the stream in
  order. Inflating here stops at ``MAX_INFLATE`` bytes.
"""

from __future__ import annotations

import codecs
import zlib
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Union

from bitarray import frozenbitarray

from ..display import ELLIPSIS, hex_preview, plural, quote
from .deflate import CompressionError, DeflateParams, PerMessageDeflate, _inflate
from .errors import InvalidUTF8, MessageTooBig, ProtocolError, TruncatedFrame
from .frames import Frame
from .header import (
    FIN_MASK,
    LENGTH_MASK,
    MASK_KEY_BYTES,
    OPCODE_MASK,
    RSV1_MASK,
    RSV2_MASK,
    RSV3_MASK,
    RSV_MASK,
    Header,
    extended_length_bytes,
    header_length,
    parse_header,
)
from .masking import apply_mask
from .opcodes import Opcode, as_opcode, close_code_meaning, opcode_meaning, opcode_name
from .rules import Role, close_payload_violation, header_violation, utf8_error

__all__ = [
    "DeflateArg",
    "FieldSpec",
    "FIELD_TABLE",
    "FIELD_SPECS",
    "Field",
    "Dissection",
    "dissect",
    "dissect_stream",
    "judge",
    "Verdict",
    "leaf_fields",
    "MAX_INFLATE",
]

#: The most bytes the dissector inflates a compressed payload to (a deflate bomb stays a small preview).
MAX_INFLATE = 16 * 1024 * 1024

#: How a caller says permessage-deflate was negotiated: the agreed ``DeflateParams``, a
#: connection's ``PerMessageDeflate``, True (default parameters) or None / False (not negotiated).
DeflateArg = Union[DeflateParams, PerMessageDeflate, bool, None]


def _deflate_arg(deflate: DeflateArg) -> DeflateParams | bool | None:
    if isinstance(deflate, PerMessageDeflate):
        return deflate.params
    return deflate or None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What a field is: its name, its label in the bit diagram, where the RFC defines it."""

    name: str
    label: str
    rfc: str
    description: str


#: Every field a frame can have, in wire order (Close code / Close reason sit
#: inside the Payload of a close frame).
FIELD_TABLE: tuple[FieldSpec, ...] = (
    FieldSpec("FIN", "FIN", "5.2", "1 on the final fragment of a message"),
    FieldSpec("RSV1", "RSV1", "5.2",
              "reserved: 0 unless a negotiated extension defines it (permessage-deflate: compressed)"),
    FieldSpec("RSV2", "RSV2", "5.2", "reserved: 0 unless a negotiated extension defines it"),
    FieldSpec("RSV3", "RSV3", "5.2", "reserved: 0 unless a negotiated extension defines it"),
    FieldSpec("Opcode", "opcode", "5.2",
              "how to read the payload: 0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong"),
    FieldSpec("MASK", "MASK", "5.2", "1 when the payload is masked; every client-to-server frame is (section 5.3)"),
    FieldSpec("Payload length", "Payload len", "5.2",
              "0-125: the length; 126: a 16-bit length follows; 127: a 64-bit length follows"),
    FieldSpec("Extended payload length", "Extended payload length", "5.2",
              "16 or 64 bits, big-endian, minimal form, most significant bit 0"),
    FieldSpec("Masking key", "Masking-key", "5.3", "4 bytes: payload byte i is XORed with key byte i mod 4"),
    FieldSpec("Payload", "Payload Data", "5.2",
              "extension data then application data, masked on the wire when MASK is 1"),
    FieldSpec("Close code", "Close code", "5.5.1", "close frame body: 2-byte big-endian status code (section 7.4)"),
    FieldSpec("Close reason", "Close reason", "5.5.1", "close frame body after the code: UTF-8 text"),
)

FIELD_SPECS: dict[str, FieldSpec] = {spec.name: spec for spec in FIELD_TABLE}


@dataclass(frozen=True, slots=True, repr=False)
class Field:
    """One labelled field of a frame.

    ``start_bit`` counts from the frame's first bit. ``bit_width`` is the width
    the header gives the field; ``bits`` holds the bits that exist, fewer than
    ``bit_width`` when the input ends inside the field. ``bits`` are the bits on
    the wire; ``value`` is what they mean: an int for header fields and the
    close code, bytes for the masking key, and for ``Payload`` (and its close
    sub-fields) the *unmasked* data.
    """

    name: str
    start_bit: int
    bit_width: int
    bits: frozenbitarray
    value: int | bytes | str
    display: str
    meaning: str
    rfc: str
    parent: str | None = None

    @property
    def end_bit(self) -> int:
        return self.start_bit + self.bit_width

    @property
    def complete(self) -> bool:
        return len(self.bits) == self.bit_width

    @property
    def spec(self) -> FieldSpec:
        return FIELD_SPECS[self.name]

    def __repr__(self) -> str:
        width = str(self.bit_width) if self.complete else f"{len(self.bits)}/{self.bit_width}"
        return f"Field({self.name!r}, bit {self.start_bit}, width {width}, {self.display!r}: {self.meaning})"


@dataclass(frozen=True, eq=False, repr=False)
class Dissection:
    """One frame's bytes, labelled field by field, and the first violation.

    ``offset`` is where the frame starts in the dissected bytes, ``data`` its
    own bytes (``size`` of them: the whole frame, or what exists when
    truncated). ``payload`` is the unmasked payload (what exists of it),
    ``masked_payload`` the wire bytes of a masked payload (None when unmasked).
    ``text`` is a text frame's payload decoded as UTF-8 (None when not text or
    not valid; a fragment's incomplete last character is left out).
    ``missing`` counts the bytes still needed; when the payload length is not
    known yet it is a lower bound.

    Under permessage-deflate, ``compressed`` is True for the frames of a
    compressed message, ``inflated`` holds the message they inflate to (when
    known; for a lone first fragment, what it inflates to so far) and ``text``
    its text; ``inflate_note`` says how it was inflated or why it was not.
    """

    data: bytes
    offset: int
    fields: tuple[Field, ...]
    frame: Frame | None
    error: ProtocolError | None
    size: int
    role: Role | None
    rsv_allowed: int
    payload_length: int | None
    payload: bytes
    masked_payload: bytes | None
    text: str | None
    close_code: int | None
    close_reason: str | None
    missing: int
    deflate: DeflateParams | bool | None = None
    compressed: bool = False
    inflated: bytes | None = None
    inflate_note: str = ""

    @property
    def compression_ratio(self) -> float | None:
        """Compressed payload size over inflated size, for a frame that is a whole compressed message."""
        if not self.compressed or self.inflated is None or not self.data or not self.data[0] & RSV1_MASK:
            return None
        if not self.data[0] & FIN_MASK or not self.inflated:
            return None
        return len(self.payload) / len(self.inflated)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.frame is None

    @property
    def opcode(self) -> Opcode | int | None:
        if not self.data:
            return None
        return as_opcode(self.data[0] & OPCODE_MASK)

    @property
    def masking_key(self) -> bytes | None:
        for f in self.fields:
            if f.name == "Masking key" and f.complete:
                return bytes(f.value)  # type: ignore[arg-type]
        return None

    def field(self, name: str) -> Field:
        """The field called ``name`` (KeyError when the frame has none)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def __str__(self) -> str:
        from .diagram import render_text

        return render_text(self)

    def _repr_html_(self) -> str:
        from ..display.html import render_html  # the one upward import: HTML is presentation, not protocol

        return render_html(self)

    def __repr__(self) -> str:
        op = self.opcode
        name = "?" if op is None else opcode_name(op)
        where = f" @{self.offset}" if self.offset else ""
        if self.error is None:
            state = "ok"
        elif isinstance(self.error, TruncatedFrame):
            state = f"truncated, {'>=' if self.payload_length is None else ''}{self.missing} B missing"
        else:
            state = f"{type(self.error).__name__} at bit {self.error.bit_offset} ({self.error.field})"
        return f"<Dissection{where} {name} {self.size} B {state}>"


# -- public entry points -------------------------------------------------------
def dissect(data: bytes | bytearray | memoryview, *, role: Role | None = "server",
            rsv_allowed: int = 0, deflate: DeflateArg = None,
            inflated: bytes | str | None = None, stream_offset: int = 0) -> Dissection:
    """Dissect the frame at the start of ``data`` (bytes after it are ignored).

    ``role`` is the side reading the bytes: "server" expects masked frames,
    "client" unmasked ones, None judges neither. ``rsv_allowed`` holds the RSV
    bits (0x40, 0x20, 0x10) that a negotiated extension defines.

    ``deflate`` says permessage-deflate was negotiated (True, the agreed
    ``DeflateParams``, or a connection's ``PerMessageDeflate``). ``inflated`` is the whole message this frame belongs
    to, once inflated, when the caller knows it (needed with context
    takeover); giving it for a continuation frame says its message is compressed.
    ``stream_offset`` is where ``data`` starts in a stream it was cut from (the
    dissection's ``offset``).
    """
    _check_args(role, rsv_allowed)
    if isinstance(inflated, str):
        inflated = inflated.encode()
    elif inflated is not None:
        inflated = bytes(inflated)
    return _dissect_at(_as_bytes(data), 0, role, rsv_allowed, _deflate_arg(deflate), inflated, stream_offset)


def dissect_stream(data: bytes | bytearray | memoryview, *, role: Role | None = "server",
                   rsv_allowed: int = 0, deflate: DeflateArg = None) -> list[Dissection]:
    """Dissect consecutive frames; stops after one that the bytes cut short.

    With ``deflate``, compressed messages are inflated in stream order, so
    that messages that refer to earlier ones (context takeover) inflate too.
    """
    _check_args(role, rsv_allowed)
    buf = _as_bytes(data)
    out: list[Dissection] = []
    offset = 0
    deflate = _deflate_arg(deflate)
    while offset < len(buf):
        d = _dissect_at(buf, offset, role, rsv_allowed, deflate, None)
        out.append(d)
        if d.truncated:
            break
        offset += d.size
    if deflate is not None:
        _inflate_stream(buf, out, role, rsv_allowed, deflate)
    return out


def _inflate_stream(buf: bytes, out: list[Dissection], role: Role | None, rsv_allowed: int,
                    deflate: DeflateParams | bool) -> None:
    """Inflate the compressed messages of ``out`` in order, with one window, and re-dissect their frames."""
    sender: Role = "client" if role == "server" else "server"
    bits = deflate.window_bits(sender) if isinstance(deflate, DeflateParams) else 15
    decompressor = zlib.decompressobj(-bits)
    reset = isinstance(deflate, DeflateParams) and deflate.no_context_takeover(sender)
    members: list[int] = []  # indexes of the frames of the compressed message in progress
    parts: list[bytes] = []
    size = 0
    for i, d in enumerate(out):
        if d.frame is None or (d.error is not None and not members):
            return
        opcode = d.frame.opcode
        if opcode >= 8:
            continue
        if opcode != 0:
            members, parts, size = [], [], 0
            if not d.frame.rsv1:
                continue
            if reset:
                decompressor = zlib.decompressobj(-bits)
        elif not members:
            continue
        members.append(i)
        try:
            piece = _inflate(decompressor, d.frame.payload, d.frame.fin, MAX_INFLATE - size)
        except ProtocolError:
            return
        parts.append(piece)
        size += len(piece)
        if d.frame.fin:
            message = b"".join(parts)
            if decompressor.eof:
                decompressor = zlib.decompressobj(-bits)
            for j in members:
                out[j] = _dissect_at(buf, out[j].offset, role, rsv_allowed, deflate, message)
            members = []


def _check_args(role: object, rsv_allowed: object) -> None:
    if role not in ("server", "client", None):
        raise ValueError(f"role must be 'server', 'client' or None, got {role!r}")
    if not isinstance(rsv_allowed, int) or rsv_allowed & ~RSV_MASK:
        raise ValueError(f"rsv_allowed must combine the bits 0x40, 0x20, 0x10, got {rsv_allowed!r}")


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


# -- the dissection itself -----------------------------------------------------
def _bits(view: memoryview, start_bit: int, nbits: int) -> frozenbitarray:
    """``nbits`` bits of ``view`` from ``start_bit``; byte-aligned runs share the buffer."""
    if start_bit % 8 == 0 and nbits % 8 == 0:
        return frozenbitarray(buffer=view[start_bit // 8:(start_bit + nbits) // 8])
    first = start_bit // 8
    last = (start_bit + nbits + 7) // 8
    whole = frozenbitarray(buffer=view[first:last])
    shift = start_bit - 8 * first
    return frozenbitarray(whole[shift:shift + nbits])


class _Builder:
    """Collects fields while walking the frame; knows how many bytes exist."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.avail_bits = 8 * len(view)
        self.fields: list[Field] = []

    def add(self, name: str, start_bit: int, width: int, value: int | bytes | str, display: str,
            meaning: str, parent: str | None = None) -> Field | None:
        present = max(0, min(width, self.avail_bits - start_bit))
        if present == 0 and width > 0:
            return None
        bits = _bits(self.view, start_bit, present)
        if present < width:
            meaning = f"truncated: {present} of {width} bits present" + (f"; {meaning}" if meaning else "")
            display = display if display.endswith(ELLIPSIS) else (f"{display} {ELLIPSIS}" if display else ELLIPSIS)
        f = Field(name, start_bit, width, bits, value, display, meaning, FIELD_SPECS[name].rfc, parent)
        self.fields.append(f)
        return f


class _SubField(NamedTuple):
    """A field inside the payload (the close code and reason), labelled with ``Payload`` as its parent."""

    name: str
    start_bit: int
    width: int
    value: int | bytes
    display: str
    meaning: str


class _PayloadReading(NamedTuple):
    """What a payload says: the Payload field's meaning and what the dissection reports of it."""

    meaning: str = ""
    error: ProtocolError | None = None
    text: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    sub_fields: tuple[_SubField, ...] = ()
    inflated: bytes | None = None
    inflate_note: str = ""


_NO_READING = _PayloadReading()


class _Extent(NamedTuple):
    """How far the frame reaches compared with the bytes there are."""

    avail: int  # bytes from the frame's start to the end of the input
    needed: int  # bytes the frame takes; a lower bound until the length is known
    exact: bool  # ``needed`` is the frame's whole size

    @property
    def truncated(self) -> bool:
        return self.avail < self.needed

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.avail)

    @property
    def size(self) -> int:
        """The frame's bytes that are there."""
        return min(self.avail, self.needed)


class Verdict(NamedTuple):
    """The frame at the start of some bytes, judged as ``dissect`` judges it but not labelled field by field.

    What a one-line summary needs, at a fraction of the cost of a dissection:
    ``header`` as far as the bytes go (None without a byte), ``size`` the frame's
    bytes that are there, ``missing`` the bytes still needed (a lower bound until
    the length is known), ``payload`` the unmasked payload (what exists of it),
    ``error`` the first rule broken (``TruncatedFrame`` when the bytes end early).
    """

    header: Header | None
    size: int
    missing: int
    payload: bytes
    error: ProtocolError | None

    @property
    def truncated(self) -> bool:
        return self.missing > 0

    @property
    def ok(self) -> bool:
        return self.error is None


def judge(data: bytes | bytearray | memoryview, *, role: Role | None = "server", rsv_allowed: int = 0,
          deflate: DeflateArg = None) -> Verdict:
    """Judge the frame at the start of ``data`` as ``dissect`` does (same arguments), without its fields."""
    _check_args(role, rsv_allowed)
    buf = _as_bytes(data)
    header, extent, wire, payload, reading, error = _judge(buf, 0, role, rsv_allowed, _deflate_arg(deflate), None,
                                                           explain=False)
    return Verdict(header, extent.size, extent.missing, payload, error)


class _Judgement(NamedTuple):
    header: Header | None
    extent: _Extent
    wire: bytes  # the payload bytes as they are on the wire (what exists of them)
    payload: bytes  # unmasked
    reading: _PayloadReading
    error: ProtocolError | None


def _judge(buf: bytes, offset: int, role: Role | None, rsv_allowed: int, deflate: DeflateParams | bool | None,
           inflated: bytes | None, *, explain: bool) -> _Judgement:
    """The frame at ``buf[offset]`` judged: header rules, then truncation, then payload rules.

    ``explain`` also works out what the payload means, in words, for the Payload field.
    """
    header = parse_header(buf, offset)
    extent = _extent(header, len(buf) - offset)
    truncated = extent.avail < extent.needed
    # Header rules come first (they are earliest in bit order), then truncation, then payload rules.
    error: ProtocolError | None = None
    if header is not None:
        error = header_violation(header.b0, header.b1, header.length, role=role, rsv_allowed=rsv_allowed,
                                 permessage_deflate=bool(deflate))
    if error is None and truncated:
        error = _truncation(header, extent)
    wire = payload = b""
    reading = _NO_READING
    if header is not None and header.b1 is not None and header.size == header_length(header.b1):  # a whole header
        start = offset + header.size
        end = offset + (extent.avail if truncated else extent.needed)
        key = header.mask_key
        if key is not None and end > start:
            wire = buf[start:end]
            payload = apply_mask(memoryview(buf)[start:end], key)
        else:
            wire = payload = buf[start:end]
        reading = _read_payload(header, payload, truncated, rsv_allowed, deflate, inflated, role, explain=explain)
        if error is None:
            error = reading.error
    return _Judgement(header, extent, wire, payload, reading, error)


def _dissect_at(buf: bytes, offset: int, role: Role | None, rsv_allowed: int,
                deflate: DeflateParams | bool | None = None, inflated: bytes | None = None,
                base: int = 0) -> Dissection:
    """Label the frame at ``buf[offset]`` field by field, after judging it (``_judge``); ``buf`` starts at
    ``base`` in its stream."""
    header, extent, wire, payload, reading, error = _judge(buf, offset, role, rsv_allowed, deflate, inflated,
                                                           explain=True)
    view = memoryview(buf)[offset:]
    b = _Builder(view)
    if header is not None:
        _add_header_fields(b, header, rsv_allowed, deflate)
        if header.complete:
            _add_payload_fields(b, header, payload, wire, reading)
    key = header.mask_key if header is not None else None
    frame: Frame | None = None
    if header is not None and not extent.truncated:
        b0 = header.b0
        frame = Frame(b0 & OPCODE_MASK, payload, fin=header.fin, rsv1=header.rsv1, rsv2=header.rsv2,
                      rsv3=header.rsv3, mask_key=key)
    size = extent.size
    return Dissection(
        data=bytes(view[:size]) if (offset or size != len(buf)) else buf,
        offset=base + offset,
        fields=tuple(b.fields),
        frame=frame,
        error=error,
        size=size,
        role=role,
        rsv_allowed=rsv_allowed,
        payload_length=header.length if header is not None else None,
        payload=payload,
        masked_payload=wire if key is not None else None,
        text=reading.text,
        close_code=reading.close_code,
        close_reason=reading.close_reason,
        missing=extent.missing,
        deflate=deflate,
        compressed=header is not None and _compressed(header, deflate, inflated),
        inflated=reading.inflated,
        inflate_note=reading.inflate_note,
    )


def _add_header_fields(b: _Builder, header: Header, rsv_allowed: int, deflate: DeflateParams | bool | None) -> None:
    """FIN, RSV1-3 and the opcode; then MASK, the lengths and the masking key, as far as the bytes go."""
    b0 = header.b0
    fin = int(header.fin)
    b.add("FIN", 0, 1, fin, str(fin), "final fragment" if fin else "not final: more fragments follow")
    for offset, (name, mask) in enumerate((("RSV1", RSV1_MASK), ("RSV2", RSV2_MASK), ("RSV3", RSV3_MASK)), start=1):
        bit = 1 if b0 & mask else 0
        b.add(name, offset, 1, bit, str(bit), _rsv_meaning(mask, bit, b0 & OPCODE_MASK, rsv_allowed, deflate))
    opcode = header.opcode
    b.add("Opcode", 4, 4, opcode, f"0x{opcode:X}", opcode_meaning(opcode))
    if header.b1 is None:
        return
    masked = int(header.masked)
    b.add("MASK", 8, 1, masked, str(masked), "masked: client-to-server" if masked else "unmasked: server-to-client")
    len7 = header.b1 & LENGTH_MASK
    ext = extended_length_bytes(len7)
    meaning = f"{len7}: a {8 * ext}-bit extended length follows" if ext else f"7-bit length {len7}"
    b.add("Payload length", 9, 7, len7, str(len7), meaning)
    if ext:
        raw = bytes(b.view[2:2 + ext])
        value = int.from_bytes(raw, "big")
        if header.length is not None:
            b.add("Extended payload length", 16, 8 * ext, value, str(value), f"{8 * ext}-bit length {value}")
        else:
            b.add("Extended payload length", 16, 8 * ext, value, raw.hex(" "), "")
    if masked:
        start = 2 + ext
        raw = bytes(b.view[start:start + MASK_KEY_BYTES])
        meaning = "payload byte i XOR key byte i mod 4" if header.mask_key is not None else ""
        b.add("Masking key", 8 * start, 32, raw, raw.hex(" "), meaning)


def _rsv_meaning(mask: int, bit: int, opcode: int, rsv_allowed: int, deflate: DeflateParams | bool | None) -> str:
    if mask == RSV1_MASK and deflate:
        return _compressed_bit_meaning(bit, opcode)
    if not bit:
        return "no extension meaning"
    if rsv_allowed & mask:
        return "set: defined by a negotiated extension" + (
            " (permessage-deflate: compressed)" if mask == RSV1_MASK else "")
    return "set, but no extension defining it was negotiated"


def _extent(header: Header | None, avail: int) -> _Extent:
    if header is None or header.b1 is None:
        return _Extent(avail, 2, False)
    if header.length is None:
        return _Extent(avail, header_length(header.b1), False)
    return _Extent(avail, header_length(header.b1) + header.length, True)


def _truncation(header: Header | None, extent: _Extent) -> TruncatedFrame:
    """Where the bytes end (the field they end in, or just before) and how many more are needed."""
    field, bit = _cut_field(header, extent.avail)
    missing = extent.missing
    return TruncatedFrame(
        f"the bytes end {'before' if bit == 8 * extent.avail else 'inside'} {field}: "
        f"{'' if extent.exact else 'at least '}{plural(missing, 'more byte')} needed",
        missing=missing, field=field, bit_offset=bit, rfc="5.2",
    )


def _cut_field(header: Header | None, avail: int) -> tuple[str, int]:
    """The field the end of the bytes falls in (or just before), and where it starts."""
    if header is None:
        return "FIN", 0
    if header.b1 is None:
        return "MASK", 8
    ext = extended_length_bytes(header.b1 & LENGTH_MASK)
    if ext and header.length is None:
        return "Extended payload length", 16
    hl = header_length(header.b1)
    if header.masked and avail < hl:
        return "Masking key", 8 * (hl - MASK_KEY_BYTES)
    return "Payload", 8 * hl


_EXTENSION_DATA = "extension data (set RSV bits are defined by a negotiated extension): not decoded"


def _extension_data(b0: int, rsv_allowed: int, deflate: DeflateParams | bool | None) -> bool:
    """An RSV bit is set that a negotiated extension (other than permessage-deflate) defines."""
    return bool(b0 & RSV_MASK & rsv_allowed & ~(RSV1_MASK if deflate else 0))


def _compressed(header: Header, deflate: DeflateParams | bool | None, inflated: bytes | None) -> bool:
    """permessage-deflate: RSV1 on a message's first frame, or a continuation whose message the caller inflated."""
    if not deflate:
        return False
    opcode = header.opcode
    return (header.rsv1 and opcode in (Opcode.TEXT, Opcode.BINARY)) or (
        opcode == Opcode.CONTINUATION and inflated is not None)


def _read_payload(header: Header, payload: bytes, truncated: bool, rsv_allowed: int,
                  deflate: DeflateParams | bool | None, inflated: bytes | None, role: Role | None, *,
                  explain: bool = True) -> _PayloadReading:
    """What the payload (what exists of it) says, by the frame's opcode; a payload rule it breaks.

    A truncated payload is shown but not judged, except that bytes that can never
    be UTF-8 are already named in a text frame's meaning. Without ``explain`` the
    meaning of a text or close payload is left out (the rule is judged all the same).
    """
    opcode = header.opcode
    payload_bit = 8 * header.size
    if _extension_data(header.b0, rsv_allowed, deflate):
        return _PayloadReading(_EXTENSION_DATA)
    if _compressed(header, deflate, inflated):
        return _compressed_reading(payload, opcode, header.fin, truncated, payload_bit, deflate, inflated, role)
    if opcode == Opcode.TEXT:
        text, exc, pending = _decode(payload, final=header.fin and not truncated)
        error = utf8_error(exc, payload_bit) if exc is not None and not truncated else None
        if not explain:
            return _PayloadReading("", error, text)
        return _PayloadReading(_text_meaning(text, exc, pending, fin=header.fin, truncated=truncated), error, text)
    if opcode == Opcode.CLOSE:
        if not explain:
            return _PayloadReading("", None if truncated else close_payload_violation(payload, payload_bit))
        return _close_reading(payload, header.length or 0, payload_bit, header.masked, truncated)
    if opcode == Opcode.CONTINUATION:
        return _PayloadReading("continuation of a message (its type is set by the first fragment)")
    if opcode == Opcode.BINARY:
        return _PayloadReading("binary data")
    if opcode == Opcode.PING:
        return _PayloadReading("application data (echoed in the pong)")
    if opcode == Opcode.PONG:
        return _PayloadReading("application data")
    return _PayloadReading()


def _close_reading(payload: bytes, length: int, payload_bit: int, masked: bool, truncated: bool) -> _PayloadReading:
    """A close frame's body: the status code, then the UTF-8 reason (section 5.5.1), each as a sub-field."""
    error = None if truncated else close_payload_violation(payload, payload_bit)
    close_code: int | None = None
    close_reason: str | None = None
    sub: list[_SubField] = []
    if length >= 2 and payload:
        code_bytes = payload[:2]
        code = int.from_bytes(code_bytes, "big")
        if len(code_bytes) == 2:
            close_code = code
            close_reason = "" if length == 2 else None
            sub.append(_SubField("Close code", payload_bit, 16, code, str(code),
                                 close_code_meaning(code) + (" (unmasked)" if masked else "")))
        else:
            sub.append(_SubField("Close code", payload_bit, 16, code, code_bytes.hex(), ""))
    if length > 2 and len(payload) > 2:
        reason, exc, _ = _decode(payload[2:], final=not truncated)
        close_reason = reason
        if exc is not None:
            meaning = f"not valid UTF-8 at byte {exc.start} of the reason"
            shown = hex_preview(payload[2:])
        else:
            meaning = f"UTF-8, {length - 2} bytes"
            shown = quote(reason or "")
        sub.append(_SubField("Close reason", payload_bit + 16, 8 * (length - 2), payload[2:], shown, meaning))
    return _PayloadReading(_close_meaning(length, close_code, close_reason), error,
                           close_code=close_code, close_reason=close_reason, sub_fields=tuple(sub))


def _add_payload_fields(b: _Builder, header: Header, payload: bytes, wire: bytes, reading: _PayloadReading) -> None:
    """The Payload field (wire bits, unmasked value), then the sub-fields inside it."""
    length = header.length or 0
    parts = [f"{length} bytes" if length else "empty"]
    if header.mask_key is not None and payload:
        parts.append(f"unmasked {hex_preview(payload)}")
    if reading.meaning:
        parts.append(reading.meaning)
    b.add("Payload", 8 * header.size, 8 * length, payload, hex_preview(wire), "; ".join(parts))
    for sub in reading.sub_fields:
        b.add(sub.name, sub.start_bit, sub.width, sub.value, sub.display, sub.meaning, parent="Payload")


def _compressed_bit_meaning(bit: int, opcode: int) -> str:
    if opcode in (Opcode.TEXT, Opcode.BINARY):
        return ("per-message compressed: this message's payload is deflated (permessage-deflate, RFC 7692)"
                if bit else "0: this message is not compressed (permessage-deflate negotiated)")
    if bit:
        return "set, but permessage-deflate allows it only on the first frame of a data message"
    return "0: only a message's first frame carries the compressed bit" if opcode == 0 else (
        "0: control frames are never compressed")


def _ratio_text(compressed: int, inflated: int) -> str:
    if not inflated:
        return f"{compressed} B compressed for an empty message"
    pct = 100 * compressed / inflated
    return f"{compressed} B compressed for {inflated} B inflated ({pct:.0f}% of its size)"


class _Inflation(NamedTuple):
    """What a compressed frame inflates to here, and how that was found (or why it was not)."""

    message: bytes | None
    note: str
    partial: bool = False  # a first fragment, inflated alone: the message continues
    error: ProtocolError | None = None


def _inflation(payload: bytes, opcode: int, fin: bool, truncated: bool, deflate: DeflateParams | bool | None,
               inflated: bytes | None, role: Role | None) -> _Inflation:
    """The message a compressed frame belongs to: given by the caller, or inflated from this frame alone."""
    if inflated is not None:
        return _Inflation(inflated, "inflated message supplied (the whole message)")
    if truncated:
        return _Inflation(None, "not inflated: the frame is incomplete")
    if opcode == Opcode.CONTINUATION:
        return _Inflation(None, "not inflated: a continuation frame inflates only with its message")
    sender: Role | None = None if role is None else ("client" if role == "server" else "server")
    params = deflate if isinstance(deflate, DeflateParams) and sender is not None else None
    bits = params.window_bits(sender) if params is not None and sender is not None else 15
    try:
        message = _inflate(zlib.decompressobj(-bits), payload, fin, MAX_INFLATE)
    except MessageTooBig:
        return _Inflation(None, f"inflates to more than {MAX_INFLATE} bytes: not shown")
    except CompressionError as exc:
        if params is not None and sender is not None and params.no_context_takeover(sender):
            return _Inflation(None, f"does not inflate: {exc.message}", error=exc)
        return _Inflation(None, f"does not inflate on its own ({exc.message.rsplit(': ', 1)[-1]}): it may refer to "
                                "earlier messages (context takeover); the message it belongs to gives its inflated form")
    if fin:
        return _Inflation(message, "inflated on its own")
    return _Inflation(message, "first fragment inflated on its own: the message continues in the next frames", True)


def _compressed_reading(payload: bytes, opcode: int, fin: bool, truncated: bool, payload_bit: int,
                        deflate: DeflateParams | bool | None, inflated: bytes | None, role: Role | None,
                        ) -> _PayloadReading:
    """A frame of a compressed message: what it inflates to, its text, and its compression ratio."""
    message, note, partial, error = _inflation(payload, opcode, fin, truncated, deflate, inflated, role)
    text: str | None = None
    shown = ""
    if message is not None:
        is_text = opcode == Opcode.TEXT or (opcode == Opcode.CONTINUATION and inflated is not None)
        if is_text:
            decoded, exc, _ = _decode(message, final=not partial)
            if exc is not None:
                if opcode == Opcode.TEXT and inflated is None:
                    error = InvalidUTF8(
                        f"inflated text is not valid UTF-8: byte {exc.start} of the inflated message "
                        f"({message[exc.start:exc.end].hex(' ')}) {exc.reason}", field="Payload", rfc="8.1")
                shown = f"{len(message)} B {hex_preview(message)}" if opcode != Opcode.TEXT else (
                    f"{len(message)} B, not valid UTF-8 at byte {exc.start}")
            else:
                text = decoded
                shown = f"{len(message)} B text {quote(decoded or '')}"
        else:
            shown = f"{len(message)} B {hex_preview(message)}"
    if opcode == Opcode.CONTINUATION:
        meaning = "continuation of a compressed message: deflate data"
        if message is not None:
            meaning += f"; the whole message inflates to {shown}"
    else:
        meaning = "compressed (permessage-deflate, RFC 7692)"
        if message is not None:
            if inflated is not None and not fin:
                meaning += f"; the whole message inflates to {shown}"
            else:
                meaning += f"; inflates {'so far ' if partial else ''}to {shown}"
            if fin and not partial:
                meaning += f"; {_ratio_text(len(payload), len(message))}"
        else:
            meaning += f"; {note}"
    if error is not None and error.bit_offset is None:
        error.bit_offset = payload_bit
    return _PayloadReading(meaning, error, text, inflated=message, inflate_note=note)


def _decode(data: bytes, *, final: bool) -> tuple[str | None, UnicodeDecodeError | None, int]:
    """(text, error, pending bytes): strict UTF-8, incremental so a fragment may end mid-character."""
    if final:
        try:
            return str(data, "utf-8"), None, 0
        except UnicodeDecodeError as exc:
            return None, exc, 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(data, final=final)
    except UnicodeDecodeError as exc:
        return None, exc, 0
    return text, None, len(decoder.getstate()[0])


def _text_meaning(text: str | None, exc: UnicodeDecodeError | None, pending: int, *, fin: bool,
                  truncated: bool) -> str:
    if exc is not None:
        return f"text, not valid UTF-8 at byte {exc.start} ({exc.reason})"
    kind = "text so far" if truncated else ("text" if fin else "text fragment")
    out = f"{kind} {quote(text or '')}"
    if pending:
        out += f" + {pending} byte{'s' if pending != 1 else ''} of a character that continues"
    return out


def _close_meaning(length: int, code: int | None, reason: str | None) -> str:
    if length == 0:
        return "close without a status code (1005 is reported)"
    if length == 1:
        return "1 byte: too short for a status code"
    out = f"close code {close_code_meaning(code)}" if code is not None else "close code"
    if reason:
        out += f", reason {quote(reason)}"
    return out


def leaf_fields(fields: Iterable[Field]) -> list[Field]:
    """Fields that tile the frame: a field with sub-fields is replaced by them."""
    fields = list(fields)
    parents = {f.parent for f in fields if f.parent}
    return [f for f in fields if f.name not in parents]
