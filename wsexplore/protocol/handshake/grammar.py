"""The small pieces of HTTP grammar the handshake modules share (RFC 9110, RFC 9112).

A token (RFC 9110 section 5.6.2) names methods, headers, subprotocols and
extensions; a comma-separated list (section 5.6.1) may be spread over several
header lines; an HTTP version is ``HTTP/DIGIT.DIGIT`` (RFC 9112 section 2.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TCHAR", "TOKEN_RE", "VERSION_RE", "is_token", "split_list", "has_token", "version_tuple"]

#: The bytes a token may hold (``tchar``, RFC 9110 section 5.6.2).
TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

#: One token, as text.
TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: ``HTTP/DIGIT.DIGIT`` as bytes, the digits captured.
VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")


def is_token(text: str) -> bool:
    """True when ``text`` is one token: no space, no separator, not empty."""
    return TOKEN_RE.fullmatch(text) is not None


def split_list(values: Iterable[str]) -> list[str]:
    """Elements of a comma-separated list spread over several header lines (RFC 9110 5.6.1)."""
    return [item.strip(" \t") for value in values for item in value.split(",") if item.strip(" \t")]


def has_token(values: Iterable[str], token: str) -> bool:
    """True when the list in ``values`` holds ``token`` (given in lower case), in any case."""
    return any(item.lower() == token for item in split_list(values))


def version_tuple(version: str) -> tuple[int, int]:
    """``(1, 1)`` for ``HTTP/1.1``; ``(0, 0)`` for anything that is no HTTP version."""
    m = VERSION_RE.fullmatch(version.encode("ascii", "replace"))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
