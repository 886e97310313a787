"""The rules of RFC 6455 a single frame can break, written once.

The dissector (which explains) and the connection (which must be fast) both ask
these functions, so a frame is judged the same way everywhere. Bit offsets are
counted from the first bit of the frame.
"""

from __future__ import annotations

from typing import Literal

from .errors import FramingError, InvalidCloseCode, InvalidUTF8, ProtocolError
from .header import (
    CONTROL_MASK,
    FIN_MASK,
    LENGTH_16,
    LENGTH_64,
    LENGTH_MASK,
    MASK_MASK,
    MAX_7BIT,
    MAX_16BIT,
    OPCODE_MASK,
    RSV1_MASK,
    RSV2_MASK,
    RSV3_MASK,
)
from .opcodes import Opcode, close_code_allowed, close_code_meaning

__all__ = [
    "Role",
    "header_violation",
    "length_violation",
    "close_payload_violation",
    "utf8_violation",
    "utf8_error",
    "compressed_bit_violation",
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "KNOWN_OPCODES",
]

Role = Literal["server", "client"]

DATA_OPCODES = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
KNOWN_OPCODES = DATA_OPCODES | CONTROL_OPCODES

# (name, bit, bit offset in the frame)
_RSV = (("RSV1", RSV1_MASK, 1), ("RSV2", RSV2_MASK, 2), ("RSV3", RSV3_MASK, 3))


def header_violation(
    b0: int,
    b1: int | None = None,
    length: int | None = None,
    *,
    role: Role | None = "server",
    rsv_allowed: int = 0,
    permessage_deflate: bool = False,
) -> ProtocolError | None:
    """The first header rule broken, in bit order, or None.

    ``b1`` and ``length`` may be None when the bytes end before them; only the
    rules that can be judged are checked. ``role`` is the side *reading* the
    frame: a server requires masked frames, a client unmasked ones. ``rsv_allowed``
    holds the RSV bits that a negotiated extension gives meaning to.
    ``permessage_deflate`` (RFC 7692 negotiated) allows RSV1 where it may mark a
    compressed message, see :func:`compressed_bit_violation`.
    """
    opcode = b0 & OPCODE_MASK
    if opcode in CONTROL_OPCODES and not b0 & FIN_MASK:
        return FramingError(
            f"control frame (opcode 0x{opcode:X}) has FIN=0: control frames must not be fragmented",
            field="FIN", bit_offset=0, rfc="5.5",
        )
    if permessage_deflate:
        err = compressed_bit_violation(b0)
        if err is not None:
            return err
        rsv_allowed |= RSV1_MASK
    for name, bit, offset in _RSV:
        if b0 & bit and not rsv_allowed & bit:
            return FramingError(
                f"{name} is 1 but no extension defining it was negotiated",
                field=name, bit_offset=offset, rfc="5.2",
            )
    if opcode not in KNOWN_OPCODES:
        kind = "control" if opcode & CONTROL_MASK else "non-control"
        return FramingError(
            f"opcode 0x{opcode:X} is reserved for further {kind} frames",
            field="Opcode", bit_offset=4, rfc="5.2",
        )
    if b1 is None:
        return None
    masked = bool(b1 & MASK_MASK)
    if role == "server" and not masked:
        return FramingError(
            "client frame is not masked: a server must close the connection on an unmasked frame",
            field="MASK", bit_offset=8, rfc="5.1",
        )
    if role == "client" and masked:
        return FramingError(
            "server frame is masked: a client must close the connection on a masked frame",
            field="MASK", bit_offset=8, rfc="5.1",
        )
    len7 = b1 & LENGTH_MASK
    if opcode in CONTROL_OPCODES and len7 > MAX_7BIT:
        return FramingError(
            "control frame payload length must be 125 bytes or less"
            + (f", got {length}" if length is not None else f" (length field is {len7})"),
            field="Payload length", bit_offset=9, rfc="5.5",
        )
    if length is None:
        return None
    return length_violation(len7, length)


def length_violation(len7: int, length: int) -> FramingError | None:
    """An extended payload length must take the fewest bytes and keep its most significant bit 0 (section 5.2).

    ``len7`` is the 7-bit length field, ``length`` the payload length it leads to.
    """
    if len7 == LENGTH_16 and length <= MAX_7BIT:
        return FramingError(
            f"payload length {length} used the 16-bit form when the 7-bit form would have sufficed"
            " (the minimal number of bytes must be used)",
            field="Extended payload length", bit_offset=16, rfc="5.2",
        )
    if len7 == LENGTH_64:
        if length >> 63:
            return FramingError(
                "64-bit payload length has its most significant bit set",
                field="Extended payload length", bit_offset=16, rfc="5.2",
            )
        if length <= MAX_16BIT:
            return FramingError(
                f"payload length {length} used the 64-bit form when the 16-bit form would have sufficed"
                " (the minimal number of bytes must be used)",
                field="Extended payload length", bit_offset=16, rfc="5.2",
            )
    return None


def compressed_bit_violation(b0: int, *, compressed_message_in_progress: bool = False) -> FramingError | None:
    """RSV1 as the "Per-Message Compressed" bit of permessage-deflate (RFC 7692 section 6).

    Only asked once the extension is negotiated (``header_violation`` already
    let RSV1 through): the bit marks the first frame of a compressed data
    message, so it must not be set on a control frame or on a continuation
    frame. ``compressed_message_in_progress`` only words the reason.
    """
    if not b0 & RSV1_MASK:
        return None
    opcode = b0 & OPCODE_MASK
    if opcode in CONTROL_OPCODES:
        return FramingError(
            f"RSV1 (per-message compressed) is set on a control frame (opcode 0x{opcode:X}):"
            " control frames are never compressed",
            field="RSV1", bit_offset=1, rfc="RFC 7692 section 6",
        )
    if opcode == Opcode.CONTINUATION:
        whose = "a compressed" if compressed_message_in_progress else "a"
        return FramingError(
            f"RSV1 (per-message compressed) is set on a continuation frame of {whose} message:"
            " only the first frame of a message carries it",
            field="RSV1", bit_offset=1, rfc="RFC 7692 section 6",
        )
    return None


def utf8_error(exc: UnicodeDecodeError, payload_bit: int, *, skip: int = 0, at: int = 0, field: str = "Payload",
               what: str = "text payload") -> InvalidUTF8:
    """An ``InvalidUTF8`` pointing at the first bad byte that ``exc`` found.

    ``payload_bit`` is the bit offset of the payload's first byte. A decoder fed the
    payload in pieces decodes ``exc.object``: the ``skip`` bytes it held back from the
    pieces before (an unfinished character), then the piece that starts at payload
    byte ``at``. The byte named is counted from the start of the payload.
    """
    index = at + exc.start - skip
    bad = exc.object[exc.start:exc.end]
    return InvalidUTF8(
        f"{what} is not valid UTF-8: byte {index} ({bytes(bad).hex(' ')}) {exc.reason}",
        field=field, bit_offset=payload_bit + 8 * max(index, 0), rfc="8.1",
    )


def utf8_violation(payload: bytes, payload_bit: int, *, field: str = "Payload",
                   what: str = "text payload") -> InvalidUTF8 | None:
    """None when ``payload`` is complete, valid UTF-8."""
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        return utf8_error(exc, payload_bit, field=field, what=what)
    return None


def close_payload_violation(payload: bytes, payload_bit: int) -> ProtocolError | None:
    """Rules for a close frame's body (section 5.5.1 and 7.4)."""
    if not payload:
        return None
    if len(payload) == 1:
        return FramingError(
            "close payload of 1 byte: a close body starts with a 2-byte status code",
            field="Payload", bit_offset=payload_bit, rfc="5.5.1",
        )
    code = int.from_bytes(payload[:2], "big")
    if not close_code_allowed(code):
        return InvalidCloseCode(
            f"close code {close_code_meaning(code)}: not allowed in a close frame",
            field="Close code", bit_offset=payload_bit, rfc="7.4.1",
        )
    return utf8_violation(payload[2:], payload_bit + 16, field="Close reason", what="close reason")
