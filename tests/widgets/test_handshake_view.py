"""HandshakeView: headers explained, the accept key worked out and checked, credentials never shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from wsexplore.capture import OpenRecord
from wsexplore.protocol.handshake import GUID, accept_key, accept_response, parse_request
from wsexplore.widgets import HandshakeView

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the example of RFC 6455 section 1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
COOKIE = "_xsrf=2|8f1e3a7b|secretvalue42"

REQUEST = (
    "GET /chat HTTP/1.1\r\n"
    "Host: 127.0.0.1:8765\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://127.0.0.1:8888\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "User-Agent: Mozilla/5.0 Chrome/131.0\r\n"
    f"Cookie: {COOKIE}\r\n"
    "Authorization: Bearer tok-abcdef\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n"
).encode()


def response(accept: str = ACCEPT) -> bytes:
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()


def test_accept_steps_and_match() -> None:
    view = HandshakeView(REQUEST, response())
    html = view.value
    assert accept_key(KEY) == ACCEPT
    # The three steps: key + GUID, SHA-1, base64.
    assert KEY + GUID in html
    assert "b37a4f2cc0624f1690f64606cf385945b2bec4ea" in html  # SHA-1 of key + GUID, hex
    assert ACCEPT in html
    assert html.index(KEY + GUID) < html.index("b37a4f2cc0624f1690f64606cf385945b2bec4ea") < html.rindex(ACCEPT)
    assert "1. key + GUID" in html and "2. SHA-1" in html and "3. base64" in html
    assert "\u2713" in html and "\u2717" not in html
    assert view.accept_ok is True
    assert repr(view) == "HandshakeView(GET /chat -> 101 Switching Protocols, accept \u2713)"


def test_wrong_accept_is_flagged() -> None:
    view = HandshakeView(REQUEST, response("AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    assert view.accept_ok is False
    assert "\u2717" in view.value and "\u2713" not in view.value
    assert f"expected {ACCEPT}" in view.value
    assert repr(view) == "HandshakeView(GET /chat -> 101 Switching Protocols, accept \u2717)"


def test_credentials_are_redacted() -> None:
    view = HandshakeView(REQUEST, response())
    for secret in ("secretvalue42", "8f1e3a7b", "tok-abcdef", COOKIE):
        assert secret not in view.value
        assert secret not in repr(view)
    assert f"&lt;redacted {len(COOKIE)} bytes&gt;" in view.value
    assert "credential headers are redacted" in view.value
    shown = HandshakeView(REQUEST, response(), include_secrets=True)
    assert "secretvalue42" in shown.value and "tok-abcdef" in shown.value


def test_every_header_has_an_explanation() -> None:
    view = HandshakeView(REQUEST, response())
    html = view.value
    for phrase in ("exactly one is required", "switch this connection from HTTP", "must list Upgrade",
                   "16 random bytes in base64", "13 is RFC 6455", "extensions the client offers",
                   "the page that opened the socket", "the client software", "cookies a browser sends",
                   "proves the server read this very request"):
        assert phrase in html, phrase
    rows = re.findall(r"<tr>.*?</tr>", html)
    header_rows = [r for r in rows if "not part of the WebSocket handshake" in r]
    assert header_rows == []


def test_open_record_brings_its_response() -> None:
    req, _ = parse_request(REQUEST)
    resp = accept_response(req)
    rec = OpenRecord(1, 1, 0.0, 0.0, ("127.0.0.1", 50000), REQUEST, resp, 101)
    view = HandshakeView(rec)
    assert view.accept_ok is True and "secretvalue42" not in view.value
    assert view.response is not None and view.response.status == 101


def test_parsed_objects_are_accepted() -> None:
    req, _ = parse_request(REQUEST)
    view = HandshakeView(req)
    assert view.response is None and view.accept_ok is None
    assert "no response to check against" in view.value
    assert ACCEPT in view.value  # the expected accept is still worked out
    assert repr(view) == "HandshakeView(GET /chat, no response, no accept to check)"


def test_refused_and_malformed_handshakes() -> None:
    refused = HandshakeView(REQUEST, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    assert refused.accept_ok is None
    assert "status 403" in refused.value and "carries no Sec-WebSocket-Accept" in refused.value
    assert repr(refused) == "HandshakeView(GET /chat -> 403 Forbidden, no accept to check)"

    broken = REQUEST.replace(b"GET /chat HTTP/1.1", b"GET /chat HTTP/1.1 extra")
    view = HandshakeView(broken, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert view.request is None and view.request_problem is not None
    assert "could not parse" in view.value and "malformed request line" in view.value
    assert "secretvalue42" not in view.value and "tok-abcdef" not in view.value
    assert "Cookie: &lt;redacted" in view.value
    assert repr(view) == "HandshakeView(unparsed request -> 400 Bad Request, no key)"


def test_repr_is_the_same_in_another_process() -> None:
    """nbval compares text/plain run to run: a view's repr may hold no address, no hash-ordered set."""
    code = ("import sys; from wsexplore.widgets import HandshakeView; request, response = map(bytes.fromhex, "
            "sys.argv[1:]); print(repr(HandshakeView(request, response))); print(repr(HandshakeView(request)))")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    other = subprocess.run([sys.executable, "-c", code, REQUEST.hex(), response().hex()], env=env,
                           capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    here = [repr(HandshakeView(REQUEST, response())), repr(HandshakeView(REQUEST))]
    assert other == here
    assert not any(re.search(r"0x[0-9a-f]{6,}", text) for text in here)
