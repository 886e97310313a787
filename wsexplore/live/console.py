"""The terminal's view of a capture: one line per record, printed without slowing the server.

``wsexplore serve`` subscribes a ``ConsolePrinter`` to its server's capture, so
the console shows each opening handshake (RFC 6455 section 4), each frame in
each direction with its header bits (section 5.2), masking key (section 5.3)
and a payload preview, each violation with the rule it broke, and each close
(section 7). The line itself is written by
:func:`wsexplore.capture.lines.format_record`, which never prints credentials
and escapes everything that came from the peer.

Formatting a line costs about as much as the server spends on the frame, so
it is kept off the hot path:

* the subscriber only queues the record; the event loop formats queued records
  on a short timer (``interval``) while traffic is light, and while a burst
  lasts (more than ``busy`` records in one interval) it waits for the burst to
  end. The lines are then formatted in slices of a few milliseconds, so that
  arriving traffic is served between two slices;
* a writer thread makes the writes, one per batch, so a slow pipe or terminal
  never blocks the event loop.

Output to a file or a pipe is complete: every record is printed, in order. The
queue is bounded (``max_pending`` records): a burst longer than that is
formatted as it arrives, which is the only case where printing costs the
server time. On a terminal (``fold``, the default when ``out`` is one) nothing
ever waits: the oldest lines beyond the bound, and whole batches the terminal
has not taken yet, are folded into one line, ``… N lines folded``. The capture
keeps every record either way.

Without a running event loop (a script, a notebook cell) each record is
printed at once, as it arrives.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO

from ..capture.lines import format_record
from ..capture.records import PendingRecord, Record, build

if TYPE_CHECKING:
    from ..capture.store import Capture
from ..display import plural

__all__ = ["ConsolePrinter", "DEFAULT_KINDS"]

#: Record kinds printed by default: messages repeat what their frames showed.
DEFAULT_KINDS = frozenset({"open", "frame", "close", "error"})

INTERVAL = 0.05  # seconds between looks at the queue
BUSY = 250  # records in one interval that make a burst: formatting waits for its end
SLICE = 0.004  # seconds of formatting at a time, between which the loop serves traffic
MAX_PENDING = 100_000  # records queued at most (a terminal: see MAX_PENDING_TTY)
MAX_PENDING_TTY = 2_000  # lines a terminal shows after a burst; older ones are folded
MAX_DELAY = 2.0  # seconds a line waits at most while a burst goes on (terminals: folded to the latest)
OVERFLOW_CHUNK = 512  # records printed at once when the queue is full and the output must be complete


class _Writer(threading.Thread):
    """Writes batches of lines to ``out`` and flushes, off the event loop's thread."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(name="wsexplore-console", daemon=True)
        self.out = out
        self._batches: deque[str] = deque()
        self._ready = threading.Condition()
        self._idle = True
        self._stopping = False
        self.error: BaseException | None = None

    @property
    def backlog(self) -> int:
        """Batches handed over and not yet written."""
        return len(self._batches) + (not self._idle)

    def put(self, text: str) -> None:
        with self._ready:
            self._batches.append(text)
            self._ready.notify()

    def drain(self) -> None:
        """Wait until every batch handed over has been written."""
        with self._ready:
            while (self._batches or not self._idle) and self.error is None and self.is_alive():
                self._ready.wait(0.1)

    def stop(self) -> None:
        self.drain()
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self.join(5)

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._batches and not self._stopping:
                    self._idle = True
                    self._ready.notify_all()
                    self._ready.wait()
                if not self._batches:
                    return
                text = "".join(self._batches)
                self._batches.clear()
                self._idle = False
            try:
                self.out.write(text)
                self.out.flush()
            except BaseException as exc:  # a closed pipe: nothing more can be printed
                self.error = exc
                with self._ready:
                    self._batches.clear()
                    self._idle = True
                    self._ready.notify_all()
                return


class ConsolePrinter:
    """A capture subscriber that prints ``format_record`` lines to ``out`` (see the module's docstring).

    ``kinds`` selects the record kinds printed (``DEFAULT_KINDS`` leaves out
    messages, which repeat their frames). ``fold`` (default: when ``out`` is a
    terminal) lets lines be folded rather than ever wait; without it every line
    is printed. Call ``flush()`` before writing anything else to ``out``, and
    ``close()`` at the end.
    """

    def __init__(self, out: TextIO, kinds: Iterable[str] = DEFAULT_KINDS, *, fold: bool | None = None,
                 interval: float = INTERVAL, busy: int = BUSY, max_pending: int | None = None) -> None:
        self.out = out
        self.kinds = frozenset(kinds)
        self.fold = _isatty(out) if fold is None else fold
        self.interval = interval
        self.busy = busy
        self.max_pending = max_pending if max_pending is not None else (
            MAX_PENDING_TTY if self.fold else MAX_PENDING)
        #: Lines printed, and lines folded (never printed) so far.
        self.lines = 0
        self.folded = 0
        self._pending: deque[Record | PendingRecord] = deque()
        self._arrived = 0  # records queued since the last look
        self._since = 0.0  # when the oldest queued record arrived
        self._unreported = 0  # folded lines not yet announced
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writer: _Writer | None = None

    def __repr__(self) -> str:
        folded = f" folded={self.folded}" if self.folded else ""
        return f"<ConsolePrinter kinds={sorted(self.kinds)} lines={self.lines}{folded}>"

    # -- the subscriber: queue only ---------------------------------------------------
    def subscribe(self, capture: Capture) -> Callable[[], None]:
        """Print ``capture``'s new records from now on; returns a function that stops it.

        The printer takes records not built yet (``PendingRecord``): it builds each
        one when it formats its line, off the hot path.
        """
        return capture.subscribe(self, pending=True)

    def __call__(self, record: Record | PendingRecord) -> None:
        kind = record[0] if type(record) is tuple else record.kind  # type: ignore[union-attr]
        if kind not in self.kinds:
            return
        pending = self._pending
        pending.append(record)
        self._arrived += 1
        if self._timer is None:
            self._schedule()
        if len(pending) > self.max_pending:
            self._overflow()

    def _schedule(self) -> None:
        """The first record after a quiet spell: look again in ``interval`` (at once without an event loop)."""
        writer = self._writer
        if writer is not None and writer.error is not None:
            raise writer.error  # the capture detaches this printer and records why
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop: print at once
                records = list(self._pending)
                self._pending.clear()
                self._arrived = 0
                self._write(self._format(records))
                return
        self._since = loop.time()
        self._timer = loop.call_later(self.interval, self._tick)

    def _overflow(self) -> None:
        """More queued than the bound: fold the oldest (a terminal), or print them now (complete output)."""
        pending = self._pending
        extra = len(pending) - self.max_pending
        if self.fold:
            for _ in range(extra):
                pending.popleft()
            self._count_folded(extra)
        else:
            chunk = max(extra, min(OVERFLOW_CHUNK, len(pending)))  # a few milliseconds' worth at a time
            self._hand_over(self._format([pending.popleft() for _ in range(chunk)]))

    # -- the event loop: format when traffic is light -----------------------------------
    def _tick(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        arrived, self._arrived = self._arrived, 0
        if not self._pending:
            return
        if arrived > self.busy and loop.time() - self._since < MAX_DELAY:
            self._timer = loop.call_later(self.interval, self._tick)  # a burst: wait for its end
            return
        if arrived > self.busy and self.fold:  # a burst that goes on: show its latest lines only
            keep = min(len(self._pending), self.busy)
            for _ in range(len(self._pending) - keep):
                self._pending.popleft()
                self._count_folded(1)
        self._drain_slice()

    def _drain_slice(self) -> None:
        """Format queued records for about ``SLICE`` seconds, hand them to the writer, come back for more."""
        loop = self._loop
        assert loop is not None
        pending = self._pending
        if not pending:
            return
        writer = self._writer
        if writer is not None and writer.error is not None:  # the output is gone: the next record says so
            pending.clear()
            return
        if self.fold and writer is not None and writer.backlog > 1:
            # The terminal has not taken what it was given: fold what waits, look again later.
            self._count_folded(len(pending))
            pending.clear()
            return
        deadline = time.perf_counter() + SLICE
        parts: list[str] = []
        while pending:
            batch = [pending.popleft() for _ in range(min(len(pending), 64))]
            parts.append(self._format(batch))
            if time.perf_counter() >= deadline:
                break
        self._hand_over("".join(parts))
        if pending:
            self._since = loop.time()
            if self._arrived > self.busy:  # traffic came back meanwhile: wait again
                if self._timer is None:
                    self._timer = loop.call_later(self.interval, self._tick)
            else:
                loop.call_soon(self._drain_slice)

    # -- formatting and writing ---------------------------------------------------------
    def _format(self, records: list[Record | PendingRecord]) -> str:
        lines = [format_record(build(r)) for r in records]
        self.lines += len(lines)
        head = ""
        if self._unreported:
            head = f"… {plural(self._unreported, 'line')} folded\n"
            self._unreported = 0
        return head + "\n".join(lines) + "\n"

    def _count_folded(self, n: int) -> None:
        self.folded += n
        self._unreported += n

    def _hand_over(self, text: str) -> None:
        writer = self._writer
        if writer is None:
            writer = self._writer = _Writer(self.out)
            writer.start()
        writer.put(text)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    # -- the end ------------------------------------------------------------------------
    def flush(self) -> None:
        """Print every queued record now and wait until it is written (call before writing to ``out``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending or self._unreported:
            records = list(self._pending)
            self._pending.clear()
            text = self._format(records) if records else f"… {plural(self._unreported, 'line')} folded\n"
            self._unreported = 0
            writer = self._writer
            if writer is None:
                self._write(text)
            else:
                writer.put(text)
        if self._writer is not None:
            self._writer.drain()
            if self._writer.error is not None:
                raise self._writer.error

    def close(self) -> None:
        """``flush()``, then stop the writer thread."""
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.stop()
                self._writer = None


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
