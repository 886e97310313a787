"""The terminal's view of a capture: one line per record, printed as it is recorded.

``wsexplore serve`` subscribes ``ConsolePrinter`` to its server's capture, so a
terminal shows each opening handshake (RFC 6455 section 4), each frame in each
direction with its header bits (section 5.2), masking key (section 5.3) and a
payload preview, each violation with the rule it broke, and each close
(section 7). The line itself is written by
:func:`wsexplore.capture.lines.format_record`, which never prints credentials
and escapes everything that came from the peer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from ..capture.lines import CompressedFrames, format_record
from ..capture.records import Record

__all__ = ["ConsolePrinter", "DEFAULT_KINDS"]

#: Record kinds printed by default: messages repeat what their frames showed.
DEFAULT_KINDS = frozenset({"open", "frame", "close", "error"})


class ConsolePrinter:
    """A capture subscriber that writes ``format_record`` lines to ``out``, flushed at once.

    ``kinds`` selects the record kinds printed (``DEFAULT_KINDS`` leaves out
    messages, which repeat their frames). Under permessage-deflate (RFC 7692)
    a compressed frame is shown as deflate data, and the message it inflates to
    is printed after it even when messages are left out: only it holds the text.
    """

    def __init__(self, out: TextIO, kinds: Iterable[str] = DEFAULT_KINDS) -> None:
        self.out = out
        self.kinds = frozenset(kinds)
        self.lines = 0
        self._compressed = CompressedFrames()

    def __call__(self, record: Record) -> None:
        compressed = self._compressed(record)
        inflated = record.kind == "message" and record.compressed  # type: ignore[attr-defined]
        if record.kind not in self.kinds and not inflated:
            return
        self.out.write(format_record(record, compressed=compressed) + "\n")
        self.out.flush()
        self.lines += 1

    def __repr__(self) -> str:
        return f"<ConsolePrinter kinds={sorted(self.kinds)} lines={self.lines}>"
