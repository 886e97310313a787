"""FrameView and Explorer on compressed frames (permessage-deflate, RFC 7692), from real captures.

The captures come from a real ``Server(compression="deflate")`` on 127.0.0.1
(port 0) talking to the ``websockets`` client with its own permessage-deflate
(it offers ``permessage-deflate; client_max_window_bits``, as Chromium does).
With context takeover (the default) a repeated message compresses to a few
bytes that only inflate after the messages before it: the view must get the
inflated message from the capture, not from the frame alone.
"""

from __future__ import annotations

import asyncio
from time import monotonic

import pytest
from websockets.asyncio.client import connect

from wsexplore.capture import Capture, FrameRecord, MessageRecord
from wsexplore.live.server import Server
from wsexplore.protocol.deflate import CompressionError, DeflateParams, deflate_message, inflate_message
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets.explorer import Explorer
from wsexplore.widgets.frameview import INFLATED_TEXT_SHOWN, FrameView

pytestmark = pytest.mark.timeout(60)

TEXT = "发送数据" * 20  # 240 bytes of UTF-8, very repetitive: deflate shrinks it a lot
BINARY = bytes(range(16)) * 8
FRAGMENTS = ["abc" * 100, "def" * 100, "ghi" * 10]
T = 10


async def deflate_capture(*messages: object, compression: str | None = "deflate") -> Capture:
    """Echo ``messages`` through a real server; returns its capture once the connection closed."""
    async with Server("127.0.0.1", 0, compression=compression) as server:
        async with connect(server.url, compression="deflate", open_timeout=T, close_timeout=T) as ws:
            for message in messages:
                await ws.send(message)
                await asyncio.wait_for(ws.recv(), T)
        deadline = monotonic() + T
        while not any(r.kind == "close" for r in server.capture):
            assert monotonic() < deadline, "no close record"
            await asyncio.sleep(0.01)
        return server.capture


def data_frames(cap: Capture, direction: str) -> list[FrameRecord]:
    return [r for r in cap if isinstance(r, FrameRecord) and r.direction == direction
            and r.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION)]


def field(view: FrameView, name: str) -> dict:
    return next(f for f in view.fields if f["name"] == name)


async def test_frameview_of_a_compressed_client_frame_shows_the_inflated_text_and_ratio() -> None:
    cap = await deflate_capture(TEXT, TEXT, BINARY)
    # The server's defaults (deflate.SERVER_DEFAULT): 12-bit windows both ways.
    assert cap.deflate_params(1) == DeflateParams(server_max_window_bits=12, client_max_window_bits=12)
    first, second, binary = data_frames(cap, "in")
    view = FrameView(first, capture=cap)
    assert view.role == "server" and view.compressed
    assert view.deflate_params == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    rsv1 = field(view, "RSV1")
    assert rsv1["value"] == 1 and rsv1["meaning"].startswith("per-message compressed")
    assert view.error is None
    payload = first.frame.payload
    assert first.raw[0] == 0xC1 and first.frame.mask_key is not None  # FIN, RSV1, text; masked by the client
    assert view.compressed_size == len(payload) < 40
    assert view.inflated_text == TEXT and view.inflated_size == len(TEXT.encode()) == 240
    assert view.inflated_hex.startswith("e5 8f 91 e9 80 81") and view.inflated_hex.endswith(" …")
    assert view.compression_ratio == pytest.approx(len(payload) / 240)
    assert view.compression[0] == "permessage-deflate (RFC 7692): RSV1=1, the first frame of a compressed message"
    assert any(line.split()[:2] == ["ratio", f"{round(100 * len(payload) / 240)}%"] for line in view.compression)
    assert repr(view) == f"FrameView(TEXT {len(first.raw)} B, masked, compressed {len(payload)} B -> 240 B, ok)"
    # The payload field keeps the compressed bytes: the wire is what it is.
    assert field(view, "Payload")["display"].startswith(first.raw[6:12].hex(" "))  # masked, as on the wire
    assert view.dissection.payload == payload and view.dissection.inflated == TEXT.encode()

    # The same message again: with context takeover it refers to the first one, so it does
    # not inflate on its own; the capture supplies the message it ends up as.
    again = second.frame.payload
    assert len(again) < len(payload)
    with pytest.raises(CompressionError):
        inflate_message(again)
    alone = FrameView(second, deflate=cap.deflate_params(1))
    assert alone.compressed and alone.inflated_text is None and alone.inflated_size is None
    assert "context takeover" in "\n".join(alone.compression) and alone.error is None
    view = FrameView(second, capture=cap)
    assert view.inflated_text == TEXT and view.compression_ratio == pytest.approx(len(again) / 240)

    view = FrameView(binary, capture=cap)
    assert view.compressed and view.inflated_text is None and view.inflated_size == len(BINARY)
    assert view.inflated_hex == BINARY[:64].hex(" ") + " …"

    # The server's answers are compressed too (RSV1 set, unmasked).
    out = data_frames(cap, "out")
    assert [r.raw[0] for r in out] == [0xC1, 0xC1, 0xC2] and not any(r.raw[1] & 0x80 for r in out)
    view = FrameView(out[0], capture=cap)
    assert view.role == "client" and view.inflated_text == TEXT and view.error is None


async def test_without_the_extension_rsv1_is_a_violation_and_nothing_is_inflated() -> None:
    cap = await deflate_capture(TEXT, compression=None)  # the server declines the offer
    assert cap.deflate_params(1) is None
    (frame,) = data_frames(cap, "in")
    view = FrameView(frame, capture=cap)
    assert not view.compressed and view.deflate_params == "" and view.compression == []
    assert view.inflated_size is None and view.compression_ratio is None
    assert field(view, "RSV1")["value"] == 0 and view.error is None
    # The same compressed bytes with RSV1 and no negotiated extension: close 1002 (RFC 6455 section 5.2).
    raw = Frame(Opcode.TEXT, deflate_message(TEXT.encode()), rsv1=True, mask_key=b"\x01\x02\x03\x04").encode()
    plain = FrameView(raw)
    assert plain.error["field"] == "RSV1" and plain.error["close_code"] == 1002 and not plain.compressed
    compressed = FrameView(raw, deflate=True)
    assert compressed.error is None and compressed.inflated_text == TEXT


async def test_fragmented_compressed_message_continuations_show_the_whole_message() -> None:
    cap = await deflate_capture(FRAGMENTS)
    first, *rest = data_frames(cap, "in")
    assert [r.raw[0] & 0xF0 for r in (first, *rest)] == [0x40] + [0x00] * (len(rest) - 1) + [0x80]
    message = "".join(FRAGMENTS)
    view = FrameView(first, capture=cap)
    assert view.compressed and view.inflated_text == message and view.compression_ratio is None  # FIN=0
    assert "FIN=0" in repr(view)
    cont = FrameView(rest[0], capture=cap)
    assert cont.compressed and cont.inflated_text == message
    assert field(cont, "RSV1")["meaning"].startswith("0: only a message's first frame")
    assert cont.compression[0] == "permessage-deflate (RFC 7692): a continuation frame of a compressed message"


async def test_editing_a_compressed_frame_drops_the_supplied_message_until_the_bytes_are_back() -> None:
    cap = await deflate_capture(TEXT, TEXT)
    second = data_frames(cap, "in")[1]
    view = FrameView(second, capture=cap, editable=True)
    original = view.data
    assert view.inflated_text == TEXT
    view.flip_bit(0)  # FIN off: these are other bytes now, and the capture knows nothing of them
    assert view.dissection.inflate_note != "inflated message supplied (the whole message)"
    assert view.inflated_text != TEXT
    view.flip_bit(0)
    assert view.data == original and view.inflated_text == TEXT
    other = data_frames(cap, "in")[0]
    view.load(other, capture=cap)
    assert view.inflated_text == TEXT and view.compressed_size == len(other.frame.payload)
    view.load(other)  # no context given: the extension is not assumed
    assert not view.compressed and view.error["field"] == "RSV1"


def test_long_inflated_text_is_cut_for_the_browser_not_in_the_dissection() -> None:
    text = "x" * (INFLATED_TEXT_SHOWN + 500)
    frame = Frame(Opcode.TEXT, deflate_message(text.encode()), rsv1=True)
    view = FrameView(frame, deflate=True)
    assert view.role == "client" and view.error is None  # unmasked: read as a client reads it
    assert view.inflated_text == "x" * INFLATED_TEXT_SHOWN + "…" and view.dissection.text == text
    assert view.inflated_size == len(text)


def test_capture_needs_a_frame_record() -> None:
    with pytest.raises(TypeError, match="FrameRecord"):
        FrameView(b"\x81\x00", capture=Capture())


async def test_explorer_rows_show_rsv1_and_the_inflated_message() -> None:
    cap = await deflate_capture(TEXT, TEXT, BINARY, FRAGMENTS)
    ex = Explorer(cap)
    rows = {row["seq"]: row for row in ex.rows}
    frames_in = data_frames(cap, "in")
    sizes = [240, 240, len(BINARY)]
    for rec, size in zip(frames_in[:3] + data_frames(cap, "out"), sizes + sizes + [630]):
        row = rows[rec.seq]
        assert row["rsv"] == "100" and row["len"] == len(rec.frame.payload)
        assert row["inflated"] == size
        assert row["preview"].startswith(f"deflate {len(rec.frame.payload)} B")
        assert ("发送数据" in row["preview"]) == (rec.opcode == Opcode.TEXT and size == 240)
    fragments = frames_in[3:]
    assert [rows[r.seq]["rsv"] for r in fragments] == ["100"] + ["000"] * (len(fragments) - 1)
    assert all(rows[r.seq]["inflated"] == 630 for r in fragments)
    assert f"(one of {len(fragments)} frames) → TEXT 630 B" in rows[fragments[1].seq]["preview"]
    messages = [r for r in cap if isinstance(r, MessageRecord)]
    assert all(rows[m.seq]["inflated"] is None and f"deflated to {m.compressed_size} B" in rows[m.seq]["preview"]
               for m in messages)
    closes = [row for row in ex.rows if row["op"] == "CLOSE"]
    assert closes and all(row["rsv"] == "000" and row["inflated"] is None for row in closes)

    # Selecting a compressed frame shows its FrameView with the inflated message.
    ex.select(frames_in[1].seq)
    view = ex.detail_view
    assert isinstance(view, FrameView) and view.compressed and view.inflated_text == TEXT
    assert field(view, "RSV1")["meaning"].startswith("per-message compressed")
    assert ex.message is not None and ex.message.data == TEXT
    assert "Compressed (permessage-deflate, RFC 7692)" in ex._detail_body.children[1].value
    ex.select(fragments[-1].seq)
    assert ex.detail_view.inflated_text == "".join(FRAGMENTS)
    out = data_frames(cap, "out")[0]
    ex.select(out.seq)
    assert ex.detail_view.inflated_text == TEXT and ex.message is not None and ex.message.direction == "out"
    ex.close()


async def test_live_explorer_rows_get_the_inflated_message_as_it_arrives() -> None:
    async with Server("127.0.0.1", 0, compression="deflate") as server:
        ex = Explorer(server)
        async with connect(server.url, compression="deflate", open_timeout=T, close_timeout=T) as ws:
            for message in (TEXT, TEXT, FRAGMENTS):
                await ws.send(message)
                await asyncio.wait_for(ws.recv(), T)
            deadline = monotonic() + T
            while sum(row["inflated"] is not None for row in ex.rows) < 2 + 2 + 4 + 1:
                assert monotonic() < deadline, f"rows without their inflated message: {ex.rows}"
                await asyncio.sleep(0.02)
        compressed = [row for row in ex.rows if row["inflated"] is not None]
        assert all(row["kind"] == "frame" for row in compressed)
        assert [row["inflated"] for row in compressed if row["dir"] == "in"] == [240, 240, 630, 630, 630, 630]
        assert not ex._awaiting
        ex.close()


def test_plain_capture_rows_are_unchanged() -> None:
    cap = Capture()
    cap.frame(1, "in", 0, Frame(Opcode.TEXT, b"hi", mask_key=b"abcd").encode())
    cap.message(1, "in", Opcode.TEXT, "hi")
    row = Explorer(cap).rows[0]
    assert (row["rsv"], row["inflated"], row["preview"]) == ("000", None, '"hi"')
