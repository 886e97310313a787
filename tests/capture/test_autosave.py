"""``AutoSave`` while serving: the file is written from a worker thread, so the event loop keeps
serving during the write, and what is written is the capture as it was when the write began."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from wsexplore.capture import Capture
from wsexplore.capture.autosave import AutoSave, GiveWay
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode


def filled(count: int) -> Capture:
    capture, conn = Capture(), Connection("server")
    for i in range(count):
        frame = Frame(Opcode.TEXT, f"message {i:06d}".encode() * 4, mask_key=b"\x01\x02\x03\x04").encode()
        capture.record_events(1, conn.receive_data(frame))
    return capture


async def test_a_write_in_the_background_leaves_the_loop_serving(tmp_path: Path) -> None:
    capture = filled(40_000)
    path = tmp_path / "capture.jsonl"
    saver = AutoSave(capture, path)
    turns = 0
    writing = True

    async def turn_counter() -> None:
        nonlocal turns
        while writing:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(turn_counter())
    await asyncio.sleep(0)
    seen_before = turns
    took = await saver.save_in_background()
    writing = False
    await counter
    assert took > 0 and saver.writes == 1
    assert turns > seen_before + 1, "the event loop did not run while the file was written"
    loaded = Capture.load(path)
    assert [r.seq for r in loaded] == [r.seq for r in capture]
    assert await saver.save_in_background() == 0.0  # nothing changed: nothing written


async def test_records_added_during_a_write_wait_for_the_next_one(tmp_path: Path) -> None:
    capture = filled(20_000)
    path = tmp_path / "capture.jsonl"
    saver = AutoSave(capture, path)
    first = capture.last_seq
    write = asyncio.create_task(saver.save_in_background())
    await asyncio.sleep(0)  # the write has taken its records
    conn = Connection("server")
    for _ in range(10):
        capture.record_events(2, conn.receive_data(Frame(Opcode.TEXT, b"late", mask_key=b"\x05\x06\x07\x08").encode()))
    await write
    assert Capture.load(path)[-1].seq == first
    assert await saver.save_in_background() > 0
    assert Capture.load(path)[-1].seq == capture.last_seq


def _grow(capture: Capture, rng: random.Random, conns: dict[int, Connection]) -> None:
    """A few records of every kind the live path makes: small and large frames both ways, messages,
    handshakes, closes, errors."""
    for _ in range(rng.randrange(0, 12)):
        conn = rng.randrange(1, 4)
        if conn not in conns:
            conns[conn] = Connection("server")
            capture.opened(conn, ("127.0.0.1", 5000 + conn), b"GET / HTTP/1.1\r\nCookie: a=1\r\n\r\n",
                           b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101)
        server = conns[conn]
        choice = rng.random()
        if choice < 0.5:
            size = rng.choice([0, 5, 200, 70_000])
            payload = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 or 1)
            client = Frame(Opcode.BINARY, payload, mask_key=rng.randbytes(4)).encode()
            capture.record_events(conn, server.receive_data(client))
            server.send_binary(payload)
            capture.record_events(conn, server.last_sent)
        elif choice < 0.8:
            text = Frame(Opcode.TEXT, "é\u2603 late".encode() * rng.randrange(1, 30), mask_key=b"\x01\x02\x03\x04")
            capture.record_events(conn, server.receive_data(text.encode()))
        elif choice < 0.9:
            capture.error(conn, f"something {rng.random()}")
        else:
            capture.closed(conn, 1000, "bye", "remote", True)
            del conns[conn]


@pytest.mark.parametrize("seed", range(4))
async def test_each_write_is_what_save_writes_though_it_encodes_only_new_records(tmp_path: Path, seed: int) -> None:
    """The lines still held are copied from the last file, the new ones encoded: the file is byte for
    byte ``Capture.save``'s at every write, through evictions, writes with nothing new, and a file at
    the path that someone else replaced or removed meanwhile."""
    rng = random.Random(seed)
    capture = Capture(max_records=rng.choice([5, 40, 1000]), max_bytes=rng.choice([200_000, 1 << 30]))
    path, expected = tmp_path / "capture.jsonl", tmp_path / "expected.jsonl"
    failures: list[OSError] = []
    saver = AutoSave(capture, path, on_error=failures.append)
    conns: dict[int, Connection] = {}
    try:
        for step in range(40):
            _grow(capture, rng, conns)
            if step % 13 == 5:
                path.write_bytes(b"not the capture")  # the copy comes from the file this writer made
                capture.error(None, "after the file was replaced")
            elif step % 13 == 9:
                path.unlink()
                capture.error(None, "after the file was removed")
            await saver.save_in_background()
            assert not failures
            capture.save(expected)
            assert path.read_bytes() == expected.read_bytes(), f"step {step}"
        assert capture.dropped > 0 or capture.max_records == 1000
    finally:
        await saver.stop()


async def test_stop_lets_a_write_under_way_finish_first(tmp_path: Path) -> None:
    """Once ``stop`` returns, no write of the periodic saver can land on the path any more (the
    caller's final write comes after it)."""
    capture = filled(40_000)
    path = tmp_path / "capture.jsonl"
    saver = AutoSave(capture, path)
    write = asyncio.create_task(saver.save_in_background())
    await asyncio.sleep(0.01)  # the thread is writing
    write.cancel()
    await saver.stop()
    path.write_bytes(b"the final write")
    await asyncio.sleep(0.5)  # longer than the write takes
    assert path.read_bytes() == b"the final write"
    assert [p.name for p in tmp_path.iterdir()] == ["capture.jsonl"]  # no temporary file left behind


async def test_where_the_kernel_cannot_copy_between_the_files_the_lines_are_read_and_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some file systems refuse ``copy_file_range`` (overlay file systems in containers): the lines
    kept are then read from the last file and written, with the same result."""
    import errno
    import os

    refused: list[int] = []

    def no_copy(*args: object) -> int:
        refused.append(1)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", no_copy, raising=False)
    capture = filled(3_000)
    path, expected = tmp_path / "capture.jsonl", tmp_path / "expected.jsonl"
    saver = AutoSave(capture, path)
    try:
        await saver.save_in_background()
        conn = Connection("server")
        for i in range(5):
            capture.record_events(9, conn.receive_data(Frame(Opcode.TEXT, b"more %d" % i, mask_key=b"abcd").encode()))
        await saver.save_in_background()
    finally:
        await saver.stop()
    capture.save(expected)
    assert refused and path.read_bytes() == expected.read_bytes()


class _Traffic:
    """An injected clock and sleep for ``GiveWay``: each sleep passes its time and lets the next
    number of ``arrivals`` records in."""

    def __init__(self, capture: Capture, arrivals: list[int]) -> None:
        self.capture, self.arrivals, self.now, self.sleeps = capture, arrivals, 0.0, []
        self.conn = Connection("server")

    def arrive(self, count: int = 1) -> None:
        for _ in range(count):
            frame = Frame(Opcode.TEXT, b"ping", mask_key=b"\x01\x02\x03\x04").encode()
            self.capture.record_events(5, self.conn.receive_data(frame))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.arrive(self.arrivals.pop(0) if self.arrivals else 0)


def test_a_writer_waits_while_records_arrive_and_goes_on_once_they_pause() -> None:
    capture = filled(3)
    traffic = _Traffic(capture, [1, 2, 0, 5])
    give_way = GiveWay(capture, budget=1.0, quiet=0.02, sleep=traffic.sleep, clock=lambda: traffic.now)
    give_way()
    assert traffic.sleeps == [] and give_way.waited == 0  # nothing arrived since the write began
    traffic.arrive()
    give_way()  # one record came: wait; 1, then 2 more during the waits; then a quiet one
    assert traffic.sleeps == [0.02] * 3 and give_way.waited == pytest.approx(0.06)
    give_way()
    assert len(traffic.sleeps) == 3  # quiet since the last look
    traffic.arrive()
    give_way()  # 5 more came during the wait, then none
    assert len(traffic.sleeps) == 5 and give_way.waited == pytest.approx(0.10)


def test_under_traffic_that_never_pauses_a_writer_waits_its_budget_then_goes_on() -> None:
    capture = filled(3)
    traffic = _Traffic(capture, [1] * 1000)
    give_way = GiveWay(capture, budget=0.1, quiet=0.02, sleep=traffic.sleep, clock=lambda: traffic.now)
    traffic.arrive()
    give_way()
    assert give_way.waited == pytest.approx(0.1) and len(traffic.sleeps) == 5
    traffic.arrive()
    give_way()
    give_way()
    assert len(traffic.sleeps) == 5  # the budget is spent: no more waiting, whatever arrives


async def test_a_write_during_traffic_waits_for_it_then_holds_what_was_there_when_it_began(tmp_path: Path) -> None:
    """A real write in its thread while the loop keeps recording: it waits (the interval at most,
    here short, as the traffic does not stop before it ends) and writes the records it took."""
    capture = filled(40_000)
    path = tmp_path / "capture.jsonl"
    saver = AutoSave(capture, path, interval=0.3, quiet=0.05)
    write = asyncio.create_task(saver.save_in_background())
    await asyncio.sleep(0)  # the write has taken its records
    taken = capture.last_seq
    traffic = _Traffic(capture, [])
    while not write.done():
        traffic.arrive()
        await asyncio.sleep(0.001)
    took = write.result()
    assert took > 0 and saver.waited > 0
    loaded = Capture.load(path)
    assert loaded.last_seq == taken and [r.seq for r in loaded] == list(range(1, taken + 1))
    await saver.stop()
