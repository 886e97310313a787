"""Teaching material: the tutorial's toy server, ported to Python to run next to the real one.

Kept apart from :mod:`wsexplore.live` on purpose: nothing here is how a
WebSocket server should work. :class:`ToyServer` does what the tutorial's
Node.js ``ws.js`` and ``index.js`` do, bugs included, so the notebooks can
show each shortcoming happen on real sockets.
"""

from __future__ import annotations

from .exercises import check, check_that
from .node import ConsoleLine, JSError
from .rawclient import RFC_KEY, RawClient
from .toy import MyWebsocket, ToyServer, encode_message, hash_key, read_frame

__all__ = ["ToyServer", "MyWebsocket", "JSError", "ConsoleLine", "encode_message", "hash_key", "read_frame",
           "RawClient", "RFC_KEY", "check", "check_that"]
