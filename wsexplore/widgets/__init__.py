"""Jupyter views of frames and handshakes: ipywidgets controls, anywidget drawings.

Python computes every field (``wsexplore.protocol``); the views only draw and
report edits.
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
