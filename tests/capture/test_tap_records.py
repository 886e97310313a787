"""What a tap records: both directions from observers, injected frames, notes on the handshake."""

from __future__ import annotations

import io

import pytest

from wsexplore.capture import Capture, FrameRecord, MessageRecord
from wsexplore.capture.lines import format_record
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

KEY = bytes.fromhex("01020304")


def test_an_observer_of_the_servers_bytes_records_them_as_out() -> None:
    cap = Capture()
    watcher = Connection("client", observer=True)
    raw = Frame(Opcode.TEXT, b"hello").encode()
    cap.record_events(7, watcher.receive_data(raw), received="out")
    frame, message = list(cap)
    assert isinstance(frame, FrameRecord) and frame.direction == "out" and frame.raw == raw
    assert frame.sender == "server" and not frame.injected
    assert isinstance(message, MessageRecord) and message.direction == "out" and message.data == "hello"


def test_a_violation_seen_by_the_observer_of_the_server_is_out_too() -> None:
    cap = Capture()
    watcher = Connection("client", observer=True)
    masked = Frame(Opcode.TEXT, b"x", mask_key=KEY).encode()  # a server must not mask
    cap.record_events(1, watcher.receive_data(masked), received="out")
    (record,) = list(cap)
    assert record.direction == "out" and record.error is not None and record.error.field == "MASK"


def test_injected_frames_are_marked_and_shown_so() -> None:
    cap = Capture()
    watcher = Connection("server", observer=True)
    first = Frame(Opcode.TEXT, b"a", mask_key=KEY).encode()
    cap.record_events(1, watcher.receive_data(first))
    inserted = Frame(Opcode.PING, b"tap", mask_key=KEY).encode()
    cap.record_events(1, watcher.receive_data(inserted), injected=True)
    frames = cap.frames()
    assert [f.injected for f in frames] == [False, True]
    assert frames[1].offset == len(first)  # the injected bytes are part of the stream the server reads
    assert "(injected)" in repr(frames[1]) and "(injected)" not in repr(frames[0])
    assert "[injected by the tap]" in format_record(frames[1])


def test_injected_survives_save_and_load() -> None:
    cap = Capture()
    cap.frame(1, "in", 0, Frame(Opcode.PING, b"", mask_key=KEY).encode(), injected=True)
    cap.frame(1, "in", 6, Frame(Opcode.PING, b"", mask_key=KEY).encode())
    buf = io.StringIO()
    cap.save(buf)
    loaded = Capture.load(io.StringIO(buf.getvalue()))
    assert [r.injected for r in loaded] == [True, False]
    assert list(loaded) == list(cap)


def test_record_events_refuses_an_unknown_direction() -> None:
    with pytest.raises(ValueError, match="received"):
        Capture().record_events(1, [], received="sideways")  # type: ignore[arg-type]


def test_the_handshake_line_carries_the_note() -> None:
    cap = Capture()
    rec = cap.opened(1, ("127.0.0.1", 5), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
                     502, via="tap", note="upstream TLS certificate NOT verified")
    line = format_record(rec)
    assert "via tap" in line and "note: upstream TLS certificate NOT verified" in line
