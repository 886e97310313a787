"""The opening handshake of RFC 6455 section 4, sans-I/O.

Bytes in, values and bytes out: ``parse_request`` / ``parse_response`` read an
HTTP/1.1 head from a buffer (``None`` means "send more bytes"),
``validate_request`` / ``validate_response`` apply the rules of sections 4.1
and 4.2.1, and ``accept_response`` / ``reject_response`` / ``client_request``
build the bytes to send. Nothing here touches a socket.

Line endings are strict: HTTP/1.1 frames its head with CRLF (RFC 9112 section
2.2). A recipient *may* accept a bare LF; this parser refuses it with a 400
that says so, rather than waiting forever for a CRLF that a ``netcat`` user
without ``-C`` will never send. Errors are reported in stream order, so the
same bytes give the same error however they are split into reads.

Header values are decoded as ISO-8859-1, so every byte maps to one character
and a value's length in characters is its length on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import http
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Union

from .errors import HandshakeError

__all__ = [
    "GUID",
    "DEFAULT_MAX_HEADER_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "SENSITIVE_HEADERS",
    "accept_key",
    "accept_key_steps",
    "AcceptKeySteps",
    "Headers",
    "redact",
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "Extension",
    "parse_extensions",
    "format_extensions",
    "parse_subprotocols",
    "HandshakeCheck",
    "request_checks",
    "ServerHandshake",
    "validate_request",
    "accept_response",
    "reject_response",
    "client_request",
    "ClientHandshake",
    "validate_response",
]

#: The fixed GUID appended to the client's key (RFC 6455 section 1.3).
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Largest head (request line, headers and the final CRLF CRLF) accepted.
DEFAULT_MAX_HEADER_BYTES = 8 * 1024

#: Largest body read after a non-101 response head.
DEFAULT_MAX_BODY_BYTES = 64 * 1024

#: Headers whose values are credentials. A browser sends the notebook server's
#: cookies to any port on the same host, so they must not be shown by default.
SENSITIVE_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "set-cookie"})

_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")
_STATUS_RE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: (.*))?")
_CR, _HT = 0x0D, 0x09
_DEFAULT_PORTS = {False: 80, True: 443}

HeaderItems = Union["Headers", Mapping[str, str], Iterable[tuple[str, str]]]


# -- the accept key (section 4.2.2, step 5.4) --------------------------------------


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID)).

    The server proves it read the request as a WebSocket handshake (and is
    not an HTTP cache replaying an old answer) by hashing the client's nonce
    with a GUID no other protocol uses (RFC 6455 sections 1.3 and 4.2.2).
    """
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


@dataclass(frozen=True)
class AcceptKeySteps:
    """Each step of :func:`accept_key`, for showing the computation."""

    key: str
    concatenated: str
    sha1_hex: str
    accept: str

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs in computation order."""
        return [
            ("Sec-WebSocket-Key", self.key),
            ("key + GUID", self.concatenated),
            ("SHA-1 (hex)", self.sha1_hex),
            ("base64 = Sec-WebSocket-Accept", self.accept),
        ]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.rows())


def accept_key_steps(key: str) -> AcceptKeySteps:
    """The steps of :func:`accept_key` (RFC 6455 section 4.2.2, step 5.4)."""
    concatenated = key + GUID
    digest = hashlib.sha1(concatenated.encode()).digest()
    return AcceptKeySteps(key, concatenated, digest.hex(), base64.b64encode(digest).decode())


# -- headers -----------------------------------------------------------------


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
    if not name or not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a token (RFC 9110 section 5.1)")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"header {name} value {value!r} contains CR, LF or NUL")


class Headers:
    """HTTP header fields as received: ordered, duplicates kept, names in their case.

    Lookups ignore case (RFC 9110 section 5.1). The value is immutable; its
    ``repr`` hides credentials (see :data:`SENSITIVE_HEADERS`).
    """

    __slots__ = ("_items",)

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


# -- messages ----------------------------------------------------------------


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

    def text(self, *, redact_sensitive: bool = True) -> str:
        """The head as readable lines, credentials redacted unless asked otherwise."""
        head = [f"{self.method} {self.target} {self.version}"]
        return "\n".join(head + self.headers.lines(redact_sensitive=redact_sensitive))

    def __repr__(self) -> str:
        n = len(self.headers)
        return (f"Request({self.method} {self.target} {self.version}, "
                f"{n} header{'s' * (n != 1)}, {len(self.raw)} bytes)")


@dataclass(frozen=True, repr=False)
class Response:
    """An HTTP response head and, for non-101 answers, its body."""

    status: int
    reason: str
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
    raw: bytes = b""
    body: bytes = b""

    def text(self, *, redact_sensitive: bool = True) -> str:
        """The head (and a text body) as readable lines."""
        head = [f"{self.version} {self.status} {self.reason}".rstrip()]
        lines = head + self.headers.lines(redact_sensitive=redact_sensitive)
        if self.body:
            lines += ["", self.body.decode("utf-8", "replace")]
        return "\n".join(lines)

    def __repr__(self) -> str:
        n = len(self.headers)
        body = f", body {len(self.body)} bytes" if self.body else ""
        return (f"Response({self.status} {self.reason}".rstrip()
                + f", {n} header{'s' * (n != 1)}, {len(self.raw)} bytes{body})")


# -- incremental parsing (RFC 9112 sections 2-5) ----------------------------------


def _show(b: bytes, limit: int = 60) -> str:
    text = repr(b[:limit])[2:-1]
    return text + ("..." if len(b) > limit else "")


def _bad(message: str, *, rfc: str = "RFC 9112 section 2.2", status: int = 400, header: str | None = None) -> HandshakeError:
    return HandshakeError(message, status=status, header=header, rfc=rfc)


def _check_method_prefix(line: bytes, offset: int) -> None:
    """The method is a token: report its first non-token byte (also on a partial line)."""
    end = line.find(b" ")
    method = line if end == -1 else line[:end]
    for i, b in enumerate(method):
        if b not in _TCHAR:
            raise _bad(f"byte 0x{b:02x} at offset {offset + i} in the request method: a method is a token",
                       rfc="RFC 9110 section 9.1")


def _parse_request_line(line: bytes, offset: int) -> tuple[str, str, str]:
    _check_method_prefix(line, offset)
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise _bad(f"malformed request line {_show(line)!r}: expected METHOD SP TARGET SP HTTP-VERSION "
                   "separated by single spaces", rfc="RFC 9112 section 3")
    method, target, version = parts
    bad = next((b for b in target if not 0x21 <= b <= 0x7E), None)
    if bad is not None:
        raise _bad(f"request target {_show(target)!r} contains byte 0x{bad:02x}", rfc="RFC 9112 section 3.2")
    if not _VERSION_RE.fullmatch(version):
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
    bad = next((b for b in name if b not in _TCHAR), None)
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


def _scan_head(data: bytes, limit: int, kind: str) -> tuple[bytes, list[bytes], list[int], int] | None:
    """Split the head into lines, checking each as it completes.

    Returns (start line, header lines, their offsets, bytes consumed) or None.
    Every complete line is checked, in order, even before the head ends, so
    an error surfaces as early as the bytes allow and is the same however
    the bytes were split.
    """
    if kind == "request" and data[:1] == b"\x16":
        raise _bad("the bytes start with 0x16, a TLS handshake record: the client speaks TLS (wss://, "
                   "https://) to a plain ws:// port", rfc="RFC 6455 section 3")
    if kind == "response" and not (data[:5] == b"HTTP/"[:len(data[:5])]):
        raise _bad(f"not an HTTP response: it starts with {_show(data[:5])!r}, not 'HTTP/'",
                   rfc="RFC 9112 section 4")
    start: bytes | None = None
    lines: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    while True:
        lf = data.find(b"\n", pos, limit)
        end = lf if lf != -1 else min(len(data), limit)
        cr = data.find(b"\r", pos, end)
        while cr != -1:
            nxt = data[cr + 1:cr + 2]
            if nxt and nxt != b"\n":
                raise _bad(f"bare CR (not followed by LF) at offset {cr}")
            cr = data.find(b"\r", cr + 1, end)
        if lf == -1:
            if start is None and kind == "request":
                _check_method_prefix(data[pos:end], pos)
            if len(data) >= limit:
                raise HandshakeError(
                    f"the {kind} head exceeds {limit} bytes before its end (an empty line)",
                    status=431, rfc="RFC 6585 section 5")
            return None
        if lf == pos or data[lf - 1] != _CR:
            raise _bad(f"bare LF at offset {lf}: HTTP/1.1 lines end with CRLF (this parser does not "
                       "accept a lone LF)")
        line = data[pos:lf - 1]
        if start is None:
            if not line:
                raise _bad(f"empty line where the {kind} line should be")
            if kind == "request":
                _parse_request_line(line, pos)
            else:
                _parse_status_line(line)
            start = line
        elif not line:
            return start, lines, offsets, lf + 1
        else:
            _parse_header_line(line, pos)
            lines.append(line)
            offsets.append(pos)
        pos = lf + 1


def parse_request(data: bytes | bytearray | memoryview, *,
                  max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> tuple[Request, int] | None:
    """Parse a request head from the start of ``data``.

    Returns ``None`` while more bytes are needed, else ``(request, consumed)``
    where ``consumed`` counts the bytes up to and including the CRLF CRLF;
    the bytes after it belong to the WebSocket stream. Raises HandshakeError:
    400 for a malformed line, 431 when the head outgrows ``max_header_bytes``.
    """
    data = bytes(data)
    scanned = _scan_head(data, max_header_bytes, "request")
    if scanned is None:
        return None
    start, lines, offsets, consumed = scanned
    method, target, version = _parse_request_line(start, 0)
    headers = Headers(_parse_header_line(line, off) for line, off in zip(lines, offsets))
    return Request(method, target, version, headers, data[:consumed]), consumed


def _has_no_body(status: int) -> bool:
    return 100 <= status < 200 or status in (204, 304)


def parse_response(data: bytes | bytearray | memoryview, *,
                   max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
                   max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> tuple[Response, int] | None:
    """Parse a response head (and body) from the start of ``data``.

    Like :func:`parse_request`. A 101 has no body: the bytes after its head
    are WebSocket frames. Other answers get the ``Content-Length`` bytes that
    follow as ``body``; without ``Content-Length`` the body runs to the end of
    the connection, which a byte parser cannot see, so ``body`` stays empty
    and ``consumed`` stops at the head.
    """
    data = bytes(data)
    scanned = _scan_head(data, max_header_bytes, "response")
    if scanned is None:
        return None
    start, lines, offsets, consumed = scanned
    version, status, reason = _parse_status_line(start)
    headers = Headers(_parse_header_line(line, off) for line, off in zip(lines, offsets))
    body = b""
    lengths = headers.get_all("Content-Length")
    if lengths and not _has_no_body(status):
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or not lengths[0].isascii():
            raise _bad(f"invalid Content-Length {', '.join(lengths)!r}", rfc="RFC 9112 section 6.3",
                       header="Content-Length")
        length = int(lengths[0])
        if length > max_body_bytes:
            raise _bad(f"response body of {length} bytes exceeds the limit of {max_body_bytes}",
                       rfc="RFC 9112 section 6.3", header="Content-Length")
        if len(data) < consumed + length:
            return None
        body = data[consumed:consumed + length]
        consumed += length
    return Response(status, reason, version, headers, data[:consumed], body), consumed


# -- header value grammars -----------------------------------------------------


def _split_list(values: Iterable[str]) -> list[str]:
    """Elements of a comma-separated list spread over several header lines (RFC 9110 5.6.1)."""
    return [item.strip(" \t") for value in values for item in value.split(",") if item.strip(" \t")]


def _has_token(headers: Headers, name: str, token: str) -> bool:
    return any(item.lower() == token for item in _split_list(headers.get_all(name)))


def parse_subprotocols(headers: Headers) -> list[str]:
    """Subprotocols offered in ``Sec-WebSocket-Protocol`` (1#token, RFC 6455 section 11.3.4)."""
    items = _split_list(headers.get_all("Sec-WebSocket-Protocol"))
    for item in items:
        if not _TOKEN_RE.fullmatch(item):
            raise HandshakeError(f"subprotocol {item!r} is not a token", status=400,
                                 header="Sec-WebSocket-Protocol", rfc="11.3.4")
    return items


class Extension(NamedTuple):
    """One element of ``Sec-WebSocket-Extensions``: a name and its parameters in order."""

    name: str
    params: tuple[tuple[str, str | None], ...] = ()

    def __str__(self) -> str:
        return format_extensions([self])


class _ExtensionParser:
    """Recursive descent over the grammar of RFC 6455 section 9.1.

    extension-list = 1#extension
    extension      = token *( ";" extension-param )
    extension-param = token [ "=" ( token / quoted-string ) ]

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
        m = _TOKEN_RE.match(self.text, self.pos)
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
        if not _TOKEN_RE.fullmatch(value):
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


ExtensionsArg = Union[str, Iterable[Union[Extension, tuple[str, Iterable[tuple[str, Union[str, None]]]]]], None]


def _as_extensions(extensions: ExtensionsArg) -> list[Extension]:
    if extensions is None:
        return []
    if isinstance(extensions, str):
        return parse_extensions(extensions)
    return [Extension(name, tuple((k, v) for k, v in params)) for name, params in extensions]


def format_extensions(extensions: Iterable[Extension | tuple[str, Iterable[tuple[str, str | None]]]]) -> str:
    """A ``Sec-WebSocket-Extensions`` value. Parameter values must be tokens (section 9.1),
    so none ever needs quoting."""
    parts = []
    for ext in _as_extensions(extensions):  # type: ignore[arg-type]
        if not _TOKEN_RE.fullmatch(ext.name):
            raise ValueError(f"extension name {ext.name!r} is not a token")
        items = [ext.name]
        for key, val in ext.params:
            if not _TOKEN_RE.fullmatch(key):
                raise ValueError(f"extension parameter {key!r} is not a token")
            if val is None:
                items.append(key)
            elif _TOKEN_RE.fullmatch(val):
                items.append(f"{key}={val}")
            else:
                raise ValueError(f"extension parameter value {val!r} is not a token (RFC 6455 section 9.1)")
        parts.append("; ".join(items))
    return ", ".join(parts)


# -- server side: the rules of section 4.2.1 ---------------------------------------


@dataclass(frozen=True, repr=False)
class HandshakeCheck:
    """One rule of RFC 6455 section 4.2.1 applied to a request.

    ``detail`` says what was found; when ``ok`` is False it is the reason
    sent back, with ``status`` and ``response_headers``.
    """

    rule: str
    ok: bool
    detail: str
    header: str | None = None
    status: int = 400
    rfc: str = "4.2.1"
    response_headers: tuple[tuple[str, str], ...] = ()

    def error(self) -> HandshakeError:
        """The HandshakeError that refuses the request for this rule."""
        return HandshakeError(self.detail, status=self.status, header=self.header, rfc=self.rfc,
                              headers=self.response_headers)

    def __repr__(self) -> str:
        if self.ok:
            return f"HandshakeCheck(ok: {self.rule}: {self.detail})"
        return f"HandshakeCheck(FAIL {self.status}: {self.rule}: {self.detail})"


def _version_tuple(version: str) -> tuple[int, int]:
    m = _VERSION_RE.fullmatch(version.encode("ascii", "replace"))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _check_method(r: Request) -> HandshakeCheck:
    rule = "method is GET"
    if r.method == "GET":
        return HandshakeCheck(rule, True, "GET")
    return HandshakeCheck(rule, False, f"the handshake must be a GET request, got {r.method}", status=405,
                 rfc="4.1", response_headers=(("Allow", "GET"),))


def _check_version(r: Request) -> HandshakeCheck:
    rule = "HTTP/1.1 or later"
    v = _version_tuple(r.version)
    if v >= (2, 0):
        return HandshakeCheck(rule, False, f"{r.version} is not spoken here: the WebSocket handshake is HTTP/1.1",
                     status=505, rfc="4.1")
    if v < (1, 1):
        return HandshakeCheck(rule, False, f"the handshake needs HTTP/1.1 or later, got {r.version}", rfc="4.1")
    return HandshakeCheck(rule, True, r.version)


def _check_host(r: Request) -> HandshakeCheck:
    rule = "exactly one Host header"
    hosts = r.headers.get_all("Host")
    if len(hosts) != 1:
        return HandshakeCheck(rule, False, f"the request must carry exactly one Host header, got {len(hosts)}",
                     header="Host", rfc="4.1")
    if not hosts[0]:
        return HandshakeCheck(rule, False, "the Host header is empty", header="Host", rfc="4.1")
    return HandshakeCheck(rule, True, hosts[0], header="Host")


def _check_token(r: Request, header: str, token: str, shown: str) -> HandshakeCheck:
    """``header`` lists ``token`` (any case, in comma-separated lists, over several lines)."""
    rule = f"{header} lists {shown}"
    values = r.headers.get_all(header)
    if _has_token(r.headers, header, token):
        return HandshakeCheck(rule, True, ", ".join(values), header=header)
    found = f"got {', '.join(values)!r}" if values else "it is missing"
    return HandshakeCheck(rule, False, f"the {header} header must contain the token '{shown}', {found}",
                          header=header)


def _check_upgrade(r: Request) -> HandshakeCheck:
    return _check_token(r, "Upgrade", "websocket", "websocket")


def _check_connection(r: Request) -> HandshakeCheck:
    return _check_token(r, "Connection", "upgrade", "Upgrade")


def _key_bytes(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


def _check_key(r: Request) -> HandshakeCheck:
    rule = "one Sec-WebSocket-Key of 16 base64 bytes"
    h = "Sec-WebSocket-Key"
    keys = r.headers.get_all(h)
    if len(keys) != 1:
        return HandshakeCheck(rule, False, f"the request must carry exactly one {h} header, got {len(keys)}", header=h)
    try:
        raw = _key_bytes(keys[0])
    except (ValueError, UnicodeEncodeError):
        return HandshakeCheck(rule, False, f"{h} {keys[0]!r} is not valid base64", header=h)
    if len(raw) != 16:
        return HandshakeCheck(rule, False, f"{h} decodes to {len(raw)} bytes; it must be a 16-byte nonce", header=h)
    return HandshakeCheck(rule, True, keys[0], header=h)


def _check_ws_version(r: Request) -> HandshakeCheck:
    rule = "Sec-WebSocket-Version is 13"
    h = "Sec-WebSocket-Version"
    values = r.headers.get_all(h)
    if values == ["13"]:
        return HandshakeCheck(rule, True, "13", header=h)
    found = f"got {', '.join(values)!r}" if values else "it is missing"
    return HandshakeCheck(rule, False, f"only {h} 13 is supported, {found}", header=h, status=426, rfc="4.4",
                 response_headers=(("Upgrade", "websocket"), (h, "13")))


def _check_origin(r: Request, origins: frozenset[str | None] | None) -> HandshakeCheck:
    rule = "Origin allowed"
    values = r.headers.get_all("Origin")
    if origins is None:
        return HandshakeCheck(rule, True, f"any origin accepted ({values[0] if values else 'none sent'})", header="Origin")
    if len(values) > 1:
        return HandshakeCheck(rule, False, f"the request carries {len(values)} Origin headers", header="Origin",
                     status=403, rfc="10.2")
    origin = values[0] if values else None
    if origin in origins:
        return HandshakeCheck(rule, True, origin or "none sent, allowed", header="Origin")
    shown = repr(origin) if origin is not None else "a missing Origin"
    return HandshakeCheck(rule, False, f"origin {shown} is not allowed", header="Origin", status=403, rfc="10.2")


def _check_syntax(r: Request, rule: str, header: str, parse: Callable[[Headers], object],
                  rfc: str) -> HandshakeCheck:
    try:
        parse(r.headers)
    except HandshakeError as exc:
        return HandshakeCheck(rule, False, exc.message, header=header, rfc=rfc)
    values = r.headers.get_all(header)
    return HandshakeCheck(rule, True, ", ".join(values) if values else "none offered", header=header)


def request_checks(request: Request, *, origins: Iterable[str | None] | None = None) -> tuple[HandshakeCheck, ...]:
    """Every rule of section 4.2.1 applied to ``request``, in the RFC's order.

    Each check stands alone, so a view can show all of them, passed or not.
    ``origins`` lists the allowed ``Origin`` values (include None to allow a
    request without one); None accepts any origin.
    """
    if isinstance(origins, str):
        origins = [origins]
    allowed = None if origins is None else frozenset(origins)
    return (
        _check_method(request),
        _check_version(request),
        _check_host(request),
        _check_upgrade(request),
        _check_connection(request),
        _check_key(request),
        _check_ws_version(request),
        _check_origin(request, allowed),
        _check_syntax(request, "Sec-WebSocket-Protocol is a token list", "Sec-WebSocket-Protocol",
                      parse_subprotocols, "11.3.4"),
        _check_syntax(request, "Sec-WebSocket-Extensions is well formed", "Sec-WebSocket-Extensions",
                      parse_extensions, "9.1"),
    )


@dataclass(frozen=True)
class ServerHandshake:
    """A request that passed every check, and what the server learnt from it."""

    request: Request
    key: str
    accept: str
    origin: str | None
    subprotocols_offered: tuple[str, ...]
    extensions_offered: tuple[Extension, ...]
    subprotocol: str | None
    checks: tuple[HandshakeCheck, ...] = field(repr=False, default=())

    def accept_response(self, *, extensions: ExtensionsArg = None,
                        extra_headers: Iterable[tuple[str, str]] = ()) -> bytes:
        """The 101 answer, with the subprotocol chosen by :func:`validate_request`."""
        return accept_response(self.request, subprotocol=self.subprotocol, extensions=extensions,
                               extra_headers=extra_headers)


def validate_request(request: Request, *, origins: Iterable[str | None] | None = None,
                     subprotocols: Sequence[str] = ()) -> ServerHandshake:
    """HandshakeCheck a handshake request (RFC 6455 section 4.2.1) or raise the first failure.

    The HandshakeError carries the status to answer with: 405 (with
    ``Allow: GET``) for another method, 400 for a malformed request, 426 (with
    ``Sec-WebSocket-Version: 13``) for another protocol version, 403 for an
    origin not in ``origins``; :func:`reject_response` turns it into bytes.
    ``subprotocols`` are the server's, by preference: the first one the
    client offered is chosen (section 4.2.2, step 5.5).
    """
    if isinstance(subprotocols, str):
        subprotocols = [subprotocols]
    checks = request_checks(request, origins=origins)
    for check in checks:
        if not check.ok:
            raise check.error()
    key = request.headers["Sec-WebSocket-Key"]
    offered = parse_subprotocols(request.headers)
    chosen = next((p for p in subprotocols if p in offered), None)
    return ServerHandshake(
        request=request,
        key=key,
        accept=accept_key(key),
        origin=request.headers.get("Origin"),
        subprotocols_offered=tuple(offered),
        extensions_offered=tuple(parse_extensions(request.headers)),
        subprotocol=chosen,
        checks=checks,
    )


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _message(start: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    return start.encode("ascii") + b"\r\n" + Headers(headers).encode() + b"\r\n" + body


def accept_response(request: Request, *, subprotocol: str | None = None, extensions: ExtensionsArg = None,
                    extra_headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The 101 Switching Protocols answer to ``request`` (RFC 6455 section 4.2.2, step 5).

    ``subprotocol`` and the ``extensions`` names must be among those the
    client offered (a client fails the connection otherwise, section 4.1), so
    another value is a programming error: ValueError.
    """
    key = request.headers.get("Sec-WebSocket-Key")
    if key is None:
        raise HandshakeError("the request has no Sec-WebSocket-Key to answer", header="Sec-WebSocket-Key")
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key))]
    if subprotocol is not None:
        if subprotocol not in parse_subprotocols(request.headers):
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    chosen = _as_extensions(extensions)
    if chosen:
        offered = {e.name for e in parse_extensions(request.headers)}
        for ext in chosen:
            if ext.name not in offered:
                raise ValueError(f"extension {ext.name!r} was not offered by the client")
        headers.append(("Sec-WebSocket-Extensions", format_extensions(chosen)))
    headers += list(extra_headers)
    return _message("HTTP/1.1 101 Switching Protocols", headers)


def reject_response(error: HandshakeError) -> bytes:
    """A complete plain-text HTTP answer refusing the handshake for ``error``.

    The body is the human reason. Extra headers carried by the error come
    along (``Allow`` for 405, ``Upgrade`` and ``Sec-WebSocket-Version`` for
    426); a response naming ``Upgrade`` also lists it in ``Connection``
    (RFC 9110 section 7.8). The connection closes after it.
    """
    body = (error.message + "\n").encode("utf-8")
    extra = list(error.headers)
    connection = "Upgrade, close" if any(k.lower() == "upgrade" for k, _ in extra) else "close"
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", connection),
        *extra,
    ]
    return _message(f"HTTP/1.1 {error.status} {_reason(error.status)}", headers, body)


# -- client side: section 4.1 ---------------------------------------------------


def client_request(host: str, port: int, path: str = "/", *, key: str | None = None, origin: str | None = None,
                   subprotocols: Sequence[str] = (), extensions: ExtensionsArg = None,
                   extra_headers: Iterable[tuple[str, str]] = (), secure: bool = False) -> tuple[bytes, str]:
    """The client's opening request (RFC 6455 section 4.1) and the key it carries.

    ``key`` defaults to 16 fresh random bytes, base64 encoded. The port is
    left out of ``Host`` when it is the scheme's default (80, or 443 when
    ``secure``).
    """
    if not path.startswith("/") or any(c.isspace() or not 0x21 <= ord(c) <= 0x7E for c in path):
        raise ValueError(f"path {path!r} must start with '/' and hold only visible ASCII")
    if key is None:
        key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
    authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if port != _DEFAULT_PORTS[secure]:
        authority = f"{authority}:{port}"
    headers = [
        ("Host", authority),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if isinstance(subprotocols, str):
        subprotocols = [subprotocols]
    if subprotocols:
        for p in subprotocols:
            if not _TOKEN_RE.fullmatch(p):
                raise ValueError(f"subprotocol {p!r} is not a token")
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    offered = _as_extensions(extensions)
    if offered:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(offered)))
    headers += list(extra_headers)
    return _message(f"GET {path} HTTP/1.1", headers), key


@dataclass(frozen=True)
class ClientHandshake:
    """A 101 answer that passed the client's checks, and what was agreed."""

    response: Response
    key: str
    accept: str
    subprotocol: str | None
    extensions: tuple[Extension, ...]


def _client_error(message: str, header: str | None = None) -> HandshakeError:
    # status is the server-side answer; a client has none to send, it fails the connection.
    return HandshakeError(message, header=header, rfc="4.1")


def validate_response(response: Response, key: str, *, subprotocols: Sequence[str] = (),
                      extensions: ExtensionsArg = None) -> ClientHandshake:
    """HandshakeCheck the server's answer as a client must (RFC 6455 section 4.1, end).

    ``subprotocols`` and ``extensions`` are what the client offered; the
    server may only pick from them.
    """
    if response.status != 101:
        reason = response.body.decode("utf-8", "replace").strip().splitlines()
        why = f": {reason[0]}" if reason else ""
        raise _client_error(f"expected 101 Switching Protocols, got {response.status} {response.reason}{why}")
    h = response.headers
    if not _has_token(h, "Upgrade", "websocket"):
        raise _client_error(f"the Upgrade header must be 'websocket', got {h.get_all('Upgrade')!r}", "Upgrade")
    if not _has_token(h, "Connection", "upgrade"):
        raise _client_error(f"the Connection header must contain 'Upgrade', got {h.get_all('Connection')!r}",
                            "Connection")
    expected = accept_key(key)
    accepts = h.get_all("Sec-WebSocket-Accept")
    if len(accepts) != 1:
        raise _client_error(f"expected one Sec-WebSocket-Accept header, got {len(accepts)}", "Sec-WebSocket-Accept")
    if accepts[0] != expected:
        raise _client_error(f"Sec-WebSocket-Accept is {accepts[0]!r}, expected {expected!r} for key {key!r}",
                            "Sec-WebSocket-Accept")
    protocols = parse_subprotocols(h)
    if len(protocols) > 1:
        raise _client_error(f"the server chose several subprotocols: {protocols!r}", "Sec-WebSocket-Protocol")
    chosen = protocols[0] if protocols else None
    if isinstance(subprotocols, str):
        subprotocols = [subprotocols]
    if chosen is not None and chosen not in subprotocols:
        raise _client_error(f"the server chose subprotocol {chosen!r}, which was not offered",
                            "Sec-WebSocket-Protocol")
    agreed = parse_extensions(h)
    offered = {e.name for e in _as_extensions(extensions)}
    for ext in agreed:
        if ext.name not in offered:
            raise _client_error(f"the server chose extension {ext.name!r}, which was not offered",
                                "Sec-WebSocket-Extensions")
    return ClientHandshake(response, key, expected, chosen, tuple(agreed))
