"""The capture store: records, bounds, subscribers, filters, JSON Lines, redaction."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.capture import (
    Capture,
    CloseRecord,
    ErrorRecord,
    FrameRecord,
    MessageRecord,
    OpenRecord,
    Records,
)
from wsexplore.capture.records import MESSAGE_COST, memory_cost
from wsexplore.display import format_size
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.errors import FramingError, HandshakeError, InvalidUTF8, TruncatedFrame
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode, opcode_name
from wsexplore.protocol.rules import header_violation

CHROMIUM_TEXT = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48")  # "发送数据", masked
CHROMIUM_BINARY = bytes.fromhex("8283e85d0b2be95f08")  # 01 02 03, masked
UNMASKED_CLIENT = b"\x81\x02hi"
COOKIE = "session=s3cr3t-c00kie"
TOKEN = "Bearer t0p-s3cr3t"
REQUEST = (
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: 127.0.0.1:8765\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    f"Cookie: {COOKIE}\r\n"
    f"authorization: {TOKEN}\r\n"
    "\r\n"
).encode()
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Set-Cookie: id=c00kie-from-server\r\n"
    b"\r\n"
)
REFUSED = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
PEER = ("127.0.0.1", 50123)
SECRETS = ("s3cr3t-c00kie", "t0p-s3cr3t", "c00kie-from-server")


def unmasked_error() -> FramingError:
    err = header_violation(UNMASKED_CLIENT[0], UNMASKED_CLIENT[1], 2, role="server")
    assert isinstance(err, FramingError)
    return err


def full_capture(**bounds) -> Capture:
    """One accepted connection driven through a real Connection, one refused, and odds and ends."""
    cap = Capture(**bounds)
    cap.opened(1, PEER, REQUEST, RESPONSE, 101)
    conn = Connection("server")
    cap.record_events(1, conn.receive_data(CHROMIUM_TEXT + CHROMIUM_BINARY))
    reply = conn.send_text("hello", fragment_size=3)
    cap.record_events(1, conn.last_sent)
    assert reply == b"".join(e.raw for e in conn.last_sent)
    cap.message(1, "out", Opcode.TEXT, "hello", 2)
    cap.record_events(1, conn.receive_data(UNMASKED_CLIENT))  # violation, close 1002 sent, closed
    cap.opened(2, ("::1", 50200, 0, 0), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", REFUSED, 426)
    cap.error(2, HandshakeError("Sec-WebSocket-Version missing", status=426, header="Sec-WebSocket-Version",
                                headers=(("Upgrade", "websocket"), ("Cookie", COOKIE))))
    conn3 = Connection("server")
    cap.record_events(3, conn3.receive_data(CHROMIUM_TEXT[:7]))
    cap.record_events(3, conn3.receive_eof())  # truncated frame, abnormal closure
    cap.error(None, "listener stopped")
    return cap


# ---------------------------------------------------------------------------- appending
def test_every_kind_is_recorded_with_seq_clocks_and_a_deterministic_repr():
    before_wall = time.time()
    cap = full_capture()
    kinds = [r.kind for r in cap]
    assert kinds == [
        "open", "frame", "message", "frame", "message", "frame", "frame", "message",
        "frame", "frame", "close", "open", "error", "frame", "close", "error",
    ]
    assert [r.seq for r in cap] == list(range(1, 17))
    assert [r.time for r in cap] == sorted(r.time for r in cap)
    assert all(before_wall <= r.wall <= time.time() for r in cap)
    assert cap.connections == (1, 2, 3)
    assert len(cap) == 16
    assert repr(cap) == "<Capture 16 records, 3 connections, 846 B, 0 dropped>"
    lines = [repr(r) for r in cap]
    assert lines[0] == "#1 conn 1 open 127.0.0.1:50123 GET /chat?room=1 -> 101 Switching Protocols"
    assert lines[1] == '#2 conn 1 in  TEXT FIN MASK 12 B "发送数据"'
    assert lines[2] == '#3 conn 1 in  message TEXT 12 B "发送数据" (1 frame)'
    assert lines[3] == "#4 conn 1 in  BINARY FIN MASK 3 B 01 02 03"
    assert lines[5] == '#6 conn 1 out TEXT 3 B "hel"'
    assert lines[6] == '#7 conn 1 out CONTINUATION FIN 2 B "lo"'
    assert lines[7] == '#8 conn 1 out message TEXT 5 B "hello" (2 frames)'
    assert lines[8] == (
        '#9 conn 1 in  TEXT FIN 2 B "hi" !! FramingError: [MASK, bit 8] client frame is not masked: '
        "a server must close the connection on an unmasked frame (RFC 6455 section 5.1)"
    )
    assert lines[9].startswith('#10 conn 1 out CLOSE FIN 85 B code 1002 "client frame is not masked')
    assert lines[10].startswith('#11 conn 1 close 1002: protocol error "client frame is not masked')
    assert lines[10].endswith(", closed first by server (local), not clean")
    assert lines[11] == "#12 conn 2 open [::1]:50200 GET / -> 426 Upgrade Required (refused)"
    assert lines[12] == "#13 conn 2 error HandshakeError: [Sec-WebSocket-Version] Sec-WebSocket-Version missing" \
                        " (RFC 6455 section 4.2.1)"
    assert lines[13] == "#14 conn 3 in  TEXT FIN MASK 12 B (only 1 B arrived) !! TruncatedFrame: " \
                        "stream ended 11 byte(s) before the end of the frame (RFC 6455 section 7.1.5)"
    assert lines[14] == "#15 conn 3 close 1006: abnormal closure (never sent on the wire), " \
                        "closed first by client (remote), not clean"
    assert lines[15] == "#16 error listener stopped"
    assert all(" at 0x" not in line for line in lines)


def test_record_fields_and_properties():
    cap = full_capture()
    opened, frame = cap[0], cap[1]
    assert isinstance(opened, OpenRecord)
    assert opened.peer == PEER and opened.request == REQUEST and opened.status == 101 and opened.accepted
    assert opened.request_line == "GET /chat?room=1 HTTP/1.1"
    assert not cap[11].accepted and cap[11].status == 426 and cap[11].peer == ("::1", 50200, 0, 0)
    assert isinstance(frame, FrameRecord)
    assert frame.direction == "in" and frame.sender == "client" and frame.offset == 0
    assert frame.raw == CHROMIUM_TEXT and frame.frame.data == "发送数据" and frame.error is None
    assert cap[3].offset == len(CHROMIUM_TEXT)
    out = cap[5]
    assert out.direction == "out" and out.sender == "server" and out.offset == 0 and cap[6].offset == 5
    violation = cap[8]
    assert violation.frame is None and violation.error == unmasked_error()
    assert violation.opcode == Opcode.TEXT and violation.payload == b"hi" and violation.is_violation
    truncated = cap[13]
    assert isinstance(truncated.error, TruncatedFrame) and truncated.error.missing == 11
    assert truncated.payload is None and truncated.raw == CHROMIUM_TEXT[:7]
    message = cap[2]
    assert isinstance(message, MessageRecord) and message.data == "发送数据" and message.is_text
    assert cap[4].data == b"\x01\x02\x03" and cap[4].opcode == Opcode.BINARY and not cap[4].is_text
    close = cap[10]
    assert isinstance(close, CloseRecord)
    assert (close.code, close.initiator, close.closed_by, close.clean) == (1002, "local", "server", False)
    assert isinstance(cap[12], ErrorRecord) and isinstance(cap[12].error, HandshakeError)
    assert cap[15].conn is None and cap[15].error is None
    with pytest.raises(AttributeError):
        frame.offset = 0  # records are frozen


def test_appenders_validate_direction_and_initiator():
    cap = Capture()
    with pytest.raises(ValueError):
        cap.frame(1, "inbound", 0, b"\x81\x00")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cap.message(1, "up", Opcode.TEXT, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cap.closed(1, 1000, "", "server", True)  # type: ignore[arg-type]
    assert len(cap) == 0
    rec = cap.frame(1, "out", 0, bytearray(b"\x89\x00"), Frame(Opcode.PING))
    assert type(rec.raw) is bytes and repr(rec) == "#1 conn 1 out PING FIN 0 B (empty)"


def test_frame_append_keeps_the_bytes_as_given_without_dissecting():
    # How many microseconds an append takes is a make bench figure (group "protocol").
    cap = Capture()
    frame = Frame(Opcode.TEXT, b"x" * 100)
    raw = frame.encode()
    n = 20_000
    for i in range(n):
        cap.frame(1, "out", i * len(raw), raw, frame)
    assert len(cap) == n and cap.nbytes == n * len(raw)
    assert all(r.raw is raw and r.frame is frame for r in cap)  # the very objects: nothing parsed or copied


# ---------------------------------------------------------------------------- bounds
def test_eviction_by_record_count_is_counted_and_shown():
    cap = Capture(max_records=3)
    for i in range(5):
        cap.frame(1, "in", i * 2, bytes([0x89, 0x80 | 0]) + b"\0\0\0\0", None)
    assert [r.seq for r in cap] == [3, 4, 5]
    assert cap.dropped == 2 and cap.dropped_bytes == 12
    assert cap.nbytes == 18
    assert repr(cap) == "<Capture 3 records, 1 connection, 18 B, 2 dropped (12 B)>"
    assert cap.connections == (1,)


def test_eviction_by_memory_keeps_the_newest_record():
    cost30 = memory_cost(MessageRecord(1, 1, 0.0, 0.0, "in", Opcode.BINARY, b"a" * 30))
    assert cost30 > 30 + 100  # the record's objects count too, not only its 30 bytes of data
    cap = Capture(max_bytes=3 * cost30)
    payloads = [b"a" * 30, b"b" * 30, b"c" * 30]
    for p in payloads:
        cap.message(1, "in", Opcode.BINARY, p)
    assert [r.data for r in cap] == payloads and cap.nbytes == 90 and cap.dropped == 0
    assert cap.memory == 3 * cost30
    cap.message(2, "in", Opcode.BINARY, b"d" * 50)  # 20 B more than the room left by one: the two oldest go
    assert [r.data[:1] for r in cap] == [b"c", b"d"]
    assert (cap.dropped, cap.dropped_bytes, cap.nbytes) == (2, 60, 80)
    assert cap.memory == cost30 + memory_cost(cap[1]) <= cap.max_bytes
    big = "é" * (3 * cost30)  # more than the bound on its own: kept alone
    cap.message(2, "in", Opcode.TEXT, big)
    assert len(cap) == 1 and cap.nbytes == 2 * len(big) and cap[0].data == big
    assert (cap.dropped, cap.dropped_bytes) == (4, 140)
    assert repr(cap) == f"<Capture 1 record, 2 connections, {format_size(2 * len(big))}, 4 dropped (140 B)>"
    assert cap.connections == (1, 2)  # ids seen, even once evicted


def test_text_counts_the_memory_its_characters_take_not_its_utf8_size():
    # One character outside the BMP makes Python keep every character in 4 bytes.
    cap = Capture()
    text = "a" * 1000 + "\U0001f600"
    cap.message(1, "in", Opcode.TEXT, text)
    assert cap.nbytes == 1004  # the UTF-8 size: the data
    assert cap.memory >= 4 * 1001 + MESSAGE_COST  # what it takes


def test_frames_count_their_wire_bytes_and_decode_their_frame_on_demand():
    cap = Capture()
    frame = Frame(Opcode.TEXT, "发送数据".encode(), mask_key=bytes.fromhex("55d0e1e6"))
    given = cap.frame(1, "in", 0, frame.encode(), frame)
    lazy = cap.frame(1, "in", 0, CHROMIUM_TEXT)
    violation = cap.frame(1, "in", 18, UNMASKED_CLIENT, None, unmasked_error())
    assert cap.nbytes == 18 + 18 + 4
    assert given._frame is frame and lazy._frame is None and lazy.opcode == Opcode.TEXT
    assert lazy._frame is None  # the opcode came from the first byte
    assert lazy.frame == frame and lazy._frame is lazy.frame  # decoded once, then kept (a small frame)
    assert violation.frame is None and violation.payload == b"hi"
    assert cap.frame(1, "in", 0, CHROMIUM_TEXT[:5]).frame is None  # incomplete bytes: no Frame


def test_bounds_must_make_sense():
    with pytest.raises(ValueError):
        Capture(max_records=0)
    with pytest.raises(ValueError):
        Capture(max_bytes=-1)
    cap = Capture()
    assert (cap.max_records, cap.max_bytes) == (100_000, 256 * 1024 * 1024)


# ---------------------------------------------------------------------------- subscribers
def test_subscribers_are_called_in_order_and_can_unsubscribe():
    cap = Capture()
    calls = []
    cap.subscribe(lambda r: calls.append(("a", r.seq)))
    unsubscribe_b = cap.subscribe(lambda r: calls.append(("b", r.seq)))
    cap.error(None, "one")
    unsubscribe_b()
    unsubscribe_b()  # idempotent
    cap.error(None, "two")
    assert calls == [("a", 1), ("b", 1), ("a", 2)]


def test_a_raising_subscriber_is_detached_and_reported_and_others_keep_receiving(caplog):
    cap = Capture()
    seen_a, seen_c = [], []

    def broken(record):
        raise RuntimeError("widget bug")

    cap.subscribe(seen_a.append)
    cap.subscribe(broken)
    cap.subscribe(seen_c.append)
    with caplog.at_level(logging.ERROR, logger="wsexplore.capture"):
        rec = cap.frame(1, "in", 0, CHROMIUM_TEXT)  # does not raise into the caller
    cap.frame(1, "in", 18, CHROMIUM_BINARY)
    # The failing record reaches everyone first; then the report; broken is gone.
    assert [r.seq for r in seen_a] == [1, 2, 3] == [r.seq for r in seen_c]
    report = cap[1]
    assert isinstance(report, ErrorRecord) and report.conn is None
    assert report.message == ("subscriber test_a_raising_subscriber_is_detached_and_reported_and_others_keep_"
                              "receiving.<locals>.broken raised RuntimeError: widget bug on record #1 and was detached")
    assert seen_a[1] is report
    assert len(cap.subscriber_errors) == 1
    callback, exc = cap.subscriber_errors[0]
    assert callback is broken and isinstance(exc, RuntimeError)
    assert any("record #1" in m and "detached" in m for m in caplog.messages)
    assert rec is cap[0]


def test_subscribers_failing_together_or_on_a_report_are_each_reported_once():
    cap = Capture()
    calls = []

    def always(record):
        raise KeyError("always")

    def on_reports(record):
        calls.append(record.seq)
        if isinstance(record, ErrorRecord):
            raise ValueError("reports")

    cap.subscribe(always)
    cap.subscribe(on_reports)
    cap.frame(1, "in", 0, CHROMIUM_TEXT)
    assert calls == [1, 2]  # the frame, then the report on `always`, which it fails on
    assert [r.kind for r in cap] == ["frame", "error", "error"]
    assert [cb for cb, _ in cap.subscriber_errors] == [always, on_reports]
    assert "raised KeyError: 'always' on record #1" in cap[1].message
    assert "raised ValueError: reports on record #2" in cap[2].message
    assert not cap._subscribers

    both = Capture()
    both.subscribe(always)
    both.subscribe(always)
    both.error(None, "x")
    assert [r.kind for r in both] == ["error", "error", "error"] and len(both.subscriber_errors) == 2


# ---------------------------------------------------------------------------- reading
def test_filter_by_each_criterion():
    cap = full_capture()
    assert [r.seq for r in cap.filter(conn=3)] == [14, 15]
    assert [r.seq for r in cap.filter(conn=[2, 3])] == [12, 13, 14, 15]
    assert [r.seq for r in cap.filter(direction="out")] == [6, 7, 8, 10]
    assert [r.seq for r in cap.filter(opcode=Opcode.BINARY)] == [4, 5]
    assert [r.seq for r in cap.filter(opcode=0x1, kind="frame")] == [2, 6, 9, 14]
    assert [r.seq for r in cap.filter(text="发送")] == [2, 3]
    assert [r.seq for r in cap.filter(text=b"\x01\x02")] == [4, 5]
    assert [r.seq for r in cap.filter(text="Sec-WebSocket-Key")] == [1]
    assert [r.seq for r in cap.filter(text="stopped")] == [16]
    assert [r.seq for r in cap.filter(kind="close")] == [11, 15]
    assert [r.seq for r in cap.filter(kind=("open", "error"))] == [1, 12, 13, 16]
    assert [r.seq for r in cap.filter(conn=1, direction="in", kind="message")] == [3, 5]
    assert [r.seq for r in cap.frames(direction="out")] == [6, 7, 10]
    assert [r.seq for r in cap.messages()] == [3, 5, 8]
    assert [r.seq for r in cap.violations()] == [9, 14]
    assert cap.filter() == list(cap)
    with pytest.raises(ValueError):
        cap.filter(kind="frames")
    with pytest.raises(ValueError):
        cap.filter(direction="both")  # type: ignore[arg-type]


def test_views_index_slice_iterate_and_filter_again():
    cap = full_capture()
    assert cap[0].seq == 1 and cap[-1].seq == 16
    view = cap[2:5]
    assert isinstance(view, Records) and [r.seq for r in view] == [3, 4, 5]
    assert [r.seq for r in cap[::5]] == [1, 6, 11, 16]
    assert view[-1].seq == 5 and [r.seq for r in view[1:]] == [4, 5]
    assert [r.seq for r in view.filter(kind="message")] == [3, 5]
    assert view.connections == (1,)
    assert len(view) == 3 and list(view) == [cap[2], cap[3], cap[4]]
    with pytest.raises(IndexError):
        cap[99]
    assert repr(cap.frames(conn=1, direction="in", opcode=Opcode.BINARY)) == (
        "<Records 1 record, 1 connection, 9 B>\n#4 conn 1 in  BINARY FIN MASK 3 B 01 02 03"
    )
    many = Capture()
    for i in range(25):
        many.error(None, str(i))
    text = repr(many[:])
    assert text.splitlines()[0] == "<Records 25 records, 0 connections, 40 B>"
    assert text.splitlines()[-1] == "… 5 more" and len(text.splitlines()) == 22


def test_summary_and_html_are_small_and_deterministic():
    cap = full_capture()
    assert cap.summary().splitlines() == [
        "conn  peer             status  in              out             messages  close",
        "1     127.0.0.1:50123  101     3 frames, 31 B  3 frames, 96 B  3         1002 by server (not clean)",
        "2     [::1]:50200      426     0 frames, 0 B   0 frames, 0 B   0         -",
        "3     ?                -       1 frame, 7 B    0 frames, 0 B   0         1006 by client (not clean)",
    ]
    page = cap._repr_html_()
    assert page.count("<tr") == 17 and "&lt;Capture 16 records" in page and "发送数据" in page
    assert not any(s in page for s in SECRETS)


# ---------------------------------------------------------------------------- dissection
def test_dissect_an_in_frame_as_a_server_reads_it():
    cap = Capture()
    rec = cap.frame(1, "in", 0, CHROMIUM_TEXT, Frame(Opcode.TEXT, "发送数据".encode(),
                                                     mask_key=bytes.fromhex("55d0e1e6")))
    d = rec.dissect()
    assert d.ok and d.role == "server" and d.text == "发送数据"
    assert d.masking_key == bytes.fromhex("55d0e1e6") and d.frame == rec.frame


def test_dissect_out_frames_as_a_client_and_violations_give_the_recorded_error():
    cap = full_capture()
    out = cap[5].dissect()
    assert out.ok and out.role == "client" and out.payload == b"hel"
    violation = cap[8]
    assert violation.dissect().error == violation.error == unmasked_error()
    assert isinstance(cap[13].dissect().error, TruncatedFrame)


# ---------------------------------------------------------------------------- JSON Lines
def test_save_load_round_trip_loses_nothing(tmp_path):
    cap = full_capture(max_records=14)  # two of the sixteen evicted
    cap.frame(4, "out", 0, b"\x81\x05hello", Frame(Opcode.TEXT, b"other"))  # raw and Frame disagree
    cap.frame(4, "in", 7, b"\x81\xfe\x00\x05\x00\x00\x00\x00hello",  # non-minimal length form
              Frame(Opcode.TEXT, b"hello", mask_key=b"\0\0\0\0"))
    cap.frame(4, "in", 20, b"\x81\x82\x00\x00\x00\x00\xc3\x28",
              None, InvalidUTF8("bad", field="Payload", bit_offset=48, rfc="8.1"))
    assert cap.dropped == 5
    path = tmp_path / "capture.jsonl"
    cap.save(path, include_secrets=True)
    back = Capture.load(path)
    assert list(back) == list(cap)
    assert (back.dropped, back.dropped_bytes, back.nbytes) == (cap.dropped, cap.dropped_bytes, cap.nbytes)
    assert back.connections == cap.connections == (1, 2, 3, 4)
    assert (back.max_records, back.max_bytes) == (14, cap.max_bytes)
    assert repr(back) == repr(cap)
    for a, b in zip(cap, back):
        assert type(a) is type(b)
        error = getattr(a, "error", None)
        if error is not None:
            other = b.error
            assert type(other) is type(error) and str(other) == str(error)
            assert vars(other) == vars(error)
    frames = back.frames()
    assert all(isinstance(r.frame.opcode, Opcode) for r in frames if r.frame is not None)
    assert back.frames(conn=4)[0].frame == Frame(Opcode.TEXT, b"other")
    # New records continue the sequence.
    assert back.error(None, "later").seq == cap[-1].seq + 1


def test_saved_file_is_json_lines_with_a_header(tmp_path):
    cap = full_capture()
    buf = io.StringIO()
    cap.save(buf)
    lines = buf.getvalue().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "wsexplore-capture" and header["version"] == 1
    assert header["records"] == 16 and header["dropped"] == 0 and header["secrets"] is False
    records = [json.loads(line) for line in lines[1:]]
    assert [r["kind"] for r in records] == [r.kind for r in cap]
    assert records[1]["raw"] == "gYxV0OHmsF9wD9VRB3PlNmxI"  # base64 of the Chromium frame
    assert records[2]["text"] == "发送数据" and records[4]["data"] == "AQID"
    assert records[8]["error"]["type"] == "wsexplore.protocol.errors:FramingError"
    back = Capture.load(io.StringIO(buf.getvalue()))
    assert list(back)[1:] == list(cap)[1:]  # only the handshake differs: it was redacted


def test_load_refuses_what_it_cannot_read(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(ValueError, match="not a wsexplore capture"):
        Capture.load(path)
    path.write_text('{"format": "wsexplore-capture", "version": 99}\n')
    with pytest.raises(ValueError, match="version 99"):
        Capture.load(path)
    full_capture().save(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(ValueError, match="truncated"):
        Capture.load(path)


def test_loading_into_smaller_bounds_counts_the_evictions(tmp_path):
    path = tmp_path / "c.jsonl"
    full_capture().save(path)
    back = Capture.load(path, max_records=4)
    assert [r.seq for r in back] == [13, 14, 15, 16] and back.dropped == 12


@settings(max_examples=200, deadline=None)
@given(
    opcode=st.integers(0, 15),
    payload=st.binary(max_size=300),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    key=st.none() | st.binary(min_size=4, max_size=4),
    cut=st.integers(0, 400),
)
def test_any_frame_or_broken_bytes_round_trip(opcode, payload, flags, key, cut):
    fin, rsv1, rsv2, rsv3 = flags
    frame = Frame(opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask_key=key)
    raw = frame.encode()
    cap = Capture()
    cap.frame(1, "in", 0, raw, frame)
    cap.frame(1, "in", len(raw), raw[:cut], None,
              TruncatedFrame("cut", missing=max(len(raw) - cut, 1), field="Payload", bit_offset=cut * 8))
    buf = io.StringIO()
    cap.save(buf)
    back = Capture.load(io.StringIO(buf.getvalue()))
    assert list(back) == list(cap)
    assert back[0].frame == frame and back[1].error.missing == cap[1].error.missing
    # Any prefix of a frame is shown as far as it goes: the opcode once a byte is there, the
    # announced length once the header holds it, how much of the payload arrived, the rule broken.
    shown = repr(back[1])
    header_bytes = len(raw) - len(payload)
    length_known_at = 2 if len(payload) <= 125 else 4
    assert shown.startswith("#2 conn 1 in  " + (opcode_name(opcode) if cut else "(no bytes)"))
    if cut >= len(raw):
        assert f" {len(payload)} B" in shown and "arrived" not in shown
    elif cut >= length_known_at:
        assert f" {len(payload)} B (only {max(cut - header_bytes, 0)} B arrived)" in shown
    else:
        assert not re.search(r"\d B\b", shown.split(" !! ")[0])
    assert shown.endswith(f" !! TruncatedFrame: {back[1].error}")


# ---------------------------------------------------------------------------- redaction
def test_credentials_are_redacted_in_displays():
    cap = full_capture()
    opened = cap[0]
    shown = [repr(cap), repr(opened), str(opened), repr(cap[:]), cap.summary(), cap._repr_html_(),
             opened.handshake(), repr(cap[12])]
    for text in shown:
        assert not any(s in text for s in SECRETS), text
    handshake = opened.handshake()
    assert f"Cookie: <redacted {len(COOKIE)} bytes>" in handshake
    assert f"authorization: <redacted {len(TOKEN)} bytes>" in handshake
    assert "Set-Cookie: <redacted 21 bytes>" in handshake
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in handshake
    secret = opened.handshake(include_secrets=True)
    assert COOKIE in secret and TOKEN in secret
    assert opened.request == REQUEST  # the record keeps the exact bytes


def test_export_rewrites_the_raw_handshake_unless_secrets_are_asked_for(tmp_path):
    cap = full_capture()
    path = tmp_path / "redacted.jsonl"
    cap.save(path)
    text = path.read_text()
    assert not any(s in text for s in SECRETS)
    back = Capture.load(path)
    request = back[0].request
    assert request.startswith(b"GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:8765\r\n")
    assert f"\r\nCookie: <redacted {len(COOKIE)} bytes>\r\n".encode() in request
    assert f"\r\nauthorization: <redacted {len(TOKEN)} bytes>\r\n\r\n".encode() in request
    assert request.endswith(b"\r\n\r\n")
    assert back[0].response == RESPONSE.replace(b"id=c00kie-from-server", b"<redacted 21 bytes>")
    assert back[12].error.headers == (("Upgrade", "websocket"), ("Cookie", f"<redacted {len(COOKIE)} bytes>"))
    path2 = tmp_path / "secrets.jsonl"
    cap.save(path2, include_secrets=True)
    assert all(s in path2.read_text() or s in _b64_decoded(path2) for s in SECRETS)
    back2 = Capture.load(path2)
    assert back2[0].request == REQUEST and back2[0].response == RESPONSE
    assert back2[12].error.headers == (("Upgrade", "websocket"), ("Cookie", COOKIE))


def test_redaction_of_malformed_and_folded_heads():
    cap = Capture()
    raw = b"GET / HTTP/1.1\nCookie : a=1\r\nX: y\r\nAuthorization: Basic\r\n  Zm9vOmJhcg==\r\nZ: z\r\n\r\nbody Cookie: b"
    rec = cap.opened(1, "unix-socket", raw, b"", 400)
    red = rec.redacted().request
    assert red == (b"GET / HTTP/1.1\nCookie: <redacted 3 bytes>\r\nX: y\r\nAuthorization: <redacted 18 bytes>"
                   b"\r\nZ: z\r\n\r\nbody Cookie: b")
    assert repr(rec) == "#1 conn 1 open unix-socket GET / -> 400 (refused)"
    unterminated = b"GET / HTTP/1.1\r\nCookie: a=1"
    assert cap.opened(2, None, unterminated, b"", 431).redacted().request == \
        b"GET / HTTP/1.1\r\nCookie: <redacted 3 bytes>"


def _b64_decoded(path) -> str:
    out = []
    for line in path.read_text().splitlines()[1:]:
        record = json.loads(line)
        for key in ("request", "response"):
            if key in record:
                out.append(base64.b64decode(record[key]).decode("latin-1"))
    return "\n".join(out)


def test_no_repr_holds_an_object_address():
    cap = full_capture()
    texts = [repr(cap), repr(cap[:]), *map(repr, cap)]
    assert not any(re.search(r"0x[0-9a-f]{6,}", t) for t in texts)


def test_rsv1_payload_is_shown_as_bytes_never_as_text():
    # With permessage-deflate, RSV1 marks compressed bytes: even when they happen to decode
    # as UTF-8, showing them as text would mislead.
    capture = Capture()
    record = capture.frame(1, "out", 0, bytes.fromhex("c105") + b"hello")
    assert "68 65 6c 6c 6f" in repr(record) and '"hello"' not in repr(record)


# ---------------------------------------------------------------------------- a frame in its context
def test_message_of_a_data_frame_is_the_record_after_its_frames():
    """Section 5.4: a message's record follows its frames on the same connection and direction;
    control frames may come between fragments and belong to no message."""
    cap = Capture()
    first = cap.frame(1, "in", 0, Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=b"abcd").encode())
    other = cap.frame(2, "in", 0, CHROMIUM_TEXT)
    other_message = cap.message(2, "in", Opcode.TEXT, "发送数据")
    ping = cap.frame(1, "in", 9, Frame(Opcode.PING, b"", mask_key=b"abcd").encode())
    reply = cap.frame(1, "out", 0, Frame(Opcode.PONG, b"").encode())
    last = cap.frame(1, "in", 15, Frame(Opcode.CONTINUATION, b"lo", mask_key=b"abcd").encode())
    message = cap.message(1, "in", Opcode.TEXT, "Hello", 2)
    assert cap.message_of(first) == (message, True) == cap.message_of(last)
    assert cap.message_of(other) == (other_message, True)
    assert cap.message_of(ping) == (None, True) and cap.message_of(reply) == (None, True)
    assert cap[:4].message_of(first) == (None, False)  # not recorded yet: undecided
    assert cap.message_of(first, limit=2) == (None, True)  # looked far enough: given up
    assert cap.message_of(first, limit=6) == (message, True)


def test_a_message_that_never_completed_is_decided_by_what_follows():
    cap = Capture()
    cut = cap.frame(1, "in", 0, Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=b"abcd").encode())
    cap.frame(1, "in", 9, Frame(Opcode.BINARY, b"\x01", mask_key=b"abcd").encode())  # breaks section 5.4
    assert cap.message_of(cut) == (None, True)
    closing = Capture()
    cut = closing.frame(1, "in", 0, Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=b"abcd").encode())
    closing.closed(1, 1006, "", "remote", False)
    assert closing.message_of(cut) == (None, True)
    violation = closing.frame(1, "in", 9, UNMASKED_CLIENT, None, unmasked_error())
    assert closing.message_of(violation) == (None, True)


def test_inflated_message_comes_from_a_compressed_message_record_only():
    """RFC 7692: a compressed frame (RSV1 on its message's first frame) inflates to its message record."""
    cap = Capture()
    first = cap.frame(1, "out", 0, Frame(Opcode.TEXT, b"\xf2\x48", fin=False, rsv1=True).encode())
    cont = cap.frame(1, "out", 4, Frame(Opcode.CONTINUATION, b"\xcd\xc9\xc9\x07\x00").encode())
    cap.message(1, "out", Opcode.TEXT, "Hello", 2, compressed_size=7)
    plain = cap.frame(1, "out", 11, Frame(Opcode.TEXT, b"Hello").encode())
    cap.message(1, "out", Opcode.TEXT, "Hello")
    assert cap.inflated_message(first) == "Hello" == cap.inflated_message(cont)
    assert cap.inflated_message(plain) is None
    assert cap.compressed_message(plain) == (None, True)


@pytest.mark.parametrize("data", ["Hello", "发送数据", b"\x00\xff" * 40, bytearray(b"abc")])
def test_record_message_stores_what_message_would(data):
    """The live path's pending message record reads back as ``message()``'s record, and costs the same."""
    made, pending, seen = Capture(), Capture(), []
    full = made.message(3, "out", Opcode.TEXT, data, 2, compressed_size=9)
    pending.record_message(3, "out", Opcode.TEXT, data, 2, 9)
    watched = Capture()
    watched.subscribe(seen.append)
    watched.record_message(3, "out", Opcode.TEXT, data, 2, 9)
    (got,) = list(pending)
    same = ("seq", "conn", "direction", "opcode", "data", "frames", "compressed_size", "nbytes")
    assert [getattr(got, a) for a in same] == [getattr(full, a) for a in same] == [getattr(seen[0], a) for a in same]
    assert type(got.data) is type(full.data) and type(got.opcode) is type(full.opcode)
    assert (pending.memory, pending.nbytes) == (made.memory, made.nbytes) == (watched.memory, watched.nbytes)
    with pytest.raises(ValueError, match="direction"):
        pending.record_message(3, "up", Opcode.TEXT, data)  # type: ignore[arg-type]


def test_record_events_makes_the_same_records_whether_or_not_someone_subscribes():
    """The one way in: pending records (nobody subscribed) and records handed to a subscriber are equal."""
    conn = Connection("server")
    events = conn.receive_data(CHROMIUM_TEXT + CHROMIUM_BINARY + UNMASKED_CLIENT)
    quiet, watched, seen = Capture(), Capture(), []
    watched.subscribe(seen.append)
    for cap in (quiet, watched):
        cap.record_events(7, events, time=1.5, wall=1_700_000_000.25)
    assert list(quiet) == list(watched) == seen
    assert [r.kind for r in quiet] == ["frame", "message", "frame", "message", "frame", "frame", "close"]
    assert all((r.conn, r.time, r.wall) == (7, 1.5, 1_700_000_000.25) for r in quiet)
    assert quiet.nbytes == watched.nbytes == sum(r.nbytes for r in quiet)


def test_open_record_says_how_its_bytes_arrived_and_keeps_it_through_json_lines() -> None:
    cap = Capture()
    request = b"GET /ws HTTP/1.1\r\nHost: up.example\r\nCookie: a=b\r\n\r\n"
    received = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:9\r\nCookie: a=b\r\n\r\n"
    rec = cap.opened(1, ("127.0.0.1", 5), received, b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101,
                     via="tap", note="Host set to the upstream's authority", forwarded_request=request)
    assert rec.via == "tap" and not rec.reframed
    assert "via tap" in repr(rec)
    assert rec.nbytes == len(received) + len(rec.response) + len(request)
    assert b"a=b" not in rec.redacted().forwarded_request
    saved = io.StringIO()
    cap.save(saved, include_secrets=True)
    saved.seek(0)
    again = Capture.load(saved)
    assert again[0] == rec
    proxied = cap.opened(2, None, received, b"", 101, via="jupyter-server-proxy")
    assert proxied.reframed
    with pytest.raises(ValueError, match="via must be one of"):
        cap.opened(3, None, received, b"", 101, via="carrier pigeon")


@given(st.lists(st.tuples(st.sampled_from(["text", "ascii", "binary", "large", "ping", "send", "reply", "bad",
                                           "close"]),
                          st.integers(1, 3)), max_size=25),
       st.sampled_from([(3, 1 << 30), (1000, 1 << 30), (1000, 150_000)]))
def test_with_or_without_a_subscriber_a_capture_stores_the_same(steps, bounds) -> None:
    """Without subscribers the frames and messages of one call are stored together; with one, one at a
    time: the records, their order, the counts and what the bounds evicted are the same."""
    quiet, watched = (Capture(max_records=bounds[0], max_bytes=bounds[1]) for _ in range(2))
    seen: list = []
    watched.subscribe(seen.append)
    servers: dict[int, Connection] = {}
    for step, conn in steps:
        server = servers.setdefault(conn, Connection("server"))
        client = Connection("client")
        if step in ("send", "reply"):
            if server.state.name == "OPEN":
                if step == "send":
                    server.send_binary(b"\x00" * 70_000)
                else:
                    server.send_text("ok")
                for cap in (quiet, watched):  # connection 3's replies as a tap's injected frames
                    cap.record_events(conn, server.last_sent, time=1.0, wall=2.0, injected=conn == 3)
            continue
        data = {"text": client.send_text("hé" * 3) * 2, "ascii": client.send_text("hi"),
                "binary": client.send_binary(b"\x01\x02"),
                "large": client.send_binary(bytes(70_000)), "ping": client.send_ping(b"p"),
                "bad": b"\x81\x02hi", "close": client.send_close(1000)}[step]
        events = server.receive_data(data) + server.last_sent * (step == "ping")
        for cap in (quiet, watched):
            cap.record_events(conn, events, time=1.0, wall=2.0)
    assert [r for r in quiet] == [r for r in watched]
    assert (quiet.nbytes, quiet.memory, quiet.dropped, quiet.dropped_bytes, quiet.last_seq, quiet.connections) == \
        (watched.nbytes, watched.memory, watched.dropped, watched.dropped_bytes, watched.last_seq,
         watched.connections)
    assert quiet.nbytes == sum(r.nbytes for r in quiet)  # what eviction took off is what each record held
    assert seen[-len(watched):] == list(watched)
