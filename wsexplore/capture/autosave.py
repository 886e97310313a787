"""Saving a capture that is still growing: checked before it starts, written again while it runs.

``wsexplore serve --save PATH`` used to write the capture once, at the stop:
a path it could not write was found out only then, with the capture gone, and
a crash lost everything. Here the path is tried before the server listens
(``save_problem``), and ``AutoSave`` writes the capture again every few
seconds while records arrive. Each write goes to a temporary file in the same
directory that is then renamed over PATH, so PATH always holds a whole capture
(the last one written), never half of one.

A write while serving must not stall the server: the records are taken on the
event loop (references to them: records never change), and the file is
written from them in a worker thread. A large capture takes a while to write,
so the next write waits at least nine times as long as the last one took: the
writing costs at most about a tenth of the time, however large the capture.

A JSON Lines write encodes only the records that are new since the last one.
A record's line never changes, and the bounds only ever evict the oldest
records, so the lines still held are one stretch at the end of the last file:
the new file is a fresh header line, that stretch copied by the kernel
(``os.copy_file_range``) from the last file, still open, and the new lines.
The file is byte for byte what ``Capture.save`` writes; the Python work per
write is O(new records), not O(capture).

Traffic comes first. Encoding holds the interpreter's lock, and on a small
machine the thread also takes a core from the server, so while records keep
arriving a write gives way: between two pieces of its work (a batch of lines,
a part of a large line, a stretch of the copy) it waits for a pause in the
traffic (``QUIET`` seconds without a new record). One write waits at most the
interval in all, so under traffic that never pauses it goes on anyway and the
file lags the capture by two intervals at most, plus the write itself.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .formats import jsonl
from .records import PendingRecord, Record, build
from .store import Capture

__all__ = ["save_problem", "save_atomically", "AutoSave", "GiveWay", "DEFAULT_INTERVAL", "QUIET"]

#: Seconds between two writes of a growing capture.
DEFAULT_INTERVAL = 5.0
#: The pause after a write, in times the write took (see the module docstring).
PAUSE_PER_WRITE_TIME = 9.0
#: Seconds without a new record that end a write's wait for a pause in the traffic.
QUIET = 0.02
COPY_PIECE = 16 << 20  # bytes the kernel copies between two looks at the traffic


def _go_on() -> None:
    """A writer's look at the traffic when nothing waits for it (``save_atomically``, the final write)."""


class GiveWay:
    """Called by a writing thread between two pieces of its work: while the capture keeps growing,
    it waits until no record arrived for ``quiet`` seconds, ``budget`` seconds at most in all.

    ``sleep`` and ``clock`` are the thread's (tests give their own)."""

    def __init__(self, capture: Capture, budget: float, quiet: float = QUIET, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self._capture = capture
        self._seen = capture.last_seq
        self._budget = budget
        self._quiet = quiet
        self._sleep = sleep
        self._clock = clock
        self.waited = 0.0  # seconds spent waiting so far

    def __call__(self) -> None:
        seq = self._capture.last_seq  # an int read from another thread: the loop only ever replaces it
        if seq == self._seen or self.waited >= self._budget:
            self._seen = seq
            return
        start = self._clock()
        while seq != self._seen and self.waited + (self._clock() - start) < self._budget:
            self._seen = seq
            self._sleep(self._quiet)
            seq = self._capture.last_seq
        self._seen = seq
        self.waited += self._clock() - start


def _temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` whose name ends as ``path``'s does (the format is read from the name)."""
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes) or ".tmp")


def save_problem(path: str | os.PathLike) -> str | None:
    """Why the capture could not be saved to ``path`` (None: it can).

    Refused: a directory, a missing directory, a directory where no file can be
    created (the atomic write needs one beside ``path``), an existing file that
    cannot be written.
    """
    target = Path(path)
    if target.is_dir():
        return f"{path} is a directory; give a file name, e.g. {target / 'capture.jsonl'}"
    folder = target.parent.resolve()
    if not folder.is_dir():
        return f"no directory {folder}"
    try:
        fd, name = _temporary(target)
    except OSError as exc:
        return f"cannot create a file in {folder}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(name)
    if target.exists():
        try:
            with open(target, "ab"):
                pass
        except OSError as exc:
            return f"cannot write {path}: {exc.strerror or exc}"
    return None


def save_atomically(capture: Capture, path: str | os.PathLike) -> None:
    """Write ``capture`` to a temporary file beside ``path``, then rename it over ``path``."""
    target = Path(path)
    fd, name = _temporary(target)
    os.close(fd)
    try:
        capture.save(name, format=_format_of(target))
        os.replace(name, target)
    except BaseException:
        try:
            os.unlink(name)
        except OSError:
            pass
        raise


def _write_saved(saved: jsonl.Saved, path: str | os.PathLike, previous: _Written | None,
                 give_way: Callable[[], None] = _go_on) -> _Written | None:
    """Write the records of ``saved`` to ``path`` as ``save_atomically`` does (in a worker thread).

    JSON Lines go through ``_write_jsonl`` (what it returns is for the next write); the packet
    formats are written whole from a copy that holds every record taken, once the traffic
    pauses (``give_way``)."""
    target = Path(path)
    if _format_of(target) == "jsonl":
        return _write_jsonl(saved, target, previous, give_way)
    give_way()
    saved.records = [build(entry) for entry in saved.records]
    copy = Capture(max_records=max(saved.max_records or 1, len(saved.records), 1), max_bytes=1 << 62)
    copy._adopt(saved)
    copy.max_records, copy.max_bytes = saved.max_records or 1, saved.max_bytes or 0
    save_atomically(copy, path)
    return None


@dataclass
class _Written:
    """The last JSON Lines file written, for the next write to copy its lines from.

    The line of ``seqs[k]`` ends at file offset ``body + ends[k] - origin``: the ends keep the
    numbering of the file they were first written to, so that a kept stretch is a slice.
    """

    fd: int  # the file, open for reading: another program may replace the file at the path meanwhile
    body: int  # where the records' lines start (after the header line)
    origin: int  # the ``ends`` value at which the body starts
    seqs: array
    ends: array
    last: tuple  # the newest record written, as ``_identity`` gives it (the next write checks it is the same)
    stamp: tuple[int, int]  # its size and modification time once written

    def close(self) -> None:
        os.close(self.fd)

    def unchanged(self) -> bool:
        """Nobody wrote to the file since (at its path, a program may have rewritten it in place)."""
        return _stamp(self.fd) == self.stamp


def _seq(entry: Record | PendingRecord) -> int:
    return entry[1] if type(entry) is tuple else entry.seq  # type: ignore[union-attr,return-value]


def _identity(entry: Record | PendingRecord) -> tuple:
    """What tells a record from any other in the same numbering: its number and clock readings,
    the same whether it is still pending or built since."""
    if type(entry) is tuple:
        return entry[1:5]
    return (entry.seq, entry.conn, entry.time, entry.wall)  # type: ignore[union-attr]


def _stamp(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_size, st.st_mtime_ns


_BATCH = 256 * 1024  # bytes of new lines gathered before one write


def _write_jsonl(saved: jsonl.Saved, target: Path, previous: _Written | None,
                 give_way: Callable[[], None] = _go_on) -> _Written:
    """``saved`` as JSON Lines to a temporary file renamed over ``target``: the lines that
    ``previous`` wrote and ``saved`` still holds are copied, the others encoded, with a look at
    the traffic (``give_way``) between two pieces of the work."""
    records = saved.records
    keep, first = 0, 0
    if previous is not None and records and previous.unchanged():
        first = bisect_left(previous.seqs, _seq(records[0]))
        keep = len(previous.seqs) - first
        if keep and (keep > len(records) or previous.seqs[first] != _seq(records[0])
                     or _identity(records[keep - 1]) != previous.last):
            keep = 0  # not the capture written last time: write it all
    fd, name = _temporary(target)
    try:
        give_way()
        head = jsonl.header_line(saved)
        _write_all(fd, head)
        if keep:
            assert previous is not None
            start = previous.ends[first - 1] if first else previous.origin
            _copy(previous.fd, fd, previous.body + start - previous.origin, previous.ends[-1] - start, give_way)
            seqs, ends, origin, end = previous.seqs[first:], previous.ends[first:], start, previous.ends[-1]
        else:
            seqs, ends, origin, end = array("q"), array("q"), 0, 0
        batch: list[bytes] = []
        size = 0
        new = records[keep:]
        for record, line in zip(new, jsonl.record_pieces(new)):
            if type(line) is not bytes:  # a large line: written a part at a time
                if batch:
                    _write_all(fd, b"".join(batch))
                    batch, size = [], 0
                for part in line.parts():  # type: ignore[union-attr]
                    _write_all(fd, part)
                    give_way()
                end += line.size  # type: ignore[union-attr]
            else:
                batch.append(line)
                size += len(line)
                end += len(line)
            seqs.append(_seq(record))
            ends.append(end)
            if size >= _BATCH:
                _write_all(fd, b"".join(batch))
                batch, size = [], 0
                give_way()
        if batch:
            _write_all(fd, b"".join(batch))
        os.replace(name, target)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(name)
        except OSError:
            pass
        raise
    return _Written(fd, len(head), origin, seqs, ends, _identity(records[-1]) if records else (), _stamp(fd))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy(source: int, fd: int, offset: int, count: int, give_way: Callable[[], None] = _go_on) -> None:
    """``count`` bytes of ``source`` from ``offset`` onto the end of ``fd``: in the kernel where it
    can, ``COPY_PIECE`` bytes at a time, with a look at the traffic (``give_way``) after each."""
    copy_range = getattr(os, "copy_file_range", None)
    while count > 0:
        if copy_range is not None:
            try:
                done = copy_range(source, fd, min(count, COPY_PIECE), offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                copy_range = None  # not between these files: read and write
                continue
        else:
            done = len(chunk := os.pread(source, min(count, 1 << 20), offset))
            _write_all(fd, chunk)
        if done == 0:
            raise OSError(errno.EIO, "the previous capture file ended early")
        offset += done
        count -= done
        give_way()


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".pcapng"):
        return "pcapng"
    if name.endswith(".pcap"):
        return "pcap"
    return "jsonl"


class AutoSave:
    """Writes ``capture`` to ``path`` every ``interval`` seconds while it changes, on the running loop.

    ``start()`` writes once at once (PATH then exists from the start), ``stop()``
    ends the task; the final write is the caller's (``save_atomically``). A
    write that fails is reported through ``on_error`` and tried again next time.
    While records arrive, a write waits for ``quiet`` seconds without one
    between two pieces of its work, ``interval`` seconds at most in all
    (``waited`` adds up those waits).
    """

    def __init__(self, capture: Capture, path: str | os.PathLike, interval: float = DEFAULT_INTERVAL,
                 on_error=None, *, quiet: float = QUIET) -> None:  # type: ignore[no-untyped-def]
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.capture = capture
        self.path = path
        self.interval = interval
        self.quiet = quiet
        self.on_error = on_error
        self.writes = 0
        self.waited = 0.0
        self._written: tuple[int, int] | None = None
        self._file: _Written | None = None  # the last file written, when its lines can be copied
        self._writing: asyncio.Task | None = None  # the write in a worker thread, while it runs
        self._task: asyncio.Task | None = None

    def _state(self) -> tuple[int, int]:
        return self.capture.last_seq, self.capture.dropped

    def save_now(self) -> bool:
        """Write the capture if it changed since the last write; True when written."""
        state = self._state()
        if state == self._written:
            return False
        try:
            save_atomically(self.capture, self.path)
        except OSError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            return False
        self._written = state
        self.writes += 1
        return True

    def start(self) -> AutoSave:
        self.save_now()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        pause = self.interval
        while True:
            await asyncio.sleep(pause)
            took = await self.save_in_background()
            pause = max(self.interval, PAUSE_PER_WRITE_TIME * took)

    async def save_in_background(self) -> float:
        """Write the capture if it changed, from a worker thread; the seconds the write took, its
        waits for a pause in the traffic left out (0: nothing written)."""
        state = self._state()
        if state == self._written:
            return 0.0
        # References to the records as they are now, taken on the loop; pending ones are built (or
        # written as they are) in the thread.
        saved = self.capture._saved(pending=True)
        give_way = GiveWay(self.capture, self.interval, self.quiet)
        started = time.monotonic()
        self._writing = writing = asyncio.ensure_future(asyncio.to_thread(self._write, saved, give_way))
        try:
            await asyncio.shield(writing)  # cancelled or not, the thread finishes its file (see stop)
        except OSError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            return self._took(started, give_way)
        finally:
            if writing.done():
                self._writing = None
        self._written = state
        self.writes += 1
        return self._took(started, give_way)

    def _took(self, started: float, give_way: GiveWay) -> float:
        self.waited += give_way.waited
        return max(time.monotonic() - started - give_way.waited, 1e-9)

    def _write(self, saved: jsonl.Saved, give_way: Callable[[], None]) -> None:
        """One write, in a worker thread; the file it leaves replaces the last one as the next write's source."""
        written = _write_saved(saved, self.path, self._file, give_way)
        last, self._file = self._file, written
        if last is not None:
            last.close()

    async def stop(self) -> None:
        """End the periodic writes; a write under way is finished first, so that nothing written
        after this returns (the caller's final write) can be replaced by it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        writing, self._writing = self._writing, None
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        file, self._file = self._file, None
        if file is not None:
            file.close()
