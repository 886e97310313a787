"""The terminal's view of a capture: one line per record, printed without slowing the server.

``wsexplore serve`` has a ``ConsolePrinter`` follow its server's capture, so
the console shows each opening handshake (RFC 6455 section 4), each frame in
each direction with its header bits (section 5.2), masking key (section 5.3)
and a payload preview, each violation with the rule it broke, and each close
(section 7). The line itself is written by
:func:`wsexplore.capture.lines.format_record`, which never prints credentials
and escapes everything that came from the peer.

Formatting a line costs about as much as the server spends on the frame, so
it is kept off the hot path:

* the printer is no subscriber: on a short timer (``interval``) the event loop
  takes the entries appended since its last look (``Capture.entries_after``),
  as they are, records not built yet included, so that the live path does
  nothing at all for it;
* while traffic is light the queued records are formatted at once; while a
  burst lasts (more than ``busy`` records in one interval) formatting waits for
  its end, then runs in slices of a few milliseconds so that arriving traffic
  is served between two slices;
* a writer thread makes the writes, one per batch, so a slow pipe or terminal
  never blocks the event loop;
* a whole, valid text or binary frame (most of them) gets its line straight
  from its bytes (``quick_frame_line``): no record, header or ``Frame`` built.

Output to a file or a pipe is complete: every record is printed, in order. The
queue is bounded (``max_pending`` records): a burst longer than that is
formatted as it arrives, which is the only case where printing costs the
server time. On a terminal (``fold``, the default when ``out`` is one) nothing
ever waits: the oldest lines beyond the bound, and whole batches the terminal
has not taken yet, are folded into one line, ``… N lines folded``. The capture
keeps every record either way.

The printer is also a plain capture subscriber (``capture.subscribe(printer)``),
and without a running event loop (a script, a notebook cell without one) it
prints each record at once, as it arrives.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO

from ..capture.lines import CompressedFrames, format_record, quick_frame_line
from ..capture.records import PendingRecord, Record, build, compressed_message

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
#: Kinds always read, printed or not: a connection's handshake and close say whether its frames are deflated.
_TRACKED = frozenset({"open", "close"})
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
    messages, which repeat their frames). Under permessage-deflate (RFC 7692)
    a compressed frame is shown as deflate data, and the message it inflates to
    is printed after it even when messages are left out: only it holds the text.
    ``fold`` (default: when ``out`` is a
    terminal) lets lines be folded rather than ever wait; without it every line
    is printed. Call ``flush()`` before writing anything else to ``out``, and
    ``close()`` at the end.

    ``batch``: without an event loop, records are printed that many at a time,
    in one write (``wsexplore read``: a file is read faster than lines can be
    written one by one); ``flush()`` prints the rest. 1, the default, prints
    each record as it arrives.
    """

    def __init__(self, out: TextIO, kinds: Iterable[str] = DEFAULT_KINDS, *, fold: bool | None = None,
                 interval: float = INTERVAL, busy: int = BUSY, max_pending: int | None = None,
                 batch: int = 1) -> None:
        if batch < 1:
            raise ValueError(f"batch must be 1 or more, got {batch}")
        self.out = out
        self.batch = batch
        self.kinds = frozenset(kinds)
        self._read = self.kinds | _TRACKED  # kinds queued whatever else they hold (see _queued)
        self.fold = _isatty(out) if fold is None else fold
        self.interval = interval
        self.busy = busy
        self.max_pending = max_pending if max_pending is not None else (
            MAX_PENDING_TTY if self.fold else MAX_PENDING)
        #: Lines printed, lines folded (never printed) and records the capture evicted before they were taken.
        self.lines = 0
        self.folded = 0
        self.lost = 0
        self._unreported_lost = 0
        self._pending: deque[Record | PendingRecord] = deque()
        self._arrived = 0  # records queued since the last look
        self._since = 0.0  # when the oldest queued record arrived
        self._unreported = 0  # folded lines not yet announced
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writer: _Writer | None = None
        self._capture: Capture | None = None  # the capture followed (see follow)
        self._seen = 0  # its last record number already taken
        self._compressed = CompressedFrames()  # which frames carry deflate data: told in order, as printed

    def __repr__(self) -> str:
        folded = f" folded={self.folded}" if self.folded else ""
        return f"<ConsolePrinter kinds={sorted(self.kinds)} lines={self.lines}{folded}>"

    # -- taking records: queue only ---------------------------------------------------
    def follow(self, capture: Capture) -> Callable[[], None]:
        """Print ``capture``'s new records from now on; returns a function that stops it.

        On the running event loop the printer looks at the capture every
        ``interval`` (see the module's docstring). Without one it subscribes, and
        prints each record as it comes.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return capture.subscribe(self)
        self._loop = loop
        self._capture = capture
        self._seen = capture.last_seq
        if self._timer is None:
            self._since = loop.time()
            self._timer = loop.call_later(self.interval, self._tick)

        def stop() -> None:
            if self._capture is capture:
                self._pull()
                self._capture = None

        return stop

    def _pull(self) -> None:
        """Queue what the followed capture appended since the last look."""
        capture = self._capture
        if capture is None:
            return
        last = capture.last_seq
        if last == self._seen:
            return
        entries = capture.entries_after(self._seen)
        lost = last - self._seen - len(entries)
        self._seen = last
        if lost:  # the capture's bounds evicted them before this look (the loop was held up that long)
            self.lost += lost
            self._unreported_lost += lost
        self.take(entries, kinds_known=False)

    def take(self, entries: list[Record | PendingRecord], *, kinds_known: bool = True) -> None:
        """Queue records (or pending records); ``kinds_known``: all of them are of printed kinds."""
        if not kinds_known:
            queued = self._queued
            entries = [e for e in entries if queued(e)]
        pending = self._pending
        if not pending and self._loop is not None:
            self._since = self._loop.time()  # when the oldest queued record came
        pending.extend(entries)
        self._arrived += len(entries)
        if len(pending) > self.max_pending:
            self._overflow()

    def __call__(self, record: Record | PendingRecord) -> None:
        """A capture subscriber's way in (``capture.subscribe(printer)``): one record at a time."""
        if not self._queued(record):
            return
        self.take([record])
        if self._timer is None and (self._loop is not None or len(self._pending) >= self.batch):
            self._schedule()

    def _queued(self, entry: Record | PendingRecord) -> bool:
        """Printed, or needed to tell compressed frames: handshakes and closes, compressed messages."""
        kind = entry[0] if type(entry) is tuple else entry.kind  # type: ignore[union-attr]
        return kind in self._read or compressed_message(entry)

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
        writer = self._writer
        if writer is not None and writer.error is not None:
            self._give_up(writer.error)
            return
        self._pull()
        arrived, self._arrived = self._arrived, 0
        if not self._pending:
            self._look_again()
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
        writer = self._writer
        if pending:
            if writer is not None and writer.error is not None:  # the output is gone: the next record says so
                pending.clear()
            elif self.fold and writer is not None and writer.backlog > 1:
                # The terminal has not taken what it was given: fold what waits, look again later.
                self._count_folded(len(pending))
                pending.clear()
            else:
                deadline = time.perf_counter() + SLICE
                parts: list[str] = []
                while pending:
                    batch = [pending.popleft() for _ in range(min(len(pending), 64))]
                    parts.append(self._format(batch))
                    if time.perf_counter() >= deadline:
                        break
                self._hand_over("".join(parts))
                if pending:
                    self._pull()
                    if self._arrived <= self.busy:  # no new burst meanwhile: on with the next slice
                        loop.call_soon(self._drain_slice)
                        return
        self._look_again()

    def _give_up(self, error: BaseException) -> None:
        """The output is gone (a pipe whose reader left): stop printing, and say so in the capture."""
        capture, self._capture = self._capture, None
        self._pending.clear()
        if capture is not None:
            capture.error(None, f"the console stopped printing: {type(error).__name__}: {error}")

    def _look_again(self) -> None:
        """Come back in ``interval`` while following a capture or while records wait."""
        loop = self._loop
        if self._timer is None and loop is not None and (self._capture is not None or self._pending):
            self._timer = loop.call_later(self.interval, self._tick)

    # -- formatting and writing ---------------------------------------------------------
    def _format(self, records: list[Record | PendingRecord]) -> str:
        kinds, compressed = self.kinds, self._compressed
        frames = "frame" in kinds
        lines = []
        for entry in records:
            # Most entries are a pending frame (a tuple) that broke no rule, was not injected and is not
            # compressed: its line comes straight from its bytes, without building the record.
            if frames and type(entry) is tuple and len(entry) == 10 and entry[0] == "frame" \
                    and entry[9] is None and type(entry[7]) is bytes and not compressed.agreed(entry[2]):
                line = quick_frame_line(entry[2], entry[4], entry[5], entry[7])
                if line is not None:
                    lines.append(line)
                    continue
            record = build(entry)
            deflated = compressed(record)
            if record.kind in kinds or (record.kind == "message" and record.compressed):  # type: ignore
                lines.append(format_record(record, compressed=deflated))
        self.lines += len(lines)
        return self._notes() + "".join([line + "\n" for line in lines])

    def _notes(self) -> str:
        """The lines that say what was not printed, once."""
        head = ""
        if self._unreported_lost:
            head += (f"… {plural(self._unreported_lost, 'record')} evicted from the capture (its bounds) before"
                     " they were printed\n")
            self._unreported_lost = 0
        if self._unreported:
            head += f"… {plural(self._unreported, 'line')} folded\n"
            self._unreported = 0
        return head

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
        self._pull()
        if self._timer is not None and self._capture is None:
            self._timer.cancel()
            self._timer = None
        if self._pending or self._unreported or self._unreported_lost:
            records = list(self._pending)
            self._pending.clear()
            text = self._format(records)
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
        """Stop following, ``flush()``, then stop the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.flush()
        finally:
            self._capture = None
            if self._writer is not None:
                self._writer.stop()
                self._writer = None


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
