"""Telling a TLS connection in a capture by its first bytes, and naming it (dpkt reads the hello).

A capture of ``wss://`` traffic holds TLS records: without the session keys
nothing inside can be read. The reader lists such connections so that they
are not silently missing, with what the first record shows: the TLS version
and, from a ClientHello, the server name (SNI).
"""

from __future__ import annotations

import struct

import dpkt

__all__ = ["looks_like_tls", "describe_tls"]

_CONTENT_TYPES = {20: "change cipher spec", 21: "alert", 22: "handshake", 23: "application data"}
_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
_SERVER_NAME = 0


def looks_like_tls(data: bytes) -> bool:
    """A TLS record header: content type 20-23, then version 3.x (RFC 8446 section 5.1)."""
    return len(data) >= 3 and data[0] in _CONTENT_TYPES and data[1] == 3 and data[2] <= 4


def describe_tls(data: bytes) -> str:
    """``TLS 1.2 handshake, server name example.com`` from the first bytes of a TLS stream."""
    kind = _CONTENT_TYPES.get(data[0], "record")
    parts = [f"{_VERSIONS.get(int.from_bytes(data[1:3], 'big'), 'TLS')} {kind}"]
    name = _server_name(data) if data[0] == 22 else None
    if name:
        parts.append(f"server name {name}")
    return ", ".join(parts)


def _server_name(data: bytes) -> str | None:
    try:
        record = dpkt.ssl.TLSRecord(data)
        handshake = dpkt.ssl.TLSHandshake(record.data)
        hello = handshake.data
        if not isinstance(hello, dpkt.ssl.TLSClientHello):
            return None
        for ext_type, ext_data in getattr(hello, "extensions", ()):
            if ext_type == _SERVER_NAME and len(ext_data) >= 5:
                (size,) = struct.unpack("!H", ext_data[3:5])
                name = ext_data[5:5 + size].decode("ascii", "replace")
                return name if name.isprintable() else repr(name)
    except (dpkt.UnpackError, dpkt.NeedData, struct.error, IndexError, ValueError, TypeError):
        return None
    return None
