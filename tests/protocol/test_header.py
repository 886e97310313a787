"""parse_header on whole headers and on every cut of them (RFC 6455 section 5.2)."""

from __future__ import annotations

import pytest

from wsexplore.protocol.header import (
    Header,
    extended_length_bytes,
    flag_names,
    header_length,
    parse_header,
    payload_length,
)

KEY = bytes.fromhex("37 fa 21 3d")

# (what, header bytes, b0, b1, payload length, masking key, header length)
WHOLE = [
    ("7-bit, unmasked", bytes.fromhex("81 05"), 0x81, 0x05, 5, None, 2),
    ("7-bit, masked", bytes.fromhex("81 85") + KEY, 0x81, 0x85, 5, KEY, 6),
    ("7-bit zero", bytes.fromhex("89 00"), 0x89, 0x00, 0, None, 2),
    ("7-bit 125", bytes.fromhex("82 fd") + KEY, 0x82, 0xFD, 125, KEY, 6),
    ("16-bit 256, unmasked", bytes.fromhex("82 7e 01 00"), 0x82, 0x7E, 256, None, 4),
    ("16-bit 65535, masked", bytes.fromhex("02 fe ff ff") + KEY, 0x02, 0xFE, 65535, KEY, 8),
    ("64-bit 65536, unmasked", bytes.fromhex("82 7f 00 00 00 00 00 01 00 00"), 0x82, 0x7F, 65536, None, 10),
    ("64-bit, MSB set, masked", bytes.fromhex("82 ff 80 00 00 00 00 00 00 05") + KEY, 0x82, 0xFF,
     (1 << 63) | 5, KEY, 14),
    ("RSV bits and a reserved opcode", bytes.fromhex("f3 00"), 0xF3, 0x00, 0, None, 2),
]


@pytest.mark.parametrize(("data", "b0", "b1", "length", "key", "hl"), [w[1:] for w in WHOLE],
                         ids=[w[0] for w in WHOLE])
def test_whole_header(data: bytes, b0: int, b1: int, length: int, key: bytes | None, hl: int) -> None:
    payload = b"\x00" * min(length, 300)
    for given in (data, data + payload, bytearray(data + payload), memoryview(data + payload)):
        h = parse_header(given)
        assert h == Header(b0, b1, length, key, hl)
        assert type(h.mask_key) is (bytes if key is not None else type(None))
        assert h.complete and h.header_length == hl == header_length(b1)
        assert h.frame_length == hl + length and payload_length(given) == length
        assert (h.fin, h.rsv1, h.rsv2, h.rsv3, h.opcode) == (
            bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F)
        assert h.masked == (key is not None) and h.len7 == b1 & 0x7F
        assert h.is_control == (b0 & 0x0F >= 8)


@pytest.mark.parametrize(("data", "b0", "b1", "length", "key", "hl"), [w[1:] for w in WHOLE],
                         ids=[w[0] for w in WHOLE])
def test_every_cut_of_a_header(data: bytes, b0: int, b1: int, length: int, key: bytes | None, hl: int) -> None:
    assert parse_header(data[:0]) is None and payload_length(data[:1]) is None
    assert parse_header(data[:1]) == Header(b0, None, None, None, 1)
    one = parse_header(data[:1])
    assert one is not None and not one.complete and one.header_length is None and one.frame_length is None
    assert not one.masked and one.len7 is None
    ext = extended_length_bytes(b1 & 0x7F)
    for cut in range(2, hl):
        h = parse_header(data[:cut])
        assert h is not None and (h.b0, h.b1, h.size) == (b0, b1, cut)
        # The length is there once its extended bytes are; the key only when all four are.
        assert h.length == (length if cut >= 2 + ext else None) == payload_length(data[:cut])
        assert h.mask_key is None and not h.complete and h.header_length == hl


def test_a_header_further_into_the_bytes() -> None:
    stream = bytes.fromhex("81 05") + b"Hello" + bytes.fromhex("82 7e 01 00")
    assert parse_header(stream, 7) == Header(0x82, 0x7E, 256, None, 4)
    assert parse_header(stream, 9) == Header(0x01, 0x00, 0, None, 2)
    assert parse_header(stream, 10) == Header(0x00, None, None, None, 1)
    assert parse_header(stream, 11) is None
    assert payload_length(stream, 7) == 256 and payload_length(stream, 0) == 5


def test_length_forms_and_flag_names() -> None:
    assert [extended_length_bytes(n) for n in (0, 125, 126, 127)] == [0, 0, 2, 8]
    assert [header_length(b1) for b1 in (0x00, 0x80, 0x7E, 0xFE, 0x7F, 0xFF)] == [2, 6, 4, 8, 10, 14]
    assert flag_names(0xC1, masked=True) == "FIN RSV1 MASK" and flag_names(0x01) == ""
