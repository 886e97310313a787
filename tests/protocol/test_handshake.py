"""The opening handshake (RFC 6455 section 4): parsing, checks, answers, interop."""

from __future__ import annotations

import base64
import copy
import pickle
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from wsproto import ConnectionType
from wsproto.events import AcceptConnection
from wsproto.events import Request as WsprotoRequest
from wsproto.handshake import H11Handshake

from wsexplore.protocol.errors import HandshakeError
from wsexplore.protocol.handshake import (
    DEFAULT_MAX_HEADER_BYTES,
    GUID,
    Extension,
    HandshakeCheck,
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    accept_key,
    accept_key_steps,
    accept_response,
    client_request,
    format_extensions,
    parse_extensions,
    parse_request,
    parse_response,
    parse_subprotocols,
    redact,
    reject_response,
    request_checks,
    response_checks,
    validate_request,
    validate_response,
)
from wsexplore.protocol.handshake import head

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
COOKIE = "_xsrf=2|abc|def|1700000000; username-localhost-8888=2|1:0|10:1700000000|secret"

CHROMIUM = (
    "GET /ws HTTP/1.1\r\n"
    "Host: 127.0.0.1:8765\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://127.0.0.1:8888\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    f"Cookie: {COOKIE}\r\n"
    f"Sec-WebSocket-Key: {RFC_KEY}\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n"
).encode()

# A masked text frame "Hello" (RFC 6455 section 5.7) sent right behind the request.
FRAME = bytes.fromhex("818537fa213d7f9f4d5158")


def build(lines: list[str], request_line: str = "GET /chat HTTP/1.1") -> bytes:
    return ("\r\n".join([request_line, *lines]) + "\r\n\r\n").encode("latin-1")


GOOD = [
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {RFC_KEY}",
    "Sec-WebSocket-Version: 13",
    "Origin: http://example.com",
]


def without(name: str, lines: list[str] = GOOD) -> list[str]:
    return [line for line in lines if not line.lower().startswith(name.lower() + ":")]


def replace(name: str, value: str) -> list[str]:
    return [f"{name}: {value}" if line.lower().startswith(name.lower() + ":") else line for line in GOOD]


def parsed(data: bytes) -> Request:
    result = parse_request(data)
    assert result is not None
    request, consumed = result
    assert consumed == len(data)
    return request


def http_response(data: bytes) -> Response:
    result = parse_response(data)
    assert result is not None
    return result[0]


# -- accept key --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "accept"),
    [
        (RFC_KEY, RFC_ACCEPT),
        ("Ia3dQjfWrAug/6qm7mTZOg==", "JkE58n3uIigYDMvC+KsBbGZsp1A="),
        ("wk60yiym2FEwCAMVZE3FgQ==", "XRfPnS+8xl11QWZherej/dkHPHM="),
    ],
)
def test_accept_key_vectors(key: str, accept: str) -> None:
    assert accept_key(key) == accept
    assert accept_key_steps(key).accept == accept


def test_accept_key_steps_show_each_stage() -> None:
    steps = accept_key_steps(RFC_KEY)
    assert steps.concatenated == RFC_KEY + GUID
    # The SHA-1 printed in RFC 6455 section 1.3.
    assert steps.sha1_hex == "b37a4f2cc0624f1690f64606cf385945b2bec4ea"
    labels = [label for label, _ in steps.rows()]
    assert labels == ["Sec-WebSocket-Key", "key + GUID", "SHA-1 (hex)", "base64 = Sec-WebSocket-Accept"]
    assert list(steps) == steps.rows()
    # Printed in a notebook, the value shows every stage, not an object address.
    shown = repr(steps)
    assert shown.startswith("AcceptKeySteps(")
    for value in (RFC_KEY, GUID, "b37a4f2cc0624f1690f64606cf385945b2bec4ea", RFC_ACCEPT):
        assert value in shown


# -- headers ----------------------------------------------------------------


def test_headers_keep_order_case_and_duplicates() -> None:
    h = Headers([("X-One", "1"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2"), ("HOST", "h")])
    assert h.get("host") == "h"
    assert h["Host"] == "h"
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert h.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert h.items() == [("X-One", "1"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2"), ("HOST", "h")]
    assert "x-one" in h and "X-Two" not in h and 3 not in h
    assert len(h) == 4
    with pytest.raises(KeyError):
        h["nope"]
    with pytest.raises(AttributeError):
        h.foo = 1  # type: ignore[attr-defined]
    assert Headers({"A": "1"}) == Headers([("A", "1")]) == Headers(Headers([("A", "1")]))


def test_headers_redaction() -> None:
    h = Headers([
        ("Cookie", "abc=123"),
        ("authorization", "Basic dXNlcjpwYXNz"),
        ("Proxy-Authorization", "x"),
        ("Set-Cookie", "s=\xe9"),
        ("Host", "h"),
    ])
    red = h.redacted()
    assert red.items() == [
        ("Cookie", "<redacted 7 bytes>"),
        ("authorization", "<redacted 18 bytes>"),
        ("Proxy-Authorization", "<redacted 1 bytes>"),
        ("Set-Cookie", "<redacted 3 bytes>"),
        ("Host", "h"),
    ]
    assert h.get("Cookie") == "abc=123"  # the original is untouched
    assert "abc=123" not in repr(h) and "dXNlcjpwYXNz" not in repr(h)
    assert "<redacted 7 bytes>" in repr(h)
    assert redact("Host", "h") == "h" and redact("COOKIE", "12345") == "<redacted 5 bytes>"
    assert h.lines(redact_sensitive=False)[0] == "Cookie: abc=123"


def test_headers_encode_refuses_injection() -> None:
    assert Headers([("A", "1"), ("B", "x y")]).encode() == b"A: 1\r\nB: x y\r\n"
    with pytest.raises(ValueError):
        Headers([("A", "1\r\nEvil: 1")]).encode()
    with pytest.raises(ValueError):
        Headers([("Bad Name", "1")]).encode()


# -- a real browser's request -------------------------------------------------


def test_chromium_request_parsed_and_accepted() -> None:
    result = parse_request(CHROMIUM + FRAME)
    assert result is not None
    request, consumed = result
    assert consumed == len(CHROMIUM)
    assert (CHROMIUM + FRAME)[consumed:] == FRAME
    assert request.raw == CHROMIUM
    assert (request.method, request.target, request.path, request.version) == ("GET", "/ws", "/ws", "HTTP/1.1")
    assert len(request.headers) == 13
    assert request.headers["cookie"] == COOKIE
    assert request.headers.get("user-agent", "").startswith("Mozilla/5.0")

    hs = validate_request(request, origins=["http://127.0.0.1:8888"])
    assert hs.key == RFC_KEY and hs.accept == RFC_ACCEPT
    assert hs.origin == "http://127.0.0.1:8888"
    assert hs.extensions_offered == (Extension("permessage-deflate", (("client_max_window_bits", None),)),)
    assert hs.subprotocols_offered == () and hs.subprotocol is None
    assert all(check.ok for check in hs.checks) and len(hs.checks) == 10

    answer = hs.accept_response()
    assert answer == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )
    assert accept_response(request) == answer


def test_request_and_response_reprs_are_informative_and_hide_cookies() -> None:
    request = parsed(CHROMIUM)
    assert repr(request) == f"Request(GET /ws HTTP/1.1, 13 headers, {len(CHROMIUM)} bytes)"
    hs = validate_request(request)
    response = http_response(hs.accept_response())
    assert repr(response) == "Response(101 Switching Protocols, 3 headers, 129 bytes)"
    for text in (repr(request.headers), repr(hs), request.text(), repr(request_checks(request))):
        assert "secret" not in text
        assert not re.search(r"0x[0-9a-f]{6,}", text)  # no object addresses
    assert f"Cookie: <redacted {len(COOKIE)} bytes>" in request.text()
    assert "secret" in request.text(redact_sensitive=False)
    assert request.text().splitlines()[0] == "GET /ws HTTP/1.1"
    assert repr(request_checks(request)[0]) == "HandshakeCheck(ok: method is GET: GET)"


# -- incremental parsing -------------------------------------------------------


def test_one_byte_at_a_time() -> None:
    stream = CHROMIUM + FRAME
    buffer = b""
    result = None
    for i, byte in enumerate(stream):
        buffer += bytes([byte])
        result = parse_request(buffer)
        if result is not None:
            break
        assert i < len(CHROMIUM) - 1
    assert result is not None
    request, consumed = result
    assert i == len(CHROMIUM) - 1 and consumed == len(CHROMIUM)
    assert request == parse_request(stream)[0]  # type: ignore[index]
    assert stream[consumed:] == FRAME


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CHROMIUM) + len(FRAME)), max_size=8))
def test_any_split_gives_the_same_request(cuts: list[int]) -> None:
    stream = CHROMIUM + FRAME
    expected = parse_request(stream)
    for cut in sorted(cuts):
        partial = parse_request(stream[:cut])
        assert partial is None if cut < len(CHROMIUM) else partial == expected


BAD_NAME_THEN_BARE_LF = build(["Host: h", "Bad Name: x", "X: y\nZ: 1"])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(BAD_NAME_THEN_BARE_LF)))
def test_errors_do_not_depend_on_the_split(cut: int) -> None:
    # A bad header line followed later by a bare LF: the first error in stream order wins,
    # as soon as the bad line is complete and never before, however the bytes are split.
    data = BAD_NAME_THEN_BARE_LF
    bad_line_end = data.index(b"Bad Name: x\r\n") + len(b"Bad Name: x\r\n")
    with pytest.raises(HandshakeError) as whole:
        parse_request(data)
    assert whole.value.message == "header name 'Bad Name' contains byte 0x20: a name is a token"
    assert (whole.value.status, whole.value.rfc) == (400, "RFC 9110 section 5.1")
    parser = RequestParser()
    if cut < bad_line_end:
        assert parse_request(data[:cut]) is None
        assert parser.feed(data[:cut]) is None
        with pytest.raises(HandshakeError) as piecewise:
            parser.feed(data[cut:])
    else:
        with pytest.raises(HandshakeError) as part:
            parse_request(data[:cut])
        assert part.value == whole.value
        with pytest.raises(HandshakeError) as piecewise:
            parser.feed(data[:cut])
    assert piecewise.value == whole.value and piecewise.value.status == 400


def test_head_limit_431() -> None:
    filler = [f"X-Filler-{i}: {'a' * 100}" for i in range(80)]
    data = build(GOOD + filler)
    assert len(data) > DEFAULT_MAX_HEADER_BYTES
    with pytest.raises(HandshakeError) as exc:
        parse_request(data)
    assert exc.value.status == 431
    answer = reject_response(exc.value)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"8192 bytes" in answer
    # Still incomplete and below the limit: wait. At the limit without an end: refuse.
    assert parse_request(data[:DEFAULT_MAX_HEADER_BYTES - 1]) is None
    with pytest.raises(HandshakeError):
        parse_request(data[:DEFAULT_MAX_HEADER_BYTES])
    # The same head passes with a larger limit, and a head of exactly the limit passes.
    assert parse_request(data, max_header_bytes=len(data)) is not None
    with pytest.raises(HandshakeError):
        parse_request(data, max_header_bytes=len(data) - 1)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"GET / HTTP/1.1\nHost: h\n\n", "bare LF at offset 14"),
        (b"GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n", "bare CR"),
        (b"GET  / HTTP/1.1\r\n\r\n", "malformed request line"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", "malformed request line"),
        (b"GET /\xff HTTP/1.1\r\n\r\n", "request target"),
        (b"GET / HTTP/1\r\n\r\n", "malformed HTTP version"),
        (b"G(T / HTTP/1.1\r\n\r\n", "byte 0x28 at offset 1 in the request method"),
        (b"\r\n\r\n", "empty line where the request line should be"),
        (b"GET / HTTP/1.1\r\nHost h\r\n\r\n", "has no colon"),
        (b"GET / HTTP/1.1\r\n: h\r\n\r\n", "empty name"),
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", "whitespace between header name 'Host' and the colon"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n  folded\r\n\r\n", "obsolete line folding"),
        (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "control byte 0x00"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "TLS"),
    ],
)
def test_malformed_heads_are_400(data: bytes, fragment: str) -> None:
    with pytest.raises(HandshakeError) as exc:
        parse_request(data)
    assert exc.value.status == 400
    assert fragment in exc.value.message
    assert "HTTP/1.1 400 Bad Request\r\n".encode() in reject_response(exc.value)


def test_malformed_start_is_reported_before_the_head_ends() -> None:
    with pytest.raises(HandshakeError, match="request method"):
        parse_request(b"G\x00")
    with pytest.raises(HandshakeError, match="malformed request line"):
        parse_request(b"GET /\r\nHost: h\r\n")
    assert parse_request(b"GET / HTTP/1.1\r\nHo") is None
    assert parse_request(b"GET / HTTP/1.1\r\nHost: h\r") is None


def test_header_values_are_stripped_and_latin1() -> None:
    request = parsed(build(["Host: \t h \t", "X-Bytes: caf\xe9"]))
    assert request.headers["Host"] == "h"
    assert request.headers["X-Bytes"] == "caf\xe9"


# -- a parser fed in pieces -------------------------------------------------------------


def outcome(parse: Callable[[], tuple[Request | Response, int] | None]) -> tuple[object, ...] | None:
    """What a parse gives: None (more bytes), ("message", message, consumed) or ("error", error, status)."""
    try:
        result = parse()
    except HandshakeError as exc:
        return ("error", exc, exc.status)
    return None if result is None else ("message", *result)


def fed(parser: RequestParser | ResponseParser, data: bytes) -> tuple[Request | Response, int] | None:
    message = parser.feed(data)
    return None if message is None else (message, parser.consumed)


FILLED = build(GOOD + [f"X-Filler-{i}: {'a' * 100}" for i in range(80)])
REQUEST_STREAMS = [
    CHROMIUM + FRAME,
    BAD_NAME_THEN_BARE_LF,
    b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    FILLED,
]
REFUSAL = reject_response(HandshakeError("origin 'x' is not allowed", status=403))
RESPONSE_STREAMS = [
    accept_response(parsed(CHROMIUM)) + FRAME,
    REFUSAL + b"after",
    b"HTTX/1.1 101 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(REQUEST_STREAMS) + len(RESPONSE_STREAMS))),
       st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), max_size=10),
       st.sampled_from([DEFAULT_MAX_HEADER_BYTES, 64]))
def test_pieces_give_what_one_buffer_gives(which: int, cuts: list[float], limit: int) -> None:
    # After each piece the parser says what parsing everything fed so far at once says:
    # the same message and length, the same "more bytes", the same error with the same limit.
    if which < len(REQUEST_STREAMS):
        stream, parser, parse = REQUEST_STREAMS[which], RequestParser(max_header_bytes=limit), parse_request
    else:
        stream = RESPONSE_STREAMS[which - len(REQUEST_STREAMS)]
        parser, parse = ResponseParser(max_header_bytes=limit), parse_response  # type: ignore[assignment]
    ends = sorted({int(cut * len(stream)) for cut in cuts} | {len(stream)})
    start = 0
    for end in ends:
        expected = outcome(lambda: parse(stream[:end], max_header_bytes=limit))
        assert outcome(lambda: fed(parser, stream[start:end])) == expected
        if expected is not None:
            if expected[0] == "message":
                assert parser.rest == stream[parser.consumed:end]
            break
        start = end
    else:
        raise AssertionError("every stream ends in a message or an error")


def count_work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count, through the parser's own functions, the lines it parses and the bytes it searches."""
    work = {"lines": 0, "searched": 0, "method": 0}

    def counted(name: str, key: str, size: Callable[..., int]) -> None:
        real = getattr(head, name)

        def spy(*args: object) -> object:
            result = real(*args)
            work[key] += size(result, *args)
            return result

        monkeypatch.setattr(head, name, spy)

    counted("_parse_request_line", "lines", lambda result, line, offset: 1)
    counted("_parse_header_line", "lines", lambda result, line, offset: 1)
    # The search stops at the LF it finds, else at the end of what has come.
    counted("_find_line_end", "searched", lambda lf, buffer, begin, stop: (stop if lf == -1 else lf + 1) - begin)
    counted("_check_method_bytes", "method", lambda result, method, offset: len(method))
    return work


@pytest.mark.parametrize("fillers", [10, 100])
def test_parser_work_is_linear_whatever_the_pieces(monkeypatch: pytest.MonkeyPatch, fillers: int) -> None:
    data = build(GOOD + [f"X-Filler-{i}: {'a' * 20}" for i in range(fillers)])
    lines = 1 + len(GOOD) + fillers
    expected = parsed(data)
    work = count_work(monkeypatch)
    parser = RequestParser(max_header_bytes=len(data))
    results = [parser.feed(data[i:i + 1]) for i in range(len(data))]
    assert results[-1] == expected and results[:-1] == [None] * (len(data) - 1)
    # One byte a read: every line is parsed once, every byte searched at most twice
    # (a CR at the end of a read is looked at again when the next byte comes).
    assert work["lines"] == lines
    assert len(data) <= work["searched"] <= 2 * len(data)
    assert work["method"] == len("GET") * 2  # as it comes, then with its line
    # Parsing the whole buffer again on every read does work that grows with the square.
    for key in work:
        work[key] = 0
    for i in range(1, len(data) + 1):
        parse_request(data[:i], max_header_bytes=len(data))
    assert work["lines"] > lines * fillers * 10
    assert work["searched"] > len(data) ** 2 // 4


def test_parser_after_its_message_and_after_an_error() -> None:
    parser = RequestParser()
    assert parser.feed(CHROMIUM[:100]) is None
    request = parser.feed(memoryview(CHROMIUM[100:] + FRAME))
    assert request == parsed(CHROMIUM) and request.raw == CHROMIUM
    assert (parser.consumed, parser.rest) == (len(CHROMIUM), FRAME)
    with pytest.raises(RuntimeError, match="complete"):
        parser.feed(b"more")

    broken = RequestParser()
    assert broken.feed(b"GET / HTTP/1.1\r\nHost h") is None
    with pytest.raises(HandshakeError, match="has no colon") as first:
        broken.feed(b"\r\n")
    with pytest.raises(HandshakeError) as again:
        broken.feed(b"\r\n")
    assert again.value == first.value and broken.consumed == 0


def test_response_body_arrives_in_pieces() -> None:
    parser = ResponseParser()
    head_end = REFUSAL.index(b"\r\n\r\n") + 4
    for i in range(len(REFUSAL) - 1):
        assert parser.feed(REFUSAL[i:i + 1]) is None
    response = parser.feed(REFUSAL[-1:] + b"after")
    assert response is not None and response.status == 403
    assert response.body == REFUSAL[head_end:] == b"origin 'x' is not allowed\n"
    assert (parser.consumed, parser.rest) == (len(REFUSAL), b"after")
    small = ResponseParser(max_body_bytes=4)
    with pytest.raises(HandshakeError, match="body of 26 bytes exceeds the limit of 4"):
        small.feed(REFUSAL[:head_end])


# -- server checks -------------------------------------------------------------


def test_good_request_passes() -> None:
    hs = validate_request(parsed(build(GOOD)))
    assert hs.accept == RFC_ACCEPT and hs.origin == "http://example.com"


@pytest.mark.parametrize(
    "lines",
    [
        replace("Connection", "keep-alive, Upgrade"),
        replace("Connection", "upgrade"),
        replace("Connection", "UPGRADE , keep-alive"),
        without("Connection") + ["Connection: keep-alive", "Connection: Upgrade"],
        replace("Upgrade", "WebSocket"),
        [line.replace("Upgrade: websocket", "upgrade: WebSocket") for line in GOOD],
        replace("Upgrade", "h2c, websocket"),
        [line.lower() if not line.startswith("Sec-WebSocket-Key") else line for line in GOOD],
    ],
)
def test_token_lists_and_any_case_accepted(lines: list[str]) -> None:
    assert validate_request(parsed(build(lines))).accept == RFC_ACCEPT


REJECTIONS = [
    # (id, request line, header lines, status, reason phrase, message fragment, header)
    ("post", "POST /chat HTTP/1.1", GOOD, 405, "Method Not Allowed", "must be a GET request, got POST", None),
    ("http10", "GET /chat HTTP/1.0", GOOD, 400, "Bad Request", "HTTP/1.1 or later, got HTTP/1.0", None),
    ("http2", "GET /chat HTTP/2.0", GOOD, 505, "HTTP Version Not Supported", "HTTP/2.0", None),
    ("no-host", "GET /chat HTTP/1.1", without("Host"), 400, "Bad Request", "exactly one Host header, got 0",
     "Host"),
    ("two-hosts", "GET /chat HTTP/1.1", GOOD + ["Host: other"], 400, "Bad Request", "got 2", "Host"),
    ("no-upgrade", "GET /chat HTTP/1.1", without("Upgrade"), 400, "Bad Request", "it is missing", "Upgrade"),
    ("other-upgrade", "GET /chat HTTP/1.1", replace("Upgrade", "h2c"), 400, "Bad Request", "got 'h2c'",
     "Upgrade"),
    ("no-connection-token", "GET /chat HTTP/1.1", replace("Connection", "keep-alive"), 400, "Bad Request",
     "must contain the token 'Upgrade', got 'keep-alive'", "Connection"),
    ("no-connection", "GET /chat HTTP/1.1", without("Connection"), 400, "Bad Request", "it is missing",
     "Connection"),
    ("version-8", "GET /chat HTTP/1.1", replace("Sec-WebSocket-Version", "8"), 426, "Upgrade Required",
     "only Sec-WebSocket-Version 13 is supported, got '8'", "Sec-WebSocket-Version"),
    ("no-version", "GET /chat HTTP/1.1", without("Sec-WebSocket-Version"), 426, "Upgrade Required",
     "it is missing", "Sec-WebSocket-Version"),
    ("key-not-base64", "GET /chat HTTP/1.1", replace("Sec-WebSocket-Key", "not base64!"), 400, "Bad Request",
     "is not valid base64", "Sec-WebSocket-Key"),
    ("key-15-bytes", "GET /chat HTTP/1.1", replace("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), 400,
     "Bad Request", "decodes to 15 bytes", "Sec-WebSocket-Key"),
    ("two-keys", "GET /chat HTTP/1.1", GOOD + ["Sec-WebSocket-Key: Ia3dQjfWrAug/6qm7mTZOg=="], 400,
     "Bad Request", "exactly one Sec-WebSocket-Key header, got 2", "Sec-WebSocket-Key"),
    ("no-key", "GET /chat HTTP/1.1", without("Sec-WebSocket-Key"), 400, "Bad Request", "got 0",
     "Sec-WebSocket-Key"),
    ("bad-origin", "GET /chat HTTP/1.1", replace("Origin", "http://evil.example"), 403, "Forbidden",
     "origin 'http://evil.example' is not allowed", "Origin"),
    ("no-origin", "GET /chat HTTP/1.1", without("Origin"), 403, "Forbidden", "a missing Origin", "Origin"),
    ("bad-extensions", "GET /chat HTTP/1.1", GOOD + ["Sec-WebSocket-Extensions: a; =b"], 400, "Bad Request",
     "expected a parameter name", "Sec-WebSocket-Extensions"),
    ("bad-subprotocol", "GET /chat HTTP/1.1", GOOD + ["Sec-WebSocket-Protocol: chat, a/b"], 400,
     "Bad Request", "'a/b' is not a token", "Sec-WebSocket-Protocol"),
]


@pytest.mark.parametrize(("start", "lines", "status", "phrase", "fragment", "header"),
                         [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections(start: str, lines: list[str], status: int, phrase: str, fragment: str,
                    header: str | None) -> None:
    request = parsed(build(lines, start))
    with pytest.raises(HandshakeError) as exc:
        validate_request(request, origins=["http://example.com"])
    error = exc.value
    assert error.status == status
    assert error.header == header
    assert fragment in error.message
    failed = [c for c in request_checks(request, origins=["http://example.com"]) if not c.ok]
    assert failed[0].error() == error

    answer = reject_response(error)
    response = http_response(answer)
    assert answer.startswith(f"HTTP/1.1 {status} {phrase}\r\n".encode())
    assert (response.status, response.reason) == (status, phrase)
    assert response.body == (error.message + "\n").encode()
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(response.body))
    assert "close" in response.headers["Connection"]
    if status == 426:
        assert response.headers.get_all("Sec-WebSocket-Version") == ["13"]
        assert response.headers["Upgrade"] == "websocket"
        assert response.headers["Connection"] == "Upgrade, close"
    else:
        assert "Sec-WebSocket-Version" not in response.headers
    if status == 405:
        assert response.headers["Allow"] == "GET"


def test_origin_none_allows_a_request_without_origin() -> None:
    request = parsed(build(without("Origin")))
    assert validate_request(request, origins=[None, "http://example.com"]).origin is None
    assert validate_request(request).origin is None  # origins=None: anything goes


def test_request_checks_list_every_failure() -> None:
    request = parsed(build(["Upgrade: h2c"], "POST / HTTP/1.0"))
    checks = request_checks(request)
    failed = {c.rule: c.status for c in checks if not c.ok}
    assert failed == {
        "method is GET": 405,
        "HTTP/1.1 or later": 400,
        "exactly one Host header": 400,
        "Upgrade lists websocket": 400,
        "Connection lists Upgrade": 400,
        "one Sec-WebSocket-Key of 16 base64 bytes": 400,
        "Sec-WebSocket-Version is 13": 426,
    }
    assert repr(checks[0]).startswith("HandshakeCheck(FAIL 405: method is GET:")


def test_subprotocol_selection_follows_server_preference() -> None:
    request = parsed(build(GOOD + ["Sec-WebSocket-Protocol: soap, wamp", "Sec-WebSocket-Protocol: chat"]))
    assert parse_subprotocols(request.headers) == ["soap", "wamp", "chat"]
    hs = validate_request(request, subprotocols=["chat", "wamp"])
    assert hs.subprotocols_offered == ("soap", "wamp", "chat")
    assert hs.subprotocol == "chat"
    assert b"\r\nSec-WebSocket-Protocol: chat\r\n" in hs.accept_response()
    assert validate_request(request, subprotocols=["mqtt"]).subprotocol is None
    with pytest.raises(ValueError, match="not offered"):
        accept_response(request, subprotocol="mqtt")


def test_accept_response_with_extensions_and_extra_headers() -> None:
    request = parsed(CHROMIUM)
    answer = accept_response(
        request,
        extensions=[("permessage-deflate", [("server_no_context_takeover", None)])],
        extra_headers=[("Server", "wsexplore")],
    )
    assert answer.endswith(
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        b"Server: wsexplore\r\n\r\n"
    )
    assert accept_response(request, extensions="permessage-deflate") .count(b"permessage-deflate") == 1
    with pytest.raises(ValueError, match="not offered"):
        accept_response(request, extensions="x-webkit-deflate-frame")
    with pytest.raises(ValueError):
        accept_response(request, extra_headers=[("X", "a\r\nInjected: 1")])


# -- Sec-WebSocket-Extensions grammar (section 9.1) ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("permessage-deflate; client_max_window_bits",
         [("permessage-deflate", (("client_max_window_bits", None),))]),
        ("permessage-deflate;client_max_window_bits=10;server_no_context_takeover, permessage-deflate",
         [("permessage-deflate", (("client_max_window_bits", "10"), ("server_no_context_takeover", None))),
          ("permessage-deflate", ())]),
        ('foo; bar="baz"; q = "1\\0" , bar', [("foo", (("bar", "baz"), ("q", "10"))), ("bar", ())]),
        ("a, , b,", [("a", ()), ("b", ())]),
        ("", []),
        ("  mux ; max-channels=4 ; flow-control  ", [("mux", (("max-channels", "4"), ("flow-control", None)))]),
    ],
)
def test_extension_parsing(text: str, expected: list[tuple[str, tuple[tuple[str, str | None], ...]]]) -> None:
    result = parse_extensions(text)
    assert result == expected
    assert all(isinstance(ext, Extension) for ext in result)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("; a", "expected an extension name"),
        ("foo; ", "expected a parameter name"),
        ("foo; bar=", "expected a parameter value"),
        ('foo; bar="baz', "unterminated quoted string"),
        ('foo; bar="a b"', "is not a token once unescaped"),
        ('foo; bar=""', "is not a token once unescaped"),
        ("foo bar", "unexpected 'b'"),
        ("foo; a=b=c", "unexpected '='"),
        ("f@o", "unexpected '@'"),
    ],
)
def test_extension_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(HandshakeError) as exc:
        parse_extensions(text)
    assert exc.value.status == 400
    assert exc.value.header == "Sec-WebSocket-Extensions"
    assert fragment in exc.value.message and "at position" in exc.value.message


def test_extensions_across_several_headers() -> None:
    h = Headers([("Sec-WebSocket-Extensions", "a; x=1"), ("sec-websocket-extensions", "b")])
    assert parse_extensions(h) == [("a", (("x", "1"),)), ("b", ())]
    assert parse_extensions(["a", "b"]) == parse_extensions("a, b")
    assert str(Extension("a", (("x", "1"), ("y", None)))) == "a; x=1; y"


_token = st.text(alphabet="abcxyz-_0123456789.!", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_token, st.lists(st.tuples(_token, st.none() | _token), max_size=3)),
                min_size=1, max_size=4))
def test_extension_format_parse_roundtrip(exts: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
    normal = [Extension(n, tuple(p)) for n, p in exts]
    assert parse_extensions(format_extensions(exts)) == normal


def test_format_extensions_refuses_non_tokens() -> None:
    with pytest.raises(ValueError):
        format_extensions([("a b", [])])
    with pytest.raises(ValueError):
        format_extensions([("a", [("x", "1 2")])])


# -- responses and the client side ---------------------------------------------------


def test_parse_response_body_and_incremental() -> None:
    answer = reject_response(HandshakeError("nope", status=403))
    stream = answer + b"trailing"
    for cut in range(len(answer)):
        assert parse_response(stream[:cut]) is None
    result = parse_response(stream)
    assert result is not None
    response, consumed = result
    assert consumed == len(answer) and response.raw == answer and response.body == b"nope\n"
    assert repr(response) == f"Response(403 Forbidden, 3 headers, {len(answer)} bytes, body 5 bytes)"
    # A 101 never has a body: what follows its head is the WebSocket stream.
    switching = b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\n\r\n\x81\x00"
    assert parse_response(switching)[1] == len(switching) - 2  # type: ignore[index]
    # Without Content-Length the body runs to EOF, which bytes alone cannot show.
    assert parse_response(b"HTTP/1.1 400 Bad Request\r\n\r\nrest")[1] == 28  # type: ignore[index]
    # A status line without a reason phrase.
    assert http_response(b"HTTP/1.1 404\r\n\r\n").reason == ""


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"HTTX/1.1 101 OK\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 1O1 Switching\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n", "exceeds the limit"),
    ],
)
def test_malformed_responses(data: bytes, fragment: str) -> None:
    with pytest.raises(HandshakeError, match=re.escape(fragment)):
        parse_response(data)


def test_client_request_shape() -> None:
    data, key = client_request("example.com", 80, "/chat?room=1", key=RFC_KEY, origin="http://example.com",
                               subprotocols=["chat", "superchat"],
                               extensions="permessage-deflate; client_max_window_bits",
                               extra_headers=[("User-Agent", "wsexplore")])
    assert key == RFC_KEY
    assert data == (
        b"GET /chat?room=1 HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"User-Agent: wsexplore\r\n"
        b"\r\n"
    )
    assert b"Host: [::1]:8765\r\n" in client_request("::1", 8765)[0]
    assert b"Host: h\r\n" in client_request("h", 443, secure=True)[0]
    assert b"Host: h:443\r\n" in client_request("h", 443)[0]
    with pytest.raises(ValueError):
        client_request("h", 80, "no-slash")
    with pytest.raises(ValueError):
        client_request("h", 80, "/a b")


def test_client_keys_are_fresh_16_byte_nonces() -> None:
    keys = {client_request("h", 80)[1] for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


def test_client_server_round_trip() -> None:
    data, key = client_request("localhost", 8765, "/echo", origin="http://localhost:8888",
                               subprotocols=["chat"], extensions="permessage-deflate; client_max_window_bits")
    request, consumed = parse_request(data + FRAME)  # type: ignore[misc]
    assert consumed == len(data)
    hs = validate_request(request, origins=["http://localhost:8888"], subprotocols=["chat"])
    answer = hs.accept_response(extensions="permessage-deflate; client_max_window_bits=15")
    response, used = parse_response(answer + FRAME)  # type: ignore[misc]
    assert used == len(answer)
    agreed = validate_response(response, key, subprotocols=["chat"],
                               extensions="permessage-deflate; client_max_window_bits")
    assert agreed.subprotocol == "chat"
    assert agreed.extensions == (Extension("permessage-deflate", (("client_max_window_bits", "15"),)),)
    assert agreed.accept == accept_key(key) == hs.accept


def response_with(*lines: str) -> Response:
    return http_response(("\r\n".join(["HTTP/1.1 101 Switching Protocols", *lines]) + "\r\n\r\n").encode())


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (response_with("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: AAAA"),
         f"Sec-WebSocket-Accept is 'AAAA', expected '{RFC_ACCEPT}'"),
        (response_with("Upgrade: websocket", "Connection: Upgrade"), "expected one Sec-WebSocket-Accept"),
        (response_with("Connection: Upgrade", f"Sec-WebSocket-Accept: {RFC_ACCEPT}"), "Upgrade header"),
        (response_with("Upgrade: websocket", f"Sec-WebSocket-Accept: {RFC_ACCEPT}"), "Connection header"),
        (response_with("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {RFC_ACCEPT}",
                       "Sec-WebSocket-Protocol: chat"), "subprotocol 'chat', which was not offered"),
        (response_with("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {RFC_ACCEPT}",
                       "Sec-WebSocket-Extensions: permessage-deflate"),
         "extension 'permessage-deflate', which was not offered"),
        (http_response(reject_response(HandshakeError("origin 'x' is not allowed", status=403))),
         "expected 101 Switching Protocols, got 403 Forbidden: origin 'x' is not allowed"),
    ],
)
def test_validate_response_failures(response: Response, fragment: str) -> None:
    with pytest.raises(HandshakeError) as exc:
        validate_response(response, RFC_KEY)
    assert fragment in exc.value.message
    assert exc.value.rfc == "4.1"
    failed = [check for check in response_checks(response, RFC_KEY) if not check.ok]
    assert failed[0].error() == exc.value


def test_response_checks_name_every_rule_of_section_4_1() -> None:
    data, key = client_request("localhost", 8765, subprotocols=["chat"], extensions="permessage-deflate")
    hs = validate_request(parsed(data), subprotocols=["chat"])
    response = http_response(hs.accept_response(extensions="permessage-deflate"))
    checks = response_checks(response, key, subprotocols=["chat"], extensions="permessage-deflate")
    assert [(c.rule, c.ok, c.detail) for c in checks] == [
        ("status is 101 Switching Protocols", True, "HTTP/1.1 101 Switching Protocols"),
        ("Upgrade lists websocket", True, "websocket"),
        ("Connection lists Upgrade", True, "Upgrade"),
        ("Sec-WebSocket-Accept matches the key", True, accept_key(key)),
        ("at most one subprotocol, one offered", True, "chat"),
        ("only extensions offered", True, "permessage-deflate"),
    ]
    assert all(isinstance(c, HandshakeCheck) and c.rfc == "4.1" for c in checks)
    agreed = validate_response(response, key, subprotocols="chat", extensions="permessage-deflate")
    assert agreed.checks == checks
    assert repr(checks[0]) == "HandshakeCheck(ok: status is 101 Switching Protocols: HTTP/1.1 101 Switching Protocols)"


def test_response_checks_list_every_failure() -> None:
    refused = http_response(REFUSAL)
    failed = {c.rule: c.detail for c in response_checks(refused, RFC_KEY) if not c.ok}
    assert failed == {
        "status is 101 Switching Protocols":
            "expected 101 Switching Protocols, got 403 Forbidden: origin 'x' is not allowed",
        "Upgrade lists websocket": "the Upgrade header must be 'websocket', got []",
        "Connection lists Upgrade": "the Connection header must contain 'Upgrade', got ['close']",
        "Sec-WebSocket-Accept matches the key": "expected one Sec-WebSocket-Accept header, got 0",
    }
    chosen = response_with("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {RFC_ACCEPT}",
                           "Sec-WebSocket-Protocol: chat, soap", "Sec-WebSocket-Extensions: a; =b")
    checks = {c.rule: c for c in response_checks(chosen, RFC_KEY, subprotocols=["chat", "soap"])}
    several = checks["at most one subprotocol, one offered"]
    assert not several.ok and several.detail == "the server chose several subprotocols: ['chat', 'soap']"
    malformed = checks["only extensions offered"]
    assert (malformed.ok, malformed.header, malformed.rfc) == (False, "Sec-WebSocket-Extensions", "9.1")
    assert "expected a parameter name" in malformed.detail
    # The client's own offer is an argument, not the server's doing: a malformed one raises.
    with pytest.raises(HandshakeError, match="expected a parameter name") as exc:
        response_checks(refused, RFC_KEY, extensions="permessage-deflate;;")
    assert exc.value.header == "Sec-WebSocket-Extensions"


def test_validate_response_accepts_any_case_and_lists() -> None:
    response = response_with("upgrade: WebSocket", "connection: keep-alive, upgrade",
                             f"sec-websocket-accept: {RFC_ACCEPT}")
    assert validate_response(response, RFC_KEY).accept == RFC_ACCEPT


# -- interoperability ----------------------------------------------------------------


def test_websockets_server_accepts_our_request() -> None:
    offer = "permessage-deflate; client_max_window_bits"
    data, key = client_request("localhost", 8765, "/chat", origin="http://localhost:8888",
                               subprotocols=["superchat", "chat"], extensions=offer)
    server = ServerProtocol(origins=["http://localhost:8888"], subprotocols=["chat"],
                            extensions=[ServerPerMessageDeflateFactory()])
    server.receive_data(data)
    [request] = server.events_received()
    assert request.path == "/chat"
    server.send_response(server.accept(request))
    assert server.handshake_exc is None and server.state is State.OPEN
    answer = b"".join(server.data_to_send())

    response, consumed = parse_response(answer)  # type: ignore[misc]
    assert consumed == len(answer) and response.status == 101
    agreed = validate_response(response, key, subprotocols=["superchat", "chat"], extensions=offer)
    assert agreed.subprotocol == "chat"
    assert [ext.name for ext in agreed.extensions] == ["permessage-deflate"]


def test_wrong_version_refused_by_websockets_too() -> None:
    # Both refuse version 8. websockets 17 answers 400 without naming a version;
    # RFC 6455 section 4.2.2 asks for a Sec-WebSocket-Version header (and 426).
    data, _ = client_request("localhost", 8765)
    data = data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    server = ServerProtocol()
    server.receive_data(data)
    [request] = server.events_received()
    theirs = server.accept(request)
    with pytest.raises(HandshakeError) as exc:
        validate_request(parsed(data))
    ours = http_response(reject_response(exc.value))
    assert theirs.status_code >= 400
    assert ours.status == 426 and ours.headers["Sec-WebSocket-Version"] == "13"


def test_websockets_client_request_and_our_answer() -> None:
    client = ClientProtocol(parse_uri("ws://localhost:8765/chat?x=1"), origin="http://localhost:8888",
                            subprotocols=["chat"], extensions=[ClientPerMessageDeflateFactory()])
    client.send_request(client.connect())
    data = b"".join(client.data_to_send())

    request = parsed(data)
    assert request.target == "/chat?x=1"
    hs = validate_request(request, origins=["http://localhost:8888"], subprotocols=["chat"])
    assert hs.key == client.key
    assert [ext.name for ext in hs.extensions_offered] == ["permessage-deflate"]

    client.receive_data(hs.accept_response() + b"\x81\x02hi")
    events = client.events_received()
    assert client.handshake_exc is None and client.state is State.OPEN
    assert events[0].status_code == 101
    assert events[1].data == b"hi"
    assert client.subprotocol == "chat"


def test_websockets_client_rejects_our_wrong_accept() -> None:
    client = ClientProtocol(parse_uri("ws://localhost:8765/"))
    client.send_request(client.connect())
    request = parsed(b"".join(client.data_to_send()))
    forged = Request(request.method, request.target, request.version,
                     Headers([*without_header(request.headers, "Sec-WebSocket-Key"),
                              ("Sec-WebSocket-Key", RFC_KEY)]))
    client.receive_data(accept_response(forged))
    client.events_received()
    assert client.handshake_exc is not None
    assert "Sec-WebSocket-Accept" in str(client.handshake_exc)


def without_header(headers: Headers, name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() != name.lower()]


def test_wsproto_server_accepts_our_request() -> None:
    data, key = client_request("example.com", 80, "/ws", subprotocols=["chat"])
    server = H11Handshake(ConnectionType.SERVER)
    server.receive_data(data)
    [event] = list(server.events())
    assert isinstance(event, WsprotoRequest) and event.target == "/ws" and event.subprotocols == ["chat"]
    answer = server.send(AcceptConnection(subprotocol="chat"))
    agreed = validate_response(http_response(answer), key, subprotocols=["chat"])
    assert agreed.subprotocol == "chat"


def test_wsproto_client_accepts_our_answer() -> None:
    client = H11Handshake(ConnectionType.CLIENT)
    data = client.send(WsprotoRequest(host="example.com", target="/ws", subprotocols=["chat"]))
    hs = validate_request(parsed(data), subprotocols=["chat"])
    client.receive_data(hs.accept_response())
    [event] = list(client.events())
    assert isinstance(event, AcceptConnection) and event.subprotocol == "chat"


def test_values_copy_and_pickle() -> None:
    request = parsed(CHROMIUM)
    assert pickle.loads(pickle.dumps(request)) == request
    assert copy.deepcopy(request.headers) == request.headers
    assert hash(request) == hash(parsed(CHROMIUM))


def test_a_single_origin_string_is_one_origin() -> None:
    request = parsed(build(GOOD))
    assert validate_request(request, origins="http://example.com", subprotocols="chat").origin == "http://example.com"
    with pytest.raises(HandshakeError):
        validate_request(request, origins="http://example.co")
