"""The Jupyter server extension: a byte-exact relay from the notebook's browser page to a kernel's server.

On Binder or a hub the page can reach a ``wsexplore.Server`` in the kernel
only through the Jupyter server. jupyter-server-proxy ends the browser's
WebSocket there and opens its own, so the kernel's server would see the
proxy's handshake and frames. This extension serves
``{base_url}wsexplore/PORT/...`` instead: it authenticates the request as
any Jupyter API request (token or login cookie, then Jupyter's own Origin
check), makes sure PORT belongs to a server of one of this Jupyter server's
kernels, takes over the TCP stream (tornado's ``RequestHandler.detach()``),
and passes bytes both ways unchanged. The kernel's server answers the
handshake itself and records the browser's own key, masking keys,
fragmentation and compressed frames.

* ``registry``: which ports may be reached (files the kernels' servers write);
* ``preamble``: the line before the browser's request that tells the server
  the connection is relayed, from which browser, for which target;
* ``relay``: the byte pump between the browser's stream and the server;
* ``handlers``: the Jupyter request handlers (the relay and its status page).

Installing the package enables the extension (``etc/jupyter/jupyter_server_config.d/wsexplore.json``);
``jupyter server extension disable wsexplore.jupyter`` turns it off. Only
``registry`` and ``preamble`` are imported by the live server; they import
nothing of Jupyter.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "wsexplore.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the relay's handlers to the Jupyter server (called once, at its start)."""
    from .handlers import setup_handlers

    setup_handlers(serverapp)
