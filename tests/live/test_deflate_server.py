"""permessage-deflate on live sockets: our Server against websockets' client, our client against its server.

Every test runs real asyncio servers on 127.0.0.1 (port 0), bounds every wait
with a timeout and stops what it starts (see conftest.py).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import zlib

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

from wsexplore.capture import Capture, FrameRecord, MessageRecord, OpenRecord
from wsexplore.live.server import Server
from wsexplore.protocol import handshake
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.deflate import DeflateConfig, DeflateParams
from wsexplore.protocol.events import MessageReceived, ProtocolViolation
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

from .test_server import eventually

pytestmark = pytest.mark.timeout(120)

T = 10
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"
CHROMIUM_OFFER = "permessage-deflate; client_max_window_bits"
HELLO = bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")
HELLO_AGAIN = bytes.fromhex("c1 05 f2 00 11 00 00")
# Two large ones (89 KB of text, 200 KiB of binary), then "Hello" referring back to what came before.
MESSAGES: list[str | bytes] = ["Hello", "Hello", "", "é" * 500, b"\x00\x01" * 3000, "the quick brown fox " * 400,
                               "".join(f"{i:05d} GET /item/{i % 97} 200 {i * 7 % 1000} ms\n" for i in range(3000)),
                               bytes(range(256)) * 800, "Hello"]


def upgrade(port: int, extensions: str | None) -> bytes:
    ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions is not None else ""
    return (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").encode()


def masked(frame: bytes) -> bytes:
    f = Frame.decode(frame)
    return Frame(f.opcode, f.payload, fin=f.fin, rsv1=f.rsv1, mask_key=MASK).encode()


# ---------------------------------------------------------------------------- Chromium's offer, raw bytes
async def test_chromium_offer_is_answered_and_frames_are_compressed(make_server) -> None:
    server = await make_server(compression="deflate")
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)
    try:
        writer.write(upgrade(server.port, CHROMIUM_OFFER))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        assert head.startswith(b"HTTP/1.1 101 ")
        parsed = handshake.parse_response(head)
        assert parsed is not None
        response = parsed[0]
        # The server's defaults (deflate.SERVER_DEFAULT): 12-bit windows, the client's asked for as it offered.
        assert response.headers.get_all("Sec-WebSocket-Extensions") == [
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"]
        # A client that offered exactly this accepts the answer.
        chromium = DeflateConfig(client_max_window_bits=True)
        agreed = handshake.validate_response(response, KEY, extensions=CHROMIUM_OFFER)
        twelve = DeflateParams(server_max_window_bits=12, client_max_window_bits=12)
        assert chromium.accept_response(agreed.extensions) == twelve
        # The RFC 7692 "Hello" both ways: it comes in compressed, the second sharing the window of the first;
        # the echo goes uncompressed, as compressing five bytes makes seven (RFC 7692 section 6 allows it).
        writer.write(masked(HELLO))
        assert await asyncio.wait_for(reader.readexactly(7), T) == b"\x81\x05Hello"
        writer.write(masked(HELLO_AGAIN))
        assert await asyncio.wait_for(reader.readexactly(7), T) == b"\x81\x05Hello"
        writer.write(Frame(Opcode.CLOSE, b"\x03\xe8", mask_key=MASK).encode())
        rest = await asyncio.wait_for(reader.read(), T)
        assert rest[:4] == b"\x88\x02\x03\xe8"
    finally:
        writer.transport.abort()
    await eventually(lambda: not server.connections, what="the close")
    cap = server.capture
    (conn,) = cap.connections
    frames = [r for r in cap if isinstance(r, FrameRecord) and r.opcode == Opcode.TEXT]
    assert [(f.direction, f.raw) for f in frames] == [("in", masked(HELLO)), ("out", b"\x81\x05Hello"),
                                                      ("in", masked(HELLO_AGAIN)), ("out", b"\x81\x05Hello")]
    msgs = [r for r in cap if isinstance(r, MessageRecord)]
    assert [(m.direction, m.data, m.compressed_size) for m in msgs] == [
        ("in", "Hello", 7), ("out", "Hello", None), ("in", "Hello", 5), ("out", "Hello", None)]
    assert "compressed 5 B" in repr(msgs[2])
    # In context, every frame shows what it inflates to; alone, the second needs the first's window.
    assert cap.deflate_params(conn) == twelve
    for f in frames:
        d = cap.dissect(f)
        assert d.ok and d.compressed == (f.direction == "in") and d.text == "Hello", d
        assert "compressed" in d.field("RSV1").meaning
    assert cap.dissect(frames[2].seq).inflated == b"Hello"
    assert frames[2].dissect(deflate=True).inflated is None
    assert frames[2].dissect().error.field == "RSV1"
    # Saved and loaded, the capture keeps the compressed sizes and the context.
    buf = io.StringIO()
    cap.save(buf)
    buf.seek(0)
    loaded = Capture.load(buf)
    assert [m.compressed_size for m in loaded if isinstance(m, MessageRecord)] == [7, None, 5, None]
    assert loaded.dissect(frames[2].seq).text == "Hello"


async def test_off_by_default_declines_the_offer_and_rsv1_is_a_violation(make_server) -> None:
    server = await make_server()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)
    try:
        writer.write(upgrade(server.port, CHROMIUM_OFFER))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        assert head.startswith(b"HTTP/1.1 101 ") and b"Sec-WebSocket-Extensions" not in head
        writer.write(masked(HELLO))
        rest = await asyncio.wait_for(reader.read(), T)
        assert rest[:4] == b"\x88" + bytes([len(rest) - 2]) + b"\x03\xea"  # close 1002
    finally:
        writer.transport.abort()
    await eventually(lambda: not server.connections, what="the close")
    (bad,) = server.capture.violations()
    assert bad.error.field == "RSV1" and bad.error.close_code == 1002
    assert server.capture.deflate_params(bad.conn) is None


async def test_bad_compression_option() -> None:
    with pytest.raises(ValueError, match="compression"):
        Server(compression="gzip")


async def test_deflate_bomb_is_closed_with_1009(make_server) -> None:
    server = await make_server(compression="deflate", max_message_size=1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    bomb = b"".join(c.compress(zeros) for _ in range(100)) + c.flush(zlib.Z_SYNC_FLUSH)[:-4]
    # websockets would compress a message itself: the bomb's frame goes out as it is, over a raw socket.
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)
    try:
        writer.write(upgrade(server.port, CHROMIUM_OFFER))
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        writer.write(Frame(Opcode.BINARY, bomb, rsv1=True, mask_key=MASK).encode())
        rest = await asyncio.wait_for(reader.read(), T)
        assert rest[2:4] == b"\x03\xf1"  # close 1009
    finally:
        writer.transport.abort()
    await eventually(lambda: len(server.capture.violations()) == 1, what="the violation")
    (bad,) = server.capture.violations()
    assert bad.error.close_code == 1009 and "while inflating" in bad.error.message


# ---------------------------------------------------------------------------- websockets client -> our Server
SERVER_CONFIGS = {
    "default": "deflate",
    "windows": DeflateConfig(server_max_window_bits=11, client_max_window_bits=10),
    "no-takeover": DeflateConfig(server_no_context_takeover=True, client_no_context_takeover=True, level=9),
}
CLIENT_FACTORIES = list(itertools.product([False, True], [False, True], [None, 10], [None, True, 9]))


async def _echo_round(url: str, **kwargs) -> None:
    async with connect(url, open_timeout=T, close_timeout=T, max_size=None, **kwargs) as ws:
        for m in MESSAGES:
            await ws.send(m)
            assert await asyncio.wait_for(ws.recv(), T) == m


@pytest.mark.parametrize("config", list(SERVER_CONFIGS), ids=list(SERVER_CONFIGS))
@pytest.mark.parametrize("snct, cnct, smwb, cmwb", CLIENT_FACTORIES)
async def test_websockets_client_against_our_server(make_server, config: str, snct: bool, cnct: bool,
                                                    smwb: int | None, cmwb: int | bool | None) -> None:
    server = await make_server(compression=SERVER_CONFIGS[config])
    factory = ClientPerMessageDeflateFactory(server_no_context_takeover=snct, client_no_context_takeover=cnct,
                                             server_max_window_bits=smwb, client_max_window_bits=cmwb)
    await _echo_round(server.url, compression=None, extensions=[factory])
    await eventually(lambda: not server.connections, what="the close")
    cap = server.capture
    (conn,) = cap.connections
    params = cap.deflate_params(conn)
    assert params is not None
    assert params.server_no_context_takeover == (snct or config == "no-takeover")
    msgs = [r for r in cap if isinstance(r, MessageRecord)]
    assert [m.data for m in msgs if m.direction == "in"] == MESSAGES
    assert [m.data for m in msgs if m.direction == "out"] == MESSAGES
    assert all(m.compressed_size is not None for m in msgs if m.direction == "in")  # websockets compresses all
    # Ours compresses what that makes smaller: the long messages, not the few bytes of "Hello" or "".
    out = [m for m in msgs if m.direction == "out"]
    assert [m.compressed_size is not None for m in out] == [len(m.data) > 100 for m in out]
    assert all(m.compressed_size < len(m.data) for m in out if m.compressed_size is not None)
    data_in = [r for r in cap if isinstance(r, FrameRecord) and r.direction == "in" and r.opcode != Opcode.CLOSE]
    assert all(r.frame.rsv1 for r in data_in)
    for r in [r for r in cap if isinstance(r, FrameRecord) and r.opcode in (Opcode.TEXT, Opcode.BINARY)]:
        d = cap.dissect(r)
        assert d.ok and d.compressed == r.frame.rsv1 and (d.inflated is not None) == r.frame.rsv1


async def test_websockets_default_compression_against_our_server(make_server) -> None:
    server = await make_server(compression="deflate")
    await _echo_round(server.url, compression="deflate")
    (open_record,) = [r for r in server.capture if isinstance(r, OpenRecord)]
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" in open_record.request
    assert (b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12\r\n"
            in open_record.response)  # deflate.SERVER_DEFAULT: the settings websockets' own server picks


async def test_fragmented_compressed_messages_from_our_handler(make_server) -> None:
    text = os.urandom(3000).hex()  # compresses to about half: many 64-byte frames

    async def handler(ws) -> None:
        async for message in ws:
            await ws.send(message, fragment_size=64)

    server = await make_server(handler, compression="deflate")
    async with connect(server.url, compression="deflate", open_timeout=T, close_timeout=T) as ws:
        await ws.send(text)
        assert await asyncio.wait_for(ws.recv(), T) == text
    await eventually(lambda: not server.connections, what="the close")
    out = [r for r in server.capture if isinstance(r, FrameRecord) and r.direction == "out"
           and r.opcode in (Opcode.TEXT, Opcode.CONTINUATION)]
    assert out[0].frame.rsv1 and not any(r.frame.rsv1 for r in out[1:]) and len(out) > 1
    (sent,) = [r for r in server.capture if isinstance(r, MessageRecord) and r.direction == "out"]
    assert sent.frames == len(out) and sent.compressed_size == sum(len(r.frame.payload) for r in out)
    for r in out:
        d = server.capture.dissect(r)
        assert d.ok and d.compressed and d.text == text


# ---------------------------------------------------------------------------- our client -> websockets server
async def _our_client(port: int, config: DeflateConfig) -> tuple:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    offer = [config.offer().extension()]
    request, key = handshake.client_request("127.0.0.1", port, extensions=offer)
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    parsed = handshake.parse_response(head)
    assert parsed is not None
    agreed = handshake.validate_response(parsed[0], key, extensions=offer)
    params = config.accept_response(agreed.extensions)
    conn = Connection("client", max_message_size=1 << 24,
                      deflate=None if params is None else config.connection(params, "client"))
    return reader, writer, conn, params


async def _receive_messages(reader: asyncio.StreamReader, conn: Connection, count: int) -> list[MessageReceived]:
    got: list[MessageReceived] = []
    while len(got) < count:
        data = await asyncio.wait_for(reader.read(65536), T)
        assert data, "the server closed the connection"
        for e in conn.receive_data(data):
            assert type(e) is not ProtocolViolation, e
            if type(e) is MessageReceived:
                got.append(e)
    return got


SERVER_FACTORIES = list(itertools.product([False, True], [False, True], [None, 9, 12], [None, 10]))
OUR_OFFERS = {
    "chromium-like": DeflateConfig(client_max_window_bits=True),
    "asks-for-limits": DeflateConfig(server_max_window_bits=12, client_max_window_bits=11,
                                     client_no_context_takeover=True),
}


@pytest.mark.parametrize("offer", list(OUR_OFFERS), ids=list(OUR_OFFERS))
@pytest.mark.parametrize("snct, cnct, smwb, cmwb", SERVER_FACTORIES)
async def test_our_client_against_websockets_server(offer: str, snct: bool, cnct: bool, smwb: int | None,
                                                    cmwb: int | None) -> None:
    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    factory = ServerPerMessageDeflateFactory(server_no_context_takeover=snct, client_no_context_takeover=cnct,
                                             server_max_window_bits=smwb, client_max_window_bits=cmwb)
    config = OUR_OFFERS[offer]
    async with serve(echo, "127.0.0.1", 0, compression=None, extensions=[factory], max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        reader, writer, conn, params = await _our_client(port, config)
        try:
            assert params is not None
            assert params.server_no_context_takeover == snct
            assert params.client_no_context_takeover == (cnct or config.client_no_context_takeover)
            for m in MESSAGES:
                writer.write(conn.send_text(m) if isinstance(m, str) else conn.send_binary(m))
                assert conn.last_sent[0].frame.rsv1 == (len(m) > 100)  # compressed only when that is smaller
                (echoed,) = await _receive_messages(reader, conn, 1)
                assert echoed.data == m and echoed.compressed
            writer.write(conn.send_close(1000))
            rest = await asyncio.wait_for(reader.read(), T)
            conn.receive_data(rest)
            assert conn.close_received == (1000, "")
        finally:
            writer.transport.abort()


async def test_our_client_sends_incompressible_data_uncompressed_to_a_server_with_a_1_mib_limit() -> None:
    """1 MiB of random bytes deflates to more than 1 MiB: sent compressed it would pass websockets' own
    max_size of 1 MiB (its server closes with 1009). Ours goes uncompressed, and the compressor, which
    saw it, starts afresh, so what follows still inflates on the server's side (context takeover)."""
    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    noise = os.urandom(1 << 20)
    text = "the quick brown fox jumps over the lazy dog " * 100
    async with serve(echo, "127.0.0.1", 0, compression="deflate", max_size=1 << 20) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        reader, writer, conn, params = await _our_client(port, DeflateConfig(client_max_window_bits=True))
        try:
            assert params is not None and not params.client_no_context_takeover
            for message in (text, noise, text, noise[:5000], text):
                data = conn.send_text(message) if isinstance(message, str) else conn.send_binary(message)
                assert conn.last_sent[0].frame.rsv1 == isinstance(message, str)
                writer.write(data)
                (echoed,) = await _receive_messages(reader, conn, 1)
                assert echoed.data == message  # websockets compressed its echo: we inflate it
        finally:
            writer.transport.abort()


async def test_websockets_client_gets_incompressible_data_uncompressed_from_our_server(make_server) -> None:
    server = await make_server(compression="deflate")
    noise = os.urandom(300_000)
    text = "the quick brown fox jumps over the lazy dog " * 100
    async with connect(server.url, compression="deflate", max_size=None, open_timeout=T, close_timeout=T) as ws:
        for message in (text, noise, text):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), T) == message
    await eventually(lambda: not server.connections, what="the close")
    out = [r for r in server.capture if isinstance(r, MessageRecord) and r.direction == "out"]
    assert [m.compressed_size is not None for m in out] == [True, False, True]
    frames = [r for r in server.capture if isinstance(r, FrameRecord) and r.direction == "out"
              and r.opcode in (Opcode.TEXT, Opcode.BINARY)]
    assert [f.frame.rsv1 for f in frames] == [True, False, True]
    assert frames[1].frame.payload == noise


async def test_our_client_and_websockets_server_that_declines() -> None:
    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        reader, writer, conn, params = await _our_client(port, DeflateConfig(client_max_window_bits=True))
        try:
            assert params is None and conn.deflate is None
            writer.write(conn.send_text("plain"))
            (m,) = await _receive_messages(reader, conn, 1)
            assert m.data == "plain" and not m.compressed
        finally:
            writer.transport.abort()


async def test_websockets_server_rejects_our_rsv1_on_a_continuation() -> None:
    async def echo(ws) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(echo, "127.0.0.1", 0, compression="deflate") as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        reader, writer, conn, params = await _our_client(port, DeflateConfig(client_max_window_bits=True))
        try:
            assert params is not None
            writer.write(conn.send_frame(Frame(Opcode.TEXT, b"\xf2\x48", fin=False, rsv1=True)))
            writer.write(conn.send_frame(Frame(Opcode.CONTINUATION, b"\xcd", rsv1=True)))
            rest = await asyncio.wait_for(reader.read(), T)
            conn.receive_data(rest)
            assert conn.close_received is not None and conn.close_received[0] == 1002
        finally:
            writer.transport.abort()


def test_record_events_keeps_the_compressed_size() -> None:
    from wsexplore.protocol.deflate import PerMessageDeflate

    conn = Connection("client", deflate=PerMessageDeflate(None, "client"))
    cap = Capture()
    cap.record_events(1, conn.receive_data(HELLO + HELLO_AGAIN + b"\x81\x02hi"))
    msgs = [r for r in cap if isinstance(r, MessageRecord)]
    assert [(m.data, m.compressed_size, m.compressed) for m in msgs] == [
        ("Hello", 7, True), ("Hello", 5, True), ("hi", None, False)]
