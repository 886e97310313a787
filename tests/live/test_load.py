"""Work under load is bounded: a flood is fed in slices between other connections' frames, and a
request head costs work linear in its bytes however it is split.

These tests assert the mechanisms, from what the server did (its capture, counted work),
never from how long it took; benchmarks/bench_limits.py measures the times.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest
from websockets.asyncio.client import connect

from wsexplore.capture import Capture, FrameRecord
from wsexplore.live import server as server_module
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.handshake import RequestParser, head
from wsexplore.protocol.opcodes import Opcode

from .probes import (
    T,
    client_frame,
    eventually,
    flood,
    open_websocket,
    read_frame,
    send_in_pieces,
    tiny_frames,
    upgrade_request,
)

pytestmark = pytest.mark.timeout(120)

TINY = 6  # bytes in the smallest masked frame: 2 of header, 4 of masking key
MONITOR_ROUND_TRIPS = 20




# ---------------------------------------------------------------------------- a flood and a monitor
async def test_a_flood_is_fed_in_bounded_slices_interleaved_with_another_connections_frames(
        make_server_target) -> None:
    target = await make_server_target(capture=Capture(max_records=5_000_000, max_bytes=1 << 34))
    capture = target.capture
    stop, started = asyncio.Event(), asyncio.Event()
    flooding = asyncio.get_running_loop().create_task(
        flood(target, stop, chunk=tiny_frames(20_000), started=started))  # 120 KB a write
    try:
        await asyncio.wait_for(started.wait(), T)
        await eventually(lambda: len(capture) > 5_000, what="the flood to be under way")
        async with connect(target.url, compression=None, open_timeout=T) as monitor:
            for i in range(MONITOR_ROUND_TRIPS):
                await monitor.send(f"m{i}")
                assert await asyncio.wait_for(monitor.recv(), T) == f"m{i}"
            flood_still_going = not flooding.done()
    finally:
        stop.set()
        sent = await asyncio.wait_for(flooding, T)
    assert flood_still_going and sent > 1_000_000

    frames = [r for r in capture if isinstance(r, FrameRecord)]
    monitor_conn = next(r.conn for r in frames if r.payload == b"m0")
    flood_conn = next(r.conn for r in frames if r.conn != monitor_conn)
    flood_in = [r for r in frames if r.conn == flood_conn and r.direction == "in"]

    # The mechanism: the flood's bytes reach the protocol a slice at a time. The frames of one
    # slice are recorded together (one clock reading), so a batch of records is a slice.
    batches = Counter(r.time for r in flood_in)
    biggest = max(batches.values())
    assert biggest <= server_module._SLICE_MAX // TINY + 1, biggest
    typical = sorted(batches.values())[len(batches) // 2]
    assert typical <= server_module._EVENTS_PER_TURN, typical  # about 100 events: 50 frames and messages
    assert len(batches) > 100

    # ... and between them the monitor's frames are read and answered: between a monitor message
    # arriving and its echo going out, the flood got a slice or two of work (without slices, a whole
    # 256 KiB read: some 43,000 of these frames).
    for i in range(MONITOR_ROUND_TRIPS):
        payload = f"m{i}".encode()
        asked = next(r.seq for r in frames if r.conn == monitor_conn and r.direction == "in" and r.payload == payload)
        answered = next(r.seq for r in frames if r.conn == monitor_conn and r.direction == "out"
                        and r.payload == payload)
        flood_between = sum(1 for r in flood_in if asked < r.seq < answered)
        assert flood_between <= 2 * server_module._EVENTS_PER_TURN, (i, flood_between)
    first_flood, last_flood = flood_in[0].seq, flood_in[-1].seq
    monitor_seqs = [r.seq for r in frames if r.conn == monitor_conn]
    assert first_flood < min(monitor_seqs) and max(monitor_seqs) < last_flood  # the flood went on all along


async def test_a_read_that_holds_the_rest_of_a_large_frame_is_fed_whole(make_target) -> None:
    """A slice never cuts the remainder of one large frame: feeding it completes one frame at most."""
    target = await make_target()
    async with connect(target.url, compression=None, open_timeout=T, max_size=None) as ws:
        big = bytes(range(256)) * 4096  # 1 MiB
        await ws.send(big)
        assert await asyncio.wait_for(ws.recv(), T) == big
    (record,) = [r for r in target.capture.frames(direction="in") if r.length == len(big)]
    assert record.payload == big



@pytest.mark.parametrize("size", [16 * 1024, 64 * 1024, 200 * 1024])
async def test_frames_larger_than_a_slice_are_fed_whole(make_server_target, monkeypatch, size: int) -> None:
    """A read that holds frames larger than a slice feeds each one whole (as far as the read goes):
    a frame reaches the protocol in no more pieces than the reads it came in, instead of being cut at
    a slice's end and copied once more to be put back together."""
    target = await make_server_target()
    reads: list[int] = []  # the WebSocket bytes of each read, in order
    feeds: list[int] = []  # the bytes of each call to the protocol, in order
    data_received, receive_data = server_module._Protocol.data_received, Connection.receive_data

    def counting_read(self, data):
        if self.ws is not None:
            reads.append(len(data))
        return data_received(self, data)

    def counting_feed(self, data):
        if self.role == "server":
            feeds.append(len(data))
        return receive_data(self, data)

    monkeypatch.setattr(server_module._Protocol, "data_received", counting_read)
    monkeypatch.setattr(Connection, "receive_data", counting_feed)
    count = 24
    frames = [client_frame(Opcode.BINARY, bytes([i]) * size) for i in range(count)]
    reader, writer = await open_websocket(target)
    try:
        writer.write(b"".join(frames))  # one write: the server's reads hold several frames each
        for i in range(count):
            assert await read_frame(reader) == (Opcode.BINARY, bytes([i]) * size)
    finally:
        writer.transport.abort()
    ends = list(itertools.accumulate(map(len, frames)))
    starts = [end - len(frame) for end, frame in zip(ends, frames)]
    read_ends = list(itertools.accumulate(reads))
    feed_ends = list(itertools.accumulate(feeds))
    assert feed_ends[-1] == read_ends[-1] == ends[-1]
    assert any(sum(start < s < end for s in starts) > 1 for start, end in zip([0, *read_ends], read_ends)), \
        "no read held the start of two frames: nothing was sliced"
    for start, end in zip(starts, ends):
        pieces_read = 1 + sum(start < e < end for e in read_ends)
        pieces_fed = 1 + sum(start < e < end for e in feed_ends)
        assert pieces_fed <= pieces_read, (start, pieces_fed, pieces_read)


# ---------------------------------------------------------------------------- a head one line per write
def _head_pieces(target, size: int, cut: str) -> tuple[bytes, list[bytes]]:
    filler = "".join(f"X-Filler-{i:03d}: {'f' * 60}\r\n" for i in range(size // 80))
    request = upgrade_request(target, extra=filler)
    assert len(request) < head.DEFAULT_MAX_HEADER_BYTES
    if cut == "line":
        pieces = [line + b"\n" for line in request.split(b"\n")[:-1]]
    else:  # 7 bytes a write: lines and CRLFs cut anywhere
        pieces = [request[i:i + 7] for i in range(0, len(request), 7)]
    return request, pieces


@pytest.mark.parametrize("cut", ["line", "7 bytes"])
async def test_a_head_sent_in_pieces_costs_work_linear_in_its_bytes(make_target, monkeypatch, cut: str) -> None:
    target = await make_target()
    searched: dict[int, int] = {}  # per parser: bytes it looked at for line ends, over all reads
    fed: dict[int, int] = {}  # per parser: reads handed to it
    current = [0]
    find_line_end = head._find_line_end
    feed = RequestParser.feed

    def counting_find(buffer, begin, stop):
        lf = find_line_end(buffer, begin, stop)
        searched[current[0]] = searched.get(current[0], 0) + max((stop if lf == -1 else lf + 1) - begin, 0)
        return lf

    def counting_feed(self, data):
        current[0] = id(self)
        fed[id(self)] = fed.get(id(self), 0) + 1
        return feed(self, data)

    monkeypatch.setattr(head, "_find_line_end", counting_find)
    monkeypatch.setattr(RequestParser, "feed", counting_feed)

    async def delivered(count: int) -> None:  # each piece is a read of its own
        await eventually(lambda: max(fed.values(), default=0) >= count, what=f"read {count}")

    request, pieces = _head_pieces(target, 7800, cut)
    response = await send_in_pieces(target, request, pieces, delivered)
    assert response.status == 101
    # The parser that read the pieces (behind a tap, the server's parser reads the forwarded head whole).
    parser = max(fed, key=fed.__getitem__)
    assert fed[parser] == len(pieces) > 100
    # Each byte is searched once, plus one byte back per read for a CR that may end a line.
    assert searched[parser] <= len(request) + len(pieces), (searched[parser], len(request))
