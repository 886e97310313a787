"""How a handshake reached the server: directly, through the Jupyter server's relay, or through a proxy.

What the server records in ``OpenRecord.via`` and ``OpenRecord.note`` (see
:data:`wsexplore.capture.records.VIA`), so that every view can say whose bytes
a connection's records are:

* ``"relay"``: a valid relay preamble arrived (:mod:`wsexplore.jupyter.preamble`).
  The frames are the browser's own bytes; the request head is the Jupyter
  server's re-serialisation of the browser's, and the note says what changed;
* ``"jupyter-server-proxy"``: the request shows jupyter-server-proxy's marks
  (its ``X-ProxyContextPath`` header, or the ``wsexplore-via`` query parameter
  the BrowserClient adds to a proxied URL). The proxy ended the browser's
  WebSocket and opened this one, so handshake and frames are the proxy's;
* None: nothing says another hop was there.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..jupyter.preamble import Relayed
from ..protocol.handshake import Request

__all__ = ["PROXY_MARK", "PROXY", "arrival"]

#: The query parameter the BrowserClient adds to a URL that goes through jupyter-server-proxy.
PROXY_MARK = "wsexplore-via"
PROXY = "jupyter-server-proxy"
# Headers jupyter-server-proxy adds to the requests it makes (unless configured with absolute_url).
_PROXY_HEADERS = ("X-ProxyContextPath", "X-Forwarded-Context")
# How tornado spells the key header (it capitalises each dash-separated word): a tornado client wrote it.
_TORNADO_KEY = b"\r\nSec-Websocket-Key:"


def arrival(relayed: Relayed | None, request: Request | None, raw: bytes) -> dict[str, str | None]:
    """``via`` and ``note`` for the OpenRecord of a handshake (``Capture.opened`` keywords)."""
    if relayed is not None:
        return {"via": "relay", "note": _relay_note(relayed, request)}
    evidence = _proxy_evidence(request, raw)
    if evidence:
        return {"via": PROXY, "note": (
            "jupyter-server-proxy ended the browser's WebSocket and opened this one: the key, the extension "
            "offer, the masking keys and every frame here are the proxy's, not the browser's (seen: "
            + "; ".join(evidence) + ")")}
    return {"via": None, "note": ""}


def _relay_note(relayed: Relayed, request: Request | None) -> str:
    host, port = relayed.peer
    target = request.target if request is not None else "?"
    return (f"relayed by the Jupyter server for {host}:{port}, which authenticated it and applied its Origin rules; "
            f"the request head is the one the Jupyter server received, written out again by it: target "
            f"{relayed.target} became {target}, header names are spelled as its HTTP parser (tornado) spells "
            f"them, values and order are kept (a proxy in front of the Jupyter server, such as a hub's, may have "
            f"added headers); every byte after the head is the browser's own")


def _proxy_evidence(request: Request | None, raw: bytes) -> list[str]:
    if request is None:
        return []
    evidence = []
    if parse_qs(urlsplit(request.target).query).get(PROXY_MARK) == [PROXY]:
        evidence.append(f"the BrowserClient's {PROXY_MARK}={PROXY} in the URL")
    for name in _PROXY_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            evidence.append(f"{name}: {value}, which jupyter-server-proxy adds")
    if evidence and _TORNADO_KEY in raw:
        evidence.append("header names in tornado's spelling (Sec-Websocket-Key)")
    return evidence
