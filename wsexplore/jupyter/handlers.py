"""The relay's Jupyter request handlers: ``{base_url}wsexplore/PORT/...`` and its status at ``{base_url}wsexplore/``.

A relayed request passes, in order: authentication as any Jupyter API request
(``JupyterHandler.prepare``: token or login cookie; a WebSocket request
without a user gets 403, as jupyter-server-proxy answers, not a redirect to
the login page), Jupyter's own Origin check (``JupyterHandler.check_origin``:
a cookie-authenticated request from a page of another origin is refused;
a token-authenticated one is allowed, as everywhere in Jupyter), the
authorizer (``execute`` on ``kernels``: reaching a kernel's server is using
the kernel), and the registry (the port must be a server of one of this
Jupyter server's kernels). Any refusal is an ordinary HTTP error answered by
tornado. Then the relay dials the server, takes over the browser's TCP stream
(``detach()``) and writes the preamble and the request head:

* the head is rebuilt from tornado's parse of the browser's (tornado keeps no
  raw bytes): request line and header values as received, headers in the
  order received (a repeated header's lines together), names as tornado
  spells them (``Sec-Websocket-Key``);
* the target loses the ``{base_url}wsexplore/PORT`` prefix, and a ``token``
  query parameter (Jupyter's credential, not the kernel server's) is removed.

The preamble carries the original target (its token withheld), so the server
records what changed. The pages the Jupyter server serves learn that the relay
is there from their page config (``wsexploreRelay``); the status page at
``{base_url}wsexplore/`` says so too, and lists the ports the relay may reach.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web
from tornado.httputil import HTTPServerRequest

from . import preamble, registry
from .relay import Traffic, pump

__all__ = ["setup_handlers", "Relays", "RelayHandler", "StatusHandler", "forwarded_target", "request_head"]

#: The page config entry that tells a BrowserClient the relay is there (its value: the relay's base path).
PAGE_CONFIG_KEY = "wsexploreRelay"
#: Seconds to reach the kernel's server before answering 502.
CONNECT_TIMEOUT = 5.0
#: Seconds between two updates of the Jupyter server's activity clock while bytes flow.
_ACTIVITY_EVERY = 10.0
_WITHHELD = "withheld"


def forwarded_target(uri: str, prefix: str) -> tuple[str, str]:
    """``(forwarded, original)``: the target for the server (``prefix`` and any ``token`` parameter gone,
    the rest as sent), and the target the browser sent with a ``token`` value withheld (for the preamble)."""
    path, mark, query = uri.partition("?")
    rest = path[len(prefix):] if path.startswith(prefix) else path
    rest = rest if rest.startswith("/") else "/" + rest
    items = query.split("&") if query else []
    is_token = [item.split("=", 1)[0] == "token" for item in items]
    if not any(is_token):
        return rest + mark + query, uri
    kept = [item for item, token in zip(items, is_token) if not token]
    shown = [f"token={_WITHHELD}" if token else item for item, token in zip(items, is_token)]
    return rest + ("?" + "&".join(kept) if kept else ""), path + "?" + "&".join(shown)


def request_head(request: HTTPServerRequest, target: str) -> bytes:
    """The request head as tornado parsed it, with ``target``: values and order kept, tornado's names."""
    lines = [f"{request.method} {target} {request.version}"]
    lines += [f"{name}: {value}" for name, value in request.headers.get_all()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Relays:
    """This Jupyter server's relays: which ports its kernels registered, and the connections open."""

    def __init__(self, serverapp: Any) -> None:
        self.kernel_manager = serverapp.kernel_manager
        self.directory = getattr(self.kernel_manager, "connection_dir", "") or serverapp.runtime_dir
        self.settings = serverapp.web_app.settings
        self.log = serverapp.log
        self.open: dict[asyncio.Task, Traffic] = {}
        self._activity = 0.0

    def kernels(self) -> dict[str, int | None]:
        """Kernel ids this server runs, with their process id where the kernel manager knows it."""
        out: dict[str, int | None] = {}
        for kernel_id in self.kernel_manager.list_kernel_ids():
            try:
                provisioner = getattr(self.kernel_manager.get_kernel(kernel_id), "provisioner", None)
            except KeyError:
                continue
            pid = getattr(provisioner, "pid", None)
            out[kernel_id] = pid if isinstance(pid, int) else None
        return out

    def lookup(self, port: int) -> registry.Registration | None:
        return registry.lookup(self.directory, port, self.kernels())

    def ports(self) -> list[int]:
        return sorted({reg.port for reg in registry.registered(self.directory, self.kernels())})

    def activity(self) -> None:
        """Tell the Jupyter server (and a hub's idle culler reading ``/api/status``) that it is in use."""
        now = time.monotonic()
        if now - self._activity >= _ACTIVITY_EVERY:
            self._activity = now
            self.settings["api_last_activity"] = datetime.now(timezone.utc)  # what jupyter_server stores there

    def start(self, stream: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        traffic = Traffic()
        task = asyncio.ensure_future(pump(stream, reader, writer, head, traffic=traffic, activity=self.activity,
                                          log=self.log))
        self.open[task] = traffic
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self.open.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("wsexplore relay ended with %r", task.exception())


class RelayHandler(JupyterHandler):
    """``GET {base_url}wsexplore/PORT/...`` with ``Upgrade: websocket``: checked, then relayed byte for byte."""

    auth_resource = "kernels"

    def initialize(self, relays: Relays) -> None:
        self.relays = relays

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare(_redirect_to_login=False)
        if not self.current_user:  # also when the server allows unauthenticated access
            raise web.HTTPError(403, "the wsexplore relay needs an authenticated request")

    async def get(self, port: str, rest: str | None = None) -> None:
        request = self.request
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPError(400, "the wsexplore relay carries WebSocket upgrades only")
        if not self.check_origin():
            raise web.HTTPError(403, "cross-origin WebSocket to the wsexplore relay refused")
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "execute", "kernels")):
            raise web.HTTPError(403, "not allowed to use this Jupyter server's kernels")
        reg = self.relays.lookup(int(port))
        if reg is None:
            raise web.HTTPError(403, f"port {port} is not a wsexplore server of this Jupyter server's kernels")
        prefix = url_path_join(self.base_url, "wsexplore", port)
        target, original = forwarded_target(request.uri or "/", prefix)
        address = getattr(getattr(request.connection, "context", None), "address", None)
        peer = (request.remote_ip or "?", address[1] if isinstance(address, tuple) and len(address) > 1 else 0)
        head = preamble.encode(reg.token, peer, original) + request_head(request, target)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(reg.host, reg.port), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise web.HTTPError(502, f"the wsexplore server on port {port} did not answer: {exc}") from exc
        stream = self.detach()
        self.relays.start(stream, reader, writer, head)


class StatusHandler(APIHandler):
    """``GET {base_url}wsexplore/``: the relay is here; where it lives and which ports it reaches."""

    def initialize(self, relays: Relays) -> None:
        self.relays = relays

    @web.authenticated
    def get(self) -> None:
        self.finish({
            "relay": "wsexplore",
            "version": 1,
            "path": url_path_join(self.base_url, "wsexplore", "PORT") + "/",
            "ports": self.relays.ports(),
            "open": len(self.relays.open),
            "relayed": {"to_server": sum(t.to_server for t in self.relays.open.values()),
                        "to_browser": sum(t.to_browser for t in self.relays.open.values())},
        })


def setup_handlers(serverapp: Any) -> Relays:
    """Add the relay and its status page under the server's base URL; the ``Relays`` they share."""
    relays = Relays(serverapp)
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base, "wsexplore") + "/?", StatusHandler, {"relays": relays}),
        (url_path_join(base, "wsexplore", r"(\d+)") + r"(/.*)?", RelayHandler, {"relays": relays}),
    ])
    # Tell the pages this server serves (JupyterLab, Notebook 7) that the relay is here: the
    # BrowserClient reads it from the page config, with no request of its own.
    serverapp.web_app.settings.setdefault("page_config_data", {})[PAGE_CONFIG_KEY] = (
        url_path_join(base, "wsexplore") + "/")
    serverapp.log.info("wsexplore relay at %s", url_path_join(base, "wsexplore", "PORT") + "/")
    return relays
