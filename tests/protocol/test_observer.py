"""A Connection as a pure observer (a tap's view of one direction), opaque RSV bits, and bytes_needed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.protocol.connection import Connection, InvalidState, State
from wsexplore.protocol.deflate import DeflateParams, PerMessageDeflate, deflate_message
from wsexplore.protocol.errors import FramingError, InvalidUTF8
from wsexplore.protocol.events import (
    CloseReceived,
    ConnectionClosed,
    FrameReceived,
    FrameSent,
    MessageReceived,
    PingReceived,
    ProtocolViolation,
)
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

KEY = bytes.fromhex("0a0b0c0d")


def client_frame(opcode: Opcode, payload: bytes, **kw) -> bytes:
    return Frame(opcode, payload, mask_key=KEY, **kw).encode()


def test_an_observer_reports_a_ping_but_never_answers_it() -> None:
    watcher = Connection("server", observer=True)
    events = watcher.receive_data(client_frame(Opcode.PING, b"hi"))
    assert [type(e) for e in events] == [FrameReceived, PingReceived]
    assert not any(isinstance(e, FrameSent) for e in events)
    assert watcher.bytes_sent == 0 and watcher.state is State.OPEN


def test_an_endpoint_answers_the_same_ping() -> None:
    endpoint = Connection("server")
    events = endpoint.receive_data(client_frame(Opcode.PING, b"hi"))
    assert any(isinstance(e, FrameSent) for e in events)  # what the observer must not do


def test_an_observer_sees_the_close_without_echoing_or_deciding_the_end() -> None:
    watcher = Connection("client", observer=True)  # reads a server's frames
    events = watcher.receive_data(Frame.close(1001, "bye").encode() + b"\x81\x01x")
    assert [type(e) for e in events] == [FrameReceived, CloseReceived]
    assert events[1] == CloseReceived(1001, "bye")
    assert watcher.state is State.CLOSED  # nothing after a close is read, as the endpoint would
    assert watcher.bytes_received == len(Frame.close(1001, "bye").encode())  # where parsing stopped
    assert watcher.receive_data(b"\x81\x01y") == []
    assert watcher.receive_eof() == []


def test_an_observer_records_a_violation_and_sends_no_close() -> None:
    watcher = Connection("server", observer=True)
    good = client_frame(Opcode.TEXT, b"ok")
    unmasked = Frame(Opcode.TEXT, b"no").encode()
    events = watcher.receive_data(good + unmasked)
    assert [type(e) for e in events] == [FrameReceived, MessageReceived, ProtocolViolation]
    violation = events[2]
    assert isinstance(violation.error, FramingError) and violation.error.field == "MASK"
    assert violation.offset == len(good) and violation.raw == unmasked
    assert not any(isinstance(e, (FrameSent, ConnectionClosed)) for e in events)
    assert watcher.state is State.CLOSED and watcher.close_sent is None


def test_an_observer_reports_a_truncated_frame_at_eof_without_a_close() -> None:
    watcher = Connection("server", observer=True)
    watcher.receive_data(client_frame(Opcode.TEXT, b"hello")[:5])
    events = watcher.receive_eof()
    assert [type(e) for e in events] == [ProtocolViolation]
    assert events[0].error.close_code == 1006


def test_an_observer_sends_nothing() -> None:
    watcher = Connection("client", observer=True, deflate=PerMessageDeflate(DeflateParams(), "client"))
    for send in (lambda: watcher.send_text("x"), lambda: watcher.send_binary(b"x"), lambda: watcher.send_ping(),
                 lambda: watcher.send_close(), lambda: watcher.send_frame(Frame(Opcode.TEXT, b"x"))):
        with pytest.raises(InvalidState, match="observer"):
            send()
    assert watcher.bytes_sent == 0


def test_an_observer_follows_permessage_deflate_with_an_8_bit_server_window() -> None:
    """A server may agree to an 8-bit window for its own messages; an observer only inflates them."""
    params = DeflateParams(server_max_window_bits=8)
    with pytest.raises(ValueError, match="8-bit window"):
        PerMessageDeflate(params, "server")  # a server endpoint could not compress with it
    watcher_of_client = Connection("server", observer=True,
                                   deflate=PerMessageDeflate(params, "server", inflate_only=True))
    payload = deflate_message(b"hello hello hello")
    events = watcher_of_client.receive_data(client_frame(Opcode.TEXT, payload, rsv1=True))
    assert events[-1] == MessageReceived(Opcode.TEXT, "hello hello hello", 1, len(payload))
    with pytest.raises(ValueError, match="inflate_only"):
        PerMessageDeflate(params, "server", inflate_only=True).compress(b"x")


# ---------------------------------------------------------------------------- opaque RSV bits
def test_frames_of_an_unknown_extension_are_extension_data_not_text() -> None:
    conn = Connection("server", observer=True, opaque_rsv=0x20)  # an extension using RSV2
    data = b"\xff\xfe not utf-8"
    first = client_frame(Opcode.TEXT, data[:4], fin=False, rsv2=True)
    rest = client_frame(Opcode.CONTINUATION, data[4:])
    events = conn.receive_data(first[:7]) + conn.receive_data(first[7:] + rest)  # partly arrived first
    assert [type(e) for e in events] == [FrameReceived, FrameReceived, MessageReceived]
    assert events[-1] == MessageReceived(Opcode.TEXT, data, 2)  # bytes: whatever the extension made of it
    # Without the extension the same bits break a rule, and bad text is bad text.
    plain = Connection("server", observer=True)
    assert isinstance(plain.receive_data(first)[-1], ProtocolViolation)
    assert isinstance(Connection("server").receive_data(client_frame(Opcode.TEXT, data))[0], ProtocolViolation)
    assert isinstance(Connection("server").receive_data(client_frame(Opcode.TEXT, data))[0].error, InvalidUTF8)


def test_text_without_the_opaque_bit_is_still_read_as_text() -> None:
    conn = Connection("server", opaque_rsv=0x20)
    events = conn.receive_data(client_frame(Opcode.TEXT, "é".encode()))
    assert events[-1] == MessageReceived(Opcode.TEXT, "é", 1)


def test_opaque_rsv_cannot_take_deflates_bit_or_other_bits() -> None:
    with pytest.raises(ValueError, match="opaque_rsv"):
        Connection("server", opaque_rsv=0x40, deflate=PerMessageDeflate(DeflateParams(), "server"))
    with pytest.raises(ValueError, match="opaque_rsv"):
        Connection("server", opaque_rsv=0x80)


# ---------------------------------------------------------------------------- bytes_needed
def test_bytes_needed_walks_a_frame_header_then_payload() -> None:
    conn = Connection("server", observer=True)
    frame = client_frame(Opcode.BINARY, bytes(300))  # 16-bit length: 2 + 2 + 4 + 300 bytes
    assert conn.bytes_needed == 0
    conn.receive_data(frame[:1])
    assert conn.bytes_needed == 1  # the second header byte
    conn.receive_data(frame[1:2])
    assert conn.bytes_needed == 2  # the extended length
    conn.receive_data(frame[2:4])
    assert conn.bytes_needed == 4 + 300
    conn.receive_data(frame[4:-1])
    assert conn.bytes_needed == 1
    conn.receive_data(frame[-1:])
    assert conn.bytes_needed == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING]),
                          st.integers(0, 70000)), min_size=1, max_size=4),
       st.lists(st.integers(1, 9000), min_size=1, max_size=40))
def test_feeding_at_most_bytes_needed_reaches_every_frame_end(frames, cuts) -> None:
    """Fed never more than ``bytes_needed``, the reader stops at every frame end, and only there."""
    encoded = [client_frame(op, b"a" * (min(n, 125) if op == Opcode.PING else n)) for op, n in frames]
    stream = b"".join(encoded)
    ends = [sum(map(len, encoded[:i + 1])) for i in range(len(encoded))]
    conn = Connection("server", observer=True)
    pos, boundaries = 0, []
    for i in range(len(stream) + 1):
        if pos == len(stream):
            break
        need = conn.bytes_needed
        if need == 0:
            boundaries.append(pos)
            need = 1  # start the next frame with one byte
        size = min(cuts[i % len(cuts)], need)
        conn.receive_data(stream[pos:pos + size])
        pos += size
    assert conn.bytes_needed == 0
    assert boundaries == [0, *ends[:-1]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING]),
                          st.integers(0, 70000)), min_size=1, max_size=4),
       st.lists(st.integers(1, 9000), min_size=1, max_size=40))
def test_frame_end_is_where_the_next_frame_ends(frames, cuts) -> None:
    """``frame_end`` of the bytes at hand: the rest of the frame in progress (the whole frame at a
    boundary) once the bytes that give its length are there, counting those at hand; until then
    ``bytes_needed``. Fed that many bytes once the length is known, the reader completes one frame."""
    payloads = [b"a" * (min(n, 125) if op == Opcode.PING else n) for op, n in frames]
    encoded = [client_frame(op, p) for (op, _), p in zip(frames, payloads)]
    # Bytes up to the end of the length field: 2, 4 or 10 (the masking key follows).
    length_known = [len(e) - len(p) - 4 for e, p in zip(encoded, payloads)]
    stream = b"".join(encoded)
    starts = [sum(map(len, encoded[:i])) for i in range(len(encoded))]
    conn = Connection("server", observer=True)
    pos, whole = 0, 0
    for i in range(len(stream) + 1):
        if pos == len(stream):
            break
        at_hand = memoryview(stream)[pos:pos + cuts[i % len(cuts)]]
        end = conn.frame_end(at_hand)
        k = max(j for j, start in enumerate(starts) if start <= pos)  # the frame pos is in
        frame_end = starts[k] + len(encoded[k])
        known = pos + len(at_hand) >= starts[k] + length_known[k]
        if known:
            assert end == frame_end - pos
        else:
            assert end == conn.bytes_needed  # 0 at a boundary, the rest of the length field inside the header
            assert (end == 0) == (pos == starts[k])
        events = conn.receive_data(stream[pos:pos + (end or len(at_hand))])
        frames_done = sum(isinstance(e, FrameReceived) for e in events)
        assert frames_done == (1 if known else 0)
        whole += known
        pos += end or len(at_hand)
    assert pos == len(stream) and conn.bytes_needed == 0
    assert whole >= 1
