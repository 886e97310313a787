"""Who may use a server: the Host check against DNS rebinding and the Origin check against other web sites.

A browser lets any web page open a WebSocket to any address: the handshake
says which page asked (``Origin``, RFC 6455 sections 4.2.1 and 10.2) and the
server must judge it. A page can also have its own DNS name re-pointed at
127.0.0.1 ("DNS rebinding") and then read a local server as if it were its
own site; it cannot hide the name it used, which the browser sends as
``Host`` (RFC 9110 section 7.2). So a server judges every request twice:

* **Host**, for every HTTP request and handshake while the server listens on
  a loopback address (or whenever names were given): served only for a
  loopback name or address (``localhost``, ``*.localhost``, ``127.0.0.0/8``,
  ``::1``) or a name the user allowed; otherwise 421 Misdirected Request.
* **Origin**, for handshakes and ``POST /api/ping``: allowed when there is
  none (not a web page: curl, scripts, the ``websockets`` client), for the
  server's own page (the Origin names the Host the request was sent to, and
  that Host is one it trusts: loopback, an IP address, or a name allowed),
  for pages on this machine (``http`` or ``https`` on ``localhost``,
  ``127.0.0.1`` or ``[::1]``, any port: the notebook page of a JupyterLab
  running here, where a ``BrowserClient`` lives), for the pages a
  ``BrowserClient`` reported (its Jupyter page, wherever it is served from)
  and for origins the user allowed; otherwise 403 Forbidden.
* A connection that came through the Jupyter server's byte relay is allowed
  as it is: the Jupyter server already checked its user and its origin.

``AccessPolicy(..., any_origin=True)`` turns the Origin check off (the
``--allow-any-origin`` of ``wsexplore serve``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..protocol.errors import HandshakeError
from ..protocol.handshake import Request

__all__ = ["AccessPolicy", "LOOPBACK_ORIGIN_HOSTS", "is_loopback_host", "normalize_origin", "split_host"]

#: The hosts of pages on this machine that may connect (any port, http or https).
LOOPBACK_ORIGIN_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WILDCARD = frozenset({"", "0.0.0.0", "::"})

Origin = tuple[str, str, int]  # scheme, host (lower case, no brackets), port


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``Host`` header value ("example.org:8080", "[::1]:80", "localhost");
    the host in lower case without brackets, the port None when absent; None when malformed."""
    value = value.strip()
    if not value or any(c.isspace() or c in "/?#@" for c in value):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        host, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        if value.count(":") > 1:
            return None  # an IPv6 address must be bracketed in a Host header
        host, sep, after = value.partition(":")
        port_text = after if sep else None
    if not host:
        return None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
            return None
        port = int(port_text)
    return host.lower().rstrip("."), port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """A name or address that can only mean this machine: ``localhost`` and ``*.localhost``
    (RFC 6761 section 6.3: browsers resolve them to loopback themselves), 127.0.0.0/8, ::1."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def normalize_origin(origin: str) -> Origin | None:
    """``(scheme, host, port)`` of a serialized origin ("http://localhost:8888"), the port made
    explicit; None for "null" or anything that is not ``scheme://host[:port]``."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def _show_origin(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if _DEFAULT_PORTS[scheme] == port else f":{port}")


class AccessPolicy:
    """The Host and Origin rules of one server; see the module docstring.

    ``bind_host`` is the address the server listens on: the Host check is on
    when it is a loopback one, or whenever ``hosts`` names some. ``origins``
    adds allowed page origins to the defaults; ``any_origin`` allows every
    origin. ``allow_origin`` and ``allow_host`` add more while serving (the
    ``BrowserClient`` reports its notebook page that way).
    """

    def __init__(self, bind_host: str = "127.0.0.1", *, origins: Iterable[str] = (),
                 hosts: Iterable[str] = (), any_origin: bool = False) -> None:
        self.any_origin = any_origin
        self._origins: dict[Origin, str] = {}
        self._hosts: set[str] = set()
        for origin in origins:
            self.allow_origin(origin)
        for host in hosts:
            self.allow_host(host)
        # Listening on loopback: only loopback names are this server's. Elsewhere the names the
        # user gave, loopback ones, and IP addresses (which no other site's page can send as Host).
        self.loopback_only = is_loopback_host(bind_host)
        self.check_host = self.loopback_only or bool(self._hosts)

    # -- what is allowed ------------------------------------------------------------
    def allow_origin(self, origin: str) -> None:
        """Allow pages of ``origin`` ("https://hub.example.org", "http://localhost:3000")."""
        normalized = normalize_origin(origin)
        if normalized is None:
            raise ValueError(f"not an origin: {origin!r} (expected scheme://host[:port], e.g. http://localhost:3000)")
        self._origins.setdefault(normalized, _show_origin(normalized))

    def allow_host(self, host: str) -> None:
        """Serve requests whose ``Host`` names ``host`` (any port)."""
        split = split_host(host)
        if split is None:
            raise ValueError(f"not a host name: {host!r}")
        self._hosts.add(split[0])

    @property
    def origins(self) -> tuple[str, ...]:
        """The origins allowed besides the defaults, as given."""
        return tuple(self._origins.values())

    @property
    def hosts(self) -> tuple[str, ...]:
        """The host names allowed besides loopback ones."""
        return tuple(sorted(self._hosts))

    # -- judging a request ------------------------------------------------------------
    def host_refusal(self, request: Request) -> HandshakeError | None:
        """Why ``request`` may not be served under the Host it names, or None."""
        values = request.headers.get_all("Host")
        if len(values) != 1:
            what = "no Host header" if not values else f"{len(values)} Host headers"
            return HandshakeError(f"the request has {what}: an HTTP/1.1 request has exactly one",
                                  status=400, header="Host", rfc="RFC 9112 section 3.2")
        split = split_host(values[0])
        if split is None:
            return HandshakeError(f"malformed Host header {values[0]!r}", status=400, header="Host",
                                  rfc="RFC 9112 section 3.2")
        if not self.check_host or self._trusted_host(split[0], by_name_only=self.loopback_only):
            return None
        return HandshakeError(
            f"Host {values[0]!r} is not a name this server answers to ({self._served()}): a page whose DNS "
            "name points here (DNS rebinding) may not use it; allow the name with --allowed-host "
            "(Server(hosts=...))", status=421, header="Host", rfc="RFC 9110 section 7.4")

    def _served(self) -> str:
        names = ["localhost", "127.0.0.1", "[::1]"] + ([] if self.loopback_only else ["IP addresses"])
        return ", ".join(names + list(self.hosts))

    def _trusted_host(self, host: str, *, by_name_only: bool = False) -> bool:
        if is_loopback_host(host) or host in self._hosts:
            return True
        # An IP address cannot be rebound: a page of another site never sends it as Host.
        return not by_name_only and _ip(host) is not None

    def origin_refusal(self, request: Request) -> HandshakeError | None:
        """Why a page of ``request``'s Origin may not use this server, or None."""
        values = request.headers.get_all("Origin")
        if not values or self.any_origin:
            return None  # not sent by a web page (curl, scripts), or every origin allowed
        if len(values) > 1:
            return HandshakeError(f"the request carries {len(values)} Origin headers", status=403, header="Origin",
                                  rfc="10.2")
        origin = normalize_origin(values[0])
        if origin is not None and self._origin_allowed(origin, request):
            return None
        return HandshakeError(
            f"a page from origin {values[0]!r} may not use this server: only its own page, pages on "
            "localhost/127.0.0.1/[::1] (a notebook here) and allowed origins may (--origins, Server(origins=...))",
            status=403, header="Origin", rfc="10.2")

    def _origin_allowed(self, origin: Origin, request: Request) -> bool:
        scheme, host, port = origin
        if origin in self._origins or (scheme in ("http", "https") and host in LOOPBACK_ORIGIN_HOSTS):
            return True
        # The server's own page: the origin names the host the request was sent to, which is one
        # that cannot be a rebound name.
        split = split_host(request.headers.get("Host") or "")
        if split is None:
            return False
        sent_to, sent_port = split
        if sent_port is None:
            sent_port = _DEFAULT_PORTS[scheme]
        return host == sent_to and sent_port == port and self._trusted_host(sent_to)

    def refusal(self, request: Request, *, relayed: bool = False, check_origin: bool = True) -> HandshakeError | None:
        """The first rule ``request`` breaks (Host, then Origin), or None when it may be served.

        ``relayed``: the connection came through the Jupyter server's relay, which already
        checked the user and the page's origin; it is allowed as it is.
        """
        if relayed:
            return None
        refused = self.host_refusal(request)
        if refused is None and check_origin:
            refused = self.origin_refusal(request)
        return refused

    # -- saying it ----------------------------------------------------------------------
    def describe(self) -> list[str]:
        """What is allowed, in a few lines (``wsexplore serve`` prints them when it starts)."""
        if self.any_origin:
            pages = "browser pages: any origin may connect (--allow-any-origin)"
        else:
            extra = "".join(f", {o}" for o in self.origins)
            pages = (f"browser pages: this server's own page, pages on localhost/127.0.0.1/[::1]{extra}; "
                     "others get 403 (clients without Origin: allowed)")
        if self.check_host:
            hosts = f"Host names served: {self._served()}; others get 421 (DNS rebinding)"
        else:
            hosts = ("Host names served: any (not listening on loopback); name them with --allowed-host to "
                     "check them")
        return [pages, hosts]
