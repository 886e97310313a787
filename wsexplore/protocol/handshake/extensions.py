"""``Sec-WebSocket-Extensions``: the grammar of RFC 6455 section 9.1, parsed and formatted.

extension-list  = 1#extension
extension       = token *( ";" extension-param )
extension-param = token [ "=" ( token / quoted-string ) ]

What an extension's parameters mean is the extension's business
(permessage-deflate: :mod:`wsexplore.protocol.deflate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Union

from ..errors import HandshakeError
from .grammar import TOKEN_RE, is_token
from .headers import Headers

__all__ = ["Extension", "ExtensionsArg", "parse_extensions", "format_extensions", "as_extensions"]


class Extension(NamedTuple):
    """One element of ``Sec-WebSocket-Extensions``: a name and its parameters in order."""

    name: str
    params: tuple[tuple[str, str | None], ...] = ()

    def __str__(self) -> str:
        return format_extensions([self])


class _ExtensionParser:
    """Recursive descent over the grammar of section 9.1.

    A quoted value must be a token once unescaped. Empty list elements are
    skipped, as RFC 9110 section 5.6.1 asks of recipients.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> HandshakeError:
        return HandshakeError(f"{what} at position {self.pos} in {self.text!r}", status=400,
                              header="Sec-WebSocket-Extensions", rfc="9.1")

    def ows(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos:self.pos + 1]

    def token(self, what: str) -> str:
        m = TOKEN_RE.match(self.text, self.pos)
        if not m:
            raise self.fail(f"expected {what} (a token)")
        self.pos = m.end()
        return m.group()

    def quoted(self) -> str:
        self.pos += 1  # opening quote
        out = []
        while True:
            c = self.peek()
            if c == "":
                raise self.fail("unterminated quoted string")
            self.pos += 1
            if c == '"':
                break
            if c == "\\":
                c = self.peek()
                if c == "":
                    raise self.fail("unterminated quoted string")
                self.pos += 1
            out.append(c)
        value = "".join(out)
        if not is_token(value):
            self.pos -= 1
            raise self.fail(f"quoted value {value!r} is not a token once unescaped")
        return value

    def parse(self) -> list[Extension]:
        result: list[Extension] = []
        while True:
            self.ows()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "":
                return result
            name = self.token("an extension name")
            params: list[tuple[str, str | None]] = []
            self.ows()
            while self.peek() == ";":
                self.pos += 1
                self.ows()
                pname = self.token("a parameter name")
                self.ows()
                value: str | None = None
                if self.peek() == "=":
                    self.pos += 1
                    self.ows()
                    value = self.quoted() if self.peek() == '"' else self.token("a parameter value")
                    self.ows()
                params.append((pname, value))
            result.append(Extension(name, tuple(params)))
            if self.peek() not in (",", ""):
                raise self.fail(f"unexpected {self.peek()!r}")


def parse_extensions(value: Headers | str | Iterable[str]) -> list[Extension]:
    """Extensions offered in ``Sec-WebSocket-Extensions`` (RFC 6455 section 9.1).

    ``value`` is a Headers (every ``Sec-WebSocket-Extensions`` line is read),
    one header value, or several. ``permessage-deflate; client_max_window_bits``
    gives ``[Extension('permessage-deflate', (('client_max_window_bits', None),))]``.
    """
    if isinstance(value, Headers):
        values = value.get_all("Sec-WebSocket-Extensions")
    elif isinstance(value, str):
        values = [value]
    else:
        values = list(value)
    result: list[Extension] = []
    for text in values:
        result += _ExtensionParser(text).parse()
    return result


ExtensionLike = Union[Extension, tuple[str, Iterable[tuple[str, Union[str, None]]]]]

#: Extensions as callers give them: a header value, ``Extension`` values or ``(name, params)`` pairs.
ExtensionsArg = Union[str, Iterable[ExtensionLike], None]


def as_extensions(extensions: ExtensionsArg) -> list[Extension]:
    """``extensions`` as a list of :class:`Extension` (a string is parsed as a header value)."""
    if extensions is None:
        return []
    if isinstance(extensions, str):
        return parse_extensions(extensions)
    return [Extension(name, tuple((k, v) for k, v in params)) for name, params in extensions]


def format_extensions(extensions: Iterable[ExtensionLike]) -> str:
    """A ``Sec-WebSocket-Extensions`` value. Parameter values must be tokens (section 9.1),
    so none ever needs quoting."""
    parts = []
    for ext in as_extensions(extensions):
        if not is_token(ext.name):
            raise ValueError(f"extension name {ext.name!r} is not a token")
        items = [ext.name]
        for key, val in ext.params:
            if not is_token(key):
                raise ValueError(f"extension parameter {key!r} is not a token")
            if val is None:
                items.append(key)
            elif is_token(val):
                items.append(f"{key}={val}")
            else:
                raise ValueError(f"extension parameter value {val!r} is not a token (RFC 6455 section 9.1)")
        parts.append("; ".join(items))
    return ", ".join(parts)
