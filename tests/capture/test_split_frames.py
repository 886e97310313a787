"""A large frame recorded live is kept as its header and unmasked payload (``FrameRecord``, ``SPLIT_FROM``):
every view of such a record is what the same record holding the wire bytes shows, for any frame."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wsexplore.capture import Capture
from wsexplore.capture.formats import jsonl
from wsexplore.capture.lines import format_record
from wsexplore.capture.records import SPLIT_COST, SPLIT_FROM, FrameRecord, MessageRecord, memory_cost
from wsexplore.protocol.buffers import LARGE_FROM
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.events import FrameSent
from wsexplore.protocol.frames import Frame, frame_payload
from wsexplore.protocol.header import parse_header
from wsexplore.protocol.opcodes import Opcode

WALL = 1_700_000_000.25
KEY = b"\x01\x02\x03\x04"


@st.composite
def whole_frames(draw: st.DrawFn) -> bytes:
    """Whole frames of any opcode and header bits, masked or not, with 7-, 16- and 64-bit lengths."""
    payload = draw(st.one_of(st.binary(max_size=300), st.text(max_size=80).map(str.encode),
                             st.integers(126, 70_000).map(lambda n: b"a\xe2\x82" * (n // 3))))
    key = draw(st.one_of(st.none(), st.binary(min_size=4, max_size=4)))
    return Frame(draw(st.sampled_from(list(range(16)))), payload, fin=draw(st.booleans()), rsv1=draw(st.booleans()),
                 rsv2=draw(st.booleans()), rsv3=draw(st.booleans()), mask_key=key).encode()


def split(raw: bytes) -> tuple[bytes, bytes]:
    header = parse_header(raw)
    return raw[:header.header_length], frame_payload(raw, header)


@given(whole_frames(), st.sampled_from(["in", "out"]))
@example(Frame(Opcode.BINARY, bytes(range(256)) * 300, mask_key=KEY).encode(), "in")
@example(Frame(Opcode.TEXT, "发送数据".encode() * 7000).encode(), "out")
@example(Frame(Opcode.CLOSE, b"\x03\xe8bye", mask_key=KEY).encode(), "in")
def test_a_record_kept_as_header_and_payload_shows_what_the_wire_bytes_show(raw: bytes, direction: str) -> None:
    plain = FrameRecord(7, 3, 1.0, WALL, direction, 40, raw)  # type: ignore[arg-type]
    parts = FrameRecord(7, 3, 1.0, WALL, direction, 40, split(raw))  # type: ignore[arg-type]
    assert parts.raw == raw and parts.nbytes == len(raw) and parts == plain
    assert (parts.header, parts.opcode, parts.length, parts.payload, parts.frame) == \
        (plain.header, plain.opcode, plain.length, plain.payload, plain.frame)
    for limit in (None, 0, 25):
        assert parts.payload_upto(parts.header, limit) == plain.payload_upto(plain.header, limit)
    assert format_record(parts) == format_record(plain)
    assert format_record(parts, compressed=True) == format_record(plain, compressed=True)
    assert repr(parts.dissect()) == repr(plain.dissect())
    assert parts._text() == plain._text() and parts._bytes() == plain._bytes()
    assert jsonl._frame_line(parts) == jsonl._frame_line(plain)
    assert json.dumps(jsonl.record_to_json(parts, False)) == json.dumps(jsonl.record_to_json(plain, False))
    assert memory_cost(parts) == memory_cost(plain) + SPLIT_COST


@pytest.mark.parametrize("read", [None, 65536], ids=["read whole", "in reads"])
@pytest.mark.parametrize("size", [SPLIT_FROM, LARGE_FROM])
def test_the_live_path_keeps_a_large_frame_once_counts_it_once_and_saves_it_byte_exact(tmp_path, size, read) -> None:
    # In reads from LARGE_FROM bytes on, the payload is unmasked as they arrive (``unmasking``): the frame
    # comes as header and payload; otherwise the capture splits the frame's bytes.
    server, client = Connection("server"), Connection("client")
    capture = Capture()
    payload = bytes(range(256)) * (size // 256)
    wire = client.send_binary(payload) + client.send_text("small")
    for start in range(0, len(wire), read or len(wire)):
        capture.record_events(1, server.receive_data(wire[start:start + (read or len(wire))]))
    echo = server.send_binary(capture.messages()[0].data)
    capture.record_events(1, server.last_sent)  # as the live server records what it sends
    frame_in, small, frame_out = capture.frames()
    message = capture.messages()[0]
    assert frame_in._raw[1] is message.data is frame_out._raw[1]
    assert frame_in.raw + small.raw == wire and frame_out.raw == echo and type(small._raw) is bytes
    assert capture.nbytes == sum(r.nbytes for r in capture)
    # One payload, counted once: by the echo, the newest record holding it.
    assert len(payload) < capture.memory < len(payload) + 4096
    capture.save(tmp_path / "c.jsonl")
    again = Capture.load(tmp_path / "c.jsonl")
    assert [r.raw for r in again.frames()] == [r.raw for r in capture.frames()]
    assert isinstance(again[1], MessageRecord) and again[1].data == payload


def test_evicting_a_large_frame_gives_back_what_it_counted() -> None:
    server, client = Connection("server"), Connection("client")
    capture = Capture(max_records=3)
    for i in range(5):
        capture.record_events(1, server.receive_data(client.send_binary(bytes([i]) * SPLIT_FROM)))
    assert capture.dropped == 7 and capture.nbytes == sum(r.nbytes for r in capture)
    head = len(client.send_binary(bytes(SPLIT_FROM))) - SPLIT_FROM  # a masked frame's header at this size
    assert capture.dropped_bytes == 4 * (SPLIT_FROM + head) + 3 * SPLIT_FROM  # 4 frames, 3 messages


def test_a_frame_sent_as_header_and_payload_is_recorded_so_without_joining_them() -> None:
    server = Connection("server")
    payload = bytes(range(256)) * (LARGE_FROM // 256)
    header, body = server.send_message(payload)
    capture = Capture()
    capture.record_events(1, server.last_sent)
    (sent,) = server.last_sent
    with pytest.raises(AttributeError):
        FrameSent.raw.__get__(sent, FrameSent)  # the capture did not join them either
    (record,) = capture.frames()
    assert record._raw[0] == header and record._raw[1] is body is payload
    assert record.raw == Frame(Opcode.BINARY, payload).encode() and record.nbytes == len(header) + len(payload)
    assert record.direction == "out" and record.offset == 0
    assert len(payload) < capture.memory < len(payload) + 4096
