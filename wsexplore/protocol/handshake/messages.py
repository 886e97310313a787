"""An HTTP request head and response, as values, and the bytes of one to send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...display import plural
from .headers import Headers

__all__ = ["Request", "Response", "encode_message"]


def _text(start_line: str, headers: Headers, redact_sensitive: bool, body: bytes = b"") -> str:
    lines = [start_line, *headers.lines(redact_sensitive=redact_sensitive)]
    if body:
        lines += ["", body.decode("utf-8", "replace")]
    return "\n".join(lines)


@dataclass(frozen=True, repr=False)
class Request:
    """An HTTP request head. ``raw`` is the exact bytes it was parsed from."""

    method: str
    target: str
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    raw: bytes = b""

    @property
    def path(self) -> str:
        """The request target (RFC 6455 calls it the resource name)."""
        return self.target

    @property
    def start_line(self) -> str:
        """``GET /chat HTTP/1.1``."""
        return f"{self.method} {self.target} {self.version}"

    def text(self, *, redact_sensitive: bool = True) -> str:
        """The head as readable lines, credentials redacted unless asked otherwise."""
        return _text(self.start_line, self.headers, redact_sensitive)

    def __repr__(self) -> str:
        return f"Request({self.start_line}, {plural(len(self.headers), 'header')}, {len(self.raw)} bytes)"


@dataclass(frozen=True, repr=False)
class Response:
    """An HTTP response head and, for non-101 answers, its body."""

    status: int
    reason: str
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    raw: bytes = b""
    body: bytes = b""

    @property
    def start_line(self) -> str:
        """``HTTP/1.1 101 Switching Protocols`` (no trailing space when the reason is empty)."""
        return f"{self.version} {self.status} {self.reason}".rstrip()

    def text(self, *, redact_sensitive: bool = True) -> str:
        """The head (and a text body) as readable lines."""
        return _text(self.start_line, self.headers, redact_sensitive, self.body)

    def __repr__(self) -> str:
        body = f", body {len(self.body)} bytes" if self.body else ""
        status = f"{self.status} {self.reason}".rstrip()
        return f"Response({status}, {plural(len(self.headers), 'header')}, {len(self.raw)} bytes{body})"


def encode_message(start_line: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """A request or response as sent: start line, header lines, empty line, body.

    Raises ValueError for a header that is not a token or whose value holds
    CR, LF or NUL (one header must never forge another).
    """
    return start_line.encode("ascii") + b"\r\n" + Headers(headers).encode() + b"\r\n" + body
