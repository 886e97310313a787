"""HandshakeView: the opening handshake (RFC 6455 section 4), each header explained, the accept key worked out.

Parsing, the accept-key computation and redaction all come from
:mod:`wsexplore.protocol.handshake`; this module only lays them out. Credentials
(Cookie, Authorization, ...) are redacted unless ``include_secrets=True``: a
browser sends the notebook server's cookies to every port of the same host.

A handshake that reached the server through another hop says so above the
headers (``OpenRecord.via`` and ``note``): through jupyter-server-proxy the
handshake is the proxy's, not the browser's; through the Jupyter server's
relay the header values are the browser's and the note says what the relay
changed.
"""

from __future__ import annotations

from html import escape
from typing import Any, Union

import ipywidgets as widgets

from ..capture import OpenRecord
from ..capture.redact import redact_head
from ..display.html import ERROR_COLOUR, WARNING_BACKGROUND, WARNING_COLOUR
from ..protocol.errors import HandshakeError
from ..protocol.handshake import (
    AcceptKeySteps,
    Request,
    Response,
    accept_key_steps,
    parse_request,
    parse_response,
    redact,
)
from .fallback import StaticFallback, static_block

__all__ = ["HandshakeView", "REQUEST_HEADERS", "RESPONSE_HEADERS", "explain_header", "via_html"]

#: One line per request header a WebSocket client sends.
REQUEST_HEADERS: dict[str, str] = {
    "host": "the server's host and port; exactly one is required (section 4.1, RFC 9110 section 7.2)",
    "upgrade": "asks to switch this connection from HTTP to the websocket protocol (section 4.1)",
    "connection": "must list Upgrade: the Upgrade header is hop-by-hop (section 4.1)",
    "sec-websocket-key": "16 random bytes in base64: the nonce the server hashes into Sec-WebSocket-Accept "
                         "(section 4.1)",
    "sec-websocket-version": "protocol version; 13 is RFC 6455 (sections 4.1, 11.6)",
    "sec-websocket-extensions": "extensions the client offers, e.g. permessage-deflate (section 9.1, RFC 7692)",
    "sec-websocket-protocol": "subprotocols the client offers, preferred first (section 11.3.4)",
    "origin": "the page that opened the socket; browsers always send it, a server may refuse it (section 10.2)",
    "user-agent": "the client software (RFC 9110 section 10.1.5)",
    "cookie": "cookies a browser sends to every port of this host: credentials, redacted",
    "authorization": "credentials: redacted",
    "proxy-authorization": "credentials for a proxy: redacted",
    "pragma": "HTTP/1.0 cache directive: an upgrade must not be answered from a cache",
    "cache-control": "cache directive: an upgrade must not be answered from a cache",
    "accept-encoding": "content codings for HTTP bodies; unused once the connection is upgraded",
    "accept-language": "the user's preferred languages",
}

#: One line per response header a WebSocket server sends.
RESPONSE_HEADERS: dict[str, str] = {
    "upgrade": "the server switches to the websocket protocol (section 4.2.2)",
    "connection": "Upgrade: this connection now changes protocols (section 4.2.2)",
    "sec-websocket-accept": "base64(SHA-1(key + GUID)): proves the server read this very request (section 4.2.2)",
    "sec-websocket-extensions": "extensions the server accepted; only these may set RSV bits (section 9.1)",
    "sec-websocket-protocol": "the one subprotocol the server chose from the offer (section 4.2.2)",
    "sec-websocket-version": "the versions this server speaks, sent with 426 (section 4.4)",
    "server": "the server software",
    "date": "when the response was sent",
    "set-cookie": "a cookie the server sets: credentials, redacted",
    "content-type": "the type of the body of a refused handshake",
    "content-length": "the size of the body of a refused handshake",
    "allow": "the methods this resource allows (a handshake must be GET)",
}


def explain_header(name: str, *, response: bool = False) -> str:
    """One line saying what header ``name`` does in the handshake."""
    table = RESPONSE_HEADERS if response else REQUEST_HEADERS
    return table.get(name.lower(), "not part of the WebSocket handshake")


def via_html(opened: OpenRecord) -> str:
    """How a connection arrived, as a block for the views ("" when direct): a warning when re-framed."""
    if opened.via is None:
        return ""
    style = (f"border-left:4px solid {WARNING_COLOUR};background:{WARNING_BACKGROUND};color:{WARNING_COLOUR}"
             if opened.reframed else "border-left:4px solid #888;color:#444")
    lead = "\u26a0 the proxy's handshake and frames, not the browser's: " if opened.reframed else ""
    note = f'<div style="color:#555">{escape(opened.note)}</div>' if opened.note else ""
    return (f'<div class="wsx-via{" wsx-reframed" if opened.reframed else ""}" '
            f'style="margin:4px 0;padding:2px 6px;{style}"><b>{escape(lead)}{escape(opened.via_text)}</b>{note}</div>')


RequestSource = Union[bytes, bytearray, memoryview, Request, OpenRecord]
ResponseSource = Union[bytes, bytearray, memoryview, Response, None]


def _parse(raw: bytes, kind: str) -> tuple[Request | Response | None, str | None]:
    try:
        parsed = parse_request(raw) if kind == "request" else parse_response(raw)
    except HandshakeError as exc:
        return None, f"{exc.status}: {exc}"
    if parsed is None:
        return None, f"the {kind} head is incomplete (no empty line ends it)"
    return parsed[0], None


def _head_lines(raw: bytes, include_secrets: bool) -> list[str]:
    """A head that did not parse, line by line, credential values redacted unless ``include_secrets``."""
    shown = raw if include_secrets else redact_head(raw)
    return shown.split(b"\r\n\r\n", 1)[0].decode("latin-1").splitlines()


def _wrap(value: str) -> str:
    """Short values stay on one line; long ones (cookies, extension offers) may wrap anywhere."""
    return "white-space:nowrap" if len(value) <= 64 else "overflow-wrap:anywhere"


class HandshakeView(StaticFallback, widgets.HTML):
    """The opening handshake: request and response headers with one-line explanations,
    and ``Sec-WebSocket-Accept`` computed step by step and checked (section 4.2.2).

    ``request`` is a capture ``OpenRecord`` (which brings its response), the raw
    request bytes or a parsed ``Request``; ``response`` the raw bytes or a parsed
    ``Response``. ``accept_ok`` is True / False when a key and an accept
    header are both there, else None.
    """

    def __init__(self, request: RequestSource, response: ResponseSource = None, *,
                 include_secrets: bool = False, **kwargs: Any) -> None:
        self.include_secrets = include_secrets
        self.request_problem: str | None = None
        self.response_problem: str | None = None
        self._request_raw = b""
        self._response_raw = b""
        #: The record shown, when given one: how the handshake arrived (``via``) comes from it.
        self.record: OpenRecord | None = None
        if isinstance(request, OpenRecord):
            self.record = request
            if response is None:
                response = request.response or None
            request = request.request
        self.request: Request | None = self._as_request(request)
        self.response: Response | None = self._as_response(response)
        self.steps: AcceptKeySteps | None = None
        self.accept_expected: str | None = None
        self.accept_received: str | None = None
        if self.request is not None:
            keys = self.request.headers.get_all("Sec-WebSocket-Key")
            if len(keys) == 1:
                self.steps = accept_key_steps(keys[0])
                self.accept_expected = self.steps.accept
        if self.response is not None:
            self.accept_received = self.response.headers.get("Sec-WebSocket-Accept")
        super().__init__(value=self.render(), **kwargs)

    def _as_request(self, request: RequestSource) -> Request | None:
        if isinstance(request, Request):
            return request
        self._request_raw = bytes(request)
        parsed, self.request_problem = _parse(self._request_raw, "request")
        return parsed  # type: ignore[return-value]

    def _as_response(self, response: ResponseSource) -> Response | None:
        if response is None:
            return None
        if isinstance(response, Response):
            return response
        self._response_raw = bytes(response)
        if not self._response_raw:
            return None
        parsed, self.response_problem = _parse(self._response_raw, "response")
        return parsed  # type: ignore[return-value]

    @property
    def accept_ok(self) -> bool | None:
        if self.accept_expected is None or self.accept_received is None:
            return None
        return self.accept_received == self.accept_expected

    # -- rendering ----------------------------------------------------------------
    def _headers_table(self, message: Request | Response, *, response: bool) -> str:
        rows = []
        for name, value in message.headers.items():
            shown = value if self.include_secrets else redact(name, value)
            check = ""
            if response and name.lower() == "sec-websocket-accept" and self.accept_ok is not None:
                check = " \u2713" if self.accept_ok else " \u2717"
            rows.append(
                "<tr>"
                f'<td style="padding:1px 8px 1px 0;white-space:nowrap"><b>{escape(name)}</b></td>'
                f'<td style="padding:1px 8px 1px 0;{_wrap(shown)}">{escape(shown)}{check}</td>'
                f'<td style="padding:1px 0;color:#666">{escape(explain_header(name, response=response))}</td>'
                "</tr>"
            )
        return '<table style="border-collapse:collapse">' + "".join(rows) + "</table>"

    def _section(self, title: str, message: Request | Response | None, problem: str | None, raw: bytes,
                 *, response: bool) -> str:
        out = [f'<div style="margin-top:6px"><div style="font-weight:bold">{escape(title)}</div>']
        if message is not None:
            start = (f"{message.method} {message.target} {message.version}" if isinstance(message, Request)
                     else f"{message.version} {message.status} {message.reason}".rstrip())
            out.append(f"<div><code>{escape(start)}</code></div>")
            out.append(self._headers_table(message, response=response))
        else:
            out.append(f'<div style="color:{ERROR_COLOUR}">could not parse: {escape(problem or "no bytes")}</div>')
            if raw:
                lines = _head_lines(raw, self.include_secrets)
                out.append("<pre style=\"margin:2px 0\">" + escape("\n".join(lines)) + "</pre>")
        out.append("</div>")
        return "".join(out)

    def _accept_section(self) -> str:
        out = ['<div style="margin-top:8px"><div style="font-weight:bold">'
               "Sec-WebSocket-Accept, step by step (RFC 6455 section 4.2.2)</div>"]
        steps = self.steps
        if steps is None:
            out.append('<div style="color:#666">no single Sec-WebSocket-Key in the request: nothing to compute</div>')
        else:
            items = [
                ("1. key + GUID", "the key as sent, then the fixed GUID of section 1.3", steps.concatenated),
                ("2. SHA-1", "the 20-byte digest of those ASCII bytes, in hex", steps.sha1_hex),
                ("3. base64", "the digest in base64 is the expected Sec-WebSocket-Accept", steps.accept),
            ]
            out.append('<table style="border-collapse:collapse">')
            for label, how, value in items:
                out.append(
                    "<tr>"
                    f'<td style="padding:1px 8px 1px 0;white-space:nowrap"><b>{escape(label)}</b></td>'
                    f'<td style="padding:1px 8px 1px 0;{_wrap(value)}"><code>{escape(value)}</code></td>'
                    f'<td style="color:#666">{escape(how)}</td>'
                    "</tr>"
                )
            out.append("</table>")
            out.append(f"<div>{escape(self._verdict())}</div>")
        out.append("</div>")
        return "".join(out)

    def _verdict(self) -> str:
        ok = self.accept_ok
        if ok is True:
            return f"\u2713 the response's Sec-WebSocket-Accept {self.accept_received} matches"
        if ok is False:
            return (f"\u2717 the response's Sec-WebSocket-Accept {self.accept_received} does not match: "
                    f"expected {self.accept_expected}")
        if self.response is None:
            return "no response to check against"
        return f"the response (status {self.response.status}) carries no Sec-WebSocket-Accept"

    def render(self) -> str:
        """The view's HTML (also its ``value``)."""
        parts = ['<div style="font-family:monospace;font-size:12px;line-height:1.35">']
        if self.record is not None:
            parts.append(via_html(self.record))
        parts.append(self._section("Request (client \u2192 server)", self.request, self.request_problem,
                                   self._request_raw, response=False))
        if self.response is not None or self.response_problem is not None:
            parts.append(self._section("Response (server \u2192 client)", self.response, self.response_problem,
                                       self._response_raw, response=True))
        parts.append(self._accept_section())
        if not self.include_secrets:
            parts.append('<div style="color:#666;margin-top:4px">credential headers are redacted '
                         "(include_secrets=True shows them)</div>")
        parts.append("</div>")
        return "".join(parts)

    def static_html(self) -> str:
        """The view is HTML already: its ``value``, framed as a static view."""
        return static_block("HandshakeView", self.value)

    def _repr_accept(self) -> str:
        ok = self.accept_ok
        if ok is True:
            return "accept \u2713"
        if ok is False:
            return "accept \u2717"
        if self.steps is None:
            return "no key"
        return "no accept to check"

    def __repr__(self) -> str:
        if self.request is not None:
            head = f"{self.request.method} {self.request.target}"
        else:
            head = "unparsed request"
        if self.response is not None:
            head += f" -> {self.response.status} {self.response.reason}".rstrip()
        elif self.response_problem is not None:
            head += " -> unparsed response"
        else:
            head += ", no response"
        via = "" if self.record is None or self.record.via is None else f", via {self.record.via}"
        return f"HandshakeView({head}, {self._repr_accept()}{via})"
