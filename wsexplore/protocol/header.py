"""The frame header of RFC 6455 section 5.2, read in one place.

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-------+-+-------------+-------------------------------+
|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
|N|V|V|V|       |S|             |   (if payload len==126/127)   |
| |1|2|3|       |K|             |                               |
+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
|     Extended payload length continued, if payload len == 127  |
+ - - - - - - - - - - - - - - - +-------------------------------+
|                               |Masking-key, if MASK set to 1  |
+-------------------------------+-------------------------------+
```

``parse_header`` reads as far as the bytes go, so the dissector, the capture
and the views can all label a cut frame the same way. The connection's fast
path reads the two first bytes itself (a function call per frame costs more
than the rest of its work), but with these names, and it only lets through
headers that :mod:`wsexplore.protocol.rules` accepts (a property test holds it
to that).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "FIN_MASK",
    "RSV1_MASK",
    "RSV2_MASK",
    "RSV3_MASK",
    "RSV_MASK",
    "OPCODE_MASK",
    "CONTROL_MASK",
    "MASK_MASK",
    "LENGTH_MASK",
    "LENGTH_16",
    "LENGTH_64",
    "MAX_7BIT",
    "MAX_16BIT",
    "MASK_KEY_BYTES",
    "Header",
    "parse_header",
    "payload_length",
    "extended_length_bytes",
    "header_length",
    "HEADER_LENGTHS",
    "flag_names",
]

# First byte.
FIN_MASK = 0x80
RSV1_MASK = 0x40
RSV2_MASK = 0x20
RSV3_MASK = 0x10
RSV_MASK = RSV1_MASK | RSV2_MASK | RSV3_MASK
OPCODE_MASK = 0x0F
#: The opcode bit that every control opcode (0x8-0xF) has and no data opcode has.
CONTROL_MASK = 0x08
# Second byte.
MASK_MASK = 0x80
LENGTH_MASK = 0x7F
#: 7-bit length values that announce an extended length.
LENGTH_16 = 126
LENGTH_64 = 127
#: The largest payload each length form can carry.
MAX_7BIT = 125
MAX_16BIT = 0xFFFF
MASK_KEY_BYTES = 4
#: The longest header: a 64-bit length and a masking key.
MAX_HEADER_BYTES = 2 + 8 + MASK_KEY_BYTES


def extended_length_bytes(len7: int) -> int:
    """Bytes of extended payload length that follow a 7-bit length of ``len7``: 0, 2 or 8."""
    return 0 if len7 < LENGTH_16 else (2 if len7 == LENGTH_16 else 8)


def _header_length(b1: int) -> int:
    return 2 + extended_length_bytes(b1 & LENGTH_MASK) + (MASK_KEY_BYTES if b1 & MASK_MASK else 0)


#: ``header_length(b1)`` for every second byte, looked up (every frame needs it, often more than once).
HEADER_LENGTHS = tuple(_header_length(b1) for b1 in range(256))


def header_length(b1: int) -> int:
    """Bytes from the start of a frame to its payload, known from the second byte alone."""
    return HEADER_LENGTHS[b1]


class Header(NamedTuple):
    """The header fields of one frame, as far as the bytes reach.

    ``b1`` is None when the bytes end after the first byte; ``length`` is None
    until the extended length (if any) is complete; ``mask_key`` is None when
    the frame is unmasked or its key has not fully arrived. ``size`` is how
    many bytes of the frame were available (at most the header's length).
    """

    b0: int
    b1: int | None
    length: int | None
    mask_key: bytes | None
    size: int

    @property
    def fin(self) -> bool:
        return bool(self.b0 & FIN_MASK)

    @property
    def rsv1(self) -> bool:
        return bool(self.b0 & RSV1_MASK)

    @property
    def rsv2(self) -> bool:
        return bool(self.b0 & RSV2_MASK)

    @property
    def rsv3(self) -> bool:
        return bool(self.b0 & RSV3_MASK)

    @property
    def rsv(self) -> int:
        """The RSV bits as they sit in the first byte (0x40, 0x20, 0x10 combined)."""
        return self.b0 & RSV_MASK

    @property
    def opcode(self) -> int:
        return self.b0 & OPCODE_MASK

    @property
    def is_control(self) -> bool:
        return self.b0 & CONTROL_MASK != 0

    @property
    def masked(self) -> bool:
        return self.b1 is not None and bool(self.b1 & MASK_MASK)

    @property
    def len7(self) -> int | None:
        return None if self.b1 is None else self.b1 & LENGTH_MASK

    @property
    def header_length(self) -> int | None:
        """Bytes before the payload: 2, 4 or 10, plus 4 for a masking key; None before the second byte."""
        return None if self.b1 is None else header_length(self.b1)

    @property
    def complete(self) -> bool:
        """Every header byte (up to the payload) is there."""
        return self.b1 is not None and self.size >= header_length(self.b1)

    @property
    def frame_length(self) -> int | None:
        """Header plus payload bytes, once the length is known."""
        if self.length is None or self.b1 is None:
            return None
        return header_length(self.b1) + self.length


def payload_length(data: bytes | bytearray | memoryview, pos: int = 0) -> int | None:
    """The payload length the frame at ``data[pos]`` announces; None until the bytes that hold it are there."""
    avail = len(data) - pos
    if avail < 2:
        return None
    len7 = data[pos + 1] & LENGTH_MASK
    if len7 < LENGTH_16:
        return len7
    if len7 == LENGTH_16:
        return (data[pos + 2] << 8) | data[pos + 3] if avail >= 4 else None
    return _from_bytes(data[pos + 2 : pos + 10], "big") if avail >= 10 else None


def parse_header(data: bytes | bytearray | memoryview, pos: int = 0) -> Header | None:
    """The header of the frame that starts at ``data[pos]``, as far as the bytes go; None without a byte."""
    avail = len(data) - pos
    if avail < 2:
        return None if avail < 1 else _new_header(Header, (data[pos], None, None, None, 1))
    b1 = data[pos + 1]
    hl = header_length(b1)
    key: bytes | None = None
    if b1 & MASK_MASK and avail >= hl:
        key = data[pos + hl - MASK_KEY_BYTES : pos + hl]
        if type(key) is not bytes:
            key = bytes(key)
    return _new_header(Header, (data[pos], b1, payload_length(data, pos), key, hl if avail >= hl else avail))


_from_bytes = int.from_bytes
_new_header = tuple.__new__  # Header(...) without its generated __new__, a third of the cost


def flag_names(b0: int, masked: bool = False) -> str:
    """'FIN RSV1 MASK': the names of the bits that are set, in wire order."""
    names = [name for name, bit in (("FIN", FIN_MASK), ("RSV1", RSV1_MASK), ("RSV2", RSV2_MASK),
                                     ("RSV3", RSV3_MASK)) if b0 & bit]
    if masked:
        names.append("MASK")
    return " ".join(names)
