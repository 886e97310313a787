"""The HTTP/1.1 head parser (RFC 9112 sections 2-6), fed bytes as they arrive.

A :class:`RequestParser` or :class:`ResponseParser` takes the bytes of one
connection in whatever pieces the reads bring and returns the message once
its head (and, for a refused handshake, its body) is complete. The work is
linear in the bytes fed however they are split: each byte is searched once
for the end of its line and each line is checked once, when it completes.
:func:`parse_request` and :func:`parse_response` are the same parsers fed
one buffer.

Line endings are strict: HTTP/1.1 frames its head with CRLF (RFC 9112 section
2.2). A recipient *may* accept a bare LF; this parser refuses it with a 400
that says so, rather than waiting forever for a CRLF that a ``netcat`` user
without ``-C`` will never send. Errors are reported in stream order: feeding
the bytes in pieces raises, at each piece, what parsing everything fed so far
in one buffer raises.

Header values are decoded as ISO-8859-1, so every byte maps to one character
and a value's length in characters is its length on the wire.
"""

from __future__ import annotations

import re
from typing import Generic, TypeVar

from ..errors import HandshakeError
from .grammar import TCHAR, VERSION_RE
from .headers import Headers
from .messages import Request, Response

__all__ = [
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "HeadParser",
    "RequestParser",
    "ResponseParser",
    "parse_request",
    "parse_response",
]

#: Largest head (request line, headers and the final CRLF CRLF) accepted.
DEFAULT_MAX_HEADER_BYTES = 8 * 1024

#: Largest body read after a non-101 response head.
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_STATUS_RE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: (.*))?")
_CR, _HT = 0x0D, 0x09

Bytes = bytes | bytearray | memoryview
Message = TypeVar("Message", Request, Response)


def _show(b: bytes, limit: int = 60) -> str:
    text = repr(b[:limit])[2:-1]
    return text + ("..." if len(b) > limit else "")


def _bad(message: str, *, rfc: str = "RFC 9112 section 2.2", status: int = 400,
         header: str | None = None) -> HandshakeError:
    return HandshakeError(message, status=status, header=header, rfc=rfc)


def _check_method_bytes(method: bytes | bytearray, offset: int) -> None:
    """The method is a token: report its first non-token byte (``offset`` is where ``method`` starts)."""
    for i, b in enumerate(method):
        if b not in TCHAR:
            raise _bad(f"byte 0x{b:02x} at offset {offset + i} in the request method: a method is a token",
                       rfc="RFC 9110 section 9.1")


def _parse_request_line(line: bytes, offset: int) -> tuple[str, str, str]:
    space = line.find(b" ")
    _check_method_bytes(line if space == -1 else line[:space], offset)
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise _bad(f"malformed request line {_show(line)!r}: expected METHOD SP TARGET SP HTTP-VERSION "
                   "separated by single spaces", rfc="RFC 9112 section 3")
    method, target, version = parts
    bad = next((b for b in target if not 0x21 <= b <= 0x7E), None)
    if bad is not None:
        raise _bad(f"request target {_show(target)!r} contains byte 0x{bad:02x}", rfc="RFC 9112 section 3.2")
    if not VERSION_RE.fullmatch(version):
        raise _bad(f"malformed HTTP version {_show(version)!r} in the request line: expected HTTP/DIGIT.DIGIT",
                   rfc="RFC 9112 section 2.3")
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii")


def _parse_status_line(line: bytes) -> tuple[str, int, str]:
    m = _STATUS_RE.fullmatch(line)
    if not m:
        raise _bad(f"malformed status line {_show(line)!r}: expected HTTP/DIGIT.DIGIT SP 3DIGIT SP reason",
                   rfc="RFC 9112 section 4")
    reason = m.group(3) or b""
    bad = next((b for b in reason if b != _HT and (b < 0x20 or b == 0x7F)), None)
    if bad is not None:
        raise _bad(f"reason phrase contains control byte 0x{bad:02x}", rfc="RFC 9112 section 4")
    return m.group(1).decode("ascii"), int(m.group(2)), reason.decode("latin-1")


def _parse_header_line(line: bytes, offset: int) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        raise _bad(f"header line at offset {offset} starts with whitespace: obsolete line folding is "
                   "not accepted", rfc="RFC 9112 section 5.2")
    colon = line.find(b":")
    if colon == -1:
        raise _bad(f"header line {_show(line)!r} has no colon", rfc="RFC 9112 section 5")
    name = line[:colon]
    if not name:
        raise _bad(f"header line {_show(line)!r} has an empty name", rfc="RFC 9112 section 5")
    if name[-1:] in (b" ", b"\t"):
        raise _bad(f"whitespace between header name {_show(name.rstrip())!r} and the colon",
                   rfc="RFC 9112 section 5.1")
    bad = next((b for b in name if b not in TCHAR), None)
    if bad is not None:
        raise _bad(f"header name {_show(name)!r} contains byte 0x{bad:02x}: a name is a token",
                   rfc="RFC 9110 section 5.1")
    value = line[colon + 1:].strip(b" \t")
    bad = next((b for b in value if b != _HT and (b < 0x20 or b == 0x7F)), None)
    hname = name.decode("ascii")
    if bad is not None:
        raise _bad(f"header {hname} value contains control byte 0x{bad:02x}", rfc="RFC 9110 section 5.5",
                   header=hname)
    return hname, value.decode("latin-1")


def _find_line_end(buffer: bytearray, begin: int, stop: int) -> int:
    """The offset of the next LF in ``buffer[begin:stop]``, or -1; a CR before it must precede an LF.

    A CR that is the last byte fed so far is checked again on the next call
    (the caller starts one byte back), once the byte after it has arrived.
    """
    lf = buffer.find(b"\n", begin, stop)
    end = stop if lf == -1 else lf
    cr = buffer.find(b"\r", begin, end)
    while cr != -1:
        if cr + 1 < len(buffer) and buffer[cr + 1] != 0x0A:
            raise _bad(f"bare CR (not followed by LF) at offset {cr}")
        cr = buffer.find(b"\r", cr + 1, end)
    return lf


class HeadParser(Generic[Message]):
    """What requests and responses share: lines found, checked in order, and the limit on the head.

    Feed the bytes of one connection with :meth:`feed` until it returns the
    message; :attr:`consumed` then counts the bytes the message used and
    :attr:`rest` holds those fed after it (the WebSocket stream, for a 101).
    A HandshakeError is raised again by every later :meth:`feed`.
    """

    kind = "head"

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.max_header_bytes = max_header_bytes
        self.consumed = 0
        self.rest = b""
        self._buffer = bytearray()
        self._line_start = 0  # where the line being read begins
        self._scanned = 0  # the current line holds no LF before this offset
        self._started = False  # the start line has been read
        self._fields: list[tuple[str, str]] = []
        self._headers: Headers | None = None  # set once the head is complete, with:
        self._head_end = 0  # the offset just after the head's empty line
        self._needed = 0  # the bytes the whole message takes (head and body)
        self._message: Message | None = None
        self._error: HandshakeError | None = None

    def feed(self, data: Bytes) -> Message | None:
        """Take the next bytes; the message once it is complete, else None (send more bytes).

        Raises HandshakeError (400 for a malformed line, 431 when the head
        outgrows ``max_header_bytes``) as soon as the bytes fed show it.
        """
        if self._message is not None:
            raise RuntimeError(f"the {self.kind} is complete: the bytes after it are in .rest")
        if self._error is not None:
            raise self._error
        self._buffer += data
        try:
            return self._advance()
        except HandshakeError as exc:
            self._error = exc
            raise

    def _advance(self) -> Message | None:
        if self._headers is None:
            self._check_first_bytes()
            head_end = self._read_lines()
            if head_end is None:
                return None
            self._headers = Headers(self._fields)
            self._head_end = head_end
            self._needed = head_end + self._body_length(self._headers)
        if len(self._buffer) < self._needed:
            return None
        raw = bytes(self._buffer[:self._needed])
        self.consumed = self._needed
        self.rest = bytes(self._buffer[self._needed:])
        self._buffer = bytearray()
        self._message = self._build(raw, self._headers, self._head_end)
        return self._message

    def _read_lines(self) -> int | None:
        """Check every line that is complete; the offset after the head's empty line once it has come."""
        buffer, limit = self._buffer, self.max_header_bytes
        while True:
            pos = self._line_start
            stop = min(len(buffer), limit)
            lf = _find_line_end(buffer, max(pos, self._scanned - 1), stop)
            if lf == -1:
                if not self._started:
                    self._check_partial_start_line(stop)
                if len(buffer) >= limit:
                    raise HandshakeError(
                        f"the {self.kind} head exceeds {limit} bytes before its end (an empty line)",
                        status=431, rfc="RFC 6585 section 5")
                self._scanned = stop
                return None
            if lf == pos or buffer[lf - 1] != _CR:
                raise _bad(f"bare LF at offset {lf}: HTTP/1.1 lines end with CRLF (this parser does not "
                           "accept a lone LF)")
            line = bytes(buffer[pos:lf - 1])
            if not self._started:
                if not line:
                    raise _bad(f"empty line where the {self.kind} line should be")
                self._read_start_line(line)
                self._started = True
            elif not line:
                return lf + 1
            else:
                self._fields.append(_parse_header_line(line, pos))
            self._line_start = self._scanned = lf + 1

    # -- what requests and responses do differently

    def _check_first_bytes(self) -> None:
        """Refuse bytes that are no HTTP of this kind at all, before any line ends."""

    def _check_partial_start_line(self, end: int) -> None:
        """Check what can be checked of a start line that has not ended yet (it ends past ``end``)."""

    def _read_start_line(self, line: bytes) -> None:
        raise NotImplementedError

    def _body_length(self, headers: Headers) -> int:
        return 0

    def _build(self, raw: bytes, headers: Headers, head_end: int) -> Message:
        raise NotImplementedError


class RequestParser(HeadParser[Request]):
    """Reads a request head (RFC 9112 section 3): the server's side of the opening handshake."""

    kind = "request"

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        super().__init__(max_header_bytes=max_header_bytes)
        self._method_checked = 0  # the method's bytes before this offset are tchars
        self._method_ended = False
        self._request_line = ("", "", "")

    def _check_first_bytes(self) -> None:
        if self._buffer[:1] == b"\x16":
            raise _bad("the bytes start with 0x16, a TLS handshake record: the client speaks TLS (wss://, "
                       "https://) to a plain ws:// port", rfc="RFC 6455 section 3")

    def _check_partial_start_line(self, end: int) -> None:
        # The method is checked as it arrives, so "G\x00" is refused before any line ends.
        if self._method_ended:
            return
        begin = self._method_checked
        space = self._buffer.find(b" ", begin, end)
        stop = end if space == -1 else space
        _check_method_bytes(self._buffer[begin:stop], begin)
        self._method_checked = stop
        self._method_ended = space != -1

    def _read_start_line(self, line: bytes) -> None:
        self._request_line = _parse_request_line(line, 0)

    def _build(self, raw: bytes, headers: Headers, head_end: int) -> Request:
        method, target, version = self._request_line
        return Request(method, target, version, headers, raw)


def _has_no_body(status: int) -> bool:
    return 100 <= status < 200 or status in (204, 304)


class ResponseParser(HeadParser[Response]):
    """Reads a response head and its ``Content-Length`` body: the client's side of the opening handshake.

    A 101 has no body: the bytes after its head are WebSocket frames. Other
    answers get the ``Content-Length`` bytes that follow as ``body``; without
    ``Content-Length`` the body runs to the end of the connection, which a
    byte parser cannot see, so ``body`` stays empty and the message ends
    with its head.
    """

    kind = "response"

    def __init__(self, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        super().__init__(max_header_bytes=max_header_bytes)
        self.max_body_bytes = max_body_bytes
        self._status_line = ("", 0, "")

    def _check_first_bytes(self) -> None:
        first = bytes(self._buffer[:5])
        if first != b"HTTP/"[:len(first)]:
            raise _bad(f"not an HTTP response: it starts with {_show(first)!r}, not 'HTTP/'",
                       rfc="RFC 9112 section 4")

    def _read_start_line(self, line: bytes) -> None:
        self._status_line = _parse_status_line(line)

    def _body_length(self, headers: Headers) -> int:
        lengths = headers.get_all("Content-Length")
        if not lengths or _has_no_body(self._status_line[1]):
            return 0
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or not lengths[0].isascii():
            raise _bad(f"invalid Content-Length {', '.join(lengths)!r}", rfc="RFC 9112 section 6.3",
                       header="Content-Length")
        length = int(lengths[0])
        if length > self.max_body_bytes:
            raise _bad(f"response body of {length} bytes exceeds the limit of {self.max_body_bytes}",
                       rfc="RFC 9112 section 6.3", header="Content-Length")
        return length

    def _build(self, raw: bytes, headers: Headers, head_end: int) -> Response:
        version, status, reason = self._status_line
        return Response(status, reason, version, headers, raw, raw[head_end:])


def parse_request(data: Bytes, *,
                  max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> tuple[Request, int] | None:
    """Parse a request head from the start of ``data``.

    Returns ``None`` while more bytes are needed, else ``(request, consumed)``
    where ``consumed`` counts the bytes up to and including the CRLF CRLF;
    the bytes after it belong to the WebSocket stream. Raises HandshakeError:
    400 for a malformed line, 431 when the head outgrows ``max_header_bytes``.
    A reader that gets the bytes in pieces feeds a :class:`RequestParser`.
    """
    parser = RequestParser(max_header_bytes=max_header_bytes)
    request = parser.feed(data)
    return None if request is None else (request, parser.consumed)


def parse_response(data: Bytes, *,
                   max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
                   max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> tuple[Response, int] | None:
    """Parse a response head (and body) from the start of ``data``.

    Like :func:`parse_request`; :class:`ResponseParser` says which body is read.
    """
    parser = ResponseParser(max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes)
    response = parser.feed(data)
    return None if response is None else (response, parser.consumed)
