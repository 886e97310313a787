"""A transparent tap between any WebSocket client and one fixed upstream server (``wsexplore proxy``).

The tap passes every byte on unchanged and dissects it on the way, into the
same ``Capture`` a ``Server`` fills, so every view works on a real
conversation between a real client and a real server:

* **The handshake.** The client's upgrade request is read whole, then
  forwarded with one change: its ``Host`` line names the upstream (and its
  ``Origin`` line too, only when asked). The upstream's answer is read whole
  and comes back unchanged. Both go into one ``OpenRecord`` (``via="tap"``,
  the request as received and as forwarded, a note on TLS and extensions).
  An upstream that cannot be reached, or that answers no HTTP, gives the
  client a 502 with the reason, recorded too.
* **The byte path.** After a 101 every read is written to the other side at
  once, before it is looked at, and in the order read: the tap never fixes,
  holds back or re-frames a byte. Then an *observer* per direction reads the
  same bytes: a ``Connection("server", observer=True)`` for the client's
  frames, a ``Connection("client", observer=True)`` for the server's. An
  observer reads as the receiving endpoint does (masking, RSV bits, UTF-8,
  reassembly, permessage-deflate with the parameters of the upstream's
  answer) but never answers. Stream offsets are offsets in the stream the
  receiver reads.
* **A broken frame** is recorded with the rule it breaks and passed on as it
  is: the receiving endpoint decides. After it that direction can no longer be
  parsed reliably, so its later bytes are passed on *unparsed*, counted and
  noted (one note when it starts, one with the total at the end).
* **Injection.** ``await proxy.inject(conn, frame_or_bytes, to=...)`` inserts
  bytes into one direction between two whole frames (``bytes_needed`` of the
  observer finds the boundary; a read that holds one is cut there). A
  ``Frame`` going to the server without a key is masked with a fresh one; raw
  bytes go as given. The observer reads the inserted bytes as the receiver
  will, so its frames are recorded with ``injected=True`` at their offsets and
  every later offset on that leg counts them.
* **Flow control.** A side whose write buffer passes ``write_limit`` pauses
  reading from the other side until it drains, so a slow reader slows its
  sender down and memory stays bounded (a write buffer, one read, one frame
  in each observer up to ``max_message_size``).

The upstream is fixed when the tap is made: a client cannot choose where its
bytes go, so the tap is no open proxy. It listens on 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings

from ..capture import Capture
from ..protocol.connection import DEFAULT_MAX_SIZE
from ..protocol.frames import Frame
from .tap import _TOWARD, InjectionError, Side, TappedConnection, _Leg
from .upstream import Upstream, rewrite_request, upstream_tls

__all__ = ["Proxy", "TappedConnection", "Injector", "InjectionError", "Upstream", "rewrite_request"]

_BACKLOG = 1024


class Injector:
    """A ``FrameBuilder`` target that inserts its frames into a tapped connection, toward one side.

    ``reader`` is the role that reads the frames ("server" reads masked ones),
    so the builder shows them as that side judges them. ``send_frame`` sends
    the frame's bytes exactly as built (an unmasked frame to the server
    stays unmasked).
    """

    def __init__(self, connection: TappedConnection, to: Side) -> None:
        if to not in _TOWARD:
            raise ValueError(f"to must be 'server' or 'client', got {to!r}")
        self.connection = connection
        self.to: Side = to
        self.reader: Side = to
        self.id = connection.id

    async def send_frame(self, frame: Frame) -> None:
        await self.connection.inject(frame.encode(), to=self.to)

    def __repr__(self) -> str:
        return f"<Injector into connection #{self.id}, toward the {self.to}>"


# ---------------------------------------------------------------------------- the tap
class Proxy:
    """A transparent, capturing tap in front of one WebSocket server; see the module docstring.

    ``await proxy.start()`` listens (127.0.0.1 and a free port by default) and
    returns, so a notebook cell can start it and end; ``await proxy.stop()``
    closes every tapped connection; ``async with Proxy(...)`` does both.
    Clients connect to ``proxy.url`` instead of ``upstream``.

    ``cafile`` names CA certificates to verify a ``wss://`` upstream with
    (default: the system's trust store); ``verify=False`` turns verification
    off, which is said in a warning, in ``repr`` and in every handshake's note.
    ``origin`` replaces (or adds) the ``Origin`` of forwarded requests, for
    servers that check it. ``max_message_size`` bounds what the observers
    reassemble (a larger frame or message is recorded as too big, and that
    direction passes on unparsed). ``write_limit`` is each side's write buffer
    above which the other side stops being read.
    """

    def __init__(
        self,
        upstream: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        capture: Capture | None = None,
        cafile: str | None = None,
        verify: bool = True,
        origin: str | None = None,
        max_message_size: int = DEFAULT_MAX_SIZE,
        connect_timeout: float = 10,
        handshake_timeout: float = 10,
        close_timeout: float = 5,
        write_limit: int = 64 * 1024,
    ) -> None:
        self.upstream = Upstream.parse(upstream)
        if not self.upstream.secure and (cafile is not None or not verify):
            raise ValueError("cafile and verify are for a wss:// upstream; this one is ws://")
        self.host = host
        self._port = port
        self.capture = capture if capture is not None else Capture()
        self.cafile = cafile
        self.verify = verify
        self.origin = origin
        self.max_message_size = max_message_size
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.close_timeout = close_timeout
        self.write_limit = write_limit
        self._tls = upstream_tls(cafile=cafile, verify=verify) if self.upstream.secure else None
        if self.upstream.secure and not verify:
            warnings.warn(f"wsexplore tap: TLS to {self.upstream.url} WITHOUT certificate verification: anyone on "
                          "the path can read and change this traffic", stacklevel=2)
        #: Tapped connections whose upstream accepted, by id, while open.
        self.connections: dict[int, TappedConnection] = {}
        self._ids = itertools.count(1)
        self._taps: set[TappedConnection] = set()
        self._server: asyncio.base_events.Server | None = None

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._server is not None else "stopped"
        tls = ""
        if self._tls is not None:
            tls = ", TLS NOT VERIFIED" if not self.verify else f", TLS verified ({self.cafile or 'system trust store'})"
        return f"<Proxy {state} -> {self.upstream.url}{tls}, {len(self.connections)} open connection(s)>"

    def tls_description(self, transport: asyncio.BaseTransport | None = None) -> str:
        """How the tap talks to a wss:// upstream, in words (for notes and the console)."""
        version = ""
        if transport is not None:
            obj = transport.get_extra_info("ssl_object")
            if obj is not None:
                version = f" {obj.version()}"
        if not self.verify:
            return f"TLS{version} to the upstream WITHOUT certificate verification (verify=False)"
        return f"TLS{version} to the upstream, certificate verified against {self.cafile or 'the system trust store'}"

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """Where clients connect: the tap's address with the upstream's path."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{self.upstream.path}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> Proxy:
        """Listen; returns as soon as the socket is bound (port 0 picks a free one)."""
        if self._server is not None:
            return self
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self.host, self._port, backlog=_BACKLOG)
        if self._port == 0:
            self._port = self.port
        return self

    def _accept(self) -> _Leg:
        return TappedConnection(self)._client

    async def stop(self) -> None:
        """Stop listening and close both sides of every tapped connection (what was written goes out first).

        The tap says nothing in WebSocket terms: each conversation ends at the
        TCP level, recorded as not clean unless its close handshake was done.
        """
        server = self._server
        if server is None:
            return
        self._server = None
        server.close()
        taps = list(self._taps)
        for tap in taps:
            if tap.state == "open":
                tap.capture.error(tap.id, "the tap stopped: both TCP connections closed")
            if tap._connector is not None:
                tap._connector.cancel()
            tap._close_both()
        legs = [leg for tap in taps for leg in (tap._client, tap._upstream) if leg is not None]
        waiting = [leg.done for leg in legs if not leg.done.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=self.close_timeout)
        for leg in legs:
            leg.abort()
        connectors = [t._connector for t in taps if t._connector is not None]
        if connectors:
            await asyncio.gather(*connectors, return_exceptions=True)
        await asyncio.sleep(0)
        await server.wait_closed()

    async def __aenter__(self) -> Proxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _connection(self, conn: int | TappedConnection) -> TappedConnection:
        if isinstance(conn, TappedConnection):
            return conn
        tap = self.connections.get(conn)
        if tap is None:
            raise InjectionError(f"no open tapped connection #{conn} (open: {sorted(self.connections) or 'none'})")
        return tap

    async def inject(self, conn: int | TappedConnection, data: Frame | bytes | bytearray | memoryview, *,
                     to: Side = "server") -> bytes:
        """Insert a frame (or raw bytes) into connection ``conn`` toward ``to``; see ``TappedConnection.inject``."""
        return await self._connection(conn).inject(data, to=to)

    def injector(self, conn: int | TappedConnection, to: Side = "server") -> Injector:
        """A target for ``FrameBuilder``: its Send button inserts the frame toward ``to``."""
        return Injector(self._connection(conn), to)
