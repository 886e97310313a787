"""Capture: everything a connection did, in order, with its exact bytes; not asyncio, not RFC 6455.

A source (the live server, a tap, a file reader) turns bytes into
protocol events; the capture keeps them as records and answers questions
about them. Where things live:

* ``records``: the five record kinds (open, frame, message, close, error), frozen values;
* ``store``: ``Capture``, bounded by records and bytes, with subscribers and the one
  append path (``record_events`` maps a ``Connection``'s events to records);
* ``query``: filters, the summary, and a frame in its context (its message, what a
  compressed frame inflates to);
* ``lines``: a record as one line of text (its ``repr`` and the terminal's line);
* ``redact``: credentials out of recorded HTTP heads;
* ``table``: ``to_pandas``, one row per record with typed columns;
* ``files``: which format a file is (by content) for ``Capture.load`` and ``save``;
* ``formats/``: each format: ``jsonl`` (the capture's own), ``pcap`` (pcap and
  pcapng in, TCP reassembled, WebSocket connections read by ``Connection``),
  ``pcap_out`` (pcapng and pcap out), ``har`` (browser developer tools).
  ``fields`` is the type-checked reading of untrusted JSON, whose ``CaptureFileError``
  names the line and field of a bad file.
"""

from __future__ import annotations

from .formats.fields import CaptureFileError
from .formats.jsonl import FORMAT, FORMAT_VERSION
from .query import Query, Records
from .records import (
    AnyRecord,
    CloseRecord,
    Direction,
    ErrorRecord,
    FrameRecord,
    Initiator,
    MessageRecord,
    OpenRecord,
    Record,
)
from .store import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, Capture

__all__ = [
    "Capture",
    "Records",
    "Query",
    "Record",
    "OpenRecord",
    "FrameRecord",
    "MessageRecord",
    "CloseRecord",
    "ErrorRecord",
    "AnyRecord",
    "Direction",
    "Initiator",
    "CaptureFileError",
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_MAX_RECORDS",
    "DEFAULT_MAX_BYTES",
]
