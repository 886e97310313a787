"""The asyncio layer: live servers and the ``Capture`` they record into."""

from __future__ import annotations

from .capture import (
    AnyRecord,
    Capture,
    CloseRecord,
    ErrorRecord,
    FrameRecord,
    MessageRecord,
    OpenRecord,
    Record,
    Records,
)

__all__ = [
    "AnyRecord",
    "Capture",
    "CloseRecord",
    "ErrorRecord",
    "FrameRecord",
    "MessageRecord",
    "OpenRecord",
    "Record",
    "Records",
]
