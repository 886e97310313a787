"""The accept key: how a server proves it read a WebSocket handshake (RFC 6455 sections 1.3, 4.2.2)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["GUID", "accept_key", "AcceptKeySteps", "accept_key_steps"]

#: The fixed GUID appended to the client's key (RFC 6455 section 1.3).
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID)).

    The server proves it read the request as a WebSocket handshake (and is
    not an HTTP cache replaying an old answer) by hashing the client's nonce
    with a GUID no other protocol uses (RFC 6455 sections 1.3 and 4.2.2).
    """
    return accept_key_steps(key).accept


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
