"""The dissector: every field of real frames, every violation with its field, bit and close code."""

from __future__ import annotations

import pytest
from bitarray import bitarray, frozenbitarray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsexplore.protocol.dissector import (
    FIELD_SPECS,
    FIELD_TABLE,
    Dissection,
    dissect,
    dissect_stream,
    judge,
    leaf_fields,
)
from wsexplore.protocol.errors import FramingError, InvalidCloseCode, InvalidUTF8, TruncatedFrame
from wsexplore.protocol.frames import Frame, encode_close_payload
from wsexplore.protocol.masking import apply_mask
from wsexplore.protocol.opcodes import Opcode

# A real Chromium sent "发送数据" with masking key 55 d0 e1 e6, then (same TCP read) binary 01 02 03.
CHROMIUM_TEXT = bytes.fromhex("81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48")
CHROMIUM_BINARY = bytes.fromhex("82 83 e8 5d 0b 2b e9 5f 08")
KEY = bytes.fromhex("55 d0 e1 e6")


def bits_of(data: bytes) -> str:
    b = bitarray(endian="big")
    b.frombytes(data)
    return b.to01()


def masked(b0: int, payload: bytes, key: bytes = KEY) -> bytes:
    """A client frame with a 7-bit length (the header byte is given, so any bits can be set)."""
    assert len(payload) <= 125
    return bytes((b0, 0x80 | len(payload))) + key + apply_mask(payload, key)


def assert_tiles(d: Dissection) -> None:
    """The leaf fields cover the frame's bits in order, without gap or overlap."""
    pos = 0
    joined = bitarray(endian="big")
    for f in leaf_fields(d.fields):
        assert f.start_bit == pos, (f, pos)
        assert len(f.bits) <= f.bit_width
        pos += len(f.bits)
        joined += f.bits
        if len(f.bits) < f.bit_width:
            break
    assert joined.to01() == bits_of(d.data)


# -- fields of real frames -----------------------------------------------------
def test_chromium_text_frame_fields() -> None:
    d = dissect(CHROMIUM_TEXT)
    assert d.ok and d.error is None
    table = [(f.name, f.start_bit, f.bit_width, f.value, f.display) for f in d.fields]
    assert table == [
        ("FIN", 0, 1, 1, "1"),
        ("RSV1", 1, 1, 0, "0"),
        ("RSV2", 2, 1, 0, "0"),
        ("RSV3", 3, 1, 0, "0"),
        ("Opcode", 4, 4, 1, "0x1"),
        ("MASK", 8, 1, 1, "1"),
        ("Payload length", 9, 7, 12, "12"),
        ("Masking key", 16, 32, KEY, "55 d0 e1 e6"),
        ("Payload", 48, 96, "发送数据".encode(), "b0 5f 70 0f d5 51 07 73 e5 36 6c 48"),
    ]
    f = {x.name: x for x in d.fields}
    assert f["FIN"].bits.to01() == "1"
    assert f["Opcode"].bits.to01() == "0001"
    assert f["MASK"].bits.to01() == "1"
    assert f["Payload length"].bits.to01() == "0001100"
    assert f["Masking key"].bits.to01() == bits_of(KEY)
    assert f["Payload"].bits.to01() == bits_of(CHROMIUM_TEXT[6:])  # the wire (masked) bits
    assert isinstance(f["Payload"].bits, bitarray) and f["Payload"].bits.endian == "big"
    assert f["Opcode"].meaning == "0x1: text frame"
    assert f["FIN"].meaning == "final fragment"
    assert f["MASK"].meaning == "masked: client-to-server"
    assert f["Payload length"].meaning == "7-bit length 12"
    assert "e5 8f 91 e9 80 81 e6 95 b0 e6 8d ae" in f["Payload"].meaning  # unmasked bytes
    assert "发送数据" in f["Payload"].meaning
    assert [x.rfc for x in d.fields] == [FIELD_SPECS[x.name].rfc for x in d.fields]
    assert d.text == "发送数据"
    assert d.payload == "发送数据".encode()
    assert d.masked_payload == CHROMIUM_TEXT[6:]
    assert d.frame == Frame(Opcode.TEXT, "发送数据".encode(), mask_key=KEY)
    assert (d.size, d.offset, d.data, d.missing) == (18, 0, CHROMIUM_TEXT, 0)
    assert repr(d) == "<Dissection TEXT 18 B ok>"
    assert_tiles(d)


def test_dissect_reads_only_the_first_frame() -> None:
    d = dissect(CHROMIUM_TEXT + CHROMIUM_BINARY)
    assert d.size == 18 and d.data == CHROMIUM_TEXT and d.text == "发送数据"


def test_dissect_stream_two_chromium_frames() -> None:
    text, binary = dissect_stream(CHROMIUM_TEXT + CHROMIUM_BINARY)
    assert (text.offset, text.size, text.ok) == (0, 18, True)
    assert (binary.offset, binary.size, binary.ok) == (18, 9, True)
    assert binary.data == CHROMIUM_BINARY
    assert binary.frame == Frame(Opcode.BINARY, b"\x01\x02\x03", mask_key=bytes.fromhex("e8 5d 0b 2b"))
    assert binary.field("Payload").start_bit == 48  # bits count from the frame's own start
    assert binary.payload == b"\x01\x02\x03" and binary.text is None
    assert repr(binary) == "<Dissection @18 BINARY 9 B ok>"


def test_16_bit_length_fields() -> None:
    payload = bytes(range(256)) + bytes(44)
    d = dissect(Frame(Opcode.BINARY, payload, mask_key=KEY).encode())
    assert d.ok
    assert [(f.name, f.start_bit, f.bit_width) for f in d.fields][6:] == [
        ("Payload length", 9, 7),
        ("Extended payload length", 16, 16),
        ("Masking key", 32, 32),
        ("Payload", 64, 8 * 300),
    ]
    assert d.field("Payload length").value == 126
    ext = d.field("Extended payload length")
    assert (ext.value, ext.display, ext.bits.to01()) == (300, "300", bits_of((300).to_bytes(2, "big")))
    assert ext.meaning == "16-bit length 300"
    assert d.field("Payload").value == payload
    assert d.payload_length == 300 and d.size == 2 + 2 + 4 + 300
    assert_tiles(d)


def test_64_bit_length_fields() -> None:
    payload = b"\xab" * 70000
    d = dissect(Frame(Opcode.BINARY, payload).encode(), role="client")
    assert d.ok
    assert [(f.name, f.start_bit, f.bit_width) for f in d.fields][5:] == [
        ("MASK", 8, 1),
        ("Payload length", 9, 7),
        ("Extended payload length", 16, 64),
        ("Payload", 80, 8 * 70000),
    ]
    assert d.field("Payload length").value == 127
    assert d.field("Extended payload length").value == 70000
    assert d.field("Extended payload length").meaning == "64-bit length 70000"
    assert d.field("MASK").meaning == "unmasked: server-to-client"
    assert d.masked_payload is None and d.payload == payload
    assert_tiles(d)


def test_close_frame_sub_fields() -> None:
    body = encode_close_payload(1000, "bye")
    d = dissect(masked(0x88, body))
    assert d.ok
    names = [(f.name, f.start_bit, f.bit_width, f.parent) for f in d.fields][-3:]
    assert names == [("Payload", 48, 40, None), ("Close code", 48, 16, "Payload"),
                     ("Close reason", 64, 24, "Payload")]
    assert d.field("Close code").value == 1000
    assert d.field("Close code").meaning.startswith("1000: normal closure")
    assert d.field("Close reason").value == b"bye"
    assert (d.close_code, d.close_reason) == (1000, "bye")
    assert d.text is None
    assert_tiles(d)


def test_empty_payload_has_a_zero_width_payload_field() -> None:
    d = dissect(bytes((0x89, 0x80)) + KEY)
    assert d.ok and d.field("Payload").bit_width == 0 and d.field("Payload").display == "(empty)"
    assert d.frame == Frame(Opcode.PING, b"", mask_key=KEY)


def test_field_table_is_the_single_source_of_names() -> None:
    assert [s.name for s in FIELD_TABLE] == [
        "FIN", "RSV1", "RSV2", "RSV3", "Opcode", "MASK", "Payload length", "Extended payload length",
        "Masking key", "Payload", "Close code", "Close reason",
    ]
    assert all(s.rfc and s.description and s.label for s in FIELD_TABLE)


# -- violations ----------------------------------------------------------------
VIOLATIONS = [
    # (description, bytes, kwargs, error class, field, bit offset, close code)
    ("reserved opcode 0x3", masked(0x83, b""), {}, FramingError, "Opcode", 4, 1002),
    ("reserved opcode 0xB", masked(0x8B, b""), {}, FramingError, "Opcode", 4, 1002),
    ("RSV1 without extension", masked(0xC1, b"a"), {}, FramingError, "RSV1", 1, 1002),
    ("RSV2 without extension", masked(0xA1, b"a"), {}, FramingError, "RSV2", 2, 1002),
    ("RSV3 without extension", masked(0x91, b"a"), {}, FramingError, "RSV3", 3, 1002),
    ("RSV2 when only RSV1 is negotiated", masked(0xA1, b"a"), {"rsv_allowed": 0x40}, FramingError, "RSV2", 2, 1002),
    ("fragmented ping", masked(0x09, b""), {}, FramingError, "FIN", 0, 1002),
    ("fragmented close", masked(0x08, b""), {}, FramingError, "FIN", 0, 1002),
    ("control payload 126", bytes((0x89, 0xFE, 0, 126)) + KEY + bytes(126), {}, FramingError,
     "Payload length", 9, 1002),
    ("16-bit length for 5 bytes", bytes((0x82, 0xFE, 0, 5)) + KEY + bytes(5), {}, FramingError,
     "Extended payload length", 16, 1002),
    ("64-bit length for 65535 bytes", bytes((0x82, 0xFF)) + (65535).to_bytes(8, "big") + KEY + bytes(65535), {},
     FramingError, "Extended payload length", 16, 1002),
    ("64-bit length for 125 bytes", bytes((0x82, 0x7F)) + (125).to_bytes(8, "big") + bytes(125), {"role": "client"},
     FramingError, "Extended payload length", 16, 1002),
    ("64-bit length with MSB set", bytes((0x82, 0xFF)) + (1 << 63 | 5).to_bytes(8, "big") + KEY + bytes(5), {},
     FramingError, "Extended payload length", 16, 1002),
    ("unmasked client frame", b"\x81\x05hello", {}, FramingError, "MASK", 8, 1002),
    ("masked server frame", masked(0x81, b"hello"), {"role": "client"}, FramingError, "MASK", 8, 1002),
    ("close payload of 1 byte", masked(0x88, b"\x03"), {}, FramingError, "Payload", 48, 1002),
    ("close code 1005", masked(0x88, encode_close_payload(1005)), {}, InvalidCloseCode, "Close code", 48, 1002),
    ("close code 999", masked(0x88, encode_close_payload(999)), {}, InvalidCloseCode, "Close code", 48, 1002),
    ("close code 2999", masked(0x88, encode_close_payload(2999, "x")), {}, InvalidCloseCode, "Close code", 48, 1002),
    ("close code 5000, unmasked", bytes((0x88, 2)) + (5000).to_bytes(2, "big"), {"role": "client"},
     InvalidCloseCode, "Close code", 16, 1002),
    ("close reason not UTF-8", masked(0x88, b"\x03\xe8ok\xff"), {}, InvalidUTF8, "Close reason", 48 + 16 + 16, 1007),
    ("text not UTF-8", masked(0x81, b"ab\xc0\xafcd"), {}, InvalidUTF8, "Payload", 48 + 16, 1007),
    ("final text ends mid-character", masked(0x81, "发".encode()[:2]), {}, InvalidUTF8, "Payload", 48, 1007),
    ("text fragment with an invalid byte", masked(0x01, b"a\xffb"), {}, InvalidUTF8, "Payload", 56, 1007),
    ("surrogate in text", masked(0x81, b"\xed\xa0\x80"), {}, InvalidUTF8, "Payload", 48, 1007),
]


@pytest.mark.parametrize(("data", "kwargs", "cls", "field", "bit", "code"),
                         [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_violation(data: bytes, kwargs: dict, cls: type, field: str, bit: int, code: int) -> None:
    d = dissect(data, **kwargs)
    assert not d.ok
    assert type(d.error) is cls
    assert (d.error.field, d.error.bit_offset, d.error.close_code) == (field, bit, code)
    assert field in d.error.message or field in str(d.error)
    # The field named by the error exists and starts at (or, for UTF-8, contains) the offset.
    named = [f for f in d.fields if f.name == field]
    assert named and named[0].start_bit <= bit < named[0].start_bit + max(named[0].bit_width, 1)
    assert_tiles(d)


def test_complete_frame_with_violation_still_has_a_frame() -> None:
    d = dissect(b"\x81\x05hello")
    assert d.error is not None and d.frame == Frame(Opcode.TEXT, b"hello")
    d = dissect(masked(0x83, b"xy"))
    assert d.frame is not None and d.frame.opcode == 3 and d.frame.payload == b"xy"
    d = dissect(bytes((0x82, 0xFE, 0, 5)) + KEY + apply_mask(b"12345", KEY))
    assert d.frame == Frame(Opcode.BINARY, b"12345", mask_key=KEY)
    assert d.frame.encode() != d.data  # the minimal form is shorter


def test_text_fragment_may_end_mid_character() -> None:
    whole = "发送".encode()
    d = dissect(masked(0x01, whole[:4]))  # FIN=0: one full character, one begun
    assert d.ok
    assert d.text == "发"
    assert "continues" in d.field("Payload").meaning
    d = dissect(masked(0x81, whole[:4]))  # FIN=1: the message ends mid-character
    assert isinstance(d.error, InvalidUTF8) and d.error.bit_offset == 48 + 24


def test_continuation_frames_are_not_judged_as_text() -> None:
    d = dissect(masked(0x80, b"\xff\xfe"))
    assert d.ok and d.text is None


def test_negotiated_rsv1_payload_is_not_decoded() -> None:
    compressed = bytes.fromhex("f2 48 cd c9 c9 07 00")  # permessage-deflate "Hello"
    d = dissect(masked(0xC1, compressed), rsv_allowed=0x40)
    assert d.ok and d.text is None
    assert "negotiated extension" in d.field("RSV1").meaning
    assert "not decoded" in d.field("Payload").meaning


def test_role_none_judges_no_masking() -> None:
    assert dissect(b"\x81\x02hi", role=None).ok
    assert dissect(masked(0x81, b"hi"), role=None).ok


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        dissect(b"", role="proxy")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dissect(b"", rsv_allowed=0x80)


# -- truncation ----------------------------------------------------------------
TRUNCATED = [
    # (description, bytes, field, bit offset, missing, payload length known)
    ("no bytes", b"", "FIN", 0, 2, False),
    ("one byte", b"\x81", "MASK", 8, 1, False),
    ("16-bit length cut", b"\x81\xfe\x01", "Extended payload length", 16, 5, False),
    ("64-bit length cut", b"\x82\xff\x00\x00\x00", "Extended payload length", 16, 9, False),
    ("masking key cut", CHROMIUM_TEXT[:4], "Masking key", 16, 14, True),
    ("before the masking key", CHROMIUM_TEXT[:2], "Masking key", 16, 16, True),
    ("before the payload", CHROMIUM_TEXT[:6], "Payload", 48, 12, True),
    ("payload cut", CHROMIUM_TEXT[:-1], "Payload", 48, 1, True),
    ("16-bit payload cut", bytes((0x82, 0xFE, 0x01, 0x00)) + KEY + bytes(10), "Payload", 64, 246, True),
]


@pytest.mark.parametrize(("data", "field", "bit", "missing", "known"), [t[1:] for t in TRUNCATED],
                         ids=[t[0] for t in TRUNCATED])
def test_truncated(data: bytes, field: str, bit: int, missing: int, known: bool) -> None:
    d = dissect(data)
    assert isinstance(d.error, TruncatedFrame)
    assert (d.error.field, d.error.bit_offset, d.error.missing, d.error.close_code) == (field, bit, missing, 1006)
    assert d.missing == missing and d.truncated and d.frame is None
    assert d.size == len(data) and d.data == data
    assert (d.payload_length is not None) == known
    assert ("at least" in d.error.message) != known
    assert_tiles(d)


def test_truncated_fields_keep_the_bits_that_exist() -> None:
    d = dissect(CHROMIUM_TEXT[:4])
    key = d.field("Masking key")
    assert (key.start_bit, key.bit_width, len(key.bits), key.complete) == (16, 32, 16, False)
    assert key.bits.to01() == bits_of(KEY[:2])
    assert "truncated" in key.meaning
    d = dissect(CHROMIUM_TEXT[:10])
    payload = d.field("Payload")
    assert (payload.bit_width, len(payload.bits)) == (96, 32)
    assert d.payload == "发送数据".encode()[:4]  # unmasked with the key that is there
    assert d.masked_payload == CHROMIUM_TEXT[6:10]
    assert repr(d) == "<Dissection TEXT 10 B truncated, 8 B missing>"


def test_header_violation_comes_before_truncation() -> None:
    d = dissect(b"\x81\x05hel")  # unmasked client frame, 2 bytes short
    assert isinstance(d.error, FramingError) and d.error.field == "MASK"
    assert d.frame is None and d.missing == 2
    d = dissect(bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big"))
    assert d.error.field == "Extended payload length" and d.frame is None


def test_dissect_stream_stops_after_a_truncated_frame_and_advances_past_violations() -> None:
    bad = b"\x81\x02hi"  # unmasked: a violation for a server, but its length is known
    frames = dissect_stream(bad + CHROMIUM_BINARY + CHROMIUM_TEXT[:5])
    assert [(d.offset, d.size) for d in frames] == [(0, 4), (4, 9), (13, 5)]
    assert [type(d.error) for d in frames] == [FramingError, type(None), TruncatedFrame]
    assert dissect_stream(b"") == []


def test_16_mib_frame_is_dissected_whole_and_drawn_short() -> None:
    # Its speed is a make bench figure (group "protocol"); here what it must produce.
    payload = bytes(range(256)) * (1 << 16)
    data = Frame(Opcode.BINARY, payload, mask_key=KEY).encode()
    d = dissect(data)
    text = str(d)
    assert d.ok and d.payload == payload and len(d.field("Payload").bits) == 8 * len(payload)
    assert len(text) < 10_000


# -- properties ----------------------------------------------------------------
_ALLOWED_CLOSE = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]


def _sized(n: int, seed: int) -> bytes:
    return (bytes(range(seed, 256)) + bytes(range(seed))) * (n // 256 + 1)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    opcode = draw(st.sampled_from(list(Opcode)))
    key = draw(st.none() | st.binary(min_size=4, max_size=4))
    if opcode.is_control:
        fin = True
        if opcode == Opcode.CLOSE:
            if draw(st.booleans()):
                reason = draw(st.text(max_size=30))
                payload = encode_close_payload(draw(st.sampled_from(_ALLOWED_CLOSE)), reason)
            else:
                payload = b""
        else:
            payload = draw(st.binary(max_size=125))
    else:
        fin = draw(st.booleans())
        size_form = draw(st.sampled_from(["7", "16", "64"]))
        if opcode == Opcode.TEXT and size_form == "7":
            payload = draw(st.text(max_size=40)).encode()
        elif size_form == "7":
            payload = draw(st.binary(max_size=125))
        else:
            lo, hi = (126, 65535) if size_form == "16" else (65536, 70000)
            n = draw(st.integers(lo, hi))
            payload = _sized(n, draw(st.integers(0, 255)))[:n]
            if opcode == Opcode.TEXT:
                payload = bytes(b & 0x7F for b in payload[:200]) + b"a" * (n - 200)  # ASCII is UTF-8
    return Frame(opcode, payload, fin=fin, mask_key=key)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_round_trip(frame: Frame) -> None:
    data = frame.encode()
    d = dissect(data, role="server" if frame.masked else "client")
    assert d.ok, d.error
    assert d.frame == frame
    assert d.payload == frame.payload and d.size == len(data)
    names = [f.name for f in d.fields if f.parent is None]
    expected = ["FIN", "RSV1", "RSV2", "RSV3", "Opcode", "MASK", "Payload length"]
    if len(frame.payload) > 125:
        expected.append("Extended payload length")
    if frame.masked:
        expected.append("Masking key")
    expected.append("Payload")
    assert names == expected
    assert d.field("FIN").value == int(frame.fin)
    assert d.field("Opcode").value == frame.opcode
    assert d.field("MASK").value == int(frame.masked)
    length = d.field("Extended payload length").value if len(frame.payload) > 125 else d.field("Payload length").value
    assert length == len(frame.payload)
    if frame.masked:
        assert d.field("Masking key").value == frame.mask_key
    assert d.field("Payload").value == frame.payload
    if frame.opcode == Opcode.TEXT:
        assert d.text == frame.payload.decode()
    if frame.opcode == Opcode.CLOSE and frame.payload:
        assert (d.close_code, d.close_reason) == (frame.close_code, frame.close_reason)
    assert_tiles(d)


_ROLES = st.sampled_from(["server", "client", None])
_RSV = st.sampled_from([0, 0x40, 0x70])


def _check_stream(data: bytes, role: str | None, rsv: int) -> None:
    d = dissect(data, role=role, rsv_allowed=rsv)  # type: ignore[arg-type]
    assert_judged_alike(data, d, role, rsv)
    assert d.size <= len(data)
    assert_tiles(d)
    str(d), repr(d), d._repr_html_()
    stream = dissect_stream(data, role=role, rsv_allowed=rsv)  # type: ignore[arg-type]
    pos = 0
    for i, s in enumerate(stream):
        assert s.offset == pos and s.size > 0
        assert s.data == data[pos:pos + s.size]
        assert (s.frame is None) == s.truncated
        if s.truncated:
            assert i == len(stream) - 1
        pos += s.size
        assert_tiles(s)
    assert pos == len(data)


def assert_judged_alike(data: bytes, d: Dissection, role: str | None, rsv: int) -> None:
    """``judge`` (no fields) and ``dissect`` reach the same verdict on the same bytes."""
    v = judge(data, role=role, rsv_allowed=rsv)  # type: ignore[arg-type]
    assert (v.size, v.missing, v.payload, v.truncated) == (d.size, d.missing, d.payload, d.truncated)
    assert type(v.error) is type(d.error) and str(v.error) == str(d.error)
    if v.error is not None:
        assert (v.error.field, v.error.bit_offset, v.error.rfc) == (d.error.field, d.error.bit_offset, d.error.rfc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), _ROLES, _RSV)
def test_judge_agrees_with_dissect_on_whole_frames(frame: Frame, role: str | None, rsv: int) -> None:
    data = frame.encode()
    assert_judged_alike(data, dissect(data, role=role, rsv_allowed=rsv), role, rsv)  # type: ignore[arg-type]


def test_judge_agrees_with_dissect_on_broken_frames() -> None:
    bad_text = bytes((0x81, 0x82)) + KEY + apply_mask(b"\xff\xfe", KEY)
    bad_close = bytes((0x88, 0x81)) + KEY + apply_mask(b"\x03", KEY)
    fragment = bytes((0x01, 0x82)) + KEY + apply_mask("é".encode()[:1] + b"a", KEY)
    cases = [CHROMIUM_TEXT, bad_text, bad_close, fragment, b"\x81\x02hi", CHROMIUM_TEXT[:7], b"\x89",
             bytes((0x82, 0x7F)) + (1 << 63).to_bytes(8, "big")]
    for data in cases:
        for role in ("server", "client", None):
            assert_judged_alike(data, dissect(data, role=role), role, 0)
    assert judge(bad_text).error.rfc == "8.1" and judge(CHROMIUM_TEXT).ok


def test_stream_offset_says_where_the_bytes_were_in_their_stream() -> None:
    d = dissect(CHROMIUM_TEXT, stream_offset=1000)
    assert d.offset == 1000 and repr(d).startswith("<Dissection @1000 TEXT")
    assert d.fields == dissect(CHROMIUM_TEXT).fields


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), _ROLES, _RSV)
def test_never_raises_on_random_bytes(data: bytes, role: str | None, rsv: int) -> None:
    _check_stream(data, role, rsv)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.binary(max_size=40), st.integers(min_value=0), _ROLES, _RSV)
def test_never_raises_on_valid_prefix_and_garbage(frame: Frame, garbage: bytes, cut: int, role: str | None,
                                                  rsv: int) -> None:
    data = frame.encode()
    data = data[: cut % (len(data) + 1)] + garbage
    _check_stream(data[:4000], role, rsv)


def test_fields_are_frozen_and_hashable() -> None:
    f = dissect(CHROMIUM_TEXT).field("Opcode")
    assert isinstance(f.bits, frozenbitarray)
    with pytest.raises(AttributeError):
        f.value = 2  # type: ignore[misc]
    assert hash(f) == hash(dissect(CHROMIUM_TEXT).field("Opcode"))
