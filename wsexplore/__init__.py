"""wsexplore: see the WebSocket protocol (RFC 6455) bit by bit, live, in Jupyter.

The protocol core is imported eagerly (it is small and pure); the live server
and the widgets load on first use, so ``import wsexplore`` stays cheap and
never pulls in asyncio servers or ipywidgets by itself.
"""

from __future__ import annotations

from typing import Any

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
    "Server",
    "State",
    "TruncatedFrame",
    "accept_key",
    "apply_mask",
    "dissect",
    "dissect_stream",
    "handshake",
]

_LAZY = {"Server": ("wsexplore.live.server", "Server"), "Capture": ("wsexplore.live.capture", "Capture")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'wsexplore' has no attribute {name!r}")
