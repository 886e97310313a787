"""The client's side of the opening handshake: the request to send, then the answer judged (RFC 6455 section 4.1)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .accept import accept_key
from .checks import HandshakeCheck, raise_first_failure, response_checks
from .extensions import Extension, ExtensionsArg, as_extensions, format_extensions, parse_extensions
from .grammar import is_token
from .messages import Response, encode_message
from .subprotocols import parse_subprotocols

__all__ = ["client_request", "ClientHandshake", "validate_response"]

_DEFAULT_PORTS = {False: 80, True: 443}


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
            if not is_token(p):
                raise ValueError(f"subprotocol {p!r} is not a token")
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    offered = as_extensions(extensions)
    if offered:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(offered)))
    headers += list(extra_headers)
    return encode_message(f"GET {path} HTTP/1.1", headers), key


@dataclass(frozen=True)
class ClientHandshake:
    """A 101 answer that passed the client's checks, and what was agreed."""

    response: Response
    key: str
    accept: str
    subprotocol: str | None
    extensions: tuple[Extension, ...]
    checks: tuple[HandshakeCheck, ...] = field(repr=False, default=())


def validate_response(response: Response, key: str, *, subprotocols: Sequence[str] = (),
                      extensions: ExtensionsArg = None) -> ClientHandshake:
    """Check the server's answer as a client must (RFC 6455 section 4.1, end) or raise the first failure.

    ``subprotocols`` and ``extensions`` are what the client offered; the
    server may only pick from them. The HandshakeError names the header and
    section 4.1: the client fails the connection.
    """
    checks = response_checks(response, key, subprotocols=subprotocols, extensions=extensions)
    raise_first_failure(checks)
    protocols = parse_subprotocols(response.headers)
    return ClientHandshake(
        response=response,
        key=key,
        accept=accept_key(key),
        subprotocol=protocols[0] if protocols else None,
        extensions=tuple(parse_extensions(response.headers)),
        checks=checks,
    )
