"""Masking (RFC 6455 section 5.3) checked against the rule itself: byte i XOR key byte i mod 4, one byte at a time.

Every test runs twice: with the C extension (built by the install; CI requires it) and with
the NumPy, bitarray and big-integer strategies that serve where it could not be built.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsexplore.protocol import masking
from wsexplore.protocol.masking import (_BITS_FROM, _FILL_FROM, _NUMPY_FROM, apply_mask, mask_frame, mask_small,
                                        unmask_frame)

from ..tools import missing

C_NAMES = ("_c_apply_mask", "_c_mask_into", "c_unmask_frame")


def need_c_masking() -> None:
    """Go on only if the C extension was built (CI requires it; elsewhere its tests are listed as not run)."""
    if not masking.ACCELERATED:
        missing("the C extension wsexplore/protocol/_speedups.c (built by `pip install`; needs a C compiler)")


@pytest.fixture(autouse=True, params=["C", "NumPy, bitarray, big integers"])
def masking_in(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which implementation the test runs on: the C extension, or the strategies without it."""
    if request.param == "C":
        need_c_masking()
    else:
        for name in C_NAMES:
            monkeypatch.setattr(masking, name, None)
    return request.param

KEY = bytes.fromhex("37 fa 21 3d")  # the key of RFC 6455 section 5.7


def xor(data: bytes, key: bytes) -> bytes:
    """The reference: section 5.3 as written, one byte at a time."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def payload(n: int, seed: int = 5) -> bytes:
    return random.Random(seed * 100_003 + n).randbytes(n)


# Every size around the switches between the four strategies, and small sizes.
SIZES = sorted({*range(0, 41), *range(_BITS_FROM - 12, _BITS_FROM + 20), 4096,
                *range(_NUMPY_FROM - 9, _NUMPY_FROM + 9), 65536 + 3,
                *range(_FILL_FROM - 9, _FILL_FROM + 9), 3 * 256 * 1024 + 5})


@pytest.mark.parametrize("n", SIZES)
def test_apply_mask_is_the_byte_by_byte_xor(n: int) -> None:
    data = payload(n)
    expected = xor(data, KEY)
    for given in (data, bytearray(data), memoryview(data)):
        out = apply_mask(given, KEY)
        assert type(out) is bytes and out == expected, type(given)
    assert apply_mask(expected, KEY) == data  # its own inverse


@pytest.mark.parametrize("tail", range(1, 8))
@pytest.mark.parametrize("words", [0, 1, 2, _BITS_FROM // 8, _BITS_FROM // 8 + 1, 1000, _NUMPY_FROM // 8,
                                   _NUMPY_FROM // 8 + 1, _FILL_FROM // 8, _FILL_FROM // 8 + 1])
def test_leftover_bytes_after_whole_words(words: int, tail: int) -> None:
    # NumPy XORs 8-byte words; 1 to 7 bytes are left over and take the key where the words stop.
    data = payload(8 * words + tail, tail)
    assert apply_mask(data, KEY) == xor(data, KEY)


@pytest.mark.parametrize("start", [1, 2, 3, 5, 6, 7, 14])
@pytest.mark.parametrize("n", [1, 7, 100, _BITS_FROM - 1, _BITS_FROM, _BITS_FROM + 7, 5000, _NUMPY_FROM - 1,
                               _NUMPY_FROM, _NUMPY_FROM + 7, _FILL_FROM, _FILL_FROM + 5, 600_003])
def test_memoryview_slices_at_odd_offsets(start: int, n: int) -> None:
    backing = payload(start + n + 3, start)
    view = memoryview(backing)[start:start + n]
    assert apply_mask(view, KEY) == xor(bytes(view), KEY)
    assert apply_mask(memoryview(bytearray(backing))[start:start + n], KEY) == xor(bytes(view), KEY)


@pytest.mark.parametrize("key", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05", bytes(8)])
@pytest.mark.parametrize("n", [0, 10, _BITS_FROM + 1, _NUMPY_FROM + 1, _FILL_FROM + 1])
def test_a_key_that_is_not_four_bytes_is_refused(key: bytes, n: int) -> None:
    with pytest.raises(ValueError, match=f"^masking key must be 4 bytes, got {len(key)}$"):
        apply_mask(payload(n), key)


@pytest.mark.parametrize("n", [64, _BITS_FROM + 5, _NUMPY_FROM + 5, _FILL_FROM + 5])
def test_every_key_phase(n: int) -> None:
    data = payload(n)
    for key in (bytes(4), b"\xff" * 4, bytes.fromhex("01 02 03 04"), KEY):
        assert apply_mask(data, key) == xor(data, key)


@pytest.mark.parametrize("n", [1, 2, 125, 1024, 1025, 3000])
def test_mask_small_past_its_tables(n: int) -> None:
    # Beyond 1024 bytes (reached when make bench moves the crossover) the key is built as bytes.
    data = payload(n)
    assert mask_small(data, KEY, n) == xor(data, KEY)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 125, 126, 300, _BITS_FROM - 1, _BITS_FROM, 5000, _NUMPY_FROM, 70000,
                               _FILL_FROM + 3])
def test_unmask_frame_reads_the_key_and_payload_of_a_whole_frame(n: int) -> None:
    data = payload(n)
    headers = [bytes((0x82, 0xFF)) + n.to_bytes(8, "big")]  # any length form: the key follows the header
    if n < 0x10000:
        headers.append(bytes((0x82, 0xFE)) + n.to_bytes(2, "big"))
    if n <= 125:
        headers.append(bytes((0x82, 0x80 | n)))
    for header in headers:
        frame = header + KEY + xor(data, KEY)
        assert unmask_frame(frame, len(header) + 4, n) == data


def test_the_tables_cover_every_size_the_big_integer_strategy_takes() -> None:
    # unmask_frame reads _REPEAT and _LOW for every payload below the crossover.
    assert 0 < masking._BITS_FROM <= masking._TABLE
    assert len(masking._LOW) > masking._BITS_FROM and 4 * (len(masking._REPEAT) - 1) >= masking._BITS_FROM


@pytest.mark.parametrize("n", [0, 1, 125, 126, _BITS_FROM + 3, _NUMPY_FROM + 3, 70000, _FILL_FROM, _FILL_FROM + 7])
def test_mask_frame_is_head_key_and_the_masked_payload(n: int) -> None:
    data = payload(n)
    head = bytes((0x82, 0xFF)) + n.to_bytes(8, "big")
    for given in (data, memoryview(b"xx" + data)[2:]):
        out = mask_frame(head, KEY, given)
        assert type(out) is bytes and out == head + KEY + xor(data, KEY)


def test_mask_frame_refuses_a_key_that_is_not_four_bytes() -> None:
    with pytest.raises(ValueError, match="^masking key must be 4 bytes, got 3$"):
        mask_frame(b"\x82\x7f", b"abc", payload(_FILL_FROM + 1))


def test_a_large_result_is_a_bytes_object_of_its_own() -> None:
    # From _FILL_FROM on the XOR writes into a new bytes object: it must be complete, hashable like
    # any bytes, and independent of the input (changing the input afterwards changes nothing).
    data = bytearray(payload(_FILL_FROM + 13))
    out = apply_mask(data, KEY)
    expected = xor(bytes(data), KEY)
    data[:] = bytes(len(data))
    assert out == expected and hash(out) == hash(expected) and bytes(out) is out


@pytest.mark.parametrize("n", [_FILL_FROM, _FILL_FROM + 5])
def test_the_large_strategy_without_a_c_api(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    # Where a bytes object cannot be filled in place (not CPython) a bytearray is filled, then copied.
    monkeypatch.setattr(masking, "_new_bytes", None)
    data = payload(n)
    out = apply_mask(memoryview(b"abcdef" + data)[6:], KEY)
    assert type(out) is bytes and out == xor(data, KEY)
    assert mask_frame(b"\x82\x7f" + n.to_bytes(8, "big"), KEY, data)[14:] == xor(data, KEY)



@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4), st.integers(0, 7), st.integers(0, 2000))
def test_any_bytes_any_key_any_offset(data: bytes, key: bytes, start: int, pad: int) -> None:
    # A payload at any offset of a larger buffer (as after a header), of any size up to past a page.
    backing = bytes(start) + data + payload(pad) + bytes(3)
    view = memoryview(backing)[start:start + len(data) + pad]
    assert apply_mask(view, key) == xor(bytes(view), key)

