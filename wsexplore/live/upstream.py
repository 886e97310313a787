"""Where a tap sends everything: the upstream's URL read once, the request as forwarded, TLS to it.

The tap changes one thing in what it passes on: the ``Host`` line of the
upgrade request names the upstream (RFC 9112 section 3.2), and ``Origin``
too when asked. ``rewrite_request`` does it on the bytes, keeping every
other byte as the client sent it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Upstream", "rewrite_request", "upstream_tls"]


@dataclass(frozen=True)
class Upstream:
    """Where the tap sends everything: a ``ws://`` or ``wss://`` URL, read once."""

    url: str
    secure: bool
    host: str
    port: int
    authority: str  # the Host value for the upstream: host, and the port unless the scheme's default
    path: str

    @classmethod
    def parse(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"upstream must be a ws:// or wss:// URL, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"upstream URL {url!r} has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("upstream URL must not carry credentials (user:password@)")
        if parts.fragment:
            raise ValueError(f"a WebSocket URL has no fragment (RFC 6455 section 3), got #{parts.fragment}")
        secure = parts.scheme == "wss"
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError as exc:
            raise ValueError(f"upstream URL {url!r}: {exc}") from None
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == (443 if secure else 80) else f"{shown}:{port}"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(f"{parts.scheme}://{authority}{path}", secure, host, port, authority, path)


def rewrite_request(raw: bytes, authority: str, origin: str | None = None) -> bytes:
    """The request head ``raw`` with every ``Host`` value set to ``authority`` (and ``Origin`` to
    ``origin`` when given, added when absent); every other byte is kept as it was."""
    lines = raw.split(b"\r\n")
    out: list[bytes] = [lines[0]]
    seen_origin = False
    for line in lines[1:]:
        name, colon, _ = line.partition(b":")
        key = name.strip().lower()
        if colon and key == b"host":
            line = name + b": " + authority.encode("latin-1")
        elif colon and key == b"origin" and origin is not None:
            line = name + b": " + origin.encode("latin-1")
            seen_origin = True
        out.append(line)
    if origin is not None and not seen_origin:
        out.insert(len(out) - 2, b"Origin: " + origin.encode("latin-1"))  # before the empty line ending the head
    return b"\r\n".join(out)


def upstream_tls(*, cafile: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """TLS to the upstream: the system's trust store, or the CA certificates in ``cafile``; none with
    ``verify=False`` (anyone on the path can then read and change the traffic)."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cafile)
