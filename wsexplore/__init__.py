"""wsexplore: see the WebSocket protocol (RFC 6455) bit by bit, live, in Jupyter.

Where things live: ``protocol/`` (pure RFC 6455 and RFC 7692: header, frames,
rules, dissector, handshake, connection), ``capture/`` (records, the store,
queries, files), ``live/`` (the asyncio server and the terminal printer),
``widgets/`` (Jupyter views), ``display/`` (how bytes, text and fields are
shown), ``cli.py`` (``wsexplore decode`` and ``serve``), ``teaching/`` (the
tutorial's toy server ported to Python, bugs included, for the notebooks).

The protocol core and the capture are imported eagerly (small: Python, and
masking in C where the install could compile it); the live server and the
widgets load on first use, so ``import wsexplore`` stays cheap and never pulls
in asyncio servers or ipywidgets by itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from .capture import Capture
from .protocol import handshake
from .protocol.connection import Connection, InvalidState, State
from .protocol.deflate import DeflateConfig, PerMessageDeflate
from .protocol.dissector import Dissection, Field, dissect, dissect_stream
from .protocol.errors import (
    FramingError,
    HandshakeError,
    InvalidCloseCode,
    InvalidUTF8,
    MessageTooBig,
    ProtocolError,
    TruncatedFrame,
)
from .protocol.frames import Frame
from .protocol.handshake import accept_key
from .protocol.masking import apply_mask
from .protocol.opcodes import CloseCode, Opcode

__version__ = "0.1.0"

__all__ = [
    "Capture",
    "CloseCode",
    "Connection",
    "DeflateConfig",
    "Dissection",
    "Field",
    "Frame",
    "FramingError",
    "HandshakeError",
    "InvalidCloseCode",
    "InvalidState",
    "InvalidUTF8",
    "MessageTooBig",
    "Opcode",
    "PerMessageDeflate",
    "ProtocolError",
    "Proxy",
    "Server",
    "State",
    "TruncatedFrame",
    "accept_key",
    "apply_mask",
    "dissect",
    "dissect_stream",
    "handshake",
    "wait_for_record",
]

_LAZY = {"Server": ("wsexplore.live.server", "Server"), "Proxy": ("wsexplore.live.proxy", "Proxy"),
         "wait_for_record": ("wsexplore.live.waiting", "wait_for_record")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'wsexplore' has no attribute {name!r}")
