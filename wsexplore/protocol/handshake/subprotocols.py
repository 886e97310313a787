"""``Sec-WebSocket-Protocol``: the subprotocols a client offers and the one a server picks (RFC 6455 section 11.3.4)."""

from __future__ import annotations

from ..errors import HandshakeError
from .grammar import is_token, split_list
from .headers import Headers

__all__ = ["parse_subprotocols"]


def parse_subprotocols(headers: Headers) -> list[str]:
    """Subprotocols named in ``Sec-WebSocket-Protocol`` (1#token), over every line of it, in order."""
    items = split_list(headers.get_all("Sec-WebSocket-Protocol"))
    for item in items:
        if not is_token(item):
            raise HandshakeError(f"subprotocol {item!r} is not a token", status=400,
                                 header="Sec-WebSocket-Protocol", rfc="11.3.4")
    return items
