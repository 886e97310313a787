"""The live server against real peers: the websockets client, raw sockets and plain HTTP.

Every test runs a real asyncio server on 127.0.0.1 (port 0), bounds every wait
with a timeout and stops what it starts (see conftest.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import struct

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsexplore import dissect, dissect_stream
from wsexplore.capture import CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord
from wsexplore.live import handlers
from wsexplore.live import server as server_module
from wsexplore.live.server import Server, ServerConnection
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.handshake import accept_key
from wsexplore.protocol.opcodes import Opcode

from .freed import collector_off, echo_a_mib, replace_capture_and_check_freed
from .probes import eventually

pytestmark = pytest.mark.timeout(60)

T = 10  # seconds: the bound on any single network wait
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


# ---------------------------------------------------------------------------- helpers
def ws_connect(server: Server, path: str = "", **kwargs):
    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", T)
    kwargs.setdefault("close_timeout", T)
    return connect(server.url + path, **kwargs)


def upgrade_request(server: Server, path: str = "/", *, key: str = KEY, version: str = "13",
                    extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: {version}\r\n"
        f"{extra}"
        "\r\n"
    ).encode()


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True,
                 key: bytes = MASK) -> bytes:
    """A frame as a client sends it (masked unless told otherwise); any opcode, even a reserved one."""
    return Frame(opcode, payload, fin=fin, mask_key=key if masked else None).encode()


def close_frame(code: int, reason: str = "") -> bytes:
    return client_frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode())


async def raw_connect(server: Server, *, rcvbuf: int | None = None):
    if rcvbuf is None:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sets the TCP window
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), T)
    return await asyncio.open_connection(sock=sock)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)


async def raw_websocket(server: Server, path: str = "/", **kwargs):
    """A raw socket after a successful opening handshake."""
    reader, writer = await raw_connect(server, **kwargs)
    writer.write(upgrade_request(server, path))
    head = await read_head(reader)
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert f"Sec-WebSocket-Accept: {accept_key(KEY)}".encode() in head
    return reader, writer


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = T) -> bytes:
    """Everything until the server closes TCP (fails the test if it never does)."""
    return await asyncio.wait_for(reader.read(), timeout)


def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def http(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """Status, headers (lower-case names), body and the raw response of one HTTP exchange."""
    reader, writer = await raw_connect(server)
    try:
        writer.write(request)
        raw = await read_to_eof(reader)
    finally:
        close_writer(writer)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body, raw


def records(server: Server, conn: int, kind: type) -> list:
    return [r for r in server.capture if r.conn == conn and isinstance(r, kind)]


def only_conn(server: Server) -> int:
    (conn,) = server.capture.connections
    return conn


def assert_contiguous(frames: list[FrameRecord]) -> bytes:
    """Frames of one direction start at offset 0 and follow each other byte for byte; returns the stream."""
    offset = 0
    for f in frames:
        assert f.offset == offset, (f, offset)
        offset += len(f.raw)
    return b"".join(f.raw for f in frames)


def wire_frames(server: Server, conn: int, direction: str) -> list[FrameRecord]:
    return [r for r in records(server, conn, FrameRecord) if r.direction == direction]


# ---------------------------------------------------------------------------- lifecycle
async def test_binds_loopback_by_default_and_stop_closes_every_connection_with_1001() -> None:
    server = Server(port=0)
    assert server.host == "127.0.0.1"
    await asyncio.wait_for(server.start(), T)
    try:
        assert server.port != 0
        assert server._server.sockets[0].getsockname()[0] == "127.0.0.1"
        assert server.url == f"ws://127.0.0.1:{server.port}/"
        clients = [await ws_connect(server) for _ in range(3)]
        for ws in clients:
            await ws.send("x")
            assert await asyncio.wait_for(ws.recv(), T) == "x"
        await eventually(lambda: len(server.connections) == 3)
    finally:
        await asyncio.wait_for(server.stop(), T)
    for ws in clients:
        await asyncio.wait_for(ws.wait_closed(), T)
        assert ws.close_code == 1001
    closes = [r for r in server.capture if isinstance(r, CloseRecord)]
    assert [(c.code, c.initiator, c.clean) for c in closes] == [(1001, "local", True)] * 3
    assert not server.connections and not server._protocols and not server._tasks
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T)


async def test_async_context_manager_serves_then_stops() -> None:
    async with Server() as server:
        async with ws_connect(server) as ws:
            await ws.send("inside")
            assert await asyncio.wait_for(ws.recv(), T) == "inside"
        port = server.port
    assert not server.serving
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)


async def test_start_from_a_running_loop_returns_and_keeps_serving() -> None:
    server = Server()

    async def notebook_cell() -> Server:
        return await server.start()

    cell = asyncio.get_running_loop().create_task(notebook_cell())
    assert await asyncio.wait_for(cell, T) is server  # the "cell" finished...
    try:
        assert server.serving
        async with ws_connect(server) as ws:  # ...and the server still serves in the background
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), T) == "still here"
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_repr_names_the_handler_even_a_partial(make_server) -> None:
    server = await make_server(functools.partial(handlers.demo, interval=0.2))
    assert repr(server) == f"<Server listening on {server.url}, 0 open connection(s), handler=demo>"


# ---------------------------------------------------------------------------- websockets as the peer
async def test_text_and_binary_round_trip_with_capture(server) -> None:
    sent = ["hello", "发送数据", "", b"\x00\x01\xff", b"", "x" * 70_000, bytes(range(256)) * 300]
    wire: list[bytes] = []  # every byte the client writes after the handshake
    async with ws_connect(server) as ws:
        write = ws.transport.write
        ws.transport.write = lambda data: (wire.append(bytes(data)), write(data))[1]
        for message in sent:
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), T) == message
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    assert assert_contiguous(wire_frames(server, conn, "in")) == b"".join(wire)

    (opened,) = records(server, conn, OpenRecord)
    assert opened.status == 101
    assert opened.request.startswith(b"GET / HTTP/1.1\r\n") and opened.request.endswith(b"\r\n\r\n")
    key = next(line.split(b": ", 1)[1] for line in opened.request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    assert opened.response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"Sec-WebSocket-Accept: {accept_key(key.decode())}".encode() in opened.response

    messages = records(server, conn, MessageRecord)
    assert [m.data for m in messages] == sent  # the messages received, reassembled
    assert all(m.direction == "in" and m.frames == 1 for m in messages)

    inbound = wire_frames(server, conn, "in")
    outbound = wire_frames(server, conn, "out")
    assert len(inbound) == len(outbound) == len(sent) + 1  # the messages and a close each way
    for stream, role in ((assert_contiguous(inbound), "server"), (assert_contiguous(outbound), "client")):
        dissections = dissect_stream(stream, role=role)
        assert all(d.ok for d in dissections)
        assert [d.payload for d in dissections[:-1]] == [m.encode() if isinstance(m, str) else m for m in sent]
        assert dissections[-1].opcode == Opcode.CLOSE and dissections[-1].close_code == 1000
    assert all(f.frame.mask_key is not None for f in inbound)
    assert all(f.frame.mask_key is None for f in outbound)

    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (1000, "remote", True)
    assert server.capture[-1] is close


async def test_default_permessage_deflate_offer_is_declined(server) -> None:
    async with ws_connect(server, compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        for message in ("compressible " * 100, b"\x00" * 5000):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), T) == message
    conn = only_conn(server)
    (opened,) = records(server, conn, OpenRecord)
    assert b"permessage-deflate" in opened.request
    assert b"Sec-WebSocket-Extensions" not in opened.response
    frames = records(server, conn, FrameRecord)
    assert frames and not any(f.frame.rsv1 for f in frames)
    assert not server.capture.violations()


async def test_fragmented_message_is_reassembled(server) -> None:
    async with ws_connect(server) as ws:
        await ws.send(["frag", "men", "ted ✓"])
        assert await asyncio.wait_for(ws.recv(), T) == "fragmented ✓"
        await ws.send([b"\x01", b"\x02\x03"])
        assert await asyncio.wait_for(ws.recv(), T) == b"\x01\x02\x03"
    conn = only_conn(server)
    inbound = [m for m in records(server, conn, MessageRecord) if m.direction == "in"]
    # websockets sends each fragment, then an empty final continuation frame.
    assert [(m.data, m.frames) for m in inbound] == [("fragmented ✓", 4), (b"\x01\x02\x03", 3)]
    frames = [f.frame for f in wire_frames(server, conn, "in")][:7]
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (Opcode.TEXT, False, b"frag"), (Opcode.CONTINUATION, False, b"men"),
        (Opcode.CONTINUATION, False, "ted ✓".encode()), (Opcode.CONTINUATION, True, b""),
        (Opcode.BINARY, False, b"\x01"), (Opcode.CONTINUATION, False, b"\x02\x03"),
        (Opcode.CONTINUATION, True, b""),
    ]


async def test_ping_is_answered_with_a_pong(server) -> None:
    async with ws_connect(server) as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, T)
        pong = await ws.ping()  # websockets picks a random payload
        await asyncio.wait_for(pong, T)
    conn = only_conn(server)
    pings = [f.frame for f in wire_frames(server, conn, "in") if f.opcode == Opcode.PING]
    pongs = [f.frame for f in wire_frames(server, conn, "out") if f.opcode == Opcode.PONG]
    assert len(pings) == len(pongs) == 2
    assert [p.payload for p in pings] == [p.payload for p in pongs]
    assert pings[0].payload == b"are you there"


@pytest.mark.parametrize(("code", "reason"), [(1000, "done"), (1001, "going away"), (3000, "app: 3000"),
                                              (4999, "private ✓"), (4000, "")])
async def test_client_close_codes_are_echoed(server, code: int, reason: str) -> None:
    async with ws_connect(server) as ws:
        await ws.send("before close")
        await asyncio.wait_for(ws.recv(), T)
        await asyncio.wait_for(ws.close(code, reason), T)
        assert ws.protocol.close_sent.code == code
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == code
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.reason, close.initiator, close.closed_by, close.clean) == (
        code, reason, "remote", "client", True)
    last_in, last_out = wire_frames(server, conn, "in")[-1], wire_frames(server, conn, "out")[-1]
    assert (last_in.frame.close_code, last_in.frame.close_reason) == (code, reason)
    assert last_out.frame.close_code == code


async def test_16_mib_message_is_echoed_intact(server) -> None:
    size = 16 * 1024 * 1024
    assert server.max_message_size == size
    data = os.urandom(size)
    async with ws_connect(server, max_size=size) as ws:
        await asyncio.wait_for(ws.send(data), 30)
        echoed = await asyncio.wait_for(ws.recv(), 30)
        assert echoed == data
        text = "é" * (size // 2)  # 16 MiB of UTF-8 as well
        await asyncio.wait_for(ws.send(text), 30)
        assert await asyncio.wait_for(ws.recv(), 30) == text
    conn = only_conn(server)
    inbound = [m for m in records(server, conn, MessageRecord) if m.direction == "in"]
    assert inbound[0].data == data and inbound[1].data == text
    big = wire_frames(server, conn, "in")[0]
    assert len(big.raw) == 2 + 8 + 4 + size and big.frame.payload == data


# ---------------------------------------------------------------------------- raw sockets
DATA_FRAMES = [
    client_frame(Opcode.TEXT, "split ✓".encode()),
    client_frame(Opcode.BINARY, bytes(range(200)), key=b"\x00\xff\x10\x80"),
    client_frame(Opcode.TEXT, b"fra", fin=False),
    client_frame(Opcode.PING, b"p"),  # a control frame between fragments (section 5.4)
    client_frame(Opcode.CONTINUATION, b"gment"),
]
CLOSE_1000 = close_frame(1000, "bye")
REPLIES = [(Opcode.TEXT, "split ✓".encode()), (Opcode.BINARY, bytes(range(200))), (Opcode.TEXT, b"fragment")]


async def read_frames(reader: asyncio.StreamReader, count: int) -> bytes:
    """Exactly the bytes of the next ``count`` server frames."""
    data = b""
    while True:
        frames = dissect_stream(data, role="client") if data else []
        if len(frames) >= count and not frames[count - 1].truncated:
            size = frames[count - 1].offset + frames[count - 1].size
            assert size == len(data), "the server sent more than expected"
            return data
        chunk = await asyncio.wait_for(reader.read(65536), T)
        assert chunk, f"EOF after {len(frames)} of {count} frames"
        data += chunk


def check_replies(received: bytes) -> None:
    """The echoes in order; the automatic pong may come before them (it is sent while reading)."""
    dissections = dissect_stream(received, role="client")
    assert all(d.ok for d in dissections), dissections
    replies = [(d.opcode, d.payload) for d in dissections]
    assert replies.count((Opcode.PONG, b"p")) == 1
    replies.remove((Opcode.PONG, b"p"))
    assert replies == REPLIES


async def check_raw_session(server: Server, sent: bytes, received: bytes) -> None:
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    assert assert_contiguous(wire_frames(server, conn, "in")) == sent  # byte for byte what the client sent
    assert assert_contiguous(wire_frames(server, conn, "out")) == received  # and what it got back
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.reason, close.initiator, close.clean) == (1000, "bye", "remote", True)
    (opened,) = server.capture.filter(kind="open")
    assert opened.request == upgrade_request(server)


async def write_bytewise(writer: asyncio.StreamWriter, data: bytes) -> None:
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await asyncio.wait_for(writer.drain(), T)
        if i % 8 == 0:
            await asyncio.sleep(0.001)  # let the server read small pieces


async def test_raw_handshake_and_frames_split_byte_by_byte(server) -> None:
    frames = b"".join(DATA_FRAMES)
    reader, writer = await raw_connect(server)
    try:
        await write_bytewise(writer, upgrade_request(server) + frames)
        head = await read_head(reader)
        assert head.startswith(b"HTTP/1.1 101 ")
        replies = await read_frames(reader, 4)
        check_replies(replies)
        await write_bytewise(writer, CLOSE_1000)
        closing = await read_to_eof(reader)
    finally:
        close_writer(writer)
    assert [(d.opcode, d.payload) for d in dissect_stream(closing, role="client")] == [
        (Opcode.CLOSE, struct.pack("!H", 1000))]
    await check_raw_session(server, frames + CLOSE_1000, replies + closing)


async def test_raw_handshake_and_several_frames_in_one_write(server) -> None:
    frames = b"".join(DATA_FRAMES)
    reader, writer = await raw_connect(server)
    try:
        writer.write(upgrade_request(server) + frames)  # the handshake and five frames coalesced
        head = await read_head(reader)
        assert head.startswith(b"HTTP/1.1 101 ")
        replies = await read_frames(reader, 4)
        check_replies(replies)
        writer.write(client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.TEXT, b"b") + CLOSE_1000)
        closing = await read_to_eof(reader)
    finally:
        close_writer(writer)
    # The close arrived with the last two messages, so the close handshake ran before the
    # handler could answer them: the server replies to a close at once (section 5.5.1).
    assert [(d.opcode, d.payload) for d in dissect_stream(closing, role="client")][-1] == (
        Opcode.CLOSE, struct.pack("!H", 1000))
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    inbound = [m.data for m in records(server, conn, MessageRecord) if m.direction == "in"]
    assert inbound == ["split ✓", bytes(range(200)), "fragment", "a", "b"]
    await check_raw_session(server, frames + client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.TEXT, b"b")
                            + CLOSE_1000, replies + closing)


async def test_the_built_in_echo_answers_a_read_in_its_turn_after_its_pongs(server) -> None:
    """The default handler runs without a task: the server answers the messages of a read as it handles
    the read, after the read's automatic pongs, and the capture holds what went out in the wire's order."""
    sent = (client_frame(Opcode.TEXT, b"a") + client_frame(Opcode.PING, b"p") + client_frame(Opcode.BINARY, b"b")
            + client_frame(Opcode.PING, b"q") + client_frame(Opcode.TEXT, b"c"))
    reader, writer = await raw_websocket(server)
    try:
        writer.write(sent)
        received = await read_frames(reader, 5)
        assert not server._tasks  # no task per connection
    finally:
        close_writer(writer)
    assert [(d.opcode, d.payload) for d in dissect_stream(received, role="client")] == [
        (Opcode.PONG, b"p"), (Opcode.PONG, b"q"), (Opcode.TEXT, b"a"), (Opcode.BINARY, b"b"), (Opcode.TEXT, b"c")]
    conn = only_conn(server)
    assert assert_contiguous(wire_frames(server, conn, "out")) == received


MALFORMED = {
    "unmasked client frame": (client_frame(Opcode.TEXT, b"hi", masked=False), 1002, {}),
    "reserved opcode 0x3": (client_frame(0x3, b"??"), 1002, {}),
    "reserved control opcode 0xB": (client_frame(0xB), 1002, {}),
    "invalid UTF-8 text": (client_frame(Opcode.TEXT, b"ok \xc3\x28"), 1007, {}),
    "invalid UTF-8 across fragments": (
        client_frame(Opcode.TEXT, b"\xe2\x82", fin=False) + client_frame(Opcode.CONTINUATION, b"A"), 1007, {}),
    "frame over max_message_size": (client_frame(Opcode.BINARY, bytes(2000)), 1009, {"max_message_size": 1024}),
    "fragmented message over max_message_size": (
        client_frame(Opcode.BINARY, bytes(800), fin=False) + client_frame(Opcode.CONTINUATION, bytes(800)),
        1009, {"max_message_size": 1024}),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_input_fails_the_connection(make_server, case: str) -> None:
    bad, code, options = MALFORMED[case]
    server = await make_server(**options)
    good = client_frame(Opcode.TEXT, b"fine")
    reader, writer = await raw_websocket(server)
    try:
        writer.write(good)
        echo = await read_frames(reader, 1)
        writer.write(bad + client_frame(Opcode.TEXT, b"never read"))
        received = await read_to_eof(reader)  # the server closes TCP after its close frame
    finally:
        close_writer(writer)
    assert dissect(echo, role="client").payload == b"fine"
    dissections = dissect_stream(received, role="client")
    assert [d.opcode for d in dissections] == [Opcode.CLOSE]
    assert dissections[0].close_code == code and dissections[0].close_reason

    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    (violation,) = server.capture.violations()
    assert violation.conn == conn and violation.direction == "in"
    assert violation.error.close_code == code and str(violation.error)
    assert violation.raw and violation.raw in bad
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (code, "local", False)
    assert close.reason == dissections[0].close_reason

    # The server keeps serving other connections.
    async with ws_connect(server) as ws:
        await ws.send("next")
        assert await asyncio.wait_for(ws.recv(), T) == "next"


@pytest.mark.parametrize("case", MALFORMED)
async def test_messages_before_a_bad_frame_in_one_read_are_answered_before_the_close(make_server, case: str) -> None:
    """Autobahn's strict reading (cases 3.2, 4.1.3, 5.15, ...): the echo of a valid message that came in
    the same read as a bad frame goes out before the close frame; the bad frame and what follows it
    are not processed (section 7.1.7)."""
    bad, code, options = MALFORMED[case]
    server = await make_server(**options)
    reader, writer = await raw_websocket(server)
    try:
        writer.write(client_frame(Opcode.TEXT, b"first") + client_frame(Opcode.BINARY, b"second") + bad
                     + client_frame(Opcode.TEXT, b"never read"))
        received = await read_to_eof(reader)
    finally:
        close_writer(writer)
    dissections = dissect_stream(received, role="client")
    assert [(d.opcode, d.payload) for d in dissections[:2]] == [(Opcode.TEXT, b"first"), (Opcode.BINARY, b"second")]
    assert [d.opcode for d in dissections[2:]] == [Opcode.CLOSE]
    assert dissections[2].close_code == code
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    assert [m.data for m in records(server, conn, MessageRecord) if m.direction == "in"] == ["first", b"second"]
    (violation,) = server.capture.violations()
    assert violation.error.close_code == code
    # The capture holds the order things happened in: the echoes went out before the close frame.
    out = [(r.opcode, r.payload) for r in wire_frames(server, conn, "out")]
    assert out[:2] == [(Opcode.TEXT, b"first"), (Opcode.BINARY, b"second")] and out[2][0] == Opcode.CLOSE
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (code, "local", False)


async def test_a_handler_that_does_not_read_does_not_hold_the_close_back(make_server) -> None:
    """The close for a violation waits for the handler to answer what came before it, but not forever."""
    started = asyncio.Event()

    async def stuck(ws: ServerConnection) -> None:
        started.set()
        await asyncio.sleep(3600)  # never reads; stopped with the server

    server = await make_server(stuck)
    reader, writer = await raw_websocket(server)
    try:
        await asyncio.wait_for(started.wait(), T)
        writer.write(client_frame(Opcode.TEXT, b"unanswered") + client_frame(0x3))
        received = await read_to_eof(reader)
    finally:
        close_writer(writer)
    (close,) = dissect_stream(received, role="client")
    assert close.opcode == Opcode.CLOSE and close.close_code == 1002


async def test_answers_to_pipelined_messages_come_in_order_with_pings_between(server) -> None:
    """Answers to the messages of one read are written together; the automatic pongs, written while
    reading, and the echoes keep the order the server produced them in, and nothing is left unsent."""
    texts = [f"message {i}".encode() for i in range(300)]
    batch = b"".join(client_frame(Opcode.TEXT, t) for t in texts[:150]) + client_frame(Opcode.PING, b"p")
    batch += b"".join(client_frame(Opcode.TEXT, t) for t in texts[150:])
    reader, writer = await raw_websocket(server)
    try:
        writer.write(batch)
        received = await read_frames(reader, 301)
        writer.write(CLOSE_1000)
        closing = await read_to_eof(reader)
    finally:
        close_writer(writer)
    replies = [(d.opcode, d.payload) for d in dissect_stream(received, role="client")]
    assert replies.count((Opcode.PONG, b"p")) == 1
    replies.remove((Opcode.PONG, b"p"))
    assert replies == [(Opcode.TEXT, t) for t in texts]
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    assert assert_contiguous(wire_frames(server, conn, "out")) == received + closing  # recorded as written


async def test_a_large_echo_is_recorded_byte_exact_and_its_payload_held_once(server) -> None:
    """Frames of ``SPLIT_FROM`` bytes or more are kept as header and unmasked payload: what the capture
    gives back is still the exact stream both ways, and the received frame, its message and the echo
    that went out hold one and the same payload object."""
    binary, text = bytes(range(256)) * 4096, ("é" * 40_000).encode()  # 1 MiB; 80,000 B of UTF-8
    sent = client_frame(Opcode.BINARY, binary, key=b"\x9a\x01\xff\x37") + client_frame(Opcode.TEXT, text)
    reader, writer = await raw_websocket(server)
    try:
        for i in range(0, len(sent), 100_000):  # in pieces, as a large frame arrives
            writer.write(sent[i:i + 100_000])
            await writer.drain()
        received = await read_frames(reader, 2)
        writer.write(CLOSE_1000)
        closing = await read_to_eof(reader)
    finally:
        close_writer(writer)
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    incoming, outgoing = wire_frames(server, conn, "in"), wire_frames(server, conn, "out")
    assert assert_contiguous(incoming) == sent + CLOSE_1000
    assert assert_contiguous(outgoing) == received + closing
    assert [d.payload for d in dissect_stream(received, role="client")] == [binary, text]
    message = records(server, conn, MessageRecord)[0]
    assert message.data == binary
    assert incoming[0]._raw[1] is message.data and outgoing[0]._raw[1] is message.data
    assert incoming[0].payload is message.data and incoming[0].header.mask_key == b"\x9a\x01\xff\x37"
    assert type(incoming[-1]._raw) is bytes  # a small frame keeps its bytes as they came
    # Counted as held: the MiB once (on the echo, the newest record holding it).
    assert len(binary) < server.capture.memory < len(binary) + 4 * len(text)


async def test_the_next_large_payload_is_made_while_the_client_reads_the_echo(server, monkeypatch) -> None:
    """After a large masked message, the server makes the next payload at its size once the echo is
    written (``Connection.prepare``): the next message of that size arrives into it, one of another
    size gets its own, and what was made ahead goes after a while with no read, or with the connection."""
    monkeypatch.setattr(server_module, "_PREPARED_FOR", 0.05)
    mib = 1 << 20
    messages = [bytes([1]) * mib, bytes([2]) * mib, bytes([3]) * 300_000]
    async with ws_connect(server, max_size=None) as ws:
        (protocol,) = server._protocols
        aheads = []
        for message in messages:
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), T) == message
            unmasking = protocol.ws.protocol._unmasking
            await eventually(lambda: unmasking._ahead is not None, what="the next payload made ahead")
            assert len(unmasking._ahead) == len(message) and unmasking.spent is None
            aheads.append(unmasking._ahead)
        await eventually(lambda: unmasking._ahead is None, what="the payload made ahead let go")
        monkeypatch.setattr(server_module, "_PREPARED_FOR", 60.0)  # from now on only the end lets it go
        await ws.send(messages[0])  # after a pause: a payload of its own, prepared again once echoed
        assert await asyncio.wait_for(ws.recv(), T) == messages[0]
        await eventually(lambda: unmasking._ahead is not None, what="the next payload made ahead")
    await eventually(lambda: unmasking._ahead is None, what="the payload let go with the connection")
    conn = only_conn(server)
    data = [m.data for m in records(server, conn, MessageRecord)]
    assert data == messages + messages[:1]
    assert data[1] is aheads[0]  # the second MiB arrived into the payload made after the first
    assert data[2] is not aheads[1] and data[3] is not aheads[2]


async def test_large_answers_among_small_ones_are_written_whole_and_in_order(server) -> None:
    """A large payload goes out after its header without being joined to it (``Connection.send_message``),
    also among answers held back to be written together: the stream the client reads is still every
    answer, byte exact and in order, and it is what the capture recorded."""
    payloads = [b"a", bytes(range(256)) * 1200, b"b", os.urandom(1 << 20), b"c", ("\u00e9" * 150_000).encode()]
    opcodes = [Opcode.TEXT, Opcode.BINARY, Opcode.TEXT, Opcode.BINARY, Opcode.TEXT, Opcode.TEXT]
    batch = b"".join(client_frame(op, p) for op, p in zip(opcodes, payloads))
    reader, writer = await raw_websocket(server)
    try:
        writer.write(batch)  # one write: the answers to the messages of a read are held back together
        received = await read_frames(reader, len(payloads))
        writer.write(CLOSE_1000)
        closing = await read_to_eof(reader)
    finally:
        close_writer(writer)
    assert received == b"".join(Frame(op, p).encode() for op, p in zip(opcodes, payloads))
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    outgoing = wire_frames(server, conn, "out")
    assert assert_contiguous(outgoing) == received + closing
    assert outgoing[3]._raw[1] is records(server, conn, MessageRecord)[3].data  # held once, never joined


@pytest.mark.parametrize("who_closes", ["client", "handler"])
async def test_a_finished_connection_does_not_keep_a_replaced_capture_alive(make_server, who_closes: str) -> None:
    """Once the TCP connection and its handler are over, nothing of the connection sits in a reference
    cycle: a capture the user replaces (or drops) is freed at once, not at some later full garbage
    collection, with every payload it holds."""

    async def answer_once(ws: ServerConnection) -> None:
        await ws.send(await ws.recv())

    server = await make_server(handlers.echo if who_closes == "client" else answer_once)
    with collector_off():
        await echo_a_mib(server.url, peer_closes=who_closes == "handler")
        await eventually(lambda: not server.connections and not server._tasks and not server._protocols)
        replace_capture_and_check_freed(server)


async def test_an_answer_held_back_for_the_next_goes_out_when_the_handler_waits_on_something_else(
        make_server) -> None:
    """The handler answers the first of two messages of one read, then waits for something that never
    comes: its answer, held back for the answer to the second, is written all the same."""
    answered = asyncio.Event()

    async def answer_once(ws: ServerConnection) -> None:
        await ws.send(await ws.recv())
        answered.set()
        await asyncio.sleep(3600)  # stopped with the server

    server = await make_server(answer_once)
    reader, writer = await raw_websocket(server)
    try:
        writer.write(client_frame(Opcode.TEXT, b"first") + client_frame(Opcode.TEXT, b"second"))
        received = await read_frames(reader, 1)
    finally:
        close_writer(writer)
    assert answered.is_set()
    assert [(d.opcode, d.payload) for d in dissect_stream(received, role="client")] == [(Opcode.TEXT, b"first")]


async def test_eof_in_the_middle_of_a_frame_is_recorded(server) -> None:
    reader, writer = await raw_websocket(server)
    frame = client_frame(Opcode.BINARY, bytes(100))
    writer.write(frame[:50])
    await writer.drain()
    writer.write_eof()
    await read_to_eof(reader)
    close_writer(writer)
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    (violation,) = server.capture.violations()
    assert violation.raw == frame[:50] and type(violation.error).__name__ == "TruncatedFrame"
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (1006, "remote", False)


# ---------------------------------------------------------------------------- HTTP on the same port
async def test_http_serves_the_client_page(server) -> None:
    status, headers, body, _ = await http(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert int(headers["content-length"]) == len(body)
    assert b"wsexplore" in body
    status, headers, body, _ = await http(server, b"GET /client.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200 and "javascript" in headers["content-type"] and body
    status, _, body, _ = await http(server, b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 404 and b"/nothing" in body
    assert not server.capture.filter(kind="open")  # page requests are not WebSocket handshakes


async def test_post_api_ping_pings_every_connection(server) -> None:
    async with ws_connect(server) as ws:
        await eventually(lambda: len(server.connections) == 1)
        status, _, body, _ = await http(server, b"POST /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        assert status == 200 and body == b"pinged 1 connection(s)\n"
        conn = next(iter(server.connections))
        await eventually(lambda: any(f.opcode == Opcode.PONG for f in wire_frames(server, conn, "in")))
        await ws.send("ok")
        assert await asyncio.wait_for(ws.recv(), T) == "ok"


async def test_post_api_ping_refuses_other_web_sites(server) -> None:
    # A page from another site open in the same browser must not drive this server.
    async with ws_connect(server):
        await eventually(lambda: len(server.connections) == 1)
        host = f"127.0.0.1:{server.port}"
        post = "POST /api/ping HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nContent-Length: 0\r\n\r\n"
        status, _, body, _ = await http(server, post.format(host, "http://evil.example").encode())
        assert status == 403 and b"evil.example" in body
        status, _, body, _ = await http(server, post.format(host, f"http://{host}").encode())
        assert status == 200 and body == b"pinged 1 connection(s)\n"


async def test_page_requests_do_not_use_up_connection_ids(server) -> None:
    for _ in range(3):
        status, *_ = await http(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 200
    async with ws_connect(server):
        await eventually(lambda: len(server.connections) == 1)
        assert list(server.connections) == [1]


REFUSED = {
    "upgrade on another path": (dict(path="/other"), 404, None),
    "Sec-WebSocket-Version 8": (dict(version="8"), 426, "Sec-WebSocket-Version: 13"),
    "bad Sec-WebSocket-Key": (dict(key="c2hvcnQ="), 400, None),
    "header block over 8 KiB": (dict(extra="".join(f"X-Filler-{i}: {'f' * 90}\r\n" for i in range(100))), 431, None),
}


@pytest.mark.parametrize("case", REFUSED)
async def test_bad_upgrades_are_refused_and_recorded(server, case: str) -> None:
    kwargs, status, header = REFUSED[case]
    request = upgrade_request(server, **kwargs)
    got, _, body, raw = await http(server, request)
    assert got == status
    assert body
    if header is not None:
        assert header.encode() in raw
    (opened,) = server.capture.filter(kind="open")
    assert opened.status == status and not opened.accepted
    assert opened.response == raw
    assert request.startswith(opened.request[:200])
    errors = server.capture.filter(kind="error", conn=opened.conn)
    assert errors and errors[0].error is not None and errors[0].error.status == status
    async with ws_connect(server) as ws:  # and still serves
        await ws.send("after refusal")
        assert await asyncio.wait_for(ws.recv(), T) == "after refusal"


async def test_origin_allow_list(make_server) -> None:
    server = await make_server(origins=["http://good.example"])
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(server, origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403
    async with ws_connect(server, origin="http://good.example") as ws:
        await ws.send("welcome")
        assert await asyncio.wait_for(ws.recv(), T) == "welcome"
    statuses = [r.status for r in server.capture.filter(kind="open")]
    assert statuses == [403, 101]


async def test_connection_dropped_mid_handshake_is_recorded(server) -> None:
    reader, writer = await raw_connect(server)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    await writer.drain()
    writer.write_eof()
    assert await read_to_eof(reader) == b""
    close_writer(writer)
    await eventually(lambda: server.capture.filter(kind="error"))
    (error,) = server.capture.filter(kind="error")
    assert "incomplete handshake" in error.message


# ---------------------------------------------------------------------------- many peers
async def test_200_concurrent_clients_get_only_their_own_echoes(server) -> None:
    n, per_client = 200, 5
    started = asyncio.Event()
    connected = 0

    async def client(i: int) -> list[str | bytes]:
        nonlocal connected
        async with ws_connect(server) as ws:
            connected += 1
            if connected == n:
                started.set()
            await asyncio.wait_for(started.wait(), 30)  # all 200 are open at once
            got = []
            for j in range(per_client):
                message = f"client {i} message {j}" if j % 2 else f"client {i} message {j}".encode()
                await ws.send(message)
                got.append(await asyncio.wait_for(ws.recv(), 30))
            return got

    results = await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(n))), 60)
    for i, got in enumerate(results):
        assert got == [f"client {i} message {j}" if j % 2 else f"client {i} message {j}".encode()
                       for j in range(per_client)]
    assert len(server.capture.connections) == n
    await eventually(lambda: not server.connections)


async def test_a_client_that_stops_reading_does_not_stall_the_others(make_server) -> None:
    server = await make_server()
    reader, writer = await raw_websocket(server, rcvbuf=4096)
    stalled_id = next(iter(server.connections))
    stalled = server.connections[stalled_id]
    big = client_frame(Opcode.BINARY, bytes(1024 * 1024))
    sent = 0

    async def flood() -> None:
        nonlocal sent
        for _ in range(256):  # 256 MiB: far more than any socket buffer holds
            writer.write(big)
            await writer.drain()
            sent += 1

    flooding = asyncio.get_running_loop().create_task(flood())
    try:
        transport = stalled._proto.transport
        # The server's writes hit backpressure, and it stops reading from that peer.
        await eventually(lambda: stalled._proto._paused_writing is not None and not transport.is_reading(),
                         what="the server to pause the stalled peer")
        # Meanwhile another client's round trips complete.
        async with ws_connect(server) as ws:
            for i in range(50):
                await ws.send(f"round trip {i}")
                assert await asyncio.wait_for(ws.recv(), T) == f"round trip {i}"
        # The stalled peer's own writes are blocked: the backpressure reached it.
        assert not flooding.done() and sent < 256
        # And what the server holds for it is bounded.
        assert transport.get_write_buffer_size() <= server.write_limit + 2 * len(big)
        assert len(stalled._messages) <= 64 and stalled._queued <= 2 * len(big) + 1024 * 1024
        assert stalled.protocol.bytes_received <= (sent + 1) * len(big)
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
        close_writer(writer)
    await eventually(lambda: stalled.closed and not server._protocols, what="the stalled connection to go")


# ---------------------------------------------------------------------------- timeouts and closing
async def test_silent_client_is_dropped_at_handshake_timeout(make_server) -> None:
    server = await make_server(handshake_timeout=0.3)
    reader, writer = await raw_connect(server)
    try:
        assert await read_to_eof(reader, 5) == b""  # dropped, no answer
    finally:
        close_writer(writer)
    (error,) = server.capture.filter(kind="error")
    assert isinstance(error, ErrorRecord) and "handshake_timeout=0.3" in error.message
    assert not server.capture.filter(kind="open")
    async with ws_connect(server) as ws:
        await ws.send("prompt client")
        assert await asyncio.wait_for(ws.recv(), T) == "prompt client"


async def test_server_closes_tcp_after_the_close_handshake(server) -> None:
    reader, writer = await raw_websocket(server)
    try:
        writer.write(client_frame(Opcode.TEXT, b"last"))
        echo = await read_frames(reader, 1)
        writer.write(close_frame(1000))
        received = await read_to_eof(reader)  # EOF although the client closed nothing
        assert not writer.transport.is_closing()
    finally:
        close_writer(writer)
    assert dissect(echo, role="client").payload == b"last"
    dissections = dissect_stream(received, role="client")
    assert [(d.opcode, d.payload) for d in dissections] == [(Opcode.CLOSE, struct.pack("!H", 1000))]


async def test_unanswered_close_drops_tcp_after_close_timeout(make_server) -> None:
    async def closer(conn: ServerConnection) -> None:
        await conn.close(4001, "no answer expected")

    server = await make_server(closer, close_timeout=0.3)
    reader, writer = await raw_websocket(server)
    try:
        received = await read_to_eof(reader, 5)  # the client never answers the close
    finally:
        close_writer(writer)
    (d,) = dissect_stream(received, role="client")
    assert (d.opcode, d.close_code, d.close_reason) == (Opcode.CLOSE, 4001, "no answer expected")
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord))
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (1006, "local", False)
    errors = records(server, conn, ErrorRecord)
    assert any("close_timeout=0.3" in e.message for e in errors)


# ---------------------------------------------------------------------------- handlers
async def test_custom_handler_uses_the_connection_api(make_server) -> None:
    seen: dict[str, object] = {}

    async def handler(conn: ServerConnection) -> None:
        seen["open"] = dict(server.connections)
        await conn.send(f"hello #{conn.id} from {conn.remote[0]}:{conn.remote[1]} at {conn.request.path}")
        pong = await conn.ping()
        seen["latency"] = await asyncio.wait_for(pong, T)
        async for message in conn:
            if message == "bye":
                await conn.close(4000, "see you")
                break
            await conn.send(message.upper() if isinstance(message, str) else message[::-1])
        seen["after"] = conn.closed

    server = await make_server(handler)
    async with ws_connect(server, "ws?room=1") as ws:
        host, port = ws.local_address[:2]
        hello = await asyncio.wait_for(ws.recv(), T)
        conn = only_conn(server)
        assert hello == f"hello #{conn} from {host}:{port} at /ws?room=1"
        await ws.send("shout")
        assert await asyncio.wait_for(ws.recv(), T) == "SHOUT"
        await ws.send(b"\x01\x02")
        assert await asyncio.wait_for(ws.recv(), T) == b"\x02\x01"
        await ws.send("bye")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), T)
        assert (ws.close_code, ws.close_reason) == (4000, "see you")
    await eventually(lambda: not server._tasks)
    assert list(seen["open"]) == [conn] and isinstance(seen["open"][conn], ServerConnection)
    assert isinstance(seen["latency"], float) and seen["latency"] >= 0
    assert seen["after"] is True
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.reason, close.initiator, close.clean) == (4000, "see you", "local", True)


async def test_broadcast_reaches_every_client(server) -> None:
    clients = [await ws_connect(server) for _ in range(5)]
    try:
        await eventually(lambda: len(server.connections) == 5)
        assert await asyncio.wait_for(server.broadcast("news for all"), T) == 5
        assert await asyncio.wait_for(server.broadcast(b"\x00bytes"), T) == 5
        for ws in clients:
            assert await asyncio.wait_for(ws.recv(), T) == "news for all"
            assert await asyncio.wait_for(ws.recv(), T) == b"\x00bytes"
    finally:
        for ws in clients:
            await asyncio.wait_for(ws.close(), T)
    assert len(server.capture.filter(kind="frame", direction="out", text="news for all")) == 5


async def test_handler_that_raises_closes_with_1011_and_the_server_goes_on(make_server) -> None:
    async def fragile(conn: ServerConnection) -> None:
        async for message in conn:
            if message == "boom":
                raise ValueError("the handler broke")
            await conn.send(message)

    server = await make_server(fragile)
    async with ws_connect(server) as ws:
        await ws.send("boom")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), T)
        assert ws.close_code == 1011
    (first,) = server.capture.connections
    errors = server.capture.filter(kind="error", conn=first)
    assert any("ValueError: the handler broke" in e.message for e in errors)
    async with ws_connect(server) as ws:
        await ws.send("fine")
        assert await asyncio.wait_for(ws.recv(), T) == "fine"


async def test_demo_handler_runs_one_timer_per_connection_and_stops_it(make_server) -> None:
    interval = 0.2
    server = await make_server(functools.partial(handlers.demo, interval=interval))
    await asyncio.sleep(0)
    baseline = len(asyncio.all_tasks())
    async with ws_connect(server) as ws:
        for i in range(5):
            await ws.send(f"m{i}")
        replies = [await asyncio.wait_for(ws.recv(), T) for _ in range(4)]
        assert all(r.startswith("m4 ") for r in replies)
        # One timer: the server sent its replies one interval apart, where one timer per message would
        # send five at each tick. The gaps are the capture's send times (the server's monotonic clock):
        # a slow machine can only make them longer.
        sent = [f.time for f in wire_frames(server, only_conn(server), "out") if f.opcode == Opcode.TEXT]
        gaps = [b - a for a, b in zip(sent, sent[1:])]
        assert len(sent) >= 4 and all(gap >= interval * 0.99 for gap in gaps), gaps
    conn = only_conn(server)
    await eventually(lambda: records(server, conn, CloseRecord) and not server._tasks)
    out_before = len(wire_frames(server, conn, "out"))
    await asyncio.sleep(3 * interval)
    assert len(wire_frames(server, conn, "out")) == out_before  # the timer stopped
    await eventually(lambda: len(asyncio.all_tasks()) <= baseline, what="the tasks to return to the baseline")


async def test_ping_interval_pings_open_connections(make_server) -> None:
    server = await make_server(ping_interval=0.05)
    async with ws_connect(server, ping_interval=None) as ws:
        conn = only_conn(server)
        await eventually(lambda: len([f for f in wire_frames(server, conn, "in") if f.opcode == Opcode.PONG]) >= 2)
        await ws.send("alive")
        assert await asyncio.wait_for(ws.recv(), T) == "alive"
    pings = [f for f in wire_frames(server, conn, "out") if f.opcode == Opcode.PING]
    assert pings and all(f.frame.payload == b"wsexplore" for f in pings)


async def test_close_frame_survives_bytes_the_peer_sent_after_its_error(server) -> None:
    """Closing a socket with unread bytes sends an RST that can destroy the close frame: the server
    half-closes and reads on until the peer's EOF instead."""
    reader, writer = await raw_websocket(server)
    try:
        writer.write(client_frame(Opcode.TEXT, b"fine\xff") + client_frame(Opcode.BINARY, bytes(65536)) * 64)
        received = await read_to_eof(reader)
    finally:
        close_writer(writer)
    (d,) = dissect_stream(received, role="client")
    assert (d.opcode, d.close_code) == (Opcode.CLOSE, 1007)


async def test_peer_that_never_reads_is_dropped_after_close_timeout(make_server) -> None:
    timeouts = []

    async def flood_then_close(conn: ServerConnection) -> None:
        for _ in range(2):  # a cancelled wait for the peer leaves the next one intact
            try:
                await asyncio.wait_for(conn.send(bytes(8 * 1024 * 1024)), 0.2)  # the peer reads nothing
            except asyncio.TimeoutError:
                timeouts.append(conn.id)
        await conn.close(1001, "leaving")

    server = await make_server(flood_then_close, close_timeout=0.3)
    reader, writer = await raw_websocket(server, rcvbuf=4096)
    try:
        await eventually(lambda: not server._protocols, what="the server to drop the TCP connection")
    finally:
        close_writer(writer)
    assert len(timeouts) == 2
    conn = only_conn(server)
    (close,) = records(server, conn, CloseRecord)
    assert (close.code, close.initiator, close.clean) == (1006, "local", False)


async def test_ping_flood_from_a_peer_that_never_reads_is_bounded(server) -> None:
    """Automatic pongs are writes too: once they back up, the server stops reading that peer."""
    reader, writer = await raw_websocket(server, rcvbuf=4096)
    proto = next(iter(server.connections.values()))._proto
    ping = client_frame(Opcode.PING, bytes(125))

    async def flood() -> None:
        for _ in range(200_000):  # 26 MB of pings: 26 MB of pongs if nothing pushed back
            writer.write(ping * 100)
            await writer.drain()

    flooding = asyncio.get_running_loop().create_task(flood())
    try:
        await eventually(lambda: proto._paused_writing is not None and not proto.transport.is_reading(),
                         what="the server to stop reading the flooding peer")
        await asyncio.sleep(0.1)
        assert not flooding.done()
        # One read's worth of pongs at most above the limit (asyncio reads 256 KiB at a time).
        assert proto.transport.get_write_buffer_size() <= server.write_limit + 256 * 1024
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
        close_writer(writer)


@pytest.mark.parametrize(("extra", "status", "why"), [
    ("X-Split: a\rb\r\n", 400, b"bare CR"),
    ("".join(f"X-Filler-{i}: {'f' * 90}\r\n" for i in range(100)), 431, b"exceeds 8192 bytes"),
])
async def test_request_head_judged_the_same_however_it_is_split(server, extra: str, status: int,
                                                                why: bytes) -> None:
    request = upgrade_request(server, extra=extra)
    reader, writer = await raw_connect(server)
    try:
        for i in range(0, len(request), 7):
            writer.write(request[i : i + 7])
            await asyncio.wait_for(writer.drain(), T)
            await asyncio.sleep(0)
        response = await read_to_eof(reader)
    finally:
        close_writer(writer)
    assert response.startswith(f"HTTP/1.1 {status} ".encode()) and why in response
    (opened,) = server.capture.filter(kind="open")
    assert opened.status == status
