"""Jupyter views of frames, handshakes and captures: ipywidgets controls, anywidget drawings.

Python computes every field (``wsexplore.protocol``) and every row
(``wsexplore.capture``); the JavaScript next to each view only draws and
reports edits.

* ``frameview``: one frame's bits, labelled and editable (``FrameView``);
* ``builder``: every header bit set by hand, the frame sent as built (``FrameBuilder``);
* ``handshake_view``: the opening handshake explained, the accept key worked out;
* ``explorer``: a live, filterable table of a capture with a detail pane (``Explorer``);
* ``browser_client``: a WebSocket client running in the notebook's own page.
"""

from __future__ import annotations

from .browser_client import BrowserClient
from .builder import FrameBuilder
from .explorer import Explorer
from .frameview import FrameView
from .handshake_view import HandshakeView

__all__ = [
    "BrowserClient",
    "Explorer",
    "FrameBuilder",
    "FrameView",
    "HandshakeView",
]
