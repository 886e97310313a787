"""``AutoSave`` while serving: the file is written from a worker thread, so the event loop keeps
serving during the write, and what is written is the capture as it was when the write began."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wsexplore.capture import Capture
from wsexplore.capture.autosave import AutoSave
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
