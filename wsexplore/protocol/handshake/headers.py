"""HTTP header fields as received, and the credentials among them that are never shown by default.

Values are text decoded as ISO-8859-1, so every byte maps to one character
and a value's length in characters is its length on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Union

from .grammar import is_token

__all__ = ["SENSITIVE_HEADERS", "redact", "Headers", "HeaderItems"]

#: Headers whose values are credentials. A browser sends the notebook server's
#: cookies to any port on the same host, so they must not be shown by default.
SENSITIVE_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "set-cookie"})

HeaderItems = Union["Headers", Mapping[str, str], Iterable[tuple[str, str]]]


def _wire_len(value: str) -> int:
    try:
        return len(value.encode("latin-1"))
    except UnicodeEncodeError:
        return len(value.encode("utf-8"))


def redact(name: str, value: str) -> str:
    """``value``, or ``<redacted N bytes>`` when ``name`` is a credential header."""
    if name.lower() in SENSITIVE_HEADERS:
        return f"<redacted {_wire_len(value)} bytes>"
    return value


def _check_field(name: str, value: str) -> None:
    """Refuse what would let a header forge another one (CR, LF) or be no header."""
    if not is_token(name):
        raise ValueError(f"header name {name!r} is not a token (RFC 9110 section 5.1)")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"header {name} value {value!r} contains CR, LF or NUL")


class Headers:
    """HTTP header fields as received: ordered, duplicates kept, names in their case.

    Lookups ignore case (RFC 9110 section 5.1). The value is immutable; its
    ``repr`` hides credentials (see :data:`SENSITIVE_HEADERS`).
    """

    __slots__ = ("_items",)
    _items: tuple[tuple[str, str], ...]

    def __init__(self, items: HeaderItems = ()) -> None:
        if isinstance(items, Headers):
            pairs = items._items
        elif isinstance(items, Mapping):
            pairs = tuple((str(k), str(v)) for k, v in items.items())
        else:
            pairs = tuple((str(k), str(v)) for k, v in items)
        object.__setattr__(self, "_items", pairs)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Headers is immutable")

    def __reduce__(self) -> tuple[type[Headers], tuple[tuple[tuple[str, str], ...]]]:
        return (Headers, (self._items,))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        lname = name.lower()
        for k, v in self._items:
            if k.lower() == lname:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        lname = name.lower()
        return [v for k, v in self._items if k.lower() == lname]

    def items(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs, in order, as received."""
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def redacted(self) -> Headers:
        """A copy with credential values replaced by ``<redacted N bytes>``."""
        return Headers((k, redact(k, v)) for k, v in self._items)

    def lines(self, *, redact_sensitive: bool = True) -> list[str]:
        """``Name: value`` lines, redacted unless asked otherwise."""
        source = self.redacted() if redact_sensitive else self
        return [f"{k}: {v}" for k, v in source._items]

    def encode(self) -> bytes:
        """The header lines as sent on the wire, each ending in CRLF."""
        out = []
        for k, v in self._items:
            _check_field(k, v)
            out.append(f"{k}: {v}\r\n")
        return "".join(out).encode("latin-1")

    def __repr__(self) -> str:
        return f"Headers({list(self.redacted()._items)!r})"
