"""The server's small HTTP API, ``POST /api/ping``: the endpoint's rules and the client that calls it.

A browser page cannot send a WebSocket ping (the API has none), so the server
pings every open connection when asked (RFC 6455 section 5.5.2). Who may ask
is decided by the server's access rules (:mod:`wsexplore.live.access`), the
same as for a handshake: another web site open in the same browser may not.
The notebook's ``BrowserClient`` asks from the kernel, which always reaches
the server on its own machine.
"""

from __future__ import annotations

import asyncio
import socket
__all__ = ["PING_PATH", "WILDCARD_HOSTS", "ping_answer", "request_ping", "request_ping_blocking"]

PING_PATH = "/api/ping"
#: Listening addresses that mean "every interface": a client dials loopback instead.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_TIMEOUT = 5.0


# ---------------------------------------------------------------------------- the endpoint
def ping_answer(count: int) -> str:
    """The body of the endpoint's 200 answer."""
    return f"pinged {count} connection(s)\n"


# ---------------------------------------------------------------------------- the client
def _request(host: str, port: int) -> bytes:
    shown = f"[{host}]" if ":" in host else host
    return (f"POST {PING_PATH} HTTP/1.1\r\nHost: {shown}:{port}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n").encode()


def _read_answer(raw: bytes) -> str:
    """The body of a 200 answer; else the status line and the body, or "no answer"."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    text = body.decode("utf-8", "replace").strip()
    if status.split(" ")[1:2] == ["200"]:
        return text
    return f"{status}: {text}" if status else "no answer"


def _dial_host(host: str) -> str:
    return "127.0.0.1" if host in WILDCARD_HOSTS else host


async def request_ping(host: str, port: int, timeout: float = _TIMEOUT) -> str:
    """Ask the server at ``host:port`` to ping every open connection; its answer."""
    host = _dial_host(host)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(_request(host, port))
        await writer.drain()
        return _read_answer(await asyncio.wait_for(reader.read(), timeout))
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def request_ping_blocking(host: str, port: int, timeout: float = _TIMEOUT) -> str:
    """``request_ping`` without an event loop (for a server running in another thread or process)."""
    host = _dial_host(host)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_request(host, port))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return _read_answer(b"".join(chunks))
