"""The frame model: an immutable ``Frame`` and its minimal wire encoding (RFC 6455 section 5.2)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..display import hex_preview, quote
from .buffers import LARGE_FROM, join_bytes
from .header import (
    CONTROL_MASK,
    FIN_MASK,
    LENGTH_16,
    LENGTH_64,
    MASK_KEY_BYTES,
    MASK_MASK,
    MAX_7BIT,
    MAX_16BIT,
    OPCODE_MASK,
    RSV1_MASK,
    RSV2_MASK,
    RSV3_MASK,
    Header,
    parse_header,
)
from .masking import apply_mask, mask_frame
from .opcodes import CloseCode, Opcode, as_opcode, close_code_meaning, opcode_name

__all__ = ["Frame", "encode_close_payload", "frame_header", "frame_payload", "join_frame", "length_form", "split_frame"]

_new = object.__new__
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def frame_header(b0: int, mask_bit: int, n: int) -> bytes:
    """A frame's first bytes up to its masking key: ``b0`` (FIN, RSV bits, opcode), then the MASK bit
    and the payload length ``n`` in its minimal form."""
    if n <= MAX_7BIT:
        return bytes((b0, mask_bit | n))
    if n <= MAX_16BIT:
        return _pack_short(b0, mask_bit | LENGTH_16, n)
    return _pack_long(b0, mask_bit | LENGTH_64, n)


def length_form(length: int) -> str:
    """Which payload length form the minimal encoding of ``length`` uses."""
    if length <= MAX_7BIT:
        return "7-bit"
    if length <= MAX_16BIT:
        return "16-bit"
    return "64-bit"


def frame_payload(raw: bytes, header: Header | None, limit: int | None = None) -> bytes | None:
    """The unmasked payload of the frame at the start of ``raw`` (``header`` is its parsed header);
    None when the payload has not all arrived. ``limit``: only its first ``limit`` bytes, unmasked
    (a preview of a large frame then costs no more than a small one's)."""
    end = None if header is None else header.frame_length
    if end is None or len(raw) < end:
        return None
    start = end - header.length  # type: ignore[union-attr, operator]
    stop = end if limit is None else min(end, start + limit)
    key = header.mask_key  # type: ignore[union-attr]
    return bytes(raw[start:stop]) if key is None else apply_mask(memoryview(raw)[start:stop], key)


def encode_close_payload(code: int | None = None, reason: str = "") -> bytes:
    """Close frame body: 2-byte big-endian code, then the UTF-8 reason (section 5.5.1)."""
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    return code.to_bytes(2, "big") + reason.encode()


@dataclass(frozen=True, slots=True, repr=False)
class Frame:
    """One WebSocket frame. ``payload`` is the unmasked application data.

    ``mask_key`` set means the frame is masked on the wire with that key (client
    to server frames must be, section 5.3). Any value of the header bits can be
    represented, so that invalid frames can be built and shown.
    """

    opcode: Opcode | int
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask_key: bytes | None = None

    def __init__(
        self,
        opcode: Opcode | int,
        payload: bytes | bytearray | memoryview = b"",
        *,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        mask_key: bytes | None = None,
    ) -> None:
        if not 0 <= opcode <= 0xF:
            raise ValueError(f"opcode must fit in 4 bits, got {opcode}")
        if mask_key is not None:
            mask_key = bytes(mask_key)
            if len(mask_key) != MASK_KEY_BYTES:
                raise ValueError(f"mask_key must be 4 bytes, got {len(mask_key)}")
        setattr_ = object.__setattr__
        setattr_(self, "opcode", as_opcode(opcode))
        setattr_(self, "payload", bytes(payload))
        setattr_(self, "fin", bool(fin))
        setattr_(self, "rsv1", bool(rsv1))
        setattr_(self, "rsv2", bool(rsv2))
        setattr_(self, "rsv3", bool(rsv3))
        setattr_(self, "mask_key", mask_key)

    @classmethod
    def _trusted(
        cls, opcode: Opcode | int, payload: bytes, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool,
        mask_key: bytes | None,
    ) -> Frame:
        """Build without checks or copies, for parsers that already validated every part."""
        self = _new(cls)
        _SET_OPCODE(self, as_opcode(opcode))
        _SET_PAYLOAD(self, payload)
        _SET_FIN(self, fin)
        _SET_RSV1(self, rsv1)
        _SET_RSV2(self, rsv2)
        _SET_RSV3(self, rsv3)
        _SET_MASK_KEY(self, mask_key)
        return self

    @classmethod
    def decode(cls, data: bytes, *, payload: bytes | None = None) -> Frame:
        """The frame at the start of ``data``, which must hold a whole frame.

        No rule is checked (see ``dissect`` for that); ``payload``, when the
        caller already unmasked it, saves doing it again.
        """
        header = parse_header(data)
        end = None if header is None else header.frame_length
        if header is None or end is None or len(data) < end:
            raise ValueError(f"frame needs {end if end is not None else 'more'} bytes, got {len(data)}")
        key = header.mask_key
        if payload is None:
            payload = frame_payload(data, header)
        b0 = header.b0
        return cls._trusted(b0 & OPCODE_MASK, payload, bool(b0 & FIN_MASK), bool(b0 & RSV1_MASK),
                            bool(b0 & RSV2_MASK), bool(b0 & RSV3_MASK), key)

    # -- helpers ---------------------------------------------------------
    @classmethod
    def text(cls, text: str, **kwargs: object) -> Frame:  # type: ignore[override]
        """A text frame carrying ``text`` encoded as UTF-8."""
        return cls(Opcode.TEXT, text.encode(), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def close(cls, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "", **kwargs: object) -> Frame:
        """A close frame with a status code and a UTF-8 reason."""
        return cls(Opcode.CLOSE, encode_close_payload(code, reason), **kwargs)  # type: ignore[arg-type]

    @property
    def is_control(self) -> bool:
        return bool(self.opcode & CONTROL_MASK)

    @property
    def masked(self) -> bool:
        return self.mask_key is not None

    @property
    def data(self) -> str | bytes:
        """The payload as ``str`` for a text frame (strict UTF-8), else as bytes."""
        return self.payload.decode() if self.opcode == Opcode.TEXT else self.payload

    @property
    def close_code(self) -> int | None:
        """Status code of a close frame, None when its body is empty."""
        if self.opcode != Opcode.CLOSE or len(self.payload) < 2:
            return None
        return int.from_bytes(self.payload[:2], "big")

    @property
    def close_reason(self) -> str:
        if self.opcode != Opcode.CLOSE:
            return ""
        return self.payload[2:].decode(errors="replace")

    @property
    def length_form(self) -> str:
        return length_form(len(self.payload))

    # -- wire form -------------------------------------------------------
    def encode(self) -> bytes:
        """The frame's bytes, with the minimal payload length form."""
        header = self.encode_header()
        payload = self.payload
        n = len(payload)
        if self.mask_key is None:
            return header + payload if n < LARGE_FROM else join_bytes([header, payload], len(header) + n)
        return mask_frame(header, self.mask_key, payload)

    def encode_header(self) -> bytes:
        """The frame's header bytes up to its masking key (which ``encode`` adds with the masked payload):
        what precedes an unmasked payload on the wire, so that a large one can be written without
        being copied behind it."""
        b0 = (
            (FIN_MASK if self.fin else 0)
            | (RSV1_MASK if self.rsv1 else 0)
            | (RSV2_MASK if self.rsv2 else 0)
            | (RSV3_MASK if self.rsv3 else 0)
            | self.opcode
        )
        return frame_header(b0, MASK_MASK if self.mask_key is not None else 0, len(self.payload))

    def _repr_html_(self) -> str:
        """Jupyter view: the dissection of this frame's wire bytes (read by the side it is sent to)."""
        from .dissector import dissect  # here, not at the top: the dissector imports this module

        return dissect(self.encode(), role="server" if self.masked else "client")._repr_html_()

    def __repr__(self) -> str:
        op = self.opcode
        name = opcode_name(op)
        flags = "".join(
            f" {label}" for label, on in (("RSV1", self.rsv1), ("RSV2", self.rsv2), ("RSV3", self.rsv3)) if on
        )
        parts = [f"{name}{'' if self.fin else ' FIN=0'}{flags}"]
        if op == Opcode.CLOSE and len(self.payload) >= 2:
            code = self.close_code
            assert code is not None
            parts.append(f"code={close_code_meaning(code)}")
            if len(self.payload) > 2:
                parts.append(f"reason={_preview(self.payload[2:], text=True)}")
        else:
            parts.append(_preview(self.payload, text=op == Opcode.TEXT))
        parts.append(f"{len(self.payload)} B")
        if self.mask_key is not None:
            parts.append(f"mask={self.mask_key.hex(' ')}")
        return f"Frame({', '.join(parts)})"


def _preview(payload: bytes, *, text: bool, limit: int = 32) -> str:
    """A text payload quoted when it is UTF-8, anything else in hex (the forms of ``wsexplore.display``)."""
    if text:
        try:
            return quote(payload.decode(), limit)
        except UnicodeDecodeError:
            pass
    return hex_preview(payload, limit)


# Slot setters bypass the frozen ``__setattr__``: a third of the cost of ``object.__setattr__``.
_SET_OPCODE = Frame.opcode.__set__  # type: ignore[attr-defined]
_SET_PAYLOAD = Frame.payload.__set__  # type: ignore[attr-defined]
_SET_FIN = Frame.fin.__set__  # type: ignore[attr-defined]
_SET_RSV1 = Frame.rsv1.__set__  # type: ignore[attr-defined]
_SET_RSV2 = Frame.rsv2.__set__  # type: ignore[attr-defined]
_SET_RSV3 = Frame.rsv3.__set__  # type: ignore[attr-defined]
_SET_MASK_KEY = Frame.mask_key.__set__  # type: ignore[attr-defined]


def join_frame(head: bytes, payload: bytes) -> bytes:
    """A frame's bytes from its whole header (``head``, masking key included) and its unmasked payload."""
    if head[1] & MASK_MASK:
        return mask_frame(head[:-MASK_KEY_BYTES], head[-MASK_KEY_BYTES:], payload)
    return head + payload


def split_frame(head: bytes, payload: bytes) -> Frame:
    """The frame a whole header and its unmasked payload make up, with nothing copied."""
    header = parse_header(head)
    b0 = head[0]
    return Frame._trusted(b0 & OPCODE_MASK, payload, bool(b0 & FIN_MASK), bool(b0 & RSV1_MASK),
                          bool(b0 & RSV2_MASK), bool(b0 & RSV3_MASK), header.mask_key)  # type: ignore[union-attr]
