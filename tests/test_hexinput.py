"""Hex dumps read a piece at a time (``HexReader``): the same bytes and the same errors however the text is cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.hexinput import HexError, HexReader, looks_like_hex, parse_hex, read_hex

# Characters of dumps, of their separators and prefixes, and some that are never in a dump.
_ALPHABET = st.sampled_from(list("0123456789abcdefABCDEF") + ["0x", "0X", " ", ":", "\n", "\t", "x", "g", "-"])
_TEXT = st.lists(_ALPHABET, max_size=30).map("".join)


def outcome(fn):  # type: ignore[no-untyped-def]
    try:
        return "ok", fn()
    except HexError as exc:
        return "error", str(exc)


def fed(text: str, cuts: list[int]) -> bytes:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    reader = HexReader()
    out = b"".join(reader.feed(text[a:b]) for a, b in zip(points, points[1:]))
    return out + reader.close()


@settings(max_examples=500, deadline=None)
@given(_TEXT, st.lists(st.integers(min_value=0), max_size=6))
def test_any_cut_gives_what_the_whole_text_gives(text: str, cuts: list[int]) -> None:
    assert outcome(lambda: fed(text, cuts)) == outcome(lambda: parse_hex(text))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([" ", ":", "\n", " 0x", "\n0X"]), st.lists(st.integers(0), max_size=5))
def test_dumps_of_any_bytes_read_back(data: bytes, sep: str, cuts: list[int]) -> None:
    text = "".join(sep + format(b, "02x") for b in data)
    assert fed(text, cuts) == data


@pytest.mark.parametrize(("pieces", "message"), [
    (["81 8", "g"], "not hex: 'g' at position 5"),
    (["81\n8c", " zz"], "not hex: 'z' at position 7 (line 2, column 4)"),
    (["81\n", "\n", "8c\n", "0x1 q"], "not hex: 'q' at position 12 (line 4, column 5)"),
    (["810", "x8c"], "not hex: 'x' at position 4"),
    (["81 0", "0x"], "not hex: 'x' at position 6"),
    (["81 ", "8"], "odd number of hex digits (3): a byte is two digits"),
])
def test_errors_name_the_character_and_where_it_is(pieces: list[str], message: str) -> None:
    reader = HexReader()
    with pytest.raises(HexError) as info:
        for piece in pieces:
            reader.feed(piece)
        reader.close()
    assert str(info.value) == message


def test_a_prefix_cut_between_its_two_characters() -> None:
    assert fed("81 0x8c 0X00", [4, 9]) == b"\x81\x8c\x00"
    assert list(read_hex(["81 0", "x8c", "", " 0", "0"])) == [b"\x81", b"\x8c", b"\x00"]


def test_feed_after_close_is_refused() -> None:
    reader = HexReader()
    reader.close()
    with pytest.raises(ValueError, match="feed\\(\\) after close\\(\\)"):
        reader.feed("00")


@pytest.mark.parametrize(("data", "expected"), [
    (b"81 8c 55 d0\n", True),
    (b"0x81:0x8c", True),
    (b"818c55d0e1e6", True),
    (b"81", False),  # too short to say
    (bytes.fromhex("818c55d0e1e6"), False),
    (b"81 8c zz", False),
    ("81 8c é".encode(), False),
])
def test_looks_like_hex(data: bytes, expected: bool) -> None:
    assert looks_like_hex(data) is expected
