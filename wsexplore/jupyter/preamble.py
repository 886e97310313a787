"""The line the Jupyter server's relay sends before the browser's request, and how a server reads it.

In the spirit of HAProxy's PROXY protocol (version 1): one text line, ended by
CRLF, ahead of the client's own bytes, telling the backend who the client is.
Here it also proves where it came from, since it carries the secret token the
server wrote into its registration file (:mod:`wsexplore.jupyter.registry`),
which only the Jupyter server and the server's own kernel can read::

    WSEXPLORE-RELAY/1 <token> <browser address> <browser port> <target>\\r\\n

``<target>`` is the request target the browser asked the Jupyter server for
(``/user/alice/wsexplore/8765/ws``), so the capture can say what the relay
changed. A server strips a line with its own token and records the connection
as relayed; a line with any other token, or a malformed one, is refused with
403. Bytes that do not start with the magic word are an ordinary client's.

This module is pure (no asyncio, no Jupyter): the relay writes the line with
``encode`` and the live server reads it with ``decode``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ..protocol.errors import HandshakeError

__all__ = ["MAGIC", "MAX_LINE", "Relayed", "PreambleError", "encode", "decode"]

MAGIC = b"WSEXPLORE-RELAY/1 "
#: Longest preamble line accepted (the target is the long part; browsers send far shorter ones).
MAX_LINE = 8192


class PreambleError(HandshakeError):
    """A relay preamble that does not hold: a wrong token or a line of the wrong shape (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=403, header="relay preamble", rfc=None)


@dataclass(frozen=True, slots=True)
class Relayed:
    """A connection that came through this Jupyter server's relay.

    The Jupyter server authenticated the browser's request (token or login
    cookie), applied its own Origin rules (a cookie-authenticated request from
    a page of another origin is refused) and made sure the port belongs to one
    of its kernels before it forwarded the bytes; ``peer`` is the browser's
    address as the Jupyter server saw it, ``target`` the request target the
    browser sent it.
    """

    peer: tuple[str, int]
    target: str


def encode(token: str, peer: tuple[str, int], target: str) -> bytes:
    """The preamble line for one relayed connection."""
    host, port = peer
    for name, value in (("token", token), ("address", host), ("target", target)):
        if not value or any(c in value for c in " \r\n"):
            raise ValueError(f"relay preamble: the {name} {value!r} must be non-empty, without spaces or line breaks")
    line = MAGIC + f"{token} {host} {int(port)} {target}\r\n".encode("latin-1")
    if len(line) > MAX_LINE:
        raise ValueError(f"relay preamble: {len(line)} bytes, more than {MAX_LINE}")
    return line


def decode(data: bytes | bytearray, token: str | None) -> tuple[Relayed | None, int] | None:
    """Read a preamble at the start of ``data``.

    Returns None while undecided (``data`` is a start of the magic word, or of
    a line not yet ended), ``(None, 0)`` when ``data`` does not start with a
    preamble, and ``(relayed, n)`` for a valid one, ``n`` being its length
    with the CRLF. Raises ``PreambleError`` for a line with another token than
    ``token`` (or any line when ``token`` is None: this server takes no relay).
    """
    head = bytes(data[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        return None, 0
    if len(head) < len(MAGIC):
        return None
    end = data.find(b"\r\n", 0, MAX_LINE)
    if end < 0:
        if len(data) >= MAX_LINE:
            raise PreambleError(f"relay preamble longer than {MAX_LINE} bytes")
        return None
    parts = bytes(data[len(MAGIC) : end]).decode("latin-1").split(" ")
    if len(parts) != 4:
        raise PreambleError("relay preamble must read WSEXPLORE-RELAY/1 TOKEN ADDRESS PORT TARGET")
    given, host, port, target = parts
    if token is None or not hmac.compare_digest(given.encode("latin-1"), token.encode("latin-1")):
        raise PreambleError("relay preamble with a token this server did not issue")
    if not port.isdigit() or not 0 <= int(port) < 65536 or not target.startswith("/"):
        raise PreambleError(f"relay preamble with a bad port {port!r} or target {target!r}")
    return Relayed((host, int(port)), target), end + 2
