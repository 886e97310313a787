"""Bytes from a hex dump, read a piece at a time: what ``wsexplore decode`` accepts as HEX.

Hex digits, with whitespace, ``:`` separators and ``0x`` prefixes (a ``0x`` counts
as a prefix at the start or after a separator) allowed anywhere. The text is
parsed as it arrives, chunk by chunk, with C-speed string operations, so a dump
of any size is read in bounded memory; an error names the first bad character
and its position (with line and column past the first line), or the
odd number of digits at the end.
"""

from __future__ import annotations

import re
import string
from typing import Iterable, Iterator

__all__ = ["HexError", "HexReader", "parse_hex", "looks_like_hex"]

_SEPARATORS = string.whitespace + ":"
# A character that can never be in a dump, or an x that is not the x of a 0x prefix.
_BAD = re.compile(r"[^0-9A-Fa-fxX" + re.escape(_SEPARATORS) + r"]|(?<![" + re.escape(_SEPARATORS) + r"]0)[xX]")
_PREFIX = re.compile(r"(?<=[" + re.escape(_SEPARATORS) + r"])0[xX]")
_DROP = str.maketrans("", "", _SEPARATORS)


class HexError(ValueError):
    """Text that is not a hex dump."""


class HexReader:
    """Parse a hex dump fed in pieces: ``feed(text)`` returns the bytes it completes, ``close()`` checks the end."""

    def __init__(self) -> None:
        self._before = "  "  # the two characters before the text not yet parsed (a separator at the start)
        self._held = ""  # a trailing "0" that may be the start of a 0x prefix
        self._odd = ""  # a hex digit waiting for its pair
        self._digits = 0
        self._position = 0  # characters parsed so far
        self._lines = 1  # newlines parsed so far, plus one
        self._line_start = 0  # position of the current line's first character
        self._closed = False

    def feed(self, text: str) -> bytes:
        """The bytes that ``text`` (the next piece of the dump) completes."""
        if self._closed:
            raise ValueError("feed() after close()")
        text = self._held + text
        self._held = ""
        if text.endswith("0") and (text[-2:-1] or self._before[-1]) in _SEPARATORS:
            text, self._held = text[:-1], "0"  # wait for the next piece: it may be "x..."
        return self._parse(text)

    def close(self) -> bytes:
        """The last bytes; HexError when a digit is left without its pair."""
        out = self._parse(self._held)
        self._held = ""
        self._closed = True
        if self._odd:
            raise HexError(f"odd number of hex digits ({self._digits}): a byte is two digits")
        return out

    def _parse(self, text: str) -> bytes:
        if not text:
            return b""
        context = self._before + text
        bad = _BAD.search(context, 2)
        if bad is not None:
            raise HexError(self._where(text, bad.start() - 2))
        digits = _PREFIX.sub("", context)[len(self._before):].translate(_DROP) if "x" in text or "X" in text else (
            text.translate(_DROP))
        self._before = context[-2:]
        self._count_lines(text)
        self._position += len(text)
        self._digits += len(digits)
        if self._odd:
            digits = self._odd + digits
            self._odd = ""
        if len(digits) % 2:
            digits, self._odd = digits[:-1], digits[-1]
        return bytes.fromhex(digits)

    def _count_lines(self, text: str) -> None:
        newlines = text.count("\n")
        if newlines:
            self._lines += newlines
            self._line_start = self._position + text.rfind("\n") + 1

    def _where(self, text: str, i: int) -> str:
        """``not hex: 'g' at position 5``, with the line and column after the first line."""
        ch = text[i]
        before = text[:i]
        line = self._lines + before.count("\n")
        line_start = self._position + before.rfind("\n") + 1 if "\n" in before else self._line_start
        position = self._position + i + 1
        where = f"position {position}"
        if line > 1:  # on the first line the position is the column
            where += f" (line {line}, column {position - line_start})"
        return f"not hex: {ch!r} at {where}"


def parse_hex(text: str) -> bytes:
    """Bytes from a whole hex dump (see the module's docstring); HexError says what is wrong and where."""
    reader = HexReader()
    return reader.feed(text) + reader.close()


def read_hex(pieces: Iterable[str]) -> Iterator[bytes]:
    """The bytes of a dump given in pieces, as they are completed (HexError on the first fault)."""
    reader = HexReader()
    for piece in pieces:
        data = reader.feed(piece)
        if data:
            yield data
    data = reader.close()
    if data:
        yield data


def looks_like_hex(data: bytes) -> bool:
    """Whether raw bytes read from a file are rather a hex dump in text: only hex digits, separators and
    ``0x`` prefixes, with at least two bytes' worth of digits (a hint, never a decision)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    if _BAD.search("  " + text, 2) is not None:
        return False
    return len(_PREFIX.sub("", "  " + text).translate(_DROP)) >= 4
