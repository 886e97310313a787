"""The server's side of the opening handshake: judge a request, then accept or refuse it (RFC 6455 section 4.2)."""

from __future__ import annotations

import http
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import HandshakeError
from .accept import accept_key
from .checks import HandshakeCheck, raise_first_failure, request_checks
from .extensions import Extension, ExtensionsArg, as_extensions, format_extensions, parse_extensions
from .messages import Request, encode_message
from .subprotocols import parse_subprotocols

__all__ = ["ServerHandshake", "validate_request", "accept_response", "reject_response"]


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
    """Check a handshake request (RFC 6455 section 4.2.1) or raise the first failure.

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
    raise_first_failure(checks)
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
    chosen = as_extensions(extensions)
    if chosen:
        offered = {e.name for e in parse_extensions(request.headers)}
        for ext in chosen:
            if ext.name not in offered:
                raise ValueError(f"extension {ext.name!r} was not offered by the client")
        headers.append(("Sec-WebSocket-Extensions", format_extensions(chosen)))
    headers += list(extra_headers)
    return encode_message("HTTP/1.1 101 Switching Protocols", headers)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


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
    return encode_message(f"HTTP/1.1 {error.status} {_reason(error.status)}", headers, body)
