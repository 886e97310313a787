"""BrowserClient: a WebSocket client that runs in the notebook's own browser page.

The widget's JavaScript opens the socket, so the frames a kernel-side
``Server`` captures are a real browser's: its masking keys (RFC 6455 section
5.3), its ``Sec-WebSocket-Extensions`` offer (section 9.1), its close frames.

Which URL reaches the server depends on where the page comes from, and that
choice is made here, in Python (the JavaScript only reports the page's address,
the Jupyter server's base URL and whether the relay answered there, then uses
``url``). In order of preference:

* ``relay``: when the Jupyter server runs wsexplore's extension (it says so
  in the page config it serves) and the server is one the relay may reach (a
  ``Server`` this kernel started and registered, see
  :mod:`wsexplore.jupyter.registry`), ``{base_url}wsexplore/PORT/``. The Jupyter server
  authenticates the request, then passes the browser's bytes on unchanged
  (:mod:`wsexplore.jupyter`): the server sees the browser's own frames, and a
  handshake whose header values are the browser's (names as tornado spells
  them). This works on Binder, on a hub and locally alike;
* ``direct``: without the relay, JupyterLab on this machine (page on a
  loopback host, no hub prefix) reaches ``ws://127.0.0.1:PORT/`` itself,
  browser to server, every byte the browser's;
* ``proxy``: without the relay, a hub or Binder (``/user/...``,
  ``/hub/...``) or any page from another host goes through
  jupyter-server-proxy at ``{base_url}proxy/PORT/``, whose own client relays
  the messages: the server sees the proxy's frames, not the browser's (and
  labels them so, helped by the ``wsexplore-via`` query parameter added to
  that URL), and messages over 10 MiB fail on that leg.

``url=`` overrides the choice. A server refuses pages of other sites
(:mod:`wsexplore.live.access`); pages on this machine are allowed, and a
``BrowserClient`` made with a ``Server`` tells it its own page's origin once
the page reports it (and, through the proxy, which copies the page's
``Host``, that host name), so the notebook page may connect from wherever it
is served. Browsers cannot send pings (the WebSocket API
has none), so the ping control asks the server to ping every open connection
(``POST /api/ping``, :mod:`wsexplore.live.api`). The kernel sends that
request, not the page: the kernel always reaches the server on its own
machine, and the server refuses the request from a page of another origin
(the notebook's), as it should.
"""

from __future__ import annotations

import asyncio
import re
from html import escape
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anywidget
import traitlets

from ..jupyter import registry
from ..live.api import WILDCARD_HOSTS, request_ping, request_ping_blocking
from ..live.paths import PROXY, PROXY_MARK
from ..live.server import Server
from .fallback import StaticFallback, static_block

__all__ = ["BrowserClient", "resolve_url", "page_base_url", "DIRECT_NOTE", "PROXY_NOTE", "RELAY_NOTE"]

_HERE = Path(__file__).parent

DIRECT_NOTE = ("direct: this page's browser connects to the kernel's server itself, so the server sees the "
               "browser's own frames (its masking keys, its extension offers).")
PROXY_NOTE = ("through a proxy ({base}proxy/{port}/, jupyter-server-proxy on the Jupyter server): the server "
              "sees the proxy's frames, not the browser's (masking keys and extension offers are the proxy's; "
              "messages over 10 MiB fail on that leg); the capture labels them so.")
RELAY_NOTE = ("through the Jupyter server's relay ({base}wsexplore/{port}/): it checks who you are, then passes "
              "the browser's bytes on unchanged, so the server sees the browser's own frames (its masking keys, "
              "its compression); in the handshake the header values are the browser's, the names spelled as the "
              "Jupyter server's parser spells them.")
MODES = ("direct", "relay", "proxy")

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1"})
_HUB_PREFIX = re.compile(r"^/(user|hub)/|/user/[^/]+/")
_RELAY_PATH = re.compile(r"/wsexplore/\d+(/|$)")
_APP_SEGMENT = re.compile(r"^(.*?/)(lab|notebooks|tree|doc|edit|voila|files|view)(/|$)")


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or host.startswith("127.")


def page_base_url(page_url: str, base_url: str = "") -> str:
    """The Jupyter server's base URL path ("/", "/user/alice/"), from the page config or the page path."""
    if base_url:
        path = urlsplit(base_url).path or base_url
        return path if path.endswith("/") else path + "/"
    path = urlsplit(page_url).path
    match = _APP_SEGMENT.match(path)
    return match.group(1) if match else "/"


def _override_mode(url: str) -> str:
    path = urlsplit(url).path
    if _RELAY_PATH.search(path):
        return "relay"
    return "proxy" if "/proxy/" in path else "direct"


def resolve_url(port: int, *, page_url: str = "", base_url: str = "", host: str = "127.0.0.1",
                override: str | None = None, relay: bool = False) -> tuple[str, str]:
    """``(url, mode)``: the WebSocket URL a browser on ``page_url`` uses to reach a server on ``port``.

    ``mode`` is "relay" (through the Jupyter server's relay at
    ``{base_url}wsexplore/PORT/``, when ``relay`` says the page found it),
    "direct" (the browser talks to the server) or "proxy" (through
    jupyter-server-proxy at ``{base_url}proxy/PORT/``), the last chosen when
    there is no relay and the page comes from a hub (base URL under ``/user/``
    or ``/hub/``) or from another host than this one. Until the page's address
    is known the choice is direct. ``host`` is the server's listening address.
    An ``override`` is used as given; its mode is read from its path.
    """
    if override:
        return override, _override_mode(override)
    page = urlsplit(page_url) if page_url else None
    if page is not None and page.scheme in ("http", "https"):
        base = page_base_url(page_url, base_url)
        scheme = "wss" if page.scheme == "https" else "ws"
        if relay:
            return f"{scheme}://{page.netloc}{base}wsexplore/{port}/", "relay"
        if _HUB_PREFIX.search(base) or not _is_loopback(page.hostname or ""):
            return f"{scheme}://{page.netloc}{base}proxy/{port}/?{PROXY_MARK}={PROXY}", "proxy"
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"ws://{shown}:{port}/", "direct"


def _note(mode: str, url: str, port: int) -> str:
    if mode == "direct":
        return DIRECT_NOTE
    path = urlsplit(url).path
    marker = "wsexplore/" if mode == "relay" else "proxy/"
    base = path.split(marker, 1)[0] if marker in path else "/"
    return (RELAY_NOTE if mode == "relay" else PROXY_NOTE).format(base=base, port=port)


class BrowserClient(StaticFallback, anywidget.AnyWidget):
    """A WebSocket client in the browser page, aimed at a kernel-side ``Server`` (or a port).

    Controls in the view connect, send text or binary (hex), ask for a ping,
    disconnect and close with a code and reason; the same actions can be driven
    from Python (``connect()``, ``send_text()``, ...), which sends them to the
    page. ``url`` and ``mode`` ("relay", "direct" or "proxy", see the module)
    say which path is in use, ``note`` what it means for the bytes; ``status`` and
    ``history`` (the view's log of sent and received messages, newest last)
    are reported by the page.
    """

    _esm = _HERE / "browser_client.js"
    _css = _HERE / "browser_client.css"

    port = traitlets.Int().tag(sync=True)
    host = traitlets.Unicode("127.0.0.1").tag(sync=True)
    override = traitlets.Unicode("").tag(sync=True)
    #: The page's address and the Jupyter server's base URL, reported by the browser.
    page_url = traitlets.Unicode("").tag(sync=True)
    base_url = traitlets.Unicode("").tag(sync=True)
    #: Reported by the browser: "yes" when the page's config names wsexplore's relay, "no" when not, "" before.
    relay = traitlets.Unicode("").tag(sync=True)
    #: Computed here from the five above.
    url = traitlets.Unicode("").tag(sync=True)
    mode = traitlets.Enum(MODES, default_value="direct").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    #: The page_url the URL was chosen for (the page waits for it before connecting).
    resolved_for = traitlets.Unicode("").tag(sync=True)
    #: Reported by the page: "closed", "connecting", "open" or "closing".
    status = traitlets.Unicode("closed").tag(sync=True)
    #: The last entries of the view's log: {"dir": "out"|"in"|"sys", "kind": ..., "detail": ...}.
    history = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: Identifies this client's socket in the page, shared by all views of the widget.
    _instance = traitlets.Unicode("").tag(sync=True)

    def __init__(self, server_or_port: Server | int, *, url: str | None = None, **kwargs: Any) -> None:
        server: Server | None
        if isinstance(server_or_port, int) and not isinstance(server_or_port, bool):
            port, host, server = server_or_port, "127.0.0.1", None
        elif isinstance(server_or_port, Server):
            server = server_or_port
            port, host = server.port, server.host
        else:
            raise TypeError(f"BrowserClient needs a Server or a port number, got {type(server_or_port).__name__}")
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not a listening port: start the server first (await server.start())")
        self.server = server
        self._pings: set[asyncio.Task] = set()
        super().__init__(port=port, host=host, override=url or "", _instance=uuid.uuid4().hex, **kwargs)
        self._resolve()
        self.on_msg(self._on_page_msg)

    def static_html(self) -> str:
        """The status, the path (mode, URL, what it means for the bytes) and the log, as the page last reported."""
        rows = "".join(
            f'<tr><td style="padding:0 6px;color:#666">{escape(str(e.get("dir", "")))}</td>'
            f'<td style="padding:0 6px">{escape(str(e.get("kind", "")))}</td>'
            f'<td style="padding:0 6px">{escape(str(e.get("detail", "")))}</td></tr>'
            for e in self.history)
        log = (f'<table style="border-collapse:collapse;font-family:monospace;font-size:12px">{rows}</table>'
               if rows else '<div style="color:#666">log: empty (nothing sent or received yet)</div>')
        body = (f"<div><b>{escape(self.status)}</b> · {escape(self.mode)} · <code>{escape(self.url)}</code></div>"
                f'<div style="color:#555;font-size:12px">{escape(self.note)}</div>{log}')
        return static_block("BrowserClient", body)

    def __repr__(self) -> str:
        return f"BrowserClient({self.url} {self.mode})"

    @traitlets.observe("port", "host", "override", "page_url", "base_url", "relay")
    def _on_location(self, change: dict[str, Any]) -> None:
        self._resolve()

    def _resolve(self) -> None:
        url, mode = resolve_url(self.port, page_url=self.page_url, base_url=self.base_url, host=self.host,
                                override=self.override or None, relay=self.relay == "yes" and self._relay_reaches())
        self._allow_page(mode)
        with self.hold_sync():
            self.url = url
            self.mode = mode
            self.note = _note(mode, url, self.port)
            self.resolved_for = self.page_url

    def _allow_page(self, mode: str) -> None:
        """Let the notebook page that hosts this client use the server (see the module docstring)."""
        page = urlsplit(self.page_url) if self.page_url else None
        if self.server is None or page is None or page.scheme not in ("http", "https") or not page.hostname:
            return
        try:
            self.server.access.allow_origin(f"{page.scheme}://{page.netloc}")
            if mode == "proxy":  # jupyter-server-proxy passes the page's Host header on
                self.server.access.allow_host(page.netloc)
        except ValueError:
            pass  # not an origin a page can have: nothing to allow

    def _relay_reaches(self) -> bool:
        """The relay reaches only registered servers: this one's registration, or a file for the port."""
        if self.server is not None:
            return self.server.relay_registration is not None
        return registry.registered_here(self.port)

    # -- driving the page from Python ------------------------------------------------
    def _act(self, action: str, buffers: list[bytes] | None = None, **args: Any) -> None:
        self.send({"action": action, **args}, buffers=buffers)

    def connect(self) -> None:
        """Open the WebSocket from the page (to ``url``)."""
        self._act("connect")

    def send_text(self, text: str) -> None:
        """Send a text message from the page (one frame, masked by the browser)."""
        if not isinstance(text, str):
            raise TypeError("send_text needs a str")
        self._act("send_text", text=text)

    def send_binary(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send a binary message from the page; ``data`` is bytes or a hex string."""
        if isinstance(data, str):
            data = bytes.fromhex(data.replace(":", " "))
        self._act("send_binary", buffers=[bytes(data)])

    def ping(self) -> asyncio.Task | str:
        """Ask the server to ping every open connection (a page cannot send a ping itself).

        The kernel posts ``/api/ping`` to the server; the answer ("pinged 1
        connection(s)") goes to the view's log. Inside a running event loop (a
        notebook) this returns the task doing it, else the answer itself.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            answer = self._ping_done(lambda: request_ping_blocking(self.host, self.port))
            return answer
        task = loop.create_task(request_ping(self.host, self.port))
        self._pings.add(task)
        task.add_done_callback(self._on_ping)
        return task

    def _on_ping(self, task: asyncio.Task) -> None:
        self._pings.discard(task)
        if not task.cancelled():
            self._ping_done(task.result)

    def _ping_done(self, result: Callable[[], str]) -> str:
        try:
            answer = f"asked the server to ping: {result()}"
            kind = "ping"
        except (OSError, asyncio.TimeoutError) as exc:
            answer = f"could not ask the server to ping: {type(exc).__name__}: {exc}"
            kind = "error"
        self.send({"event": "log", "dir": "sys", "kind": kind, "detail": answer})
        return answer

    def _on_page_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "ping":
            self.ping()

    def close_connection(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket with ``code`` and ``reason`` (browsers allow 1000 and 3000-4999)."""
        self._act("close", code=int(code), reason=reason)

    def disconnect(self) -> None:
        """Close the WebSocket without a code (the browser's close frame then has an empty body)."""
        self._act("disconnect")
