"""The asyncio layer: moves bytes between sockets and the sans-I/O protocol, and records them.

* ``server``: ``Server`` and ``ServerConnection``; every handshake, frame and close
  goes to a :class:`wsexplore.capture.Capture` through ``Capture.record_events``;
* ``proxy``: ``Proxy``, the tap between any client and one fixed server: every byte
  passed on unchanged, both legs dissected into one capture, frames injected;
  ``tap`` (one tapped conversation and its two observers) and ``upstream``
  (the upstream's URL, the forwarded request, TLS) are its parts;
* ``api``: the tiny HTTP API beside the WebSocket endpoint (``POST /api/ping``),
  its rules and the client that calls it;
* ``handlers``: ready-made connection handlers (``echo``, ``demo``);
* ``console``: the terminal's line-per-record printer (``wsexplore serve`` and ``proxy``);
* ``static/``: the browser client page the server serves on ``GET /``.
"""
