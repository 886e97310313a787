"""The sans-I/O connection: chunking, reassembly, UTF-8, ping/pong, close, limits."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.protocol.connection import (
    _BREAKS_RULE,
    _RULES_PASS,
    _WHOLE_MESSAGE,
    DEFAULT_MAX_SIZE,
    Connection,
    InvalidState,
    State,
)
from wsexplore.protocol.buffers import LARGE_FROM
from wsexplore.protocol.deflate import DeflateParams, PerMessageDeflate
from wsexplore.protocol.events import (
    CloseReceived,
    ConnectionClosed,
    FrameReceived,
    FrameSent,
    MessageReceived,
    PongReceived,
    ProtocolViolation,
)
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.masking import apply_mask
from wsexplore.protocol.opcodes import Opcode
from wsexplore.protocol.rules import header_violation
from wsexplore.protocol.states import TRANSITIONS, Trigger, next_state

CHROMIUM = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48" "8283e85d0b2be95f08")
KEY = bytes.fromhex("01020304")


def masked(frame: Frame, key: bytes = KEY) -> bytes:
    return Frame(frame.opcode, frame.payload, fin=frame.fin, rsv1=frame.rsv1, rsv2=frame.rsv2,
                 rsv3=frame.rsv3, mask_key=key).encode()


def kinds(events):
    return [type(e).__name__ for e in events]


def feed(conn: Connection, data: bytes, sizes=None):
    events = []
    if sizes is None:
        return conn.receive_data(data)
    pos = 0
    for size in sizes:
        events += conn.receive_data(data[pos:pos + size])
        pos += size
    events += conn.receive_data(data[pos:])
    return events


def test_chromium_read_holds_two_frames():
    events = Connection("server").receive_data(CHROMIUM)
    assert kinds(events) == ["FrameReceived", "MessageReceived", "FrameReceived", "MessageReceived"]
    first, text, second, binary = events
    assert first.raw == CHROMIUM[:18] and first.offset == 0
    assert first.frame.mask_key == bytes.fromhex("55d0e1e6")
    assert text.data == "发送数据" and text.opcode == Opcode.TEXT
    assert second.raw == CHROMIUM[18:] and second.offset == 18
    assert binary.data == b"\x01\x02\x03" and binary.opcode == Opcode.BINARY


def test_one_byte_at_a_time_gives_the_same_events():
    conn = Connection("server")
    events = feed(conn, CHROMIUM, [1] * (len(CHROMIUM) - 1))
    assert events == Connection("server").receive_data(CHROMIUM)
    assert conn.bytes_received == len(CHROMIUM)


def test_extended_lengths_split_inside_the_header():
    stream = masked(Frame(Opcode.BINARY, b"a" * 300)) + masked(Frame(Opcode.BINARY, b"b" * 70000))
    events = feed(Connection("server"), stream, [3, 1, 1, 200, 5000, 1])
    messages = [e.data for e in events if isinstance(e, MessageReceived)]
    assert messages == [b"a" * 300, b"b" * 70000]
    frames = [e for e in events if isinstance(e, FrameReceived)]
    assert frames[1].offset == len(masked(Frame(Opcode.BINARY, b"a" * 300)))


def test_fragmented_message_with_ping_in_between_is_answered_and_reassembled():
    stream = (
        masked(Frame(Opcode.TEXT, "Hel".encode(), fin=False))
        + masked(Frame(Opcode.PING, b"are you there"))
        + masked(Frame(Opcode.CONTINUATION, "lo, 世界".encode(), fin=True))
    )
    events = Connection("server").receive_data(stream)
    assert kinds(events) == ["FrameReceived", "FrameReceived", "PingReceived", "FrameSent",
                             "FrameReceived", "MessageReceived"]
    pong = events[3]
    assert pong.frame.opcode == Opcode.PONG and pong.frame.payload == b"are you there"
    assert pong.raw == b"\x8a\x0dare you there"
    assert events[-1] == MessageReceived(Opcode.TEXT, "Hello, 世界", 2)


def test_utf8_split_across_fragments_is_fine():
    data = "é".encode()  # c3 a9
    stream = masked(Frame(Opcode.TEXT, data[:1], fin=False)) + masked(Frame(Opcode.CONTINUATION, data[1:]))
    events = Connection("server").receive_data(stream)
    assert events[-1].data == "é"


def test_invalid_utf8_fails_fast_in_the_first_fragment():
    # 0xff can never appear in UTF-8: fail on this fragment, not at the end of the message.
    conn = Connection("server")
    events = conn.receive_data(masked(Frame(Opcode.TEXT, b"ok\xff", fin=False)))
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    violation = events[0]
    assert violation.error.close_code == 1007
    assert violation.error.bit_offset == (6 + 2) * 8  # header + key, then byte 2 of the payload
    assert events[1].frame.close_code == 1007
    assert conn.state is State.CLOSED
    assert conn.receive_data(masked(Frame(Opcode.CONTINUATION, b"x"))) == []


def test_invalid_utf8_fails_fast_inside_a_frame_still_arriving():
    frame = masked(Frame(Opcode.TEXT, b"a" * 50 + b"\xed\xa0\x80" + b"b" * 50))  # a surrogate
    conn = Connection("server")
    events = conn.receive_data(frame[:40])
    assert events == []
    events = conn.receive_data(frame[40:60])  # the bad bytes are here; 50 payload bytes still missing
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    assert events[0].error.close_code == 1007
    assert events[0].error.bit_offset == (6 + 50) * 8


@pytest.mark.parametrize("n, header_length", [(100, 6), (300, 8), (70000, 14)])
def test_bad_utf8_fails_at_the_read_that_brings_it_when_every_byte_is_a_read(n: int, header_length: int):
    # The header arrives in pieces too (each length form): the check waits for the whole header,
    # then judges each byte as it comes, so the failure is at the bad byte's read, not later.
    bad = n // 2
    frame = masked(Frame(Opcode.TEXT, b"a" * bad + b"\xff" + b"b" * (n - bad - 1)))
    conn = Connection("server")
    for i in range(header_length + bad):
        assert conn.receive_data(frame[i:i + 1]) == [], i
    events = conn.receive_data(frame[header_length + bad:header_length + bad + 1])
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    assert events[0].error.close_code == 1007 and events[0].error.bit_offset == (header_length + bad) * 8
    assert events[0].raw == frame[:header_length + bad + 1]


def test_truncated_utf8_at_the_end_of_a_message_is_invalid():
    events = Connection("server").receive_data(masked(Frame(Opcode.TEXT, b"ok\xe4\xb8")))
    assert events[0].error.close_code == 1007


@pytest.mark.parametrize(
    ("raw", "field", "bit"),
    [
        (b"\x81\x02hi", "MASK", 8),  # unmasked client frame
        (masked(Frame(Opcode.TEXT, b"x", rsv1=True)), "RSV1", 1),
        (masked(Frame(3)), "Opcode", 4),
        (masked(Frame(Opcode.PING, fin=False)), "FIN", 0),
        (masked(Frame(Opcode.CONTINUATION, b"x")), "Opcode", 4),
        (b"\x82\xfe\x00\x05" + KEY + b"12345", "Extended payload length", 16),
        (b"\x82\xff" + (5).to_bytes(8, "big") + KEY + b"12345", "Extended payload length", 16),
        (b"\x82\xff" + (1 << 63).to_bytes(8, "big"), "Extended payload length", 16),
        (b"\x89\xfe\x00\x7e" + KEY + b"x" * 126, "Payload length", 9),
        (masked(Frame(Opcode.CLOSE, b"\x03")), "Payload", 48),
        (masked(Frame(Opcode.CLOSE, (1005).to_bytes(2, "big"))), "Close code", 48),
    ],
)
def test_protocol_errors_close_with_1002(raw, field, bit):
    conn = Connection("server")
    events = conn.receive_data(raw)
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"], events
    error = events[0].error
    assert (error.field, error.bit_offset, error.close_code) == (field, bit, 1002)
    assert events[0].offset == 0 and raw.startswith(events[0].raw)
    close = events[1].frame
    assert close.opcode == Opcode.CLOSE and close.close_code == 1002 and close.mask_key is None
    assert len(close.payload) <= 125
    assert events[2] == ConnectionClosed(1002, close.close_reason, "local", False)
    assert conn.state is State.CLOSED


def test_new_message_before_the_fragmented_one_ends_is_a_protocol_error():
    stream = masked(Frame(Opcode.TEXT, b"a", fin=False)) + masked(Frame(Opcode.BINARY, b"b"))
    events = Connection("server").receive_data(stream)
    assert isinstance(events[1], ProtocolViolation)
    assert events[1].error.field == "Opcode" and events[1].offset == 7


def test_close_reason_not_utf8_is_1007():
    events = Connection("server").receive_data(masked(Frame(Opcode.CLOSE, b"\x03\xe8\xff")))
    assert events[0].error.close_code == 1007 and events[0].error.bit_offset == (6 + 2) * 8


def test_frame_too_big_fails_on_the_header_alone():
    conn = Connection("server", max_frame_size=1000)
    events = conn.receive_data(b"\x82\xfe\x03\xe9")  # 1001 bytes announced, none sent
    assert events[0].error.close_code == 1009 and events[0].error.field == "Payload length"
    assert events[1].frame.close_code == 1009


def test_message_too_big_over_fragments():
    conn = Connection("server", max_message_size=10)
    stream = masked(Frame(Opcode.BINARY, b"x" * 6, fin=False)) + masked(Frame(Opcode.CONTINUATION, b"y" * 6))
    events = conn.receive_data(stream)
    assert kinds(events) == ["FrameReceived", "ProtocolViolation", "FrameSent", "ConnectionClosed"]
    assert events[1].error.close_code == 1009


def test_message_at_the_limit_is_accepted():
    conn = Connection("server", max_message_size=10)
    events = conn.receive_data(masked(Frame(Opcode.BINARY, b"x" * 10)))
    assert events[-1] == MessageReceived(Opcode.BINARY, b"x" * 10, 1)


def test_peer_initiated_close_is_echoed_then_closed():
    conn = Connection("server")
    events = conn.receive_data(masked(Frame.close(4000, "bye")) + masked(Frame(Opcode.TEXT, b"late")))
    assert kinds(events) == ["FrameReceived", "CloseReceived", "FrameSent", "ConnectionClosed"]
    assert events[1] == CloseReceived(4000, "bye")
    assert events[2].raw == b"\x88\x02\x0f\xa0"
    assert events[3] == ConnectionClosed(4000, "bye", "remote", True)
    assert conn.state is State.CLOSED
    with pytest.raises(InvalidState):
        conn.send_text("too late")


def test_empty_close_is_answered_with_an_empty_close():
    events = Connection("server").receive_data(masked(Frame(Opcode.CLOSE)))
    assert events[2].raw == b"\x88\x00"
    assert events[3].code == 1005


def test_locally_initiated_close():
    conn = Connection("server")
    assert conn.send_close(1001, "going") == b"\x88\x07\x03\xe9going"
    assert conn.state is State.CLOSING
    with pytest.raises(InvalidState):
        conn.send_binary(b"x")
    # Data still arriving before the peer's close is delivered.
    events = conn.receive_data(masked(Frame(Opcode.TEXT, b"in flight")) + masked(Frame.close(1001)))
    assert kinds(events) == ["FrameReceived", "MessageReceived", "FrameReceived", "CloseReceived",
                             "ConnectionClosed"]
    assert events[-1] == ConnectionClosed(1001, "going", "local", True)


def test_pong_is_reported_and_not_answered():
    events = Connection("server").receive_data(masked(Frame(Opcode.PONG, b"p")))
    assert kinds(events) == ["FrameReceived", "PongReceived"] and events[1] == PongReceived(b"p")


def test_eof_mid_frame_reports_truncation():
    conn = Connection("server")
    conn.receive_data(CHROMIUM[:10])
    events = conn.receive_eof()
    assert kinds(events) == ["ProtocolViolation", "ConnectionClosed"]
    assert events[0].error.missing == 8 and events[0].raw == CHROMIUM[:10]
    assert events[1].code == 1006 and not events[1].clean


def test_server_sends_unmasked_minimal_frames():
    conn = Connection("server")
    assert conn.send_text("Spam") == b"\x81\x04Spam"
    assert conn.last_sent == [FrameSent(Frame(Opcode.TEXT, b"Spam"), b"\x81\x04Spam", 0)]
    assert conn.send_binary(b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert conn.send_ping(b"hi") == b"\x89\x02hi"
    assert conn.bytes_sent == 6 + 130 + 4


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([0, 1, 125, 126, LARGE_FROM - 1, LARGE_FROM, 3 * LARGE_FROM + 5]), st.booleans(),
       st.sampled_from([None, 7, LARGE_FROM + 3]), st.sampled_from(["server", "client"]))
def test_send_message_gives_the_chunks_that_send_text_and_send_binary_join(size, text, fragment_size, role):
    """Joined, the chunks are the bytes the joined API sends; a server's large payload is a chunk of its
    own, the very object given (a fragment's own slice); a client's frames are masked, one chunk each."""
    message: str | bytes = "é" * (size // 2) + "a" * (size % 2) if text else random.Random(size).randbytes(size)
    if fragment_size == 7 and size > 1000:
        fragment_size = None  # thousands of 7-byte frames add nothing here
    chunked, joined = Connection(role), Connection(role)
    chunks = chunked.send_message(message, fragment_size=fragment_size)
    data = (joined.send_text if text else joined.send_binary)(message, fragment_size=fragment_size)
    if role == "client":  # a fresh masking key per frame: compared through what a server reads
        assert len(chunks) == len(chunked.last_sent)
        got = [e.data for e in Connection("server").receive_data(b"".join(chunks)) if kinds([e]) == ["MessageReceived"]]
        assert got == [message]
        return
    assert b"".join(chunks) == data
    assert chunked.bytes_sent == joined.bytes_sent == len(data)
    assert chunked.last_sent == joined.last_sent
    payload = message if isinstance(message, bytes) else None
    for sent in chunked.last_sent:
        unjoined = len(sent.frame.payload) >= LARGE_FROM
        assert (sent._header is not None) == unjoined
        if unjoined:
            header = sent._header
            i = next(i for i, c in enumerate(chunks) if c is header)
            assert chunks[i + 1] is sent.frame.payload and sent.size == len(header) + len(sent.frame.payload)
            if payload is not None and fragment_size is None:
                assert chunks[i + 1] is payload  # not even copied out of the message given
        else:
            assert any(c is sent.raw for c in chunks)  # encoded whole, a chunk of its own


def test_a_frame_sent_unjoined_joins_its_bytes_only_when_asked():
    conn = Connection("server")
    payload = bytes(LARGE_FROM)
    header, body = conn.send_message(payload)
    (sent,) = conn.last_sent
    with pytest.raises(AttributeError):
        FrameSent.raw.__get__(sent, FrameSent)  # the slot: nothing was joined to send it
    assert body is payload and sent.size == len(header) + LARGE_FROM
    assert sent.raw == header + payload == Frame(Opcode.BINARY, payload).encode()
    assert FrameSent.raw.__get__(sent, FrameSent) is sent.raw  # joined once, then kept
    assert sent == FrameSent(Frame(Opcode.BINARY, payload), header + payload, 0)
    with pytest.raises(ValueError, match="raw bytes or its header"):
        FrameSent(Frame(Opcode.BINARY), None, 0)


def test_fragmented_send():
    conn = Connection("server")
    data = conn.send_text("abcdefg", fragment_size=3)
    assert data == b"\x01\x03abc" + b"\x00\x03def" + b"\x80\x01g"
    assert [s.offset for s in conn.last_sent] == [0, 5, 10]
    # And our own server reads it back (as a client would).
    assert Connection("client").receive_data(data)[-1] == MessageReceived(Opcode.TEXT, "abcdefg", 3)


def test_client_masks_every_frame_with_a_fresh_key():
    conn = Connection("client")
    keys = set()
    for _ in range(20):
        conn.send_text("hello")
        frame = conn.last_sent[0].frame
        assert frame.mask_key is not None and conn.last_sent[0].raw[1] & 0x80
        keys.add(frame.mask_key)
    assert len(keys) > 15
    server = Connection("server")
    assert server.receive_data(conn.send_text("hi"))[-1].data == "hi"


def test_client_rejects_masked_server_frame():
    events = Connection("client").receive_data(masked(Frame(Opcode.TEXT, b"x")))
    assert events[0].error.field == "MASK" and events[0].error.close_code == 1002
    assert events[1].frame.mask_key is not None  # the client's close is masked


def test_send_close_validates_code_and_reason():
    with pytest.raises(ValueError):
        Connection("server").send_close(1005)
    with pytest.raises(ValueError):
        Connection("server").send_close(1000, "x" * 124)


# --------------------------------------------------------------------------- properties
frames_st = st.builds(
    lambda opcode, payload, key: (opcode, payload, key),
    st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG]),
    st.one_of(
        st.binary(max_size=130),
        # 16-bit and 64-bit length forms, without asking hypothesis for 64 KiB of entropy.
        st.tuples(st.binary(min_size=1, max_size=8), st.integers(min_value=125, max_value=66000)).map(
            lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
        ),
    ),
    st.binary(min_size=4, max_size=4),
)


def _stream(specs) -> bytes:
    out = []
    for opcode, payload, key in specs:
        if opcode == Opcode.TEXT:
            payload = payload.decode("latin-1").encode()
        if opcode >= 8:
            payload = payload[:125]
        out.append(Frame(opcode, payload, mask_key=key).encode())
    return b"".join(out)


@settings(max_examples=100, deadline=None)
@given(st.lists(frames_st, max_size=6), st.randoms(use_true_random=False))
def test_events_do_not_depend_on_chunking(specs, rnd):
    stream = _stream(specs)
    whole = Connection("server").receive_data(stream)
    cuts = sorted(rnd.sample(range(1, len(stream)), min(len(stream) - 1, 12))) if len(stream) > 1 else []
    sizes = [b - a for a, b in zip([0] + cuts, cuts)]
    assert feed(Connection("server"), stream, sizes) == whole
    assert len([e for e in whole if isinstance(e, FrameReceived)]) == len(specs)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["server", "client"]))
def test_receive_data_never_raises_on_random_bytes(data, role):
    conn = Connection(role)
    events = feed(conn, data, [7] * (len(data) // 7)) + conn.receive_eof()
    assert isinstance(events[-1], ConnectionClosed) or conn.state is State.CLOSED


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.integers(min_value=1, max_value=20))
def test_fragmented_text_round_trip(text, size):
    client, server = Connection("client"), Connection("server")
    events = server.receive_data(client.send_text(text, fragment_size=size))
    assert events[-1].data == text


def test_random_split_of_many_small_frames():
    rnd = random.Random(6455)
    stream = b"".join(masked(Frame(Opcode.TEXT, bytes([97 + i % 26]) * rnd.randint(0, 200)),
                             rnd.randbytes(4)) for i in range(300))
    whole = Connection("server").receive_data(stream)
    sizes = [rnd.randint(1, 50) for _ in range(len(stream) // 25)]
    assert feed(Connection("server"), stream, sizes) == whole
    assert sum(isinstance(e, MessageReceived) for e in whole) == 300


# Large messages, as Autobahn|Testsuite cases 9.1-9.4 send them: memory stays a small multiple of the message.
def _peak_while(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("opcode", [Opcode.BINARY, Opcode.TEXT])
def test_large_frame_in_pieces_is_not_held_twice(opcode):
    size = 2 * 1024 * 1024
    payload = bytes(random.Random(9).choices(b"abcdefgh", k=size))
    data = masked(Frame(opcode, payload))
    conn = Connection("server")

    def run():
        events = []
        for i in range(0, len(data), 65536):
            events += conn.receive_data(data[i:i + 65536])
        return events

    events, peak = _peak_while(run)
    assert kinds(events) == ["FrameReceived", "MessageReceived"]
    assert events[0].raw == data and type(events[0].raw) is bytes and events[0].offset == 0
    assert events[1].data == (payload.decode() if opcode == Opcode.TEXT else payload)
    assert conn._buf == b"" and conn.bytes_received == len(data)
    # The reassembly buffer is let go once the frame's bytes are copied out (it used to be sliced,
    # copied again and kept alive while unmasking): buffer + raw + payload + text, not six copies.
    assert peak < 4.5 * size


# A large frame arriving in several reads is gathered read by read and joined once it is whole.
def test_large_text_frame_fails_fast_on_bad_utf8_in_a_later_read():
    payload = "é".encode() * 3000 + b"\xff" + b"a" * 5000  # 0xff at payload byte 6000
    frame = masked(Frame(Opcode.TEXT, payload))
    conn = Connection("server")
    # The first read holds the header and part of the payload; then a 2-byte character is cut in two.
    assert conn.receive_data(frame[:2001]) == []
    assert conn.receive_data(frame[2001:4000]) == []
    assert conn.bytes_received == 4000 and conn.bytes_needed == len(frame) - 4000
    assert conn.buffered >= 4000
    events = conn.receive_data(frame[4000:7000])  # the bad byte is here, 3000 payload bytes still missing
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    assert events[0].error.close_code == 1007
    assert events[0].error.bit_offset == (8 + 6000) * 8  # 16-bit length and key, then payload byte 6000
    assert events[0].raw == frame[:7000] and events[0].offset == 0
    assert conn.bytes_needed == 0 and not conn.incomplete


def test_large_frame_cut_short_reports_every_byte_that_arrived():
    frame = masked(Frame(Opcode.BINARY, bytes(range(256)) * 40))
    conn = Connection("server")
    for start in range(0, 9000, 3000):
        assert conn.receive_data(frame[start:start + 3000]) == []
    assert conn.bytes_received == 9000 and conn.bytes_needed == len(frame) - 9000
    events = conn.receive_eof()
    assert kinds(events) == ["ProtocolViolation", "ConnectionClosed"]
    assert events[0].raw == frame[:9000] and events[0].error.missing == len(frame) - 9000


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY]), st.integers(0, 40000)),
                min_size=1, max_size=4),
       st.lists(st.integers(1, 20000), min_size=1, max_size=30), st.booleans())
def test_large_frames_in_any_reads_give_the_events_of_the_whole_stream(frames, cuts, bad_text):
    """However large frames are cut into reads, the events are those of the stream read at once."""
    encoded = []
    for i, (opcode, n) in enumerate(frames):
        text = ("aé" * n)[: n * 2 // 3]  # about n bytes
        payload = text.encode()
        if bad_text and opcode == Opcode.TEXT and i == len(frames) - 1:  # fails fast, partway through
            payload = text[: len(text) // 2].encode() + b"\xff" + text[len(text) // 2 :].encode()
        encoded.append(masked(Frame(opcode, payload)))
    stream = b"".join(encoded)
    whole = Connection("server").receive_data(stream)
    conn = Connection("server")
    pieces = []
    pos = 0
    for i in range(len(stream)):
        if pos >= len(stream):
            break
        size = cuts[i % len(cuts)]
        pieces += conn.receive_data(stream[pos:pos + size])
        pos += size
        assert conn.bytes_received == min(pos, len(stream)) or conn.state is not State.OPEN

    def seen(event, whole_raw=None):
        if isinstance(event, ProtocolViolation):  # failing fast: what had arrived of the frame, the same error
            assert whole_raw is None or whole_raw.startswith(event.raw)
            return type(event), event.offset, event.error.close_code, event.error.bit_offset
        if isinstance(event, FrameSent):  # the close frame answering it (its reason counts bytes from a read)
            return type(event), event.offset, event.frame.close_code
        return type(event), getattr(event, "raw", None), getattr(event, "offset", None)

    assert len(pieces) == len(whole)
    assert [seen(e, getattr(w, "raw", None)) for e, w in zip(pieces, whole)] == [seen(w) for w in whole]
    assert [e.data for e in pieces if isinstance(e, MessageReceived)] == \
        [e.data for e in whole if isinstance(e, MessageReceived)]
    if conn.state is State.OPEN:
        assert conn.buffered == 0 and conn.bytes_needed == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
                          st.sampled_from([LARGE_FROM - 14, LARGE_FROM - 13, LARGE_FROM + 1, 300_001])),
                min_size=1, max_size=3),
       st.lists(st.integers(500, 120_000), min_size=1, max_size=10), st.sampled_from(["good", "middle", "end"]),
       st.binary(min_size=4, max_size=4),
       st.lists(st.sampled_from(["read on", "prepare", "release_prepared"]), min_size=1, max_size=6))
def test_frames_unmasked_as_they_arrive_give_the_events_of_the_whole_stream(frames, cuts, bad, key, idle):
    """From ``LARGE_FROM`` bytes on, a masked frame's payload is unmasked read by read (``unmasking``):
    the events are still those of the stream read at once, bad UTF-8 and violations included, whatever
    idle-time work (``prepare``, ``release_prepared``) comes between reads."""
    encoded = []
    for i, (opcode, n) in enumerate(frames):
        payload = bytes(random.Random(n).choices(b"abcdefgh", k=n - 14))  # with a 64-bit length: n on the wire
        if opcode == Opcode.TEXT and i == len(frames) - 1:
            half = len(payload) // 2
            if bad == "middle":  # bad UTF-8 halfway: the frame fails fast, before its end arrives
                payload = payload[:half] + b"\xff" + payload[half + 1 :]
            elif bad == "end":  # a character cut short at the end: it fails once whole
                payload = payload[:-1] + b"\xc3"
        encoded.append(masked(Frame(opcode, payload), key))
    stream = b"".join(encoded)
    whole = Connection("server").receive_data(stream)
    conn = Connection("server")
    pieces, pos, i = [], 0, 0
    while pos < len(stream) and conn.state is State.OPEN:
        pieces += conn.receive_data(stream[pos:pos + cuts[i % len(cuts)]])
        pos += cuts[i % len(cuts)]
        if idle[i % len(idle)] != "read on":
            getattr(conn, idle[i % len(idle)])()
        i += 1

    def seen(event):
        if isinstance(event, ProtocolViolation):
            return type(event), event.offset, event.error.close_code, event.error.bit_offset
        if isinstance(event, FrameSent):
            return type(event), event.offset, event.frame.close_code
        return type(event), getattr(event, "raw", None), getattr(event, "offset", None)

    assert [seen(e) for e in pieces] == [seen(w) for w in whole]
    for got, want in zip(pieces, whole):
        if isinstance(got, ProtocolViolation):  # what had arrived of the frame, exactly
            assert want.raw.startswith(got.raw) and stream[got.offset:].startswith(got.raw)
        elif isinstance(got, FrameReceived):
            assert (got.frame, got.size) == (want.frame, len(want.raw))
        elif isinstance(got, MessageReceived):
            assert got == want
    if bad == "end" and frames[-1][0] == Opcode.TEXT:
        assert any(isinstance(e, ProtocolViolation) and e.error.close_code == 1007 for e in pieces)


def test_a_frame_unmasked_as_it_arrived_makes_its_raw_bytes_only_when_asked():
    payload = bytes(range(256)) * (LARGE_FROM // 256)
    frame = masked(Frame(Opcode.BINARY, payload), b"\x9a\x0b\xfe\x11")
    conn = Connection("server")
    events = feed(conn, frame, [1000, 65536, 65536, 100000])
    assert kinds(events) == ["FrameReceived", "MessageReceived"]
    received = events[0]
    with pytest.raises(AttributeError):
        FrameReceived.raw.__get__(received, FrameReceived)  # kept as header and payload, not joined
    assert received._payload is events[1].data and events[1].data == payload
    assert received.size == len(frame) and received.frame == Frame.decode(frame)
    assert received.raw == frame and received == FrameReceived(frame, 0)
    assert conn.buffered == 0 and conn.bytes_needed == 0 and conn.bytes_received == len(frame)
    # An observer keeps the bytes as they came: a tap or a file reader shows them as they are.
    watcher = Connection("server", observer=True)
    (seen, _) = feed(watcher, frame, [1000, 65536, 65536, 100000])
    assert FrameReceived.raw.__get__(seen, FrameReceived) == frame


def test_prepare_makes_the_next_large_payload_while_idle_and_lets_the_last_reads_go():
    """After a large masked frame, ``prepare`` makes the next payload at its size: a frame of that size
    is unmasked into it; a frame of another size gets one of its own. Once ``prepare`` was called, a
    frame's reads are kept until the next call (their memory goes to the next frame's reads once the
    payload took fresh memory)."""
    key = b"\x9a\x0b\xfe\x11"
    sizes = [LARGE_FROM, LARGE_FROM, LARGE_FROM + 4096, LARGE_FROM + 4096]
    frames = [masked(Frame(Opcode.BINARY, bytes([i]) * n), key) for i, n in enumerate(sizes)]
    conn = Connection("server")
    conn.prepare()  # nothing to do before any frame
    unmasking = None
    for i, frame in enumerate(frames):
        events = feed(conn, frame, [1000, 65536, 100000, 100000])
        assert kinds(events) == ["FrameReceived", "MessageReceived"] and events[1].data == bytes([i]) * sizes[i]
        assert events[0].raw == frame
        unmasking = conn._unmasking
        # The frame's reads, kept for ``prepare`` once it was called: not before.
        assert unmasking.payload is None and len(unmasking.spent) == (4 if i else 0)
        if i > 0:
            # The frame took the payload made ahead when it had that size, and made its own otherwise.
            assert (events[1].data is ahead) == (sizes[i] == sizes[i - 1])
        conn.prepare()
        ahead = unmasking._ahead
        assert unmasking.spent is None and len(ahead) == sizes[i]
    conn.release_prepared()
    assert unmasking.spent is None and unmasking._ahead is None
    # A connection whose I/O layer never calls ``prepare`` keeps neither reads nor payloads between frames.
    plain = Connection("server")
    for frame in frames:
        assert kinds(feed(plain, frame, [1000, 65536, 100000, 100000])) == ["FrameReceived", "MessageReceived"]
        assert plain._unmasking.spent == [] and plain._unmasking._ahead is None
    # A frame under LARGE_FROM is joined as before and leaves what was made ahead alone.
    conn.prepare()
    small = masked(Frame(Opcode.BINARY, b"s" * 70000), key)
    events = feed(conn, small, [1000, 69010])
    assert kinds(events) == ["FrameReceived", "MessageReceived"] and events[0].raw == small
    assert conn.buffered == 0 and conn.bytes_needed == 0


def test_large_frame_sharing_a_read_with_the_next_frame():
    payload = bytes(range(256)) * 1024  # 256 KiB
    big = masked(Frame(Opcode.BINARY, payload))
    small = masked(Frame(Opcode.TEXT, b"after"))
    stream = big + small
    conn = Connection("server")
    # The big frame comes in pieces; its last 47 bytes arrive with the small frame's first 3, then the rest.
    events = feed(conn, stream, [1000, len(big) - 1047, 50])
    assert kinds(events) == ["FrameReceived", "MessageReceived", "FrameReceived", "MessageReceived"]
    assert events[0].raw == big and events[1].data == payload
    assert events[2].raw == small and events[2].offset == len(big) and events[3].data == "after"
    assert conn._buf == b""


def test_the_read_that_completes_a_large_frame_goes_on_to_the_frames_after_it():
    """The large frame is joined on its own (its raw bytes are that join); the rest of the read is then
    read as usual: whole frames, the start of the next large one, a close and what follows it."""
    first = masked(Frame(Opcode.BINARY, bytes(range(256)) * 20))  # 5 KiB
    small = masked(Frame(Opcode.TEXT, b"between"))
    second = masked(Frame(Opcode.TEXT, "é".encode() * 3000))
    close = masked(Frame(Opcode.CLOSE, b"\x03\xe8"))
    stream = first + small + second + close + b"after the close"
    conn = Connection("server")
    events = feed(conn, stream, [100, len(first) - 100 + len(small) + 50, len(second) - 50 + len(close) + 15])
    whole = Connection("server").receive_data(stream)
    assert [(type(e), getattr(e, "raw", None), getattr(e, "offset", None)) for e in events] == \
        [(type(e), getattr(e, "raw", None), getattr(e, "offset", None)) for e in whole]
    assert kinds(events)[:6] == ["FrameReceived", "MessageReceived"] * 3
    assert events[0].raw == first and events[2].raw == small and events[4].raw == second
    assert events[2].offset == len(first) and events[5].data == "é" * 3000
    assert events[6].raw == close and conn.state is not State.OPEN
    assert conn.bytes_received == len(stream) - len(b"after the close")


def test_text_in_64_byte_fragments_read_in_4k_chunks():
    """Case 9.3.1 scaled down: a text message in many tiny fragments arrives intact and in order."""
    text = ("wsexplore é中😀 " * 20000)[:200000]
    client, server = Connection("client"), Connection("server")
    data = client.send_text(text, fragment_size=64)
    events = feed(server, data, [4096] * (len(data) // 4096))
    messages = [e for e in events if isinstance(e, MessageReceived)]
    assert len(messages) == 1 and messages[0].data == text
    assert messages[0].frames == -(-len(text.encode()) // 64)


@pytest.mark.parametrize("limit", ["max_frame_size", "max_message_size"])
def test_small_limits_apply_to_small_frames(limit):
    # A 20-byte text frame, whole and final (the fast path), over a 16-byte limit.
    conn = Connection("server", **{limit: 16})
    events = conn.receive_data(masked(Frame(Opcode.TEXT, b"x" * 20)))
    assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    assert events[0].error.close_code == 1009 and events[1].frame.close_code == 1009
    assert Connection("server", **{limit: 20}).receive_data(masked(Frame(Opcode.TEXT, b"x" * 20)))[-1].data == "x" * 20


# --------------------------------------------------------------------------- the receive loop judges as the rules do
# The receive loop does not call rules.header_violation for every frame: it looks the first two bytes up in a
# table of header kinds (connection._header_kinds), and a frame that is a whole small message takes the fast
# path on that alone. These tests hold the loop to the rules on every header.
ROLES = ["server", "client"]
# (field, RFC rule) of every error rules.header_violation can give.
HEADER_RULES = {("FIN", "5.5"), ("RSV1", "5.2"), ("RSV2", "5.2"), ("RSV3", "5.2"), ("RSV1", "RFC 7692 section 6"),
                ("Opcode", "5.2"), ("MASK", "5.1"), ("Payload length", "5.5"), ("Extended payload length", "5.2")}


def _options(role: str, rsv_allowed: int, deflate: bool) -> dict:
    return {"rsv_allowed": rsv_allowed, "deflate": PerMessageDeflate(None, role) if deflate else None}


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "permessage-deflate"])
@pytest.mark.parametrize("rsv_allowed", [0, 0x30], ids=["no RSV", "RSV2+RSV3"])
@pytest.mark.parametrize("role", ROLES)
def test_header_kinds_agree_with_the_rules_on_every_first_two_bytes(role: str, rsv_allowed: int,
                                                                    deflate: bool) -> None:
    conn = Connection(role, **_options(role, rsv_allowed, deflate))
    kinds = conn._header_kinds
    expect_mask = 0x80 if role == "server" else 0
    for b0 in range(256):
        for b1 in range(256):
            len7 = b1 & 0x7F
            # With a 16/64-bit length, what the first two bytes alone say (the length is judged apart).
            err = header_violation(b0, b1, len7 if len7 < 126 else None, role=role,  # type: ignore[arg-type]
                                   rsv_allowed=conn.rsv_allowed, permessage_deflate=deflate)
            kind = kinds[(b0 << 8) | b1]
            assert (kind == _BREAKS_RULE) == (err is not None), (hex(b0), hex(b1), err)
            whole = b0 in (0x81, 0x82) and b1 & 0x80 == expect_mask and len7 < 126
            assert (kind == _WHOLE_MESSAGE) == whole, (hex(b0), hex(b1))
            assert kind in (_BREAKS_RULE, _RULES_PASS, _WHOLE_MESSAGE)


def _frame_bytes(b0: int, b1: int, ext: int, role: str) -> tuple[bytes, int, bool]:
    """A frame with these first bytes: (bytes, payload length, whole frame included)."""
    len7 = b1 & 0x7F
    if len7 == 126:
        length, extended = ext & 0xFFFF, (ext & 0xFFFF).to_bytes(2, "big")
    elif len7 == 127:
        length, extended = ext, ext.to_bytes(8, "big")
    else:
        length, extended = len7, b""
    key = KEY if b1 & 0x80 else b""
    header = bytes((b0, b1)) + extended + key
    if length > 400:
        return header, length, False  # header only: judged before the payload arrives
    payload = b"\x03\xe8" + b"a" * (length - 2) if length >= 2 else b"a" * length  # a valid close body too
    return header + (apply_mask(payload, KEY) if key else payload), length, True


@settings(max_examples=3000, deadline=None)
@given(
    b0=st.integers(0, 255),
    b1=st.integers(0, 255),
    ext=st.one_of(st.integers(0, 0x1FFFF), st.integers(0, (1 << 64) - 1)),
    role=st.sampled_from(ROLES),
    rsv_allowed=st.sampled_from([0, 0x20, 0x10, 0x30]),
    deflate=st.booleans(),
    max_frame_size=st.one_of(st.just(DEFAULT_MAX_SIZE), st.integers(0, 300)),
    max_message_size=st.one_of(st.just(DEFAULT_MAX_SIZE), st.integers(0, 300)),
    in_message=st.booleans(),
)
def test_receive_loop_judges_every_header_as_the_rules_do(b0, b1, ext, role, rsv_allowed, deflate, max_frame_size,
                                                         max_message_size, in_message):
    conn = Connection(role, max_frame_size=max_frame_size, max_message_size=max_message_size,
                      **_options(role, rsv_allowed, deflate))
    data, length, whole = _frame_bytes(b0, b1, ext, role)
    if in_message:  # a text message begun, one byte long, so that continuation frames have one to continue
        first = Frame(Opcode.TEXT, b"x", fin=False, mask_key=KEY if role == "server" else None).encode()
        assert kinds(conn.receive_data(first)) in (["FrameReceived"],
                                                   ["ProtocolViolation", "FrameSent", "ConnectionClosed"])
        if conn.state is State.CLOSED:  # limits of 0 bytes: nothing more to see
            return
    start = conn.bytes_received
    events = conn.receive_data(data)
    expected = header_violation(b0, b1, length, role=role, rsv_allowed=conn.rsv_allowed, permessage_deflate=deflate)
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    if expected is not None:
        # The rules find a violation: the loop reports exactly it, on this frame, before accepting anything.
        assert violations and violations[0].error == expected and violations[0].offset == start
        assert kinds(events) == ["ProtocolViolation", "FrameSent", "ConnectionClosed"]
    else:
        # The rules find none: the loop may still refuse the frame for another reason (fragmentation,
        # a limit, the payload), never for a header rule.
        for v in violations:
            assert (v.error.field, v.error.rfc) not in HEADER_RULES, v.error
        if whole and not violations:
            assert [e.raw for e in events if isinstance(e, FrameReceived)] == [data]
            # Byte by byte, through the partial-frame checks, the frame is taken the same way.
            again = Connection(role, max_frame_size=max_frame_size, max_message_size=max_message_size,
                               **_options(role, rsv_allowed, deflate))
            if in_message:
                again.receive_data(first)
            received = [e for e in feed(again, data, [1] * (len(data) - 1)) if not isinstance(e, FrameSent)]
            assert received == [e for e in events if not isinstance(e, FrameSent)]  # (a client's keys are random)


# --------------------------------------------------------------------------- the transition table
def _in_state(state: State) -> Connection:
    conn = Connection("server")
    if state is State.CLOSING:
        conn.send_close(1000)
    elif state is State.CLOSED:
        conn.receive_data(masked(Frame.close(1000)))
    assert conn.state is state
    return conn


_TRIGGERS = {
    Trigger.SEND: lambda c: c.send_text("x"),
    Trigger.SEND_CLOSE: lambda c: c.send_close(1001),
    Trigger.RECEIVE: lambda c: c.receive_data(masked(Frame(Opcode.TEXT, b"in"))),
    Trigger.RECEIVE_CLOSE: lambda c: c.receive_data(masked(Frame.close(1000))),
    Trigger.FAIL: lambda c: c.receive_data(b"\x81\x02in"),  # unmasked: the peer broke a rule
    Trigger.EOF: lambda c: c.receive_eof(),
}


@pytest.mark.parametrize("trigger", list(Trigger), ids=lambda t: t.name)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_the_connection_moves_as_the_transition_table_says(state: State, trigger: Trigger) -> None:
    conn = _in_state(state)
    row = TRANSITIONS[state]
    if trigger in row:
        _TRIGGERS[trigger](conn)
        assert conn.state is row[trigger]
    elif trigger in (Trigger.SEND, Trigger.SEND_CLOSE):
        with pytest.raises(InvalidState, match=f"^cannot send: connection is {state.name}$"):
            _TRIGGERS[trigger](conn)
        assert conn.state is state
    else:  # bytes or the end of the stream after the connection closed: nothing happens
        assert _TRIGGERS[trigger](conn) == [] and conn.state is state


def test_transition_table_follows_the_closing_handshake() -> None:
    # Section 7.1: one close sent and one received close the connection, whichever came first.
    assert next_state(next_state(State.OPEN, Trigger.SEND_CLOSE), Trigger.RECEIVE_CLOSE) is State.CLOSED
    assert next_state(State.OPEN, Trigger.RECEIVE_CLOSE) is State.CLOSED  # our echo is the second close
    assert all(not TRANSITIONS[State.CLOSED] and TRANSITIONS[s].get(Trigger.EOF) is State.CLOSED
               for s in (State.OPEN, State.CLOSING))
    with pytest.raises(InvalidState, match="^cannot send a close: connection is CLOSING$"):
        next_state(State.CLOSING, Trigger.SEND_CLOSE)


# ---------------------------------------------------------------------------- answering before failing
def _client(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin, mask_key=b"\x01\x02\x03\x04").encode()


def test_answer_before_failing_holds_the_close_until_finish_failure() -> None:
    conn = Connection("server", answer_before_failing=True)
    events = conn.receive_data(_client(Opcode.TEXT, b"hi") + _client(0x3) + _client(Opcode.TEXT, b"after"))
    assert [type(e) for e in events] == [FrameReceived, MessageReceived, ProtocolViolation]
    assert conn.failure_pending and conn.state.name == "OPEN"
    assert conn.receive_data(_client(Opcode.TEXT, b"more")) == []  # nothing after the bad frame is read
    reply = conn.send_text("hi")  # the answer to the message before it may still go out
    assert Frame.decode(reply).payload == b"hi"
    closing = conn.finish_failure()
    assert [type(e) for e in closing] == [FrameSent, ConnectionClosed]
    assert closing[0].frame.opcode == Opcode.CLOSE and closing[0].frame.close_code == 1002
    assert closing[1].code == 1002 and not closing[1].clean
    assert not conn.failure_pending and conn.finish_failure() == []
    assert conn.close_sent is not None and conn.close_sent[0] == 1002


def test_answer_before_failing_closes_at_once_when_no_message_came_before() -> None:
    conn = Connection("server", answer_before_failing=True)
    events = conn.receive_data(_client(Opcode.TEXT, b"x", fin=False) + _client(0x3))
    assert [type(e) for e in events] == [FrameReceived, ProtocolViolation, FrameSent, ConnectionClosed]
    assert not conn.failure_pending


def test_without_answer_before_failing_the_close_goes_out_in_the_same_call() -> None:
    conn = Connection("server")
    events = conn.receive_data(_client(Opcode.TEXT, b"hi") + _client(0x3))
    assert [type(e) for e in events] == [FrameReceived, MessageReceived, ProtocolViolation, FrameSent,
                                         ConnectionClosed]


def test_end_of_stream_while_a_failure_waits_sends_its_close() -> None:
    conn = Connection("server", answer_before_failing=True)
    conn.receive_data(_client(Opcode.BINARY, b"\x00") + _client(Opcode.PING, bytes(126)))
    assert conn.failure_pending
    events = conn.receive_eof()
    assert [type(e) for e in events] == [FrameSent, ConnectionClosed]
    assert events[1].code == 1002


# ---------------------------------------------------------------------------- fail-fast UTF-8 names the right byte
@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=300), cut=st.integers(min_value=0), bad=st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"]),
       sizes=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=40), fragmented=st.booleans())
def test_utf8_failure_names_the_same_byte_whatever_the_reads(text: str, cut: int, bad: bytes, sizes: list[int],
                                                             fragmented: bool) -> None:
    """The bad byte of a text frame arriving in pieces (checked as it arrives) is named as when read at once:
    its index in the payload in the reason, its bit offset in the frame."""
    data = text.encode()
    at = len(text[: cut % (len(text) + 1)].encode())  # on a character boundary
    payload = data[:at] + bad + data[at:]
    stream = b""
    if fragmented:
        stream += Frame(Opcode.TEXT, "ok".encode(), fin=False, mask_key=b"\x01\x02\x03\x04").encode()
    stream += Frame(Opcode.CONTINUATION if fragmented else Opcode.TEXT, payload,
                    mask_key=b"\x05\x06\x07\x08").encode()
    whole = [e for e in Connection("server").receive_data(stream) if isinstance(e, ProtocolViolation)]
    conn, pieces, pos, i = Connection("server"), [], 0, 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        pieces.append(stream[pos:pos + size])
        pos, i = pos + size, i + 1
    events = []
    for piece in pieces:
        events += conn.receive_data(piece)
    split = [e for e in events if isinstance(e, ProtocolViolation)]
    assert len(whole) == len(split) == 1
    assert (split[0].error.bit_offset, split[0].error.message) == (whole[0].error.bit_offset, whole[0].error.message)
    assert conn.buffered == 0


# ---------------------------------------------------------------------------- 16-bit lengths on the fast path
def test_every_payload_length_and_key_phase_of_the_fast_path_unmasks_right() -> None:
    """The receive loop unmasks whole small messages itself (7-bit and 16-bit lengths, every strategy's
    sizes): each payload must come back as sent, whatever the key, in one read with the others."""
    from wsexplore.protocol.masking import _BITS_FROM

    rng = random.Random(6455)
    sizes = [*range(0, 130), *range(_BITS_FROM - 10, _BITS_FROM + 10), 1000, 4099]
    payloads = [rng.randbytes(n) for n in sizes]
    keys = [rng.randbytes(4) for _ in sizes]
    stream = b"".join(masked(Frame(Opcode.BINARY, p), k) for p, k in zip(payloads, keys))
    events = Connection("server").receive_data(stream)
    assert [e.data for e in events if isinstance(e, MessageReceived)] == payloads
    texts = ["é" * (n // 2) + "a" * (n % 2) for n in sizes]
    stream = b"".join(masked(Frame(Opcode.TEXT, t.encode()), k) for t, k in zip(texts, keys))
    assert [e.data for e in Connection("server").receive_data(stream) if isinstance(e, MessageReceived)] == texts


def _with_16bit_length(opcode: int, payload: bytes, key: bytes = KEY) -> bytes:
    """A masked frame whose length takes the 16-bit form, even when 7 bits would do (non-minimal)."""
    masked_payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | 126)) + len(payload).to_bytes(2, "big") + key + masked_payload


@pytest.mark.parametrize("size", [125, 126, 127, 4096, 65535])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_16_bit_lengths_are_read_whole_and_judged(size: int, opcode: Opcode) -> None:
    payload = b"a" * size
    conn = Connection("server", max_message_size=1 << 20)
    events = conn.receive_data(_with_16bit_length(opcode, payload) + Frame(Opcode.TEXT, b"next", mask_key=KEY).encode())
    if size <= 125:  # non-minimal: section 5.2, named by the general path
        assert isinstance(events[0], ProtocolViolation)
        assert events[0].error.field == "Extended payload length" and events[0].error.rfc == "5.2"
        return
    data = payload.decode() if opcode == Opcode.TEXT else payload
    assert [type(e) for e in events] == [FrameReceived, MessageReceived, FrameReceived, MessageReceived]
    assert events[1].data == data and events[3].data == "next"
    assert events[2].offset == 8 + size  # header of 2 + 2 + 4 bytes


def test_16_bit_lengths_over_the_limit_and_split_reads() -> None:
    over = Connection("server", max_message_size=1000)
    (violation, *_rest) = over.receive_data(_with_16bit_length(Opcode.BINARY, bytes(1001)))
    assert isinstance(violation, ProtocolViolation) and violation.error.close_code == 1009
    frame = _with_16bit_length(Opcode.TEXT, "é".encode() * 300)
    conn, events = Connection("server"), []
    for i in range(0, len(frame), 7):
        events += conn.receive_data(frame[i:i + 7])
    assert [type(e) for e in events] == [FrameReceived, MessageReceived]
    assert events[1].data == "é" * 300 and events[0].raw == frame


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                          st.integers(0, 300_000).map(lambda n: b"b" * n),
                          st.sampled_from([125, 126, 127, 65535, 65536, LARGE_FROM - 1, LARGE_FROM]).map(
                              lambda n: "t" * n)),
                min_size=1, max_size=6),
       st.booleans())
def test_a_server_message_in_one_frame_is_sent_as_the_general_path_sends_it(messages, deflate):
    """``send_message`` writes a server's message of one frame below ``LARGE_FROM`` without the general
    path's calls: the same chunks, events and offsets (compressed alike under permessage-deflate), and a
    ``frame`` that holds the very payload sent (which the capture shares with the message record)."""
    def connection() -> Connection:
        return Connection("server", deflate=PerMessageDeflate(DeflateParams(), "server") if deflate else None)

    quick, general = connection(), connection()
    for message in messages:
        chunks = quick.send_message(message)
        payload = message.encode() if isinstance(message, str) else message
        want = general._send_payload(Opcode.TEXT if isinstance(message, str) else Opcode.BINARY, payload, None,
                                     None)
        assert chunks == want and quick.last_sent == general.last_sent
        (sent,) = quick.last_sent
        assert sent.offset == general.last_sent[0].offset and sent.size == sum(map(len, want))
        assert sent.frame == general.last_sent[0].frame
        if not sent.frame.rsv1:
            assert sent.frame == Frame(Opcode.TEXT if isinstance(message, str) else Opcode.BINARY, payload)
        if type(message) is bytes and not sent.frame.rsv1:
            assert sent.frame.payload is message
    assert quick.bytes_sent == general.bytes_sent
    # Once a close was sent, the general path says why nothing more can go.
    quick.send_close()
    with pytest.raises(InvalidState):
        quick.send_message("late")
