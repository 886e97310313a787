"""Memory as promised: stalled peers time out, and bytes held across connections are bounded.

A peer that stops inside a frame or message is failed with 1008 after ``idle_timeout``; the
connection that takes the bytes held for unfinished messages (inflated ones included) and
for messages waiting for their handler past ``max_buffered`` is failed with 1013 (try again
later). Raw sockets play the peers (probes.py); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import zlib

import pytest
from websockets.asyncio.client import connect

from wsexplore.capture import CloseRecord, ErrorRecord
from wsexplore.protocol.opcodes import Opcode

from .probes import T, client_frame, eventually, open_websocket, read_close, read_frame, stall_inside_frame

pytestmark = pytest.mark.timeout(60)




def ended(target, conn: int) -> tuple[list[ErrorRecord], CloseRecord]:
    errors = list(target.capture.filter(kind="error", conn=conn))
    (close,) = target.capture.filter(kind="close", conn=conn)
    return errors, close


# ---------------------------------------------------------------------------- idle inside a frame
@pytest.mark.parametrize("where", ["inside a frame", "between two fragments of a message"])
async def test_a_peer_stalled_inside_a_frame_or_message_is_closed_with_1008_and_recorded(make_server_target,
                                                                                      where: str) -> None:
    target = await make_server_target(idle_timeout=0.3)
    if where == "inside a frame":
        reader, writer = await stall_inside_frame(target, payload=4096, sent=1000)
    else:
        reader, writer = await open_websocket(target)
        writer.write(client_frame(Opcode.TEXT, b"first of two", fin=False))  # a whole frame, no FIN
    try:
        code, reason = await read_close(reader)
    finally:
        writer.transport.abort()
    assert code == 1008 and "no data for 0.3 s" in reason
    conn = target.capture.connections[-1]
    await eventually(lambda: target.capture.filter(kind="close", conn=conn), what="the close record")
    errors, close = ended(target, conn)
    assert any("idle_timeout=0.3s" in e.message for e in errors)
    assert (close.code, close.initiator, close.clean) == (1008, "local", False)


async def test_a_peer_idle_between_messages_is_not_closed(make_server_target) -> None:
    target = await make_server_target(idle_timeout=0.2)
    async with connect(target.url, compression=None, open_timeout=T) as ws:
        await ws.send("one")
        assert await asyncio.wait_for(ws.recv(), T) == "one"
        await asyncio.sleep(1.0)  # five idle timeouts, outside any frame
        await ws.send("two")
        assert await asyncio.wait_for(ws.recv(), T) == "two"
    assert not target.capture.filter(kind="error")


async def test_a_slow_but_steady_peer_is_not_idle(make_server_target) -> None:
    target = await make_server_target(idle_timeout=0.3)
    reader, writer = await open_websocket(target)
    frame = client_frame(Opcode.BINARY, bytes(range(12)))
    try:
        for i in range(len(frame)):  # a byte every 0.1 s: 1.8 s in all, never 0.3 s of silence
            writer.write(frame[i:i + 1])
            await asyncio.sleep(0.1)
        assert await read_frame(reader) == (Opcode.BINARY, bytes(range(12)))
    finally:
        writer.transport.abort()


async def test_idle_timeout_none_leaves_a_stalled_peer_alone(make_server_target) -> None:
    target = await make_server_target(idle_timeout=None)
    reader, writer = await stall_inside_frame(target, payload=100, sent=10)
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)
    finally:
        writer.transport.abort()


# ---------------------------------------------------------------------------- bytes held across connections
async def test_unfinished_messages_across_connections_are_bounded_and_the_one_over_gets_1013(make_server_target) -> None:
    target = await make_server_target(max_buffered=1 << 20, max_message_size=4 << 20)
    server = target.thing
    size = 900_000  # each message fits the budget alone, not two begun at once
    first, first_writer = await stall_inside_frame(target, payload=size, sent=700_000)
    await eventually(lambda: server.buffered >= 700_000, what="the first peer's bytes to be held")
    second, second_writer = await stall_inside_frame(target, payload=size, sent=500_000)
    try:
        code, reason = await read_close(second)
        assert code == 1013 and "server busy" in reason and "try again later" in reason
        conn = target.capture.connections[-1]
        errors, close = ended(target, conn)
        assert any("max_buffered=1048576 reached" in e.message for e in errors)
        assert (close.code, close.initiator) == (1013, "local")
        # The first peer is not disturbed: it finishes its message and gets it back.
        whole = client_frame(Opcode.BINARY, bytes(size))  # what stall_inside_frame sent the start of
        first_writer.write(whole[len(whole) - size + 700_000:])
        assert await read_frame(first) == (Opcode.BINARY, bytes(size))
    finally:
        first_writer.transport.abort()
        second_writer.transport.abort()
    await eventually(lambda: server.buffered == 0, what="every held byte to be released")


def _deflated(data: bytes, compressor) -> bytes:
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


async def test_inflation_counts_what_the_server_holds_not_what_was_sent(make_server_target) -> None:
    target = await make_server_target(compression="deflate", max_buffered=1 << 20, max_message_size=8 << 20)
    reader, writer = await open_websocket(target, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
    compressor = zlib.compressobj(wbits=-15)
    part = bytes(700_000)  # some 700 bytes once deflated
    first = client_frame(Opcode.BINARY, _deflated(part, compressor), fin=False, rsv1=True)
    second = client_frame(Opcode.CONTINUATION, _deflated(part, compressor), fin=False)
    assert len(first) + len(second) < 4000
    try:
        writer.write(first + second)
        code, reason = await read_close(reader)
    finally:
        writer.transport.abort()
    assert code == 1013 and "server busy" in reason
    assert target.thing.buffered == 0


async def test_messages_a_handler_does_not_take_count_too(make_server_target) -> None:
    async def never_reads(conn) -> None:
        await conn.wait_closed()

    target = await make_server_target(never_reads, max_buffered=1 << 20)
    reader, writer = await open_websocket(target)
    try:
        for _ in range(5):
            writer.write(client_frame(Opcode.BINARY, bytes(300_000)))
        code, _ = await read_close(reader)
    finally:
        writer.transport.abort()
    assert code == 1013


async def test_the_default_budget_is_four_largest_messages(make_server_target) -> None:
    target = await make_server_target(max_message_size=1000)
    assert target.thing.max_buffered == 4000
    reader, writer = await open_websocket(target)
    try:
        writer.write(client_frame(Opcode.TEXT, b"x" * 900))
        assert await read_frame(reader) == (Opcode.TEXT, b"x" * 900)
    finally:
        writer.transport.abort()
