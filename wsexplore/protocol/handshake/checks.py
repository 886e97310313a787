"""The rules of the opening handshake, each applied on its own so a view can show them all.

:func:`request_checks` applies what a server must check of a request (RFC 6455
section 4.2.1), :func:`response_checks` what a client must check of the answer
(the end of section 4.1). Each gives one :class:`HandshakeCheck` per rule, in
the RFC's order, passed or not; ``validate_request`` and ``validate_response``
raise the first failure.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import HandshakeError
from .accept import accept_key
from .extensions import Extension, ExtensionsArg, as_extensions, parse_extensions
from .grammar import has_token, version_tuple
from .headers import Headers
from .messages import Request, Response
from .subprotocols import parse_subprotocols

__all__ = ["HandshakeCheck", "request_checks", "response_checks", "raise_first_failure"]

T = TypeVar("T")


@dataclass(frozen=True, repr=False)
class HandshakeCheck:
    """One rule of the opening handshake applied to a request (section 4.2.1) or a response (section 4.1).

    ``detail`` says what was found; when ``ok`` is False it is the reason.
    For a request it is sent back, with ``status`` and ``response_headers``;
    a client has nothing to send, it fails the connection.
    """

    rule: str
    ok: bool
    detail: str
    header: str | None = None
    status: int = 400
    rfc: str = "4.2.1"
    response_headers: tuple[tuple[str, str], ...] = ()

    def error(self) -> HandshakeError:
        """The HandshakeError that refuses the handshake for this rule."""
        return HandshakeError(self.detail, status=self.status, header=self.header, rfc=self.rfc,
                              headers=self.response_headers)

    def __repr__(self) -> str:
        if self.ok:
            return f"HandshakeCheck(ok: {self.rule}: {self.detail})"
        return f"HandshakeCheck(FAIL {self.status}: {self.rule}: {self.detail})"


def raise_first_failure(checks: Iterable[HandshakeCheck]) -> None:
    """Raise the error of the first check that failed, if any."""
    for check in checks:
        if not check.ok:
            raise check.error()


def _check_token(headers: Headers, header: str, token: str, shown: str) -> HandshakeCheck:
    """``header`` lists ``token`` (any case, in comma-separated lists, over several lines)."""
    rule = f"{header} lists {shown}"
    values = headers.get_all(header)
    if has_token(values, token):
        return HandshakeCheck(rule, True, ", ".join(values), header=header)
    found = f"got {', '.join(values)!r}" if values else "it is missing"
    return HandshakeCheck(rule, False, f"the {header} header must contain the token '{shown}', {found}",
                          header=header)


def _check_syntax(headers: Headers, rule: str, header: str, parse: Callable[[Headers], object], rfc: str,
                  absent: str) -> HandshakeCheck:
    """``parse`` reads every ``header`` line without error; ``absent`` is the detail when there is none."""
    try:
        parse(headers)
    except HandshakeError as exc:
        return HandshakeCheck(rule, False, exc.message, header=header, rfc=rfc)
    values = headers.get_all(header)
    return HandshakeCheck(rule, True, ", ".join(values) if values else absent, header=header)


# -- what a server checks of a request: section 4.2.1 ---------------------------------


def _check_method(r: Request) -> HandshakeCheck:
    rule = "method is GET"
    if r.method == "GET":
        return HandshakeCheck(rule, True, "GET")
    return HandshakeCheck(rule, False, f"the handshake must be a GET request, got {r.method}", status=405,
                          rfc="4.1", response_headers=(("Allow", "GET"),))


def _check_version(r: Request) -> HandshakeCheck:
    rule = "HTTP/1.1 or later"
    v = version_tuple(r.version)
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


def _check_key(r: Request) -> HandshakeCheck:
    rule = "one Sec-WebSocket-Key of 16 base64 bytes"
    h = "Sec-WebSocket-Key"
    keys = r.headers.get_all(h)
    if len(keys) != 1:
        return HandshakeCheck(rule, False, f"the request must carry exactly one {h} header, got {len(keys)}",
                              header=h)
    try:
        raw = base64.b64decode(keys[0].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return HandshakeCheck(rule, False, f"{h} {keys[0]!r} is not valid base64", header=h)
    if len(raw) != 16:
        return HandshakeCheck(rule, False, f"{h} decodes to {len(raw)} bytes; it must be a 16-byte nonce",
                              header=h)
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
        return HandshakeCheck(rule, True, f"{values[0] if values else 'none sent'}: not judged by the protocol; "
                              "RFC 6455 leaves Origin to the server's policy (section 10.2)", header="Origin")
    if len(values) > 1:
        return HandshakeCheck(rule, False, f"the request carries {len(values)} Origin headers", header="Origin",
                              status=403, rfc="10.2")
    origin = values[0] if values else None
    if origin in origins:
        return HandshakeCheck(rule, True, origin or "none sent, allowed", header="Origin")
    shown = repr(origin) if origin is not None else "a missing Origin"
    return HandshakeCheck(rule, False, f"origin {shown} is not allowed", header="Origin", status=403, rfc="10.2")


def request_checks(request: Request, *, origins: Iterable[str | None] | None = None) -> tuple[HandshakeCheck, ...]:
    """Every rule of section 4.2.1 applied to ``request``, in the RFC's order.

    Each check stands alone, so a view can show all of them, passed or not.
    ``origins`` lists the allowed ``Origin`` values (include None to allow a
    request without one); None accepts any origin.
    """
    if isinstance(origins, str):
        origins = [origins]
    allowed = None if origins is None else frozenset(origins)
    h = request.headers
    return (
        _check_method(request),
        _check_version(request),
        _check_host(request),
        _check_token(h, "Upgrade", "websocket", "websocket"),
        _check_token(h, "Connection", "upgrade", "Upgrade"),
        _check_key(request),
        _check_ws_version(request),
        _check_origin(request, allowed),
        _check_syntax(h, "Sec-WebSocket-Protocol is a token list", "Sec-WebSocket-Protocol",
                      parse_subprotocols, "11.3.4", "none offered"),
        _check_syntax(h, "Sec-WebSocket-Extensions is well formed", "Sec-WebSocket-Extensions",
                      parse_extensions, "9.1", "none offered"),
    )


# -- what a client checks of the answer: the end of section 4.1 -------------------------
# A client has no status to answer with: it fails the connection. Its checks keep
# HandshakeCheck's default status (400), which nothing sends.


def _answer_check(rule: str, ok: bool, detail: str, header: str | None = None) -> HandshakeCheck:
    return HandshakeCheck(rule, ok, detail, header=header, rfc="4.1")


def _check_status(r: Response) -> HandshakeCheck:
    rule = "status is 101 Switching Protocols"
    if r.status == 101:
        return _answer_check(rule, True, r.start_line)
    reason = r.body.decode("utf-8", "replace").strip().splitlines()
    why = f": {reason[0]}" if reason else ""
    return _answer_check(rule, False, f"expected 101 Switching Protocols, got {r.status} {r.reason}{why}")


def _check_answer_token(h: Headers, header: str, token: str, shown: str, wording: str) -> HandshakeCheck:
    check = _check_token(h, header, token, shown)
    if check.ok:
        return _answer_check(check.rule, True, check.detail, header)
    return _answer_check(check.rule, False, f"the {header} header must {wording} '{shown}', "
                         f"got {h.get_all(header)!r}", header)


def _check_accept(h: Headers, key: str) -> HandshakeCheck:
    rule = "Sec-WebSocket-Accept matches the key"
    header = "Sec-WebSocket-Accept"
    expected = accept_key(key)
    accepts = h.get_all(header)
    if len(accepts) != 1:
        return _answer_check(rule, False, f"expected one {header} header, got {len(accepts)}", header)
    if accepts[0] != expected:
        return _answer_check(rule, False, f"{header} is {accepts[0]!r}, expected {expected!r} for key {key!r}",
                             header)
    return _answer_check(rule, True, expected, header)


def _check_choice(h: Headers, rule: str, header: str, parse: Callable[[Headers], list[T]], rfc: str,
                  problem: Callable[[list[T]], str | None]) -> HandshakeCheck:
    """What the server chose in ``header`` parses, and ``problem`` finds nothing wrong with it."""
    syntax = _check_syntax(h, rule, header, parse, rfc, "none chosen")
    if not syntax.ok:
        return syntax
    detail = problem(parse(h))
    return _answer_check(rule, detail is None, detail or syntax.detail, header)


def _subprotocol_problem(chosen: list[str], offered: Sequence[str]) -> str | None:
    if len(chosen) > 1:
        return f"the server chose several subprotocols: {chosen!r}"
    if chosen and chosen[0] not in offered:
        return f"the server chose subprotocol {chosen[0]!r}, which was not offered"
    return None


def _extension_problem(chosen: list[Extension], offered: frozenset[str]) -> str | None:
    for ext in chosen:
        if ext.name not in offered:
            return f"the server chose extension {ext.name!r}, which was not offered"
    return None


def response_checks(response: Response, key: str, *, subprotocols: Sequence[str] = (),
                    extensions: ExtensionsArg = None) -> tuple[HandshakeCheck, ...]:
    """What a client must check of the server's answer (the end of RFC 6455 section 4.1), in order.

    ``key`` is the ``Sec-WebSocket-Key`` the client sent; ``subprotocols``
    and ``extensions`` are what it offered: the server may only pick from
    them. Each check stands alone, as with :func:`request_checks`.
    """
    if isinstance(subprotocols, str):
        subprotocols = [subprotocols]
    offered = frozenset(e.name for e in as_extensions(extensions))
    h = response.headers
    return (
        _check_status(response),
        _check_answer_token(h, "Upgrade", "websocket", "websocket", "be"),
        _check_answer_token(h, "Connection", "upgrade", "Upgrade", "contain"),
        _check_accept(h, key),
        _check_choice(h, "at most one subprotocol, one offered", "Sec-WebSocket-Protocol", parse_subprotocols,
                      "11.3.4", lambda chosen: _subprotocol_problem(chosen, subprotocols)),
        _check_choice(h, "only extensions offered", "Sec-WebSocket-Extensions", parse_extensions,
                      "9.1", lambda chosen: _extension_problem(chosen, offered)),
    )
