"""FrameBuilder: the controls describe a Frame, its bytes are Frame.encode(), and Send sends it as built."""

from __future__ import annotations

import asyncio
import re

import pytest

from wsexplore.live.server import Server
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets import FrameBuilder, FrameView

KEY = b"\x37\xfa\x21\x3d"


def test_default_is_a_text_frame() -> None:
    b = FrameBuilder()
    assert b.frame == Frame.text("Hello")
    assert b.data == b"\x81\x05Hello" == b.frame.encode()
    assert isinstance(b.view, FrameView) and b.view.data == b.data and b.view.error is None
    assert b.hex.value == "81 05 48 65 6c 6c 6f"
    assert "7-bit" in b.length_label.value
    assert repr(b) == 'FrameBuilder(Frame(TEXT, "Hello", 5 B), 7 B, 7-bit length)'


def test_controls_give_frame_encode() -> None:
    b = FrameBuilder()
    b.fin.value = False
    b.rsv2.value = True
    b.opcode.value = int(Opcode.BINARY)
    b.payload_mode.value = "hex"
    b.payload.value = "00 ff 10"
    expected = Frame(Opcode.BINARY, b"\x00\xff\x10", fin=False, rsv2=True)
    assert b.frame == expected and b.data == expected.encode() == b"\x22\x03\x00\xff\x10"
    assert b.view.data == b.data
    assert b.view.error["field"] == "RSV2"  # no extension defines it

    b.mask_key.value = "37 fa 21 3d"
    b.mask.value = True
    expected = Frame(Opcode.BINARY, b"\x00\xff\x10", fin=False, rsv2=True, mask_key=KEY)
    assert b.frame == expected and b.data == expected.encode()
    assert b.view.role == "server"  # a masked frame is a client's: a server reads it


@pytest.mark.parametrize("frame", [
    Frame.text("发送数据", mask_key=bytes.fromhex("55d0e1e6")),
    Frame(Opcode.PING, b"\x00\x01", mask_key=KEY),
    Frame(Opcode.PONG),
    Frame(Opcode.CONTINUATION, b"tail", fin=True, rsv1=True, rsv3=True),
    Frame.close(1001, "going away", mask_key=KEY),
    Frame.close(None),
    Frame.close(1005, "never on the wire"),  # an invalid close code, built all the same
    Frame(Opcode.CLOSE, b"\x03"),  # a 1-byte close body: not code + reason, shown as raw payload
    Frame(Opcode.CLOSE, b"\x03\xe8\xff\xfe"),  # a reason that is not UTF-8
    Frame(0x3, b"reserved"),  # reserved non-control opcode
    Frame(0xB, b"\x01\x02", fin=False),  # reserved control opcode, fragmented
    Frame(Opcode.TEXT, b"line\r\nbreak"),  # CR: edited as hex, a text box would drop it
    Frame(Opcode.BINARY, bytes(300), mask_key=KEY),
])
def test_load_round_trips(frame: Frame) -> None:
    b = FrameBuilder(frame=frame)
    assert b.error is None
    assert b.frame == frame
    assert b.data == frame.encode()
    assert b.view.data == frame.encode()


def test_close_frame_with_code_and_reason() -> None:
    b = FrameBuilder()
    assert b.close_box.layout.display == "none"
    b.opcode.value = int(Opcode.CLOSE)
    assert b.close_box.layout.display is None and b.payload_box.layout.display == "none"
    b.close_code.value = "1000"
    b.close_reason.value = "done"
    assert b.frame == Frame.close(1000, "done")
    assert b.data == b"\x88\x06\x03\xe8done"
    assert b.view.error is None
    assert b.view.dissection.close_code == 1000 and b.view.dissection.close_reason == "done"

    b.close_code.value = "999"  # may never appear: built, then flagged by the dissector
    assert b.data == b"\x88\x06\x03\xe7done"
    assert b.view.error["kind"] == "InvalidCloseCode"

    b.close_code.value = ""
    assert b.error is not None and "needs a close code" in b.error
    assert b.frame == Frame.close(999, "done")  # the last valid frame stays
    b.close_reason.value = ""
    assert b.error is None and b.data == b"\x88\x00"

    b.close_mode.value = "raw"
    b.payload_mode.value = "hex"
    b.payload.value = "03"
    assert b.data == b"\x88\x01\x03" and b.view.error is not None


def test_invalid_frame_reserved_opcode() -> None:
    b = FrameBuilder()
    b.opcode.value = 0xC
    assert b.opcode.label == "0xC: reserved for further control frames"
    assert b.frame == Frame(0xC, b"Hello") and b.data == b"\x8c\x05Hello"
    assert b.view.error["kind"] == "FramingError" and b.view.error["field"] == "Opcode"
    assert repr(b) == ("FrameBuilder(Frame(0xC, 48 65 6c 6c 6f, 5 B), 7 B, 7-bit length, "
                       "breaks FramingError at bit 4 Opcode)")
    labels = [label for label, _ in b.opcode.options]
    assert len(labels) == 16 and sum("reserved" in label for label in labels) == 10


@pytest.mark.parametrize("size, form", [(0, "7-bit"), (125, "7-bit"), (126, "16-bit"), (65535, "16-bit"),
                                        (65536, "64-bit")])
def test_length_form_label(size: int, form: str) -> None:
    b = FrameBuilder()
    b.payload.value = "a" * size
    assert b.length_form == form
    assert f"{size} payload byte" in b.length_label.value and f"{form} length" in b.length_label.value
    assert b.data == Frame.text("a" * size).encode()
    header = {"7-bit": 2, "16-bit": 4, "64-bit": 10}[form]
    assert len(b.data) == header + size
    if size > 1024:
        assert b.hex.value.endswith(f"... {len(b.data) - 1024} more bytes")


def test_mask_on_picks_a_random_key_and_bad_keys_are_refused() -> None:
    b = FrameBuilder()
    b.mask.value = True
    key = b.frame.mask_key
    assert key is not None and len(key) == 4
    assert b.mask_key.value == key.hex(" ")
    assert b.data == Frame.text("Hello", mask_key=key).encode()

    b.mask_key.value = "01 02 03"
    assert b.error == "masking key: 4 bytes needed, got 3"
    assert b.frame.mask_key == key and b.send_button.disabled
    b.mask_key.value = "01020304"
    assert b.error is None and b.frame.mask_key == b"\x01\x02\x03\x04"

    keys = {b.randomize_key() for _ in range(5)}
    assert len(keys) > 1 and b.frame.mask_key in keys

    b.mask.value = False
    assert b.frame.mask_key is None and b.data == b"\x81\x05Hello"


def test_payload_mode_switch_keeps_the_bytes() -> None:
    b = FrameBuilder()
    b.payload.value = "héllo"
    b.payload_mode.value = "hex"
    assert b.payload.value == "68 c3 a9 6c 6c 6f" and b.frame.payload == "héllo".encode()
    b.payload_mode.value = "text"
    assert b.payload.value == "héllo"
    b.payload_mode.value = "hex"
    b.payload.value = "ff fe"
    b.payload_mode.value = "text"  # not UTF-8: stays hex
    assert b.payload_mode.value == "hex" and b.frame.payload == b"\xff\xfe"
    assert "stays hex" in b.problem.value
    b.payload.value = "zz"
    assert b.error is not None and "payload hex" in b.error and b.frame.payload == b"\xff\xfe"


def test_without_connection_there_is_no_send() -> None:
    b = FrameBuilder()
    assert b.send_box not in b.children
    with pytest.raises(RuntimeError):
        b.send()


async def test_send_sends_the_frame_as_built() -> None:
    """A live connection receives the exact bytes, even of a frame that breaks the rules."""
    connected: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(conn) -> None:
        connected.set_result(conn)
        await conn.wait_closed()

    server = await asyncio.wait_for(Server("127.0.0.1", 0, handler).start(), 10)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), 10)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        conn = await asyncio.wait_for(connected, 10)

        b = FrameBuilder(conn)
        assert b.send_box in b.children and b.view.role == "client"
        b.opcode.value = 0x3  # reserved: the client should fail the connection
        b.rsv1.value = True
        task = b.send()
        await asyncio.wait_for(task, 10)
        assert await asyncio.wait_for(reader.readexactly(len(b.data)), 10) == b"\xc3\x05Hello"
        assert b.status.value.startswith("sent 7 B: Frame(0x3 RSV1")
        assert re.fullmatch(r"FrameBuilder\(.*, connection #\d+\)", repr(b))

        b._send_clicked()  # the button's path
        assert await asyncio.wait_for(reader.readexactly(7), 10) == b"\xc3\x05Hello"
        writer.close()
    finally:
        await asyncio.wait_for(server.stop(), 20)


def test_repr_has_no_address() -> None:
    assert not re.search(r"0x[0-9a-f]{8,}", repr(FrameBuilder()))


class Recorder:
    """A stand-in peer: records the frames handed to ``send_frame`` (or fails, when told to)."""

    def __init__(self, fail: bool = False) -> None:
        self.id = 7
        self.frames: list[Frame] = []
        self.fail = fail

    async def send_frame(self, frame: Frame) -> None:
        if self.fail:
            raise ConnectionError("the connection is closed")
        self.frames.append(frame)


async def test_send_failure_is_shown() -> None:
    b = FrameBuilder(Recorder(fail=True))
    task = b.send()
    with pytest.raises(ConnectionError):
        await task
    assert "send failed: ConnectionError: the connection is closed" in b.status.value


def test_send_from_another_thread_uses_the_builders_loop() -> None:
    """A button callback may run outside the loop the builder was made on: the send goes to that loop."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        peer = Recorder()

        async def make() -> FrameBuilder:
            return FrameBuilder(peer, frame=Frame(Opcode.PING, b"hi"))

        b = asyncio.run_coroutine_threadsafe(make(), loop).result(10)
        b.send().result(10)
        assert peer.frames == [Frame(Opcode.PING, b"hi")]
        assert repr(b) == "FrameBuilder(Frame(PING, 68 69, 2 B), 4 B, 7-bit length, connection #7)"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
