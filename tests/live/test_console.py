"""``ConsolePrinter`` off the hot path: queued while traffic is heavy, complete to files and pipes,
folded (and said so) on a terminal that cannot keep up, never growing without bound.

No test here measures time: waits are for events (lines printed), bounded by a timeout.
"""

from __future__ import annotations

import io
import threading

import pytest

from wsexplore.capture import Capture
from wsexplore.capture.lines import format_record
from wsexplore.live.console import ConsolePrinter
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

from .probes import eventually

KEY = bytes.fromhex("37 fa 21 3d")
WAIT = 20.0  # seconds a wait for printed lines may take at most


def message(i: int) -> bytes:
    return Frame(Opcode.TEXT, f"message {i:06d}".encode(), mask_key=KEY).encode()


def feed(capture: Capture, conn: Connection, count: int, start: int = 0) -> None:
    """``count`` client text frames received, as the server records them (one read each)."""
    for i in range(start, start + count):
        capture.record_events(1, conn.receive_data(message(i)))


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Let the event loop run until ``condition()`` holds (at most ``WAIT`` seconds)."""
    await eventually(condition, WAIT, f"{what} (still waiting)")


def following(**options) -> tuple[io.StringIO, Capture, ConsolePrinter]:  # type: ignore[no-untyped-def]
    """A printer to a string, following a new capture on the running loop."""
    out, capture = io.StringIO(), Capture()
    printer = ConsolePrinter(out, **options)
    printer.follow(capture)
    return out, capture, printer


def printed(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def expected_lines(capture: Capture) -> list[str]:
    return [format_record(r) for r in capture if r.kind == "frame"]


async def test_a_burst_is_queued_then_printed_complete_and_in_order() -> None:
    out, capture, printer = following(fold=False, interval=0.01)
    feed(capture, Connection("server"), 5000)
    assert out.getvalue() == ""  # the records were only queued: nothing formatted on the hot path
    await until(lambda: printer.lines == 5000, "5000 lines")
    printer.close()
    assert printed(out) == expected_lines(capture)
    assert printer.folded == 0


async def test_light_traffic_is_printed_without_a_flush() -> None:
    out, capture, printer = following(fold=False, interval=0.01)
    conn = Connection("server")
    for i in range(3):
        feed(capture, conn, 1, i)
        await until(lambda: len(printed(out)) == i + 1, f"line {i + 1}")
    assert printed(out) == expected_lines(capture)
    printer.close()


async def test_a_full_queue_prints_at_once_when_the_output_must_be_complete() -> None:
    out, capture, printer = following(fold=False, interval=0.01, max_pending=100)
    feed(capture, Connection("server"), 1000)
    assert printer.lines == 0  # the live path did nothing for the printer
    # At its first look the printer takes 1000 records, more than it may hold: a burst it would wait for
    # the end of, but the lines beyond the bound are formatted right then.
    await until(lambda: printer.lines >= 900, "the lines beyond the bound")
    printer.close()
    assert printed(out) == expected_lines(capture)


async def test_a_terminal_gets_the_latest_lines_and_how_many_were_folded() -> None:
    out, capture, printer = following(fold=True, interval=60, max_pending=100)
    feed(capture, Connection("server"), 1000)
    printer.close()
    lines = printed(out)
    assert lines[0] == "… 900 lines folded"
    assert lines[1:] == expected_lines(capture)[-100:]
    assert (printer.lines, printer.folded) == (100, 900)


class SlowTerminal(io.StringIO):
    """A terminal that takes nothing until ``go`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.writing = threading.Event()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.writing.set()
        if not self.go.wait(WAIT):
            raise AssertionError("the test never let the terminal go")
        return super().write(text)


async def test_batches_a_slow_terminal_has_not_taken_are_folded_not_queued() -> None:
    out = SlowTerminal()
    capture = Capture()
    printer = ConsolePrinter(out, interval=0.005, busy=10_000)  # fold: out is a terminal
    assert printer.fold
    printer.follow(capture)
    conn = Connection("server")
    feed(capture, conn, 10)  # batch 1: the writer takes it and is stuck in write()
    await until(out.writing.is_set, "the first write")
    feed(capture, conn, 10, 10)  # batch 2: waits for the writer
    await until(lambda: printer.lines == 20, "the second batch handed over")
    feed(capture, conn, 10, 20)  # batch 3: the terminal still has not taken batch 1: folded
    await until(lambda: printer.folded == 10, "10 lines folded")
    out.go.set()
    printer.close()
    frames = expected_lines(capture)
    assert printed(out) == frames[:20] + ["… 10 lines folded"]


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_an_output_that_fails_stops_the_printer_and_the_capture_says_why() -> None:
    capture = Capture()
    printer = ConsolePrinter(ClosedPipe(), fold=False, interval=0.005)
    printer.follow(capture)
    conn = Connection("server")
    feed(capture, conn, 3)
    await until(lambda: any(r.kind == "error" for r in capture), "the error record")
    (error,) = [r for r in capture if r.kind == "error"]
    assert error.message == "the console stopped printing: BrokenPipeError: [Errno 32] Broken pipe"
    feed(capture, conn, 3, 3)  # nothing more is taken
    with pytest.raises(BrokenPipeError):
        printer.flush()


def test_without_an_event_loop_each_record_is_printed_at_once() -> None:
    out = io.StringIO()
    capture = Capture()
    ConsolePrinter(out).follow(capture)
    conn = Connection("server")
    for i in range(3):
        feed(capture, conn, 1, i)
        assert len(printed(out)) == i + 1
    assert printed(out) == expected_lines(capture)


async def test_following_leaves_the_live_path_alone_and_builds_records_when_it_formats() -> None:
    out, capture, printer = following(fold=False, interval=0.01)
    feed(capture, Connection("server"), 5)
    # The printer subscribes to nothing: the capture keeps its records unbuilt, as without a printer.
    assert capture.subscriber_errors == [] and all(type(e) is tuple for e in capture.entries_after(0))
    await until(lambda: printer.lines == 5, "the five lines")
    printer.close()
    assert printed(out) == expected_lines(capture)


def test_a_plain_subscriber_too() -> None:
    out = io.StringIO()
    capture = Capture()
    capture.subscribe(ConsolePrinter(out))  # no event loop: each record printed at once
    feed(capture, Connection("server"), 2)
    assert printed(out) == expected_lines(capture)


async def test_records_the_capture_evicted_before_a_look_are_counted_and_said() -> None:
    out = io.StringIO()
    capture = Capture(max_records=10)
    printer = ConsolePrinter(out, fold=False, interval=60)
    printer.follow(capture)
    feed(capture, Connection("server"), 20)  # 40 records appended, the last 10 kept
    printer.close()
    lines = printed(out)
    assert printer.lost == 30
    assert lines[0] == "… 30 records evicted from the capture (its bounds) before they were printed"
    assert lines[1:] == expected_lines(capture)


def test_a_subscriber_in_batches_prints_every_batch_records_then_the_rest_on_flush() -> None:
    out = io.StringIO()
    capture = Capture()
    printer = ConsolePrinter(out, batch=3)
    capture.subscribe(printer)  # no event loop: records wait for a whole batch
    conn = Connection("server")
    feed(capture, conn, 2)  # a frame, then its message (not printed), twice: two lines queued
    assert out.getvalue() == ""
    feed(capture, conn, 2, start=2)
    assert printed(out) == expected_lines(capture)[:3] and printer.lines == 3  # one write of three lines
    printer.flush()
    assert printed(out) == expected_lines(capture) and len(expected_lines(capture)) == 4
    with pytest.raises(ValueError, match="batch must be 1 or more"):
        ConsolePrinter(out, batch=0)
