"""The capture's byte bound is a memory bound: ``max_bytes`` is about what the records really take.

Memory is measured with ``tracemalloc`` around a capture filled through the live path
(``record_events`` with what a real ``Connection`` reported), to several times its bound,
with small and large frames, compressed and plain messages, and text whose characters
Python stores in 1, 2 or 4 bytes each.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest

from wsexplore.capture import Capture
from wsexplore.capture.lines import describe, format_record
from wsexplore.capture.records import FRAME_CACHE_LIMIT
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

pytestmark = pytest.mark.timeout(300)

MASK = b"\x01\x02\x03\x04"


MIXED = [
    (Opcode.TEXT, b"hi"),
    (Opcode.BINARY, bytes(range(40))),
    (Opcode.TEXT, ("é" * 300).encode()),
    (Opcode.TEXT, ("发送数据" * 200).encode()),
    (Opcode.TEXT, ("a" * 2000 + "\U0001f600").encode()),
    (Opcode.BINARY, bytes(64 * 1024)),
    (Opcode.PING, b"p"),
]
TINY = [(Opcode.TEXT, b"hi"), (Opcode.BINARY, bytes(8))]
#: name: (messages of one round, rounds per read, max_bytes)
WORKLOADS = {
    "mixed sizes, one frame a read": (MIXED, 1, 4 * 1024 * 1024),
    "tiny frames, 20 rounds a read": (TINY, 20, 1024 * 1024),
}


def _fill(capture: Capture, total: int, messages=MIXED, per_read: int = 1) -> int:
    """Feed ``total`` bytes of client frames through a server ``Connection`` into ``capture``; the bytes fed."""
    conn = Connection("server")
    fed = 0
    chunk = b"".join(Frame(op, payload, mask_key=MASK).encode() for op, payload in messages) * per_read
    while fed < total:
        read = bytes(bytearray(chunk))  # a fresh object, as every socket read is
        capture.record_events(1, conn.receive_data(read))
        capture.record_events(1, conn.last_sent or [])  # the pongs
        fed += len(read)
    return fed


def _read_everything(capture: Capture) -> None:
    for record in capture:  # builds every pending record, decodes (and keeps) small frames
        describe(record)
        format_record(record)
        getattr(record, "payload", None)


def _traced(*steps: Callable[[], object]) -> list[int]:
    """The memory allocated and still held after each step, counted from before the first."""
    gc.collect()
    tracemalloc.start()
    held = []
    try:
        before = tracemalloc.get_traced_memory()[0]
        for step in steps:
            step()
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()
    return held


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_full_capture_takes_about_max_bytes_of_memory_however_it_is_read(workload: str) -> None:
    messages, per_read, bound = WORKLOADS[workload]
    capture = Capture(max_records=10**7, max_bytes=bound)
    filled, read = _traced(lambda: _fill(capture, 2 * bound, messages, per_read),
                           lambda: _read_everything(capture))
    assert capture.dropped > 0 and capture.memory <= bound
    # At most the bound; the estimate is cautious for tiny records (a small frame is counted with
    # the Frame it keeps once read), so a little less is used until they are read.
    assert 0.6 * bound <= filled <= 1.05 * bound, f"{filled / bound:.2f} x max_bytes"
    assert 0.75 * bound <= read <= 1.05 * bound, f"{read / bound:.2f} x max_bytes once read"


def test_a_capture_of_large_echoes_takes_about_max_bytes() -> None:
    """A 100 KiB binary message and its echo share one payload object: counted once, so a full
    capture holds about ``max_bytes`` of them, neither more nor half as much."""
    bound = 8 * 1024 * 1024
    capture = Capture(max_records=10**7, max_bytes=bound)

    def echo() -> None:
        conn, client = Connection("server"), Connection("client")
        for i in range(3 * bound // (100 * 1024)):
            capture.record_events(1, conn.receive_data(client.send_binary(i.to_bytes(4, "big") * 25_600)))
            conn.send_binary(capture.messages()[-1].data)  # the echo: the message's own bytes
            capture.record_events(1, conn.last_sent)

    (held,) = _traced(echo)
    assert capture.dropped > 0 and capture.memory <= bound
    assert 0.8 * bound <= held <= 1.05 * bound, f"{held / bound:.2f} x max_bytes"


def test_data_bytes_and_memory_are_counted_apart() -> None:
    small = Capture()
    _fill(small, 1, TINY)
    assert small.nbytes == sum(r.nbytes for r in small)
    assert small.memory > small.nbytes  # every record costs its objects too
    mixed = Capture()
    _fill(mixed, 1)
    assert mixed.nbytes == sum(r.nbytes for r in mixed)
    # The 64 KiB frame's payload is its message's data, one object: data counted twice, held once.
    assert mixed.memory < mixed.nbytes


def test_a_large_frame_is_decoded_when_read_and_not_kept_twice() -> None:
    capture = Capture()
    conn = Connection("server")
    big = Frame(Opcode.BINARY, bytes(FRAME_CACHE_LIMIT * 4), mask_key=MASK).encode()
    small = Frame(Opcode.TEXT, b"small", mask_key=MASK).encode()
    capture.record_events(1, conn.receive_data(big + small))
    large, little = capture.frames()
    assert large.frame is not None and large.payload == bytes(FRAME_CACHE_LIMIT * 4)
    assert large._frame is None  # decoded for the caller, not kept beside the raw bytes
    assert little.frame is little.frame and little._frame is not None
