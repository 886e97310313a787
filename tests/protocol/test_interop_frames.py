"""Frames built by websockets and wsproto dissect as they should; frames we build parse in both."""

from __future__ import annotations

import pytest
from websockets.frames import Close as WSClose
from websockets.frames import Frame as WSFrame
from websockets.frames import Opcode as WSOpcode
from websockets.streams import StreamReader
from wsproto.frame_protocol import FrameProtocol
from wsproto.frame_protocol import Opcode as WPOpcode

from wsexplore.protocol.dissector import dissect, dissect_stream
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

KEY = bytes.fromhex("55 d0 e1 e6")
PAYLOADS = [b"", b"hi", bytes(125), bytes(range(256)) * 2, b"\x07" * 70000]


def ws_parse(data: bytes, *, mask: bool) -> WSFrame:
    """websockets' own parser (mask=True: the reading side is a server)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WSFrame.parse(reader.read_exact, mask=mask, extensions=[])
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets wanted more bytes")


# -- their frames, our dissector ---------------------------------------------------
@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)}B")
def test_websockets_binary_frames(payload: bytes, mask: bool) -> None:
    data = WSFrame(WSOpcode.BINARY, payload).serialize(mask=mask, extensions=[])
    d = dissect(data, role="server" if mask else "client")
    assert d.ok, d.error
    assert d.size == len(data) and d.payload == payload
    assert d.field("Opcode").value == 0x2 and d.field("FIN").value == 1
    assert d.field("MASK").value == int(mask)
    assert (d.masked_payload is not None) == mask
    if mask:
        assert len(d.field("Masking key").value) == 4
    assert d.frame is not None and d.frame.payload == payload


def test_websockets_text_close_ping_and_fragments() -> None:
    frames = [
        WSFrame(WSOpcode.TEXT, "发送".encode()[:4], fin=False),
        WSFrame(WSOpcode.CONT, "发送".encode()[4:]),
        WSFrame(WSOpcode.PING, b"ping"),
        WSFrame(WSOpcode.CLOSE, WSClose(1001, "bye").serialize()),
    ]
    data = b"".join(f.serialize(mask=True, extensions=[]) for f in frames)
    text, cont, ping, close = dissect_stream(data)
    assert all(d.ok for d in (text, cont, ping, close))
    assert text.text == "发" and text.field("FIN").value == 0
    assert cont.field("Opcode").value == 0 and cont.payload == "发送".encode()[4:]
    assert ping.field("Opcode").meaning == "0x9: ping" and ping.payload == b"ping"
    assert (close.close_code, close.close_reason) == (1001, "bye")
    assert close.field("Close code").value == 1001


@pytest.mark.parametrize("client", [True, False])
def test_wsproto_frames(client: bool) -> None:
    proto = FrameProtocol(client=client, extensions=[])
    data = (bytes(proto.send_data("héllo"))
            + bytes(proto.send_data(b"\x00" * 300))
            + bytes(proto.ping(b"p"))
            + bytes(proto.close(1000, "done")))
    role = "server" if client else "client"  # the side that reads what this endpoint sent
    text, binary, ping, close = dissect_stream(data, role=role)
    assert all(d.ok for d in (text, binary, ping, close)), [d.error for d in (text, binary, ping, close)]
    assert text.text == "héllo" and text.field("MASK").value == int(client)
    assert binary.payload == b"\x00" * 300
    assert binary.field("Extended payload length").value == 300
    assert ping.field("Opcode").value == 0x9 and ping.payload == b"p"
    assert (close.close_code, close.close_reason) == (1000, "done")
    assert sum(d.size for d in (text, binary, ping, close)) == len(data)


# -- our frames, their parsers -------------------------------------------------------
OURS = [
    Frame(Opcode.TEXT, "发送数据".encode()),
    Frame(Opcode.BINARY, bytes(range(256)) * 300),
    Frame(Opcode.BINARY, b"\x01" * 70000),
    Frame(Opcode.TEXT, b"part", fin=False),
    Frame(Opcode.CONTINUATION, b" two"),
    Frame(Opcode.PING, b"are you there"),
    Frame(Opcode.PONG, b""),
    Frame.close(1000, "bye"),
]


@pytest.mark.parametrize("frame", OURS, ids=repr)
@pytest.mark.parametrize("masked", [True, False])
def test_websockets_parses_our_frames(frame: Frame, masked: bool) -> None:
    if masked:
        frame = Frame(frame.opcode, frame.payload, fin=frame.fin, mask_key=KEY)
    parsed = ws_parse(frame.encode(), mask=masked)
    assert int(parsed.opcode) == int(frame.opcode)
    assert bytes(parsed.data) == frame.payload
    assert parsed.fin == frame.fin
    assert (parsed.rsv1, parsed.rsv2, parsed.rsv3) == (False, False, False)


@pytest.mark.parametrize("masked", [True, False])
def test_wsproto_parses_our_frames(masked: bool) -> None:
    key = KEY if masked else None
    # A server-side FrameProtocol reads masked (client) frames, a client-side one unmasked frames.
    proto = FrameProtocol(client=not masked, extensions=[])
    sent = [
        Frame(Opcode.TEXT, "发送".encode(), mask_key=key),
        Frame(Opcode.BINARY, b"\x02" * 70000, mask_key=key),
        Frame(Opcode.PING, b"x", mask_key=key),
        Frame.close(1001, "away", mask_key=key),
    ]
    proto.receive_bytes(b"".join(f.encode() for f in sent))
    got = list(proto.received_frames())
    assert [g.opcode for g in got] == [WPOpcode.TEXT, WPOpcode.BINARY, WPOpcode.PING, WPOpcode.CLOSE]
    assert got[0].payload == "发送"
    assert bytes(got[1].payload) == b"\x02" * 70000 and got[1].message_finished
    assert bytes(got[2].payload) == b"x"
    assert got[3].payload == (1001, "away")


def test_both_libraries_agree_with_the_dissector_on_the_same_bytes() -> None:
    """One wire frame, three readers: websockets, wsproto and the dissector see the same thing."""
    data = Frame(Opcode.TEXT, "Grüße".encode(), mask_key=KEY).encode()
    ws = ws_parse(data, mask=True)
    proto = FrameProtocol(client=False, extensions=[])
    proto.receive_bytes(data)
    (wp,) = list(proto.received_frames())
    d = dissect(data)
    assert bytes(ws.data).decode() == wp.payload == d.text == "Grüße"
