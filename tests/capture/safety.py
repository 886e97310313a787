"""What "safe for every view" means for a capture that came from a file: every view and method a
person can reach on it runs without an exception; and nothing a file names gets imported."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

from wsexplore.capture import Capture, FrameRecord, MessageRecord, OpenRecord
from wsexplore.capture.lines import describe, format_record
from wsexplore.widgets.explorer import Explorer, record_row


def modules() -> frozenset[str]:
    return frozenset(sys.modules)


def exercise(cap: Capture, *, select: Callable[[Any], bool] | None = None) -> None:
    """Every view and method a person can reach on a loaded capture; any exception fails the test."""
    repr(cap)
    cap.summary()
    cap._repr_html_()
    repr(cap[:])
    repr(cap.violations())
    cap.filter(text="a")
    cap.filter(text=b"a")
    cap.to_pandas()
    t0 = cap[0].time if len(cap) else 0.0
    for record in cap:
        describe(record)
        format_record(record)
        record_row(record, t0)
        record._text()
        record.nbytes
        if isinstance(record, FrameRecord):
            record.frame, record.payload, record.length, record.header, record.opcode, record.sender
            cap.dissect(record)
            record.dissect()
            cap.message_of(record)
            cap.inflated_message(record)
            cap.deflate_params(record.conn)
        elif isinstance(record, OpenRecord):
            record.handshake()
            record.redacted()
            record.request_line, record.status_line
        elif isinstance(record, MessageRecord):
            record.is_text, record.compressed
    again = io.StringIO()
    cap.save(again)
    Capture.load(io.StringIO(again.getvalue()))
    explorer = Explorer(cap, interval=0)
    explorer.rows
    for record in cap:
        if select is not None and select(record):
            explorer.select(record.seq)
            assert explorer.selected is record
    explorer.close()
