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
from dataclasses import dataclass
from typing import Iterable, Union

from bitarray import frozenbitarray

from .deflate import CompressionError, DeflateParams, PerMessageDeflate
from .errors import InvalidUTF8, MessageTooBig, ProtocolError, TruncatedFrame
from .frames import Frame
from .masking import apply_mask
from .opcodes import Opcode, close_code_meaning, opcode_meaning
from .rules import Role, close_payload_violation, header_violation, utf8_error

__all__ = [
    "FieldSpec",
    "FIELD_TABLE",
    "FIELD_SPECS",
    "Field",
    "Dissection",
    "dissect",
    "dissect_stream",
    "leaf_fields",
    "MAX_INFLATE",
]

#: The most bytes the dissector inflates a compressed payload to (a deflate bomb stays a small preview).
MAX_INFLATE = 16 * 1024 * 1024

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
        if not self.compressed or self.inflated is None or not self.data or not self.data[0] & 0x40:
            return None
        if not self.data[0] & 0x80 or not self.inflated:
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
        value = self.data[0] & 0x0F
        try:
            return Opcode(value)
        except ValueError:
            return value

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
        name = "?" if op is None else (op.name if isinstance(op, Opcode) else f"0x{op:X}")
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
            inflated: bytes | str | None = None) -> Dissection:
    """Dissect the frame at the start of ``data`` (bytes after it are ignored).

    ``role`` is the side reading the bytes: "server" expects masked frames,
    "client" unmasked ones, None judges neither. ``rsv_allowed`` holds the RSV
    bits (0x40, 0x20, 0x10) that a negotiated extension defines.

    ``deflate`` says permessage-deflate was negotiated (True, the agreed
    ``DeflateParams``, or a connection's ``PerMessageDeflate``). ``inflated`` is the whole message this frame belongs
    to, once inflated, when the caller knows it (needed with context
    takeover); giving it for a continuation frame says its message is compressed.
    """
    _check_args(role, rsv_allowed)
    if isinstance(inflated, str):
        inflated = inflated.encode()
    elif inflated is not None:
        inflated = bytes(inflated)
    return _dissect_at(_as_bytes(data), 0, role, rsv_allowed, _deflate_arg(deflate), inflated)


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
    import zlib

    from .deflate import _inflate

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
    if not isinstance(rsv_allowed, int) or rsv_allowed & ~0x70:
        raise ValueError(f"rsv_allowed must combine the bits 0x40, 0x20, 0x10, got {rsv_allowed!r}")


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


# -- the dissection itself -----------------------------------------------------
_PREVIEW = 16  # bytes shown in a display string


def _hex(data: bytes | memoryview, limit: int = _PREVIEW) -> str:
    shown = bytes(data[:limit]).hex(" ")
    return shown + " ..." if len(data) > limit else shown


def _text_preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


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
            display = display if display.endswith("...") else (display + " ..." if display else "...")
        f = Field(name, start_bit, width, bits, value, display, meaning, FIELD_SPECS[name].rfc, parent)
        self.fields.append(f)
        return f


def _dissect_at(buf: bytes, offset: int, role: Role | None, rsv_allowed: int,
                deflate: DeflateParams | bool | None = None, inflated: bytes | None = None) -> Dissection:
    view = memoryview(buf)[offset:]
    avail = len(view)
    b = _Builder(view)

    b0 = view[0] if avail >= 1 else None
    b1 = view[1] if avail >= 2 else None

    # First byte: FIN, RSV1-3, opcode (section 5.2).
    if b0 is not None:
        fin = b0 >> 7
        b.add("FIN", 0, 1, fin, str(fin), "final fragment" if fin else "not final: more fragments follow")
        for i, (name, mask) in enumerate((("RSV1", 0x40), ("RSV2", 0x20), ("RSV3", 0x10)), start=1):
            bit = 1 if b0 & mask else 0
            if mask == 0x40 and deflate:
                meaning = _compressed_bit_meaning(bit, b0 & 0x0F)
            elif not bit:
                meaning = "no extension meaning"
            elif rsv_allowed & mask:
                meaning = "set: defined by a negotiated extension" + (
                    " (permessage-deflate: compressed)" if mask == 0x40 else "")
            else:
                meaning = "set, but no extension defining it was negotiated"
            b.add(name, i, 1, bit, str(bit), meaning)
        opcode = b0 & 0x0F
        b.add("Opcode", 4, 4, opcode, f"0x{opcode:X}", opcode_meaning(opcode))

    # Second byte: MASK, 7-bit payload length.
    masked = False
    len7 = 0
    if b1 is not None:
        masked = bool(b1 & 0x80)
        b.add("MASK", 8, 1, int(masked), str(int(masked)),
              "masked: client-to-server" if masked else "unmasked: server-to-client")
        len7 = b1 & 0x7F
        if len7 < 126:
            meaning = f"7-bit length {len7}"
        else:
            meaning = f"{len7}: a {16 if len7 == 126 else 64}-bit extended length follows"
        b.add("Payload length", 9, 7, len7, str(len7), meaning)

    # Extended payload length, masking key.
    ext_bytes = {126: 2, 127: 8}.get(len7, 0)
    length: int | None = None
    pos = 2  # byte position of the next field
    if b1 is not None:
        if len7 < 126:
            length = len7
        else:
            raw = bytes(view[2:2 + ext_bytes])
            value = int.from_bytes(raw, "big")
            if len(raw) == ext_bytes:
                length = value
                b.add("Extended payload length", 16, 8 * ext_bytes, value, str(value),
                      f"{8 * ext_bytes}-bit length {value}")
            else:
                b.add("Extended payload length", 16, 8 * ext_bytes, value, raw.hex(" "), "")
        pos = 2 + ext_bytes
    key: bytes | None = None
    if b1 is not None and masked:
        raw = bytes(view[pos:pos + 4])
        if len(raw) == 4:
            key = raw
            b.add("Masking key", 8 * pos, 32, raw, raw.hex(" "), "payload byte i XOR key byte i mod 4")
        else:
            b.add("Masking key", 8 * pos, 32, raw, raw.hex(" "), "")
        pos += 4

    # Truncation: where the bytes end, and how many more are needed.
    header_done = b1 is not None and avail >= pos
    if b1 is None:
        needed, exact = 2, False
    elif length is None:
        needed, exact = pos, False
    else:
        needed, exact = pos + length, True
    truncated = avail < needed
    missing = max(0, needed - avail)
    size = needed if not truncated else avail

    # Payload (what exists of it).
    payload_bit = 8 * pos
    wire = view[pos:min(avail, needed)] if header_done else view[0:0]
    wire_bytes = bytes(wire)
    payload = apply_mask(wire_bytes, key) if key is not None and wire_bytes else wire_bytes
    opcode_v = b0 & 0x0F if b0 is not None else None
    fin_v = bool(b0 & 0x80) if b0 is not None else False
    opcode_data = opcode_v is not None and opcode_v in (Opcode.TEXT, Opcode.BINARY)
    # permessage-deflate: RSV1 on a message's first frame, or a continuation whose message the caller inflated.
    compressed = bool(deflate) and b0 is not None and (
        (bool(b0 & 0x40) and opcode_data) or (opcode_v == Opcode.CONTINUATION and inflated is not None))
    extension_data = b0 is not None and bool(b0 & 0x70 & rsv_allowed & ~(0x40 if deflate else 0))

    # Judgement: header rules first (they are earliest in bit order), then truncation,
    # then the payload rules of complete frames.
    error: ProtocolError | None = None
    if b0 is not None:
        error = header_violation(b0, b1, length, role=role, rsv_allowed=rsv_allowed,
                                 permessage_deflate=bool(deflate))
    if error is None and truncated:
        cut = _cut_field(avail, b1, len7, masked, pos)
        error = TruncatedFrame(
            f"the bytes end {'before' if cut[1] == 8 * avail else 'inside'} {cut[0]}: {'at least ' if not exact else ''}{missing} more "
            f"byte{'s' if missing != 1 else ''} needed",
            missing=missing, field=cut[0], bit_offset=cut[1], rfc="5.2",
        )

    text: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    payload_meaning = ""
    sub: list[tuple[str, int, int, int | bytes, str, str]] = []
    message: bytes | None = None
    inflate_note = ""
    if header_done and length is not None and compressed and not extension_data:
        message, text, inflate_note, payload_meaning, err = _compressed_payload(
            payload, opcode_v, fin_v, truncated, deflate, inflated, role)
        if error is None and err is not None:
            if err.bit_offset is None:
                err.bit_offset = payload_bit
            error = err
    elif header_done and length is not None and not extension_data:
        if opcode_v == Opcode.TEXT:
            text, exc, pending = _decode(payload, final=fin_v and not truncated)
            if exc is not None and not truncated and error is None:
                error = utf8_error(exc, payload_bit)
            payload_meaning = _text_meaning(text, exc, pending, fin=fin_v, truncated=truncated)
        elif opcode_v == Opcode.CLOSE:
            if not truncated and error is None:
                error = close_payload_violation(payload, payload_bit)
            if length >= 2 and len(payload) >= 1:
                code_bytes = payload[:2]
                code = int.from_bytes(code_bytes, "big")
                if len(code_bytes) == 2:
                    close_code = code
                    close_reason = "" if length == 2 else None
                    sub.append(("Close code", payload_bit, 16, code, str(code),
                                close_code_meaning(code) + (" (unmasked)" if masked else "")))
                else:
                    sub.append(("Close code", payload_bit, 16, code, code_bytes.hex(), ""))
            if length > 2 and len(payload) > 2:
                reason, exc, _ = _decode(payload[2:], final=not truncated)
                close_reason = reason
                if exc is not None:
                    meaning = f"not valid UTF-8 at byte {exc.start} of the reason"
                    shown = _hex(payload[2:])
                else:
                    meaning = f"UTF-8, {length - 2} bytes"
                    shown = _text_preview(reason or "")
                sub.append(("Close reason", payload_bit + 16, 8 * (length - 2), payload[2:], shown, meaning))
            payload_meaning = _close_meaning(length, close_code, close_reason)
        elif opcode_v == Opcode.CONTINUATION:
            payload_meaning = "continuation of a message (its type is set by the first fragment)"
        elif opcode_v == Opcode.BINARY:
            payload_meaning = "binary data"
        elif opcode_v in (Opcode.PING, Opcode.PONG):
            payload_meaning = "application data (echoed in the pong)" if opcode_v == Opcode.PING else "application data"
    elif extension_data:
        payload_meaning = "extension data (set RSV bits are defined by a negotiated extension): not decoded"

    if header_done and length is not None:
        parts = [f"{length} bytes" if length else "empty"]
        if key is not None and payload:
            parts.append(f"unmasked {_hex(payload)}")
        if payload_meaning:
            parts.append(payload_meaning)
        b.add("Payload", payload_bit, 8 * length, payload, _hex(wire_bytes) if wire_bytes else "(empty)",
              "; ".join(parts))
        for name, start, width, value, display, meaning in sub:
            b.add(name, start, width, value, display, meaning, parent="Payload")

    frame: Frame | None = None
    if not truncated and b0 is not None:
        frame = Frame(b0 & 0x0F, payload, fin=fin_v, rsv1=bool(b0 & 0x40), rsv2=bool(b0 & 0x20),
                      rsv3=bool(b0 & 0x10), mask_key=key)

    return Dissection(
        data=bytes(view[:size]) if (offset or size != len(buf)) else buf,
        offset=offset,
        fields=tuple(b.fields),
        frame=frame,
        error=error,
        size=size,
        role=role,
        rsv_allowed=rsv_allowed,
        payload_length=length,
        payload=payload,
        masked_payload=wire_bytes if key is not None else None,
        text=text,
        close_code=close_code,
        close_reason=close_reason,
        missing=missing,
        deflate=deflate,
        compressed=compressed,
        inflated=message,
        inflate_note=inflate_note,
    )


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


def _compressed_payload(payload: bytes, opcode: int | None, fin: bool, truncated: bool,
                        deflate: DeflateParams | bool | None, inflated: bytes | None, role: Role | None,
                        ) -> tuple[bytes | None, str | None, str, str, ProtocolError | None]:
    """(inflated bytes, text, note, Payload meaning, violation) of a frame of a compressed message."""
    first = opcode != Opcode.CONTINUATION
    sender: Role | None = None if role is None else ("client" if role == "server" else "server")
    known = isinstance(deflate, DeflateParams) and sender is not None
    bits = deflate.window_bits(sender) if known else 15  # type: ignore[union-attr,arg-type]
    alone = known and deflate.no_context_takeover(sender)  # type: ignore[union-attr,arg-type]
    error: ProtocolError | None = None
    partial = False
    if inflated is not None:
        message: bytes | None = inflated
        note = "inflated message supplied (the whole message)"
    elif truncated:
        message, note = None, "not inflated: the frame is incomplete"
    elif not first:
        message, note = None, "not inflated: a continuation frame inflates only with its message"
    else:
        import zlib

        from .deflate import _inflate

        try:
            message = _inflate(zlib.decompressobj(-bits), payload, fin, MAX_INFLATE)
            partial = not fin
            note = ("inflated on its own" if fin else
                    "first fragment inflated on its own: the message continues in the next frames")
        except MessageTooBig:
            message, note = None, f"inflates to more than {MAX_INFLATE} bytes: not shown"
        except CompressionError as exc:
            message = None
            if alone:
                error, note = exc, f"does not inflate: {exc.message}"
            else:
                note = (f"does not inflate on its own ({exc.message.rsplit(': ', 1)[-1]}): it may refer to earlier messages "
                        "(context takeover); the message it belongs to gives its inflated form")
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
                shown = f"{len(message)} B {_hex(message)}" if opcode != Opcode.TEXT else (
                    f"{len(message)} B, not valid UTF-8 at byte {exc.start}")
            else:
                text = decoded
                shown = f"{len(message)} B text {_text_preview(decoded or '')}"
        else:
            shown = f"{len(message)} B {_hex(message)}"
    where = "so far " if partial else ""
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
                meaning += f"; inflates {where}to {shown}"
            if fin and not partial:
                meaning += f"; {_ratio_text(len(payload), len(message))}"
        else:
            meaning += f"; {note}"
    return message, text, note, meaning, error


def _cut_field(avail: int, b1: int | None, len7: int, masked: bool, pos: int) -> tuple[str, int]:
    """The field the end of the bytes falls in (or just before), and where it starts."""
    if avail == 0:
        return "FIN", 0
    if b1 is None:
        return "MASK", 8
    ext_bytes = {126: 2, 127: 8}.get(len7, 0)
    if ext_bytes and avail < 2 + ext_bytes:
        return "Extended payload length", 16
    if masked and avail < pos:
        return "Masking key", 8 * (pos - 4)
    return "Payload", 8 * pos


def _decode(data: bytes, *, final: bool) -> tuple[str | None, UnicodeDecodeError | None, int]:
    """(text, error, pending bytes): strict UTF-8, incremental so a fragment may end mid-character."""
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
    out = f"{kind} {_text_preview(text or '')}"
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
        out += f", reason {_text_preview(reason)}"
    return out


def leaf_fields(fields: Iterable[Field]) -> list[Field]:
    """Fields that tile the frame: a field with sub-fields is replaced by them."""
    fields = list(fields)
    parents = {f.parent for f in fields if f.parent}
    return [f for f in fields if f.name not in parents]
