"""The Explorer's kernel side: rows, filters, batching, the window, selection, live servers.

No browser here: the ``rows`` trait is what the page draws, so asserting it
asserts what a person would see. Live tests run a real ``Server`` on 127.0.0.1
(port 0) and the ``websockets`` client, and never call ``flush()``: rows must
arrive on their own, as they do in a notebook.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from time import monotonic

import pytest
from websockets.asyncio.client import connect

from wsexplore.capture import Capture, FrameRecord, MessageRecord
from wsexplore.live.server import Server
from wsexplore.protocol.errors import FramingError
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets.explorer import Explorer, record_row
from wsexplore.widgets.frameview import FrameView
from wsexplore.widgets.handshake_view import HandshakeView

pytestmark = pytest.mark.timeout(60)

# Bytes Chromium sent: "发送数据" as a masked text frame, then 01 02 03 as a masked binary frame.
TEXT_IN = bytes.fromhex("81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48")
BINARY_IN = bytes.fromhex("82 83 e8 5d 0b 2b e9 5f 08")
TEXT_OUT = Frame(Opcode.TEXT, "发送数据".encode()).encode()  # the server's echo: unmasked
PING_IN = Frame(Opcode.PING, b"hi", mask_key=b"\x01\x02\x03\x04").encode()
REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Cookie: session=hunter2\r\n\r\n")
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def chromium_capture() -> Capture:
    """Connection 1: handshake, the two Chromium frames with their messages, an echo, a ping, a close.
    Connection 2: handshake and a frame that broke a rule (RSV1 without an extension)."""
    cap = Capture()
    cap.opened(1, ("127.0.0.1", 50000), REQUEST, RESPONSE, 101)  # 1
    cap.frame(1, "in", 0, TEXT_IN)  # 2
    cap.message(1, "in", Opcode.TEXT, "发送数据")  # 3
    cap.frame(1, "out", 0, TEXT_OUT)  # 4
    cap.frame(1, "in", len(TEXT_IN), BINARY_IN)  # 5
    cap.message(1, "in", Opcode.BINARY, b"\x01\x02\x03")  # 6
    cap.frame(1, "in", len(TEXT_IN) + len(BINARY_IN), PING_IN)  # 7
    cap.opened(2, ("127.0.0.1", 50001), REQUEST, RESPONSE, 101)  # 8
    bad = bytes([0xC1]) + TEXT_IN[1:]
    cap.frame(2, "in", 0, bad, error=FramingError("RSV1 set without a negotiated extension"))  # 9
    cap.closed(2, 1002, "protocol error", "local", False)  # 10
    cap.closed(1, 1000, "", "remote", True)  # 11
    return cap


def seqs(explorer: Explorer) -> list[int]:
    return [row["seq"] for row in explorer.rows]


def count_updates(explorer: Explorer) -> list[int]:
    """Every change of the ``rows`` trait, as the number of rows it carried."""
    changes: list[int] = []
    explorer.table.observe(lambda change: changes.append(len(change["new"])), names="rows")
    return changes


# ---------------------------------------------------------------------------- rows
def test_rows_show_the_chromium_frames_bit_by_bit() -> None:
    ex = Explorer(chromium_capture())
    assert seqs(ex) == list(range(1, 12))
    text, binary = ex.rows[1], ex.rows[4]
    assert {k: text[k] for k in ("seq", "conn", "dir", "kind", "op", "fin", "rsv", "mask", "len")} == {
        "seq": 2, "conn": 1, "dir": "in", "kind": "frame", "op": "TEXT", "fin": 1, "rsv": "000", "mask": 1,
        "len": 12}
    assert "发送数据" in text["preview"]
    assert text["err"] == ""
    assert (binary["op"], binary["mask"], binary["len"], binary["preview"]) == ("BINARY", 1, 3, "01 02 03")
    echo = ex.rows[3]
    assert (echo["dir"], echo["mask"], echo["op"], echo["fin"]) == ("out", 0, "TEXT", 1)
    assert ex.rows[6]["op"] == "PING" and ex.rows[6]["preview"] == '"hi"'
    message = ex.rows[2]
    assert (message["kind"], message["op"], message["len"], message["fin"]) == ("message", "TEXT", 12, None)
    handshake = ex.rows[0]
    assert handshake["kind"] == "open" and handshake["preview"].startswith("GET / HTTP/1.1")
    assert "101" in handshake["preview"] and "hunter2" not in handshake["preview"]
    violation = ex.rows[8]
    assert (violation["rsv"], violation["op"]) == ("100", "TEXT")
    assert violation["err"].startswith("FramingError: RSV1")
    close = ex.rows[10]
    assert close["kind"] == "close" and "1000" in close["preview"]
    ex.close()


def test_rows_are_small_json_values() -> None:
    cap = chromium_capture()
    for record in cap:
        row = record_row(record, cap[0].time)
        assert set(row) == {"seq", "time", "clock", "conn", "dir", "kind", "op", "fin", "rsv", "mask", "len",
                            "preview", "err", "inflated", "via", "via_note", "reframed"}
        assert all(v is None or isinstance(v, (int, str)) for v in row.values())
        assert (row["via"], row["via_note"], row["reframed"]) == ("", "", False)  # a direct connection


def test_a_truncated_frame_row_says_how_long_it_should_be() -> None:
    cap = Capture()
    cap.frame(1, "in", 0, TEXT_IN[:10], error=FramingError("connection closed in the middle of a frame"))
    row = Explorer(cap).rows[0]
    assert (row["op"], row["fin"], row["mask"], row["len"]) == ("TEXT", 1, 1, 12)
    assert "not complete" in row["preview"] and row["err"]


# ---------------------------------------------------------------------------- filters
def test_filters_agree_with_capture_filter() -> None:
    cap = chromium_capture()
    ex = Explorer(cap)
    ex.set_filters(kind="frame")
    assert seqs(ex) == [2, 4, 5, 7, 9]
    ex.set_filters(kind="frame", direction="in")
    assert seqs(ex) == [2, 5, 7, 9]
    ex.set_filters(direction="out")
    assert seqs(ex) == [4]
    ex.set_filters(opcode="BINARY")
    assert seqs(ex) == [5, 6]
    ex.set_filters(opcode=Opcode.PING)
    assert seqs(ex) == [7]
    ex.set_filters(conn=2)
    assert seqs(ex) == [8, 9, 10]
    ex.set_filters(text="发送")
    assert seqs(ex) == [r.seq for r in cap.filter(text="发送")] == [2, 3, 4, 9]
    ex.set_filters(kind="violation")
    assert seqs(ex) == [9]
    ex.set_filters(kind="open")
    assert seqs(ex) == [1, 8]
    ex.set_filters()
    assert seqs(ex) == list(range(1, 12))
    assert ex.table.total == 11
    ex.close()


def test_filter_controls_refilter_the_table() -> None:
    ex = Explorer(chromium_capture())
    assert [f.label for f in (ex.filters.conn, ex.filters.direction, ex.filters.kind, ex.filters.opcode)] == [
        "all", "both", "all", "any"]  # "no criterion" is a visible choice
    updates = count_updates(ex)
    ex.filters.kind.value = "message"
    assert seqs(ex) == [3, 6]
    ex.filters.opcode.value = "TEXT"
    assert seqs(ex) == [3]
    ex.filters.kind.value = ""  # "all"
    ex.filters.opcode.value = ""  # "any"
    ex.filters.text.value = "protocol error"
    assert seqs(ex) == [10]
    assert len(updates) == 5
    assert [label for label, _ in ex.filters.conn.options] == ["all", "#1", "#2"]
    ex.close()


def test_new_records_are_filtered_as_they_arrive() -> None:
    cap = chromium_capture()
    ex = Explorer(cap, interval=0)
    ex.set_filters(kind="frame", direction="in")
    cap.frame(3, "in", 0, BINARY_IN)
    cap.frame(3, "out", 0, TEXT_OUT)
    cap.message(3, "in", Opcode.BINARY, b"\x01\x02\x03")
    ex.flush()
    assert seqs(ex) == [2, 5, 7, 9, 12]
    assert [label for label, _ in ex.filters.conn.options] == ["all", "#1", "#2", "#3"]
    ex.close()


# ---------------------------------------------------------------------------- batching and the window
async def test_a_burst_of_5000_records_is_a_few_updates_and_ends_on_the_latest_window() -> None:
    cap = chromium_capture()
    ex = Explorer(cap, window=200)
    updates = count_updates(ex)
    for i in range(5000):
        cap.frame(7, "in", i * len(BINARY_IN), BINARY_IN)
    assert updates == []  # the subscriber only queued them
    await wait_for(lambda: updates)
    assert updates == [200]  # the loop never ran during the burst: one timer, one update
    assert len(ex.rows) == 200
    assert seqs(ex) == list(range(11 + 5000 - 199, 11 + 5000 + 1))
    assert ex.table.total == 5011 and ex.table.first_index == 4811
    assert ex.counters == {"records": 5011, "frames": 5005, "connections": 3, "dropped": 0,
                           "bytes": 5000 * 9 + len(TEXT_IN) + len(TEXT_OUT) + len(BINARY_IN) + len(PING_IN)
                           + len(TEXT_IN)}
    assert cap.subscriber_errors == []
    ex.close()


async def test_a_steady_stream_updates_the_view_at_most_once_per_interval() -> None:
    """Frames every few milliseconds: the view is updated by its timer, never twice within ``interval``.

    The gaps are read on the loop's own clock; a slow machine can only make them longer."""
    cap = Capture()
    ex = Explorer(cap, interval=0.05)
    loop = asyncio.get_running_loop()
    update_times: list[float] = []
    ex.table.observe(lambda change: update_times.append(loop.time()), names="rows")
    n = 0
    while len(update_times) < 4:  # records keep coming until the view was updated four times
        cap.frame(1, "in", n, BINARY_IN)
        n += 1
        await asyncio.sleep(0.002)
        assert n < 100_000, "the view was never updated"
    gaps = [b - a for a, b in zip(update_times, update_times[1:])]
    assert all(gap >= 0.05 * 0.99 for gap in gaps), gaps  # call_later may round a hair early
    await wait_for(lambda: ex.rows[-1]["seq"] == n)
    assert n > len(update_times)  # many records per update
    ex.close()


def test_the_window_caps_the_rows_and_pages_through_older_ones() -> None:
    cap = Capture()
    for i in range(1000):
        cap.frame(1, "in", i, BINARY_IN)
    ex = Explorer(cap, window=50)
    assert seqs(ex) == list(range(951, 1001))
    assert ex.table.follow
    ex.page("older")
    assert seqs(ex) == list(range(901, 951)) and not ex.table.follow
    cap.frame(1, "in", 1000, BINARY_IN)  # a new record does not move a page being read
    ex.flush()
    assert seqs(ex) == list(range(901, 951)) and ex.table.total == 1001
    ex.page("older")
    ex.page("newer")
    assert seqs(ex) == list(range(901, 951))
    ex.page("newer")
    assert seqs(ex) == list(range(951, 1001)) and not ex.table.follow
    ex.page("newer")
    assert seqs(ex) == list(range(952, 1002)) and ex.table.follow  # back at the newest
    for _ in range(30):
        ex.page("older")
    assert seqs(ex) == list(range(1, 51)) and ex.table.first_index == 0
    ex.page("latest")
    assert seqs(ex) == list(range(952, 1002))
    # the browser asks the same way, with a custom message
    ex._on_table_msg(ex.table, {"page": "older"}, [])
    assert seqs(ex)[0] == 902
    ex.close()


def test_evicted_records_leave_the_table_and_are_counted() -> None:
    cap = Capture(max_records=100)
    ex = Explorer(cap, window=500)
    for i in range(250):
        cap.frame(1 + i % 2, "in", i, BINARY_IN)
    ex.flush()
    assert seqs(ex) == list(range(151, 251))
    assert ex.counters["dropped"] == 150 == cap.dropped
    assert ex.counters["frames"] == 250  # every frame seen, evicted ones included
    assert repr(ex) == "Explorer(capture: 100 records, 2 connections, 150 dropped)"
    ex.select(3)
    assert ex.selected is None and "no longer in the capture" in ex._detail_header.value
    ex.close()


def test_outside_an_event_loop_records_are_flushed_at_most_every_interval() -> None:
    cap = Capture()
    ex = Explorer(cap, interval=60)
    cap.frame(1, "in", 0, TEXT_IN)  # the first one is shown at once: the last flush is old
    assert seqs(ex) == [1]
    cap.frame(1, "in", 18, BINARY_IN)  # the next waits for the interval or a flush
    assert seqs(ex) == [1]
    ex.flush()
    assert seqs(ex) == [1, 2]
    ex.close()


# ---------------------------------------------------------------------------- selection
def test_selecting_a_frame_shows_its_bits_and_its_message() -> None:
    cap = chromium_capture()
    ex = Explorer(cap)
    ex.select(2)
    view = ex.detail_view
    assert isinstance(view, FrameView)
    assert view.data == TEXT_IN and view.role == "server"
    assert view.dissection.ok
    assert isinstance(ex.message, MessageRecord) and ex.message.seq == 3 and ex.message.data == "发送数据"
    assert "发送数据" in ex.detail.children[1].children[1].value
    assert ex.selected is cap[1]

    ex.select(4)  # the server's echo is read as a client reads it
    assert isinstance(ex.detail_view, FrameView)
    assert ex.detail_view.data == TEXT_OUT and ex.detail_view.role == "client" and ex.detail_view.dissection.ok
    assert ex.message is None

    ex.select(5)
    assert ex.detail_view.data == BINARY_IN and ex.message.data == b"\x01\x02\x03"

    ex.select(7)  # a ping belongs to no message
    assert ex.message is None and "control frame" in ex.detail.children[1].children[1].value

    ex.select(9)  # the violation is shown on its bit
    assert not ex.detail_view.dissection.ok

    ex.select(1)
    assert isinstance(ex.detail_view, HandshakeView)
    assert "hunter2" not in ex.detail_view.value

    ex.select(3)
    assert ex.detail_view is None and "发送数据" in ex.detail.children[1].children[0].value
    ex.select(None)
    assert ex.detail_view is None and ex.detail.children[1].children == ()
    ex.close()


def test_a_fragmented_message_is_found_from_its_first_fragment() -> None:
    cap = Capture()
    first = Frame(Opcode.TEXT, b"Hel", fin=False, mask_key=b"abcd").encode()
    ping = Frame(Opcode.PING, b"", mask_key=b"abcd").encode()
    last = Frame(Opcode.CONTINUATION, b"lo", mask_key=b"abcd").encode()
    cap.frame(1, "in", 0, first)
    cap.frame(2, "in", 0, TEXT_IN)
    cap.message(2, "in", Opcode.TEXT, "发送数据")  # another connection's message comes first
    cap.frame(1, "in", 9, ping)
    cap.frame(1, "in", 15, last)
    cap.message(1, "in", Opcode.TEXT, "Hello", 2)
    ex = Explorer(cap)
    ex.select(1)
    assert ex.rows[0]["fin"] == 0
    assert ex.message is not None and ex.message.data == "Hello" and ex.message.frames == 2
    ex.close()


# ---------------------------------------------------------------------------- saved captures
def test_a_loaded_capture_shows_the_same_rows(tmp_path: Path) -> None:
    cap = chromium_capture()
    path = tmp_path / "chromium.wsx.jsonl"
    cap.save(path)
    loaded = Capture.load(path)
    original, reloaded = Explorer(cap), Explorer(loaded)
    assert reloaded.rows == original.rows
    assert reloaded.counters == original.counters
    assert repr(reloaded) == "Explorer(capture: 11 records, 2 connections, 0 dropped)"
    reloaded.select(2)
    assert reloaded.detail_view.data == TEXT_IN and reloaded.message.data == "发送数据"
    for ex in (original, reloaded):
        ex.close()


def test_records_views_are_explored_too() -> None:
    buf = io.StringIO()
    chromium_capture().save(buf)
    buf.seek(0)
    frames = Capture.load(buf).frames()
    ex = Explorer(frames)
    assert seqs(ex) == [2, 4, 5, 7, 9]
    assert repr(ex) == "Explorer(records: 5 records, 2 connections, 0 dropped)"
    ex.close()


# ---------------------------------------------------------------------------- repr and close
def test_repr_is_deterministic() -> None:
    cap = chromium_capture()
    ex = Explorer(cap)
    assert repr(ex) == "Explorer(capture: 11 records, 2 connections, 0 dropped)"
    assert ex._repr_mimebundle_()["text/plain"] == repr(ex)
    assert repr(Explorer(Capture())) == "Explorer(capture: 0 records, 0 connections, 0 dropped)"
    ex.close()
    assert repr(ex) == "Explorer(capture: 11 records, 2 connections, 0 dropped, closed)"


async def test_close_unsubscribes() -> None:
    cap = Capture()
    ex = Explorer(cap)
    cap.frame(1, "in", 0, TEXT_IN)
    ex.close()
    cap.frame(1, "in", 18, BINARY_IN)
    await asyncio.sleep(0.25)
    assert ex.rows == [] and ex.updates == 0
    other = Explorer(cap)  # a second explorer still sees everything
    assert seqs(other) == [1, 2]
    other.close()
    ex.close()  # closing twice is harmless


def test_bad_sources_and_windows_are_refused() -> None:
    with pytest.raises(TypeError):
        Explorer([FrameRecord(1, 1, 0.0, 0.0, "in", 0, TEXT_IN)])
    with pytest.raises(ValueError):
        Explorer(Capture(), window=0)


# ---------------------------------------------------------------------------- a live server
async def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = monotonic() + timeout
    while not predicate():
        if monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def test_rows_appear_live_from_a_real_server_without_a_refresh() -> None:
    async with Server("127.0.0.1", 0) as server:
        ex = Explorer(server)
        assert repr(ex) == "Explorer(server: 0 records, 0 connections, 0 dropped)"
        updates = count_updates(ex)
        async with connect(server.url, compression=None, open_timeout=10, close_timeout=10) as ws:
            await ws.send("发送数据")
            assert await asyncio.wait_for(ws.recv(), 10) == "发送数据"
            await ws.send(b"\x01\x02\x03")
            assert await asyncio.wait_for(ws.recv(), 10) == b"\x01\x02\x03"
            await wait_for(lambda: len(ex.rows) >= 7)  # open, 2 x (frame in, message, frame out)
        await wait_for(lambda: any(row["kind"] == "close" for row in ex.rows))
        rows = ex.rows
        kinds = [(row["kind"], row["dir"], row["op"]) for row in rows[:7]]
        assert kinds == [("open", "", ""), ("frame", "in", "TEXT"), ("message", "in", "TEXT"),
                         ("frame", "out", "TEXT"), ("frame", "in", "BINARY"), ("message", "in", "BINARY"),
                         ("frame", "out", "BINARY")]
        text_in = rows[1]
        assert (text_in["mask"], text_in["fin"], text_in["len"]) == (1, 1, 12) and "发送数据" in text_in["preview"]
        assert (rows[3]["mask"], rows[3]["fin"]) == (0, 1)
        assert 1 <= len(updates) <= 10
        assert ex.counters["connections"] == 1 and ex.counters["frames"] >= 6
        ex.select(text_in["seq"])
        assert ex.detail_view.data == server.capture[1].raw and ex.message.data == "发送数据"
        assert repr(ex).startswith("Explorer(server: ")
        ex.close()
        assert server.capture.subscriber_errors == []


# ---------------------------------------------------------------------------- how a connection arrived
PROXY_NOTE = "jupyter-server-proxy ended the browser's WebSocket and opened this one (seen: X-ProxyContextPath)"
RELAY_NOTE = "relayed by the Jupyter server: target /user/demo/wsexplore/8765/ws became /ws"


def paths_capture() -> Capture:
    """Connection 1 came through jupyter-server-proxy, 2 through the relay, 3 directly."""
    cap = Capture()
    for conn, via, note in ((1, "jupyter-server-proxy", PROXY_NOTE), (2, "relay", RELAY_NOTE), (3, None, "")):
        cap.opened(conn, ("127.0.0.1", 50000 + conn), REQUEST, RESPONSE, 101, via=via, note=note)
        cap.frame(conn, "in", 0, TEXT_IN)
        cap.message(conn, "in", Opcode.TEXT, "发送数据")
        cap.frame(conn, "out", 0, TEXT_OUT)
        cap.closed(conn, 1000, "", "remote", True)
    return cap


def test_every_row_of_a_connection_says_how_it_arrived() -> None:
    cap = paths_capture()
    explorer = Explorer(cap)
    rows = {conn: [r for r in explorer.rows if r["conn"] == conn] for conn in (1, 2, 3)}
    assert all(len(r) == 5 for r in rows.values())
    assert {(r["via"], r["reframed"]) for r in rows[1]} == {("proxy", True)}
    assert all("the proxy's, not the peer's" in r["via_note"] for r in rows[1])
    assert {(r["via"], r["reframed"]) for r in rows[2]} == {("relay", False)}
    assert all("the frames are the peer's own bytes" in r["via_note"] for r in rows[2])
    assert {(r["via"], r["via_note"], r["reframed"]) for r in rows[3]} == {("", "", False)}
    explorer.close()


def test_the_detail_views_say_a_proxys_records_are_the_proxys() -> None:
    cap = paths_capture()
    explorer = Explorer(cap)
    opened, frame, message = cap.filter(conn=1)[0], cap.frames(conn=1)[0], cap.messages(conn=1)[0]

    explorer.select(frame.seq)
    view = explorer.detail_view
    assert isinstance(view, FrameView) and view.via == "proxy" and view.reframed
    assert "the proxy's frame, not the peer's" in repr(view)

    explorer.select(opened.seq)
    view = explorer.detail_view
    assert isinstance(view, HandshakeView)
    assert "the proxy&#x27;s handshake and frames, not the browser&#x27;s" in view.value
    assert "X-ProxyContextPath" in view.value and repr(view).endswith("via jupyter-server-proxy)")

    explorer.select(message.seq)  # a message of that connection: the detail header says it
    assert "wsx-reframed" in explorer._detail_header.value

    explorer.select(cap.filter(conn=2)[0].seq)  # the relay's handshake: the note says what changed
    assert "became /ws" in explorer.detail_view.value and "wsx-reframed" not in explorer.detail_view.value
    explorer.select(cap.frames(conn=3)[0].seq)  # a direct frame: nothing to say
    assert explorer.detail_view.via == "" and "via" not in repr(explorer.detail_view)
    explorer.close()


def test_a_frameview_finds_its_connections_path_in_the_capture() -> None:
    cap = paths_capture()
    view = FrameView(cap.frames(conn=1)[0], capture=cap)
    assert (view.via, view.reframed) == ("proxy", True) and "jupyter-server-proxy" in view.via_note
    view.load(cap.frames(conn=3)[0], capture=cap)
    assert (view.via, view.via_note, view.reframed) == ("", "", False)
    view.close()
