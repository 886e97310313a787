"""How bytes, text, sizes, times and addresses are shown to people: one form each, everywhere.

The terminal console, the reprs of frames, records and dissections, the
widgets and the CLI all preview payloads with these functions, so a payload
reads the same in every view: hex as ``81 02 68 69 …`` (``(empty)`` when there
is nothing), text quoted with every non-printable character escaped (a
payload can never move a terminal's cursor or reorder text with bidi
controls), sizes as UTF-8 bytes.

This module imports nothing else of the package (the pure protocol layer uses
it too); HTML views live in :mod:`wsexplore.display.html`.
"""

from __future__ import annotations

import time

__all__ = [
    "ELLIPSIS",
    "EMPTY",
    "escape",
    "quote",
    "hex_preview",
    "text_or_hex",
    "utf8_size",
    "data_size",
    "format_size",
    "plural",
    "clock",
    "peer",
]

#: Marks a preview that was cut.
ELLIPSIS = "…"
#: Shown for zero bytes.
EMPTY = "(empty)"


def escape(text: str) -> str:
    """``text`` with every non-printable character (controls, bidi overrides, ...) escaped as ``\\xNN``."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def quote(text: str, limit: int = 40) -> str:
    """``"text"``, escaped, cut after ``limit`` characters (then followed by ``…``).

    A backslash and a double quote in the text are escaped too, so that ``\\x15`` typed
    by a peer never reads like the escape of byte 0x15.
    """
    cut = len(text) > limit
    shown = text[:limit] if cut else text
    return '"' + escape(shown.replace("\\", "\\\\")).replace('"', '\\"') + '"' + (ELLIPSIS if cut else "")


def hex_preview(data: bytes | bytearray | memoryview, limit: int = 16) -> str:
    """``81 02 68 69 …``: the first ``limit`` bytes in hex; ``(empty)`` for no bytes."""
    if not len(data):
        return EMPTY
    shown = bytes(data[:limit]).hex(" ")
    return shown + f" {ELLIPSIS}" if len(data) > limit else shown


def text_or_hex(data: bytes, limit: int = 40, hex_limit: int | None = None) -> str:
    """Quoted text when ``data`` is valid UTF-8, else hex (ping bodies and fragments carry either).

    ``limit`` characters of text are shown, ``hex_limit`` bytes of hex (``limit`` when not given).
    """
    if not data:
        return EMPTY
    try:
        return quote(data.decode("utf-8"), limit)
    except UnicodeDecodeError:
        return hex_preview(data, limit if hex_limit is None else hex_limit)


def utf8_size(text: str) -> int:
    """Bytes ``text`` takes in UTF-8 (lone surrogates count as they would be written)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def data_size(data: str | bytes) -> int:
    """Bytes of a message: UTF-8 bytes for text, length for binary."""
    return utf8_size(data) if isinstance(data, str) else len(data)


def format_size(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.0 MiB``, ``2.0 GiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def plural(n: int, noun: str) -> str:
    """``1 frame``, ``2 frames``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def clock(wall: float) -> str:
    """Local wall-clock time with milliseconds: ``14:03:27.512``."""
    global _last_second
    second = int(wall // 1)
    last = _last_second  # one tuple, replaced whole: safe to read from any thread
    if last[0] != second:
        last = _last_second = (second, time.strftime("%H:%M:%S", time.localtime(second)))
    return last[1] + _MILLISECONDS[int(wall * 1000) % 1000]


# The last second ``clock`` wrote out, and its text: a console prints many lines in the same second.
_last_second: tuple[int | None, str] = (None, "")
_MILLISECONDS = tuple(f".{ms:03d}" for ms in range(1000))


def peer(address: tuple | str | None) -> str:
    """``127.0.0.1:51234``, ``[::1]:51234``; ``?`` when unknown."""
    if address is None:
        return "?"
    if isinstance(address, str):
        return address
    if len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return ":".join(map(str, address))
