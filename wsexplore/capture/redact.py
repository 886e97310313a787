"""Credentials out of recorded HTTP heads: Cookie, Authorization, Proxy-Authorization, Set-Cookie.

A capture keeps the handshake bytes exactly as they crossed the wire; what is
shown or exported is rewritten here, header names kept and values replaced by
``<redacted N bytes>`` (the text comes from
:func:`wsexplore.protocol.handshake.redact`, the list of credential headers
from ``SENSITIVE_HEADERS``).
"""

from __future__ import annotations

import re

from ..protocol.handshake import SENSITIVE_HEADERS, redact

__all__ = ["redact_head", "redact_headers"]

_LINE = re.compile(rb"\r?\n")


def redact_head(raw: bytes) -> bytes:
    """``raw`` HTTP head with the values of credential headers replaced, names kept.

    Works on bytes as they crossed the wire, even a malformed request that was
    refused. Only the head (up to the empty line) is rewritten; folded
    continuation lines of a credential header (obs-fold, RFC 9112 section 5.2)
    are folded into it. Bytes without a credential header come back unchanged.
    """
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        head_end = raw.find(b"\n\n")
    head, rest = (raw, b"") if head_end < 0 else (raw[:head_end], raw[head_end:])
    parts = _LINE.split(head)
    seps = _LINE.findall(head)
    out = [parts[0]]
    pending: list[bytes] | None = None  # name, then value pieces, of a credential header

    def flush() -> None:
        name, value = pending[0], b"".join(pending[1:]).strip(b" \t")  # type: ignore[index]
        out.append(name + b": " + redact(name.decode("latin-1"), value.decode("latin-1")).encode("latin-1"))

    changed = False
    for sep, line in zip(seps, parts[1:]):
        if pending is not None and line[:1] in (b" ", b"\t"):
            pending.append(b" " + line.strip(b" \t"))
            continue
        if pending is not None:
            flush()
            pending = None
        name, colon, value = line.partition(b":")
        out.append(sep)
        if colon and name.strip().decode("latin-1").lower() in SENSITIVE_HEADERS:
            pending = [name.strip(), value]
            changed = True
        else:
            out.append(line)
    if pending is not None:
        flush()
    if not changed:
        return raw
    return b"".join(out) + rest


def redact_headers(headers: object) -> object:
    """A headers list of (name, value) pairs with credential values replaced (anything else as given)."""
    try:
        return [[name, redact(str(name), str(value))] for name, value in headers]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return headers
