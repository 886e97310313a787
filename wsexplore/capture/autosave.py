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
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from .formats import jsonl
from .store import Capture

__all__ = ["save_problem", "save_atomically", "AutoSave", "DEFAULT_INTERVAL"]

#: Seconds between two writes of a growing capture.
DEFAULT_INTERVAL = 5.0
#: The pause after a write, in times the write took (see the module docstring).
PAUSE_PER_WRITE_TIME = 9.0


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


def _write_saved(saved: jsonl.Saved, limits: tuple[int, int], path: str | os.PathLike) -> None:
    """Write the records of ``saved`` to ``path`` as ``save_atomically`` does (in a worker thread).

    The copy holds every record taken (its bounds are the original's once they are in)."""
    copy = Capture(max_records=max(limits[0], len(saved.records), 1), max_bytes=1 << 62)
    copy._adopt(saved)
    copy.max_records, copy.max_bytes = limits
    save_atomically(copy, path)


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
    """

    def __init__(self, capture: Capture, path: str | os.PathLike, interval: float = DEFAULT_INTERVAL,
                 on_error=None) -> None:  # type: ignore[no-untyped-def]
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.capture = capture
        self.path = path
        self.interval = interval
        self.on_error = on_error
        self.writes = 0
        self._written: tuple[int, int] | None = None
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
        """Write the capture if it changed, from a worker thread; the seconds the write took (0: none)."""
        state = self._state()
        if state == self._written:
            return 0.0
        capture = self.capture
        saved = capture._saved()  # references to the records as they are now, taken on the loop
        limits = (capture.max_records, capture.max_bytes)
        started = time.monotonic()
        try:
            await asyncio.to_thread(_write_saved, saved, limits, self.path)
        except OSError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            return time.monotonic() - started
        self._written = state
        self.writes += 1
        return time.monotonic() - started

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
