"""The tap with real peers: websockets clients and servers, recording relays on both sides, raw sockets."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from wsexplore.capture import Capture, CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord
from wsexplore.live.proxy import InjectionError, Proxy, Upstream, rewrite_request
from wsexplore.protocol import handshake
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

from .freed import collector_off, echo_a_mib, replace_capture_and_check_freed
from .relay import RawUpstream, RecordingRelay, accept_101

KEY = bytes.fromhex("11223344")


async def _echo(conn) -> None:
    async for message in conn:
        await conn.send(message)


@pytest.fixture
async def echo_server() -> AsyncIterator[Callable]:
    """``await echo_server(compression=None)``: a websockets echo server's port."""
    servers = []

    async def make(compression: str | None = None, handler=_echo, **kw) -> int:
        server = await serve(handler, "127.0.0.1", 0, compression=compression, **kw)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield make
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def make_proxy() -> AsyncIterator[Callable]:
    proxies: list[Proxy] = []

    async def make(upstream: str, **options) -> Proxy:
        proxy = Proxy(upstream, **options)
        await asyncio.wait_for(proxy.start(), 5)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await asyncio.wait_for(proxy.stop(), 20)
        assert not proxy._taps, "a tapped connection outlived stop()"
        assert not proxy.connections


async def settle(capture: Capture, predicate: Callable[[list], bool], timeout: float = 5) -> list:
    """The capture's records once ``predicate`` holds (closes are recorded as TCP ends)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = list(capture)
        if predicate(records):
            return records
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("capture did not settle:\n" + "\n".join(map(repr, records)))
        await asyncio.sleep(0.02)


def closed(records: list) -> bool:
    return any(isinstance(r, CloseRecord) for r in records)


async def raw_client(proxy: Proxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket that has done the opening handshake through the tap; frames are up to the test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    request, _ = handshake.client_request("127.0.0.1", proxy.port)
    writer.write(request)
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return reader, writer


def head_and_rest(stream: bytes) -> tuple[bytes, bytes]:
    end = stream.index(b"\r\n\r\n") + 4
    return stream[:end], stream[end:]


def stream_of(records: list, direction: str) -> bytes:
    """The frames recorded in one direction, joined in offset order: what that receiver read."""
    frames = sorted((r for r in records if isinstance(r, FrameRecord) and r.direction == direction),
                    key=lambda r: r.offset)
    out = b""
    for f in frames:
        assert f.offset == len(out), f"gap or overlap before {f!r}"
        out += f.raw
    return out


@pytest.mark.parametrize("who_closes", ["client", "server"])
async def test_a_finished_tap_does_not_keep_a_replaced_capture_alive(echo_server, make_proxy,
                                                                   who_closes: str) -> None:
    """Once both TCP connections of a tapped pair are over, nothing of it sits in a reference cycle: a
    capture the user replaces is freed at once, every payload with it, not at a later full collection."""

    async def answer_once(conn) -> None:
        await conn.send(await conn.recv())

    port = await echo_server(handler=_echo if who_closes == "client" else answer_once)
    proxy = await make_proxy(f"ws://127.0.0.1:{port}/", capture=Capture())
    with collector_off():
        await echo_a_mib(proxy.url, peer_closes=who_closes == "server")
        await settle(proxy.capture, lambda records: any(isinstance(r, CloseRecord) for r in records))
        deadline = asyncio.get_running_loop().time() + 5
        while proxy._taps or proxy.connections:
            assert asyncio.get_running_loop().time() < deadline, "the tapped pair did not finish"
            await asyncio.sleep(0.01)
        replace_capture_and_check_freed(proxy)


# ---------------------------------------------------------------------------- the byte path, proved
@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_websockets_through_the_tap_byte_exact_with_both_legs_captured(echo_server, make_proxy,
                                                                              compression) -> None:
    port = await echo_server(compression)
    server_side = await RecordingRelay(port).start()  # tap -> relay -> server
    proxy = await make_proxy(f"ws://127.0.0.1:{server_side.port}/")
    client_side = await RecordingRelay(proxy.port).start()  # client -> relay -> tap
    texts = ["hello", "é" * 300, "x" * 70000]
    async with connect(f"ws://127.0.0.1:{client_side.port}/", compression=compression, max_size=None) as ws:
        for text in texts:
            await ws.send(text)
            assert await ws.recv() == text
        await ws.send(bytes(range(256)) * 8)
        assert await ws.recv() == bytes(range(256)) * 8
        await ws.ping(b"p1")
    await asyncio.wait_for(asyncio.gather(client_side.done.wait(), server_side.done.wait()), 5)
    records = await settle(proxy.capture, closed)
    await client_side.stop()
    await server_side.stop()

    # The request is forwarded with only its Host line changed; every other byte is the same both ways.
    client_head, client_frames = head_and_rest(bytes(client_side.to_server))
    server_head, server_frames = head_and_rest(bytes(server_side.to_server))
    assert server_head == rewrite_request(client_head, f"127.0.0.1:{server_side.port}")
    assert server_head != client_head and b"Host: 127.0.0.1:%d\r\n" % server_side.port in server_head
    assert client_frames == server_frames and len(client_frames) > (70000 if compression is None else 300)
    assert bytes(client_side.to_client) == bytes(server_side.to_client)  # the answer and every server frame

    # One capture, both legs, with roles: the client's frames masked ("in"), the server's not ("out").
    (open_record,) = [r for r in records if isinstance(r, OpenRecord)]
    assert open_record.via == "tap" and open_record.status == 101
    assert open_record.request == client_head and open_record.forwarded_request == server_head
    assert open_record.response == head_and_rest(bytes(server_side.to_client))[0]
    assert stream_of(records, "in") == client_frames
    assert stream_of(records, "out") == head_and_rest(bytes(server_side.to_client))[1]
    frames = [r for r in records if isinstance(r, FrameRecord)]
    assert all(f.frame.masked for f in frames if f.direction == "in")
    assert not any(f.frame.masked for f in frames if f.direction == "out")
    assert not any(f.error for f in frames)
    for direction in ("in", "out"):
        messages = [r.data for r in records if isinstance(r, MessageRecord) and r.direction == direction]
        assert messages == [*texts, bytes(range(256)) * 8]
    if compression:
        compressed = [r for r in records if isinstance(r, MessageRecord) and r.compressed]
        assert len(compressed) == 8  # every message, both ways, inflated next to its deflate frames
        assert any(f.raw[0] & 0x40 for f in frames if f.direction == "out")
        assert proxy.capture.dissect(next(f for f in frames if f.raw[0] & 0x40)).ok
    close = next(r for r in records if isinstance(r, CloseRecord))
    assert (close.code, close.initiator, close.clean) == (1000, "remote", True)
    assert not [r for r in records if isinstance(r, ErrorRecord)]


async def test_a_broken_frame_is_relayed_unchanged_and_the_servers_1002_comes_back(echo_server,
                                                                                     make_proxy) -> None:
    port = await echo_server()
    server_side = await RecordingRelay(port).start()
    proxy = await make_proxy(f"ws://127.0.0.1:{server_side.port}/")
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    request, _ = handshake.client_request("127.0.0.1", proxy.port)
    writer.write(request)
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101")
    good = Frame(Opcode.TEXT, b"ok", mask_key=KEY).encode()
    broken = Frame(Opcode.TEXT, b"no mask").encode()  # a client frame must be masked (section 5.1)
    trailing = Frame(Opcode.TEXT, b"after", mask_key=KEY).encode()
    writer.write(good)
    echo = await reader.readexactly(4)
    assert echo == b"\x81\x02ok"
    writer.write(broken + trailing)
    back = await asyncio.wait_for(reader.read(1000), 5)
    assert back[:2] == b"\x88" + bytes([len(back) - 2]) and int.from_bytes(back[2:4], "big") == 1002
    writer.close()
    await asyncio.wait_for(server_side.done.wait(), 5)
    assert head_and_rest(bytes(server_side.to_server))[1].startswith(good + broken)  # unchanged, not fixed
    records = await settle(proxy.capture, closed)
    violation = next(r for r in records if isinstance(r, FrameRecord) and r.error is not None)
    assert violation.direction == "in" and violation.raw == broken and violation.offset == len(good)
    assert violation.error.field == "MASK"
    server_close = next(r for r in records if isinstance(r, FrameRecord) and r.direction == "out"
                        and r.opcode == Opcode.CLOSE)
    assert server_close.frame.close_code == 1002
    notes = [r.message for r in records if isinstance(r, ErrorRecord)]
    assert any(f"from offset {len(good) + len(broken)} on, bytes are passed on unchanged but unparsed" in n
               for n in notes), notes
    assert any(f"{len(trailing)} bytes (offsets {len(good) + len(broken)}-" in n for n in notes), notes
    close = next(r for r in records if isinstance(r, CloseRecord))
    assert close.code == 1002 and close.initiator == "local"


# ---------------------------------------------------------------------------- handshake
def test_rewrite_request_changes_host_only_and_origin_when_asked() -> None:
    raw = (b"GET /chat?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8000\r\nOrigin: http://a\r\nCookie: k=v\r\n"
           b"Sec-WebSocket-Key: abc\r\n\r\n")
    assert rewrite_request(raw, "example.org:9000") == raw.replace(b"127.0.0.1:8000", b"example.org:9000")
    with_origin = rewrite_request(raw, "example.org", "https://example.org")
    assert b"Origin: https://example.org\r\n" in with_origin and b"http://a" not in with_origin
    no_origin = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rewrite_request(no_origin, "b", "https://b") == b"GET / HTTP/1.1\r\nHost: b\r\nOrigin: https://b\r\n\r\n"


@pytest.mark.parametrize("url, authority, path", [
    ("ws://127.0.0.1:8765/", "127.0.0.1:8765", "/"),
    ("ws://example.org", "example.org", "/"),
    ("wss://example.org:443/feed?x=1", "example.org", "/feed?x=1"),
    ("ws://[::1]:9000/a", "[::1]:9000", "/a"),
])
def test_upstream_urls(url, authority, path) -> None:
    up = Upstream.parse(url)
    assert (up.authority, up.path) == (authority, path)


@pytest.mark.parametrize("url, why", [
    ("http://example.org/", "ws:// or wss://"), ("ws:///x", "no host"), ("ws://u:p@h/", "credentials"),
    ("ws://h/#f", "fragment"),
])
def test_bad_upstream_urls_are_refused(url, why) -> None:
    with pytest.raises(ValueError, match=why):
        Proxy(url)


async def test_the_path_of_the_upstream_is_in_the_taps_url(echo_server, make_proxy) -> None:
    port = await echo_server()
    proxy = await make_proxy(f"ws://127.0.0.1:{port}/feed?room=1")
    assert proxy.url == f"ws://127.0.0.1:{proxy.port}/feed?room=1"
    async with connect(proxy.url) as ws:
        assert ws.request.path == "/feed?room=1"


async def test_a_dead_upstream_gives_the_client_a_502_with_the_reason(make_proxy) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound, never listening: connections are refused
        proxy = await make_proxy(f"ws://127.0.0.1:{dead}/")
        with pytest.raises(InvalidStatus) as info:
            async with connect(proxy.url, open_timeout=5):
                pass
    response = info.value.response
    assert response.status_code == 502
    assert b"cannot reach the upstream" in response.body and b"refused" in response.body.lower()
    records = await settle(proxy.capture, lambda rs: any(isinstance(r, ErrorRecord) for r in rs))
    opened = next(r for r in records if isinstance(r, OpenRecord))
    assert opened.status == 502 and opened.via == "tap" and "answered by the tap" in opened.note


async def test_an_upstream_speaking_no_http_gives_a_502(make_proxy) -> None:
    async def garbage(head, reader, writer) -> None:
        writer.write(b"\x00\x01 not http at all\r\n\r\n")
        await writer.drain()
        await reader.read()

    upstream = await RawUpstream(garbage).start()
    proxy = await make_proxy(upstream.url)
    with pytest.raises(InvalidStatus) as info:
        async with connect(proxy.url, open_timeout=5):
            pass
    assert info.value.response.status_code == 502
    assert b"not an HTTP response" in info.value.response.body
    await upstream.stop()


async def test_a_refused_upgrade_comes_back_unchanged(echo_server, make_proxy) -> None:
    def refuse(conn, request):
        return conn.respond(403, "go away\n")

    port = await echo_server(process_request=refuse)
    server_side = await RecordingRelay(port).start()
    proxy = await make_proxy(f"ws://127.0.0.1:{server_side.port}/")
    client_side = await RecordingRelay(proxy.port).start()
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{client_side.port}/", open_timeout=5):
            pass
    assert info.value.response.status_code == 403
    await asyncio.wait_for(client_side.done.wait(), 5)
    assert bytes(client_side.to_client) == bytes(server_side.to_client)
    opened = next(r for r in proxy.capture if isinstance(r, OpenRecord))
    assert opened.status == 403 and opened.response == bytes(server_side.to_client)
    await client_side.stop()
    await server_side.stop()


async def test_a_plain_http_request_is_told_this_is_a_websocket_tap(echo_server, make_proxy) -> None:
    port = await echo_server()
    proxy = await make_proxy(f"ws://127.0.0.1:{port}/")
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required") and b"only WebSocket upgrade requests" in answer


async def test_origin_is_replaced_only_when_asked(make_proxy) -> None:
    async def accept(head, reader, writer) -> None:
        writer.write(accept_101(head))
        await writer.drain()
        await reader.read()

    upstream = await RawUpstream(accept).start()
    plain = await make_proxy(upstream.url, origins=["http://page.example"])  # a page the tap lets in
    async with connect(plain.url, origin="http://page.example", close_timeout=0.1):
        pass
    rewriting = await make_proxy(upstream.url, origin="https://app.example", origins=["http://page.example"])
    async with connect(rewriting.url, origin="http://page.example", close_timeout=0.1):
        pass
    assert b"Origin: http://page.example\r\n" in upstream.requests[0]
    assert b"Origin: https://app.example\r\n" in upstream.requests[1]
    await upstream.stop()


# ---------------------------------------------------------------------------- extensions the tap does not know
async def test_an_unknown_extension_with_rsv_bits_is_passed_through_as_extension_data(make_proxy) -> None:
    frame = Frame(Opcode.TEXT, b"\xff\xfe\x00 not text", rsv2=True).encode()  # what "x-unknown" made of a message

    async def accept(head, reader, writer) -> None:
        writer.write(accept_101(head, b"Sec-WebSocket-Extensions: x-unknown\r\nSec-WebSocket-Protocol: chat\r\n")
                     + frame)
        await writer.drain()
        await reader.read()

    upstream = await RawUpstream(accept).start()
    proxy = await make_proxy(upstream.url)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    request, _ = handshake.client_request("127.0.0.1", proxy.port, extensions="x-unknown", subprotocols=["chat"])
    writer.write(request)
    await reader.readuntil(b"\r\n\r\n")
    assert await reader.readexactly(len(frame)) == frame
    writer.close()
    records = await settle(proxy.capture, closed)
    got = next(r for r in records if isinstance(r, FrameRecord))
    assert got.raw == frame and got.error is None
    message = next(r for r in records if isinstance(r, MessageRecord))
    assert message.data == b"\xff\xfe\x00 not text"  # bytes: extension data, not read as UTF-8
    notes = [r.message for r in records if isinstance(r, ErrorRecord)]
    assert any("x-unknown passed through unknown to the tap" in n for n in notes)
    opened = next(r for r in records if isinstance(r, OpenRecord))
    assert "subprotocol chat passed through" in opened.note
    await upstream.stop()


# ---------------------------------------------------------------------------- injection
async def test_inject_between_whole_frames_both_ways(echo_server, make_proxy) -> None:
    port = await echo_server()
    server_side = await RecordingRelay(port).start()
    proxy = await make_proxy(f"ws://127.0.0.1:{server_side.port}/")
    async with connect(proxy.url) as ws:
        await ws.send("before")
        assert await ws.recv() == "before"
        (conn,) = proxy.connections
        sent = await proxy.inject(conn, Frame(Opcode.TEXT, b"from the tap"), to="server")
        assert sent[1] & 0x80 and sent[2:6] != b"\x00" * 4  # masked with a fresh key
        assert await ws.recv() == "from the tap"  # the echo server answered the injected message
        await proxy.inject(conn, Frame(Opcode.TEXT, b"to the client"), to="client")
        assert await ws.recv() == "to the client"
        await ws.send("after")
        assert await ws.recv() == "after"
    await asyncio.wait_for(server_side.done.wait(), 5)
    records = await settle(proxy.capture, closed)
    injected = [r for r in records if isinstance(r, FrameRecord) and r.injected]
    assert [(r.direction, r.raw) for r in injected] == [("in", sent),
                                                        ("out", Frame(Opcode.TEXT, b"to the client").encode())]
    # Offsets count the injected bytes on their leg: the recorded streams are what each receiver read.
    assert stream_of(records, "in") == head_and_rest(bytes(server_side.to_server))[1]
    server_frames = b"".join(r.raw for r in records if isinstance(r, FrameRecord) and r.direction == "out"
                             and not r.injected)
    assert server_frames == head_and_rest(bytes(server_side.to_client))[1]
    assert len(stream_of(records, "out")) == len(server_frames) + len(injected[1].raw)
    after = next(r for r in records if isinstance(r, FrameRecord) and r.direction == "in"
                 and r.payload == b"after")
    assert after.offset == len(Frame(Opcode.TEXT, b"before", mask_key=KEY).encode()) + len(sent)
    await server_side.stop()


async def test_inject_waits_for_the_end_of_a_frame_in_progress(make_proxy) -> None:
    upstream = await RawUpstream().start()  # accepts, then records what it reads
    proxy = await make_proxy(upstream.url)
    reader, writer = await raw_client(proxy)
    big = Frame(Opcode.BINARY, os.urandom(1000), mask_key=KEY).encode()
    writer.write(big[:300])
    await writer.drain()
    conn = await _only_connection(proxy)
    observer = proxy.connections[conn].observers["in"]
    for _ in range(250):
        if observer.bytes_received == 300:  # the tap has read the first part of the frame
            break
        await asyncio.sleep(0.02)
    assert observer.bytes_needed == len(big) - 300
    ping = Frame(Opcode.PING, b"tap", mask_key=b"\x00\x00\x00\x01").encode()
    injecting = asyncio.ensure_future(proxy.inject(conn, ping, to="server"))
    await asyncio.sleep(0.1)
    assert not injecting.done()  # the frame in progress must end first
    tail = Frame(Opcode.TEXT, b"next", mask_key=KEY).encode()
    writer.write(big[300:] + tail)  # the end of the frame and the next frame, in one write
    assert await asyncio.wait_for(injecting, 5) == ping
    writer.close()
    await asyncio.wait_for(upstream.finished.wait(), 5)
    assert bytes(upstream.received) == big + ping + tail  # cut at the frame boundary, nothing else changed
    records = await settle(proxy.capture, closed)
    frames = [r for r in records if isinstance(r, FrameRecord)]
    assert [(f.offset, f.injected) for f in frames] == [(0, False), (len(big), True), (len(big) + len(ping), False)]
    await upstream.stop()


async def test_injection_is_refused_once_the_stream_cannot_be_parsed(echo_server, make_proxy) -> None:
    port = await echo_server()
    proxy = await make_proxy(f"ws://127.0.0.1:{port}/")
    reader, writer = await raw_client(proxy)
    conn = await _only_connection(proxy)
    writer.write(b"\x81\x02no")  # unmasked: the observer of the client's bytes stops parsing
    await reader.read(100)  # the server's 1002
    with pytest.raises(InjectionError, match="no longer parsed"):
        await proxy.inject(conn, Frame(Opcode.PING, b""), to="server")
    with pytest.raises(InjectionError, match="no open tapped connection #99"):
        await proxy.inject(99, b"\x89\x00", to="client")
    with pytest.raises(ValueError, match="to must be"):
        await proxy.inject(conn, b"\x89\x00", to="sideways")
    writer.close()


async def _only_connection(proxy: Proxy) -> int:
    for _ in range(250):
        if proxy.connections:
            return next(iter(proxy.connections))
        await asyncio.sleep(0.02)
    raise AssertionError("no tapped connection opened")


# ---------------------------------------------------------------------------- flow control
async def test_a_slow_client_pauses_reading_from_the_server(make_proxy) -> None:
    chunk = Frame(Opcode.BINARY, b"z" * 65000).encode()
    total = 300  # about 19 MiB from the server

    async def flood(head, reader, writer) -> None:
        writer.write(accept_101(head))
        for _ in range(total):
            writer.write(chunk)
            await writer.drain()
        await reader.read()

    upstream = await RawUpstream(flood).start()
    proxy = await make_proxy(upstream.url, write_limit=64 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", proxy.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
    request, _ = handshake.client_request("127.0.0.1", proxy.port)
    writer.write(request)
    await reader.readuntil(b"\r\n\r\n")
    conn = proxy.connections[await _only_connection(proxy)]
    await asyncio.sleep(0.5)  # the client reads nothing meanwhile
    client_leg, upstream_leg = conn._client, conn._upstream
    assert client_leg.write_paused and not upstream_leg.transport.is_reading()
    assert client_leg.transport.get_write_buffer_size() < 1 << 20  # bounded: not the 19 MiB sent
    received = 0
    while received < total * len(chunk):
        received += len(await asyncio.wait_for(reader.read(1 << 20), 10))
    assert received == total * len(chunk)
    writer.close()
    await upstream.stop()


# ---------------------------------------------------------------------------- robustness
async def test_random_bytes_both_ways_never_break_the_tap(make_proxy) -> None:
    """Whatever the peers send after the handshake arrives unchanged; the tap records and survives."""
    rng = __import__("random").Random(6455)
    from_server = bytes(rng.getrandbits(8) for _ in range(20000))
    got_upstream = bytearray()
    done = asyncio.Event()

    async def noise(head, reader, writer) -> None:
        writer.write(accept_101(head))
        for i in range(0, len(from_server), 997):
            writer.write(from_server[i:i + 997])
            await writer.drain()
        while data := await reader.read(65536):
            got_upstream.extend(data)
        done.set()

    upstream = await RawUpstream(noise).start()
    proxy = await make_proxy(upstream.url, max_message_size=4096)
    for round_ in range(3):
        got_upstream.clear()
        done.clear()
        from_client = bytes(rng.getrandbits(8) for _ in range(20000))
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        request, _ = handshake.client_request("127.0.0.1", proxy.port)
        writer.write(request)
        await reader.readuntil(b"\r\n\r\n")
        for i in range(0, len(from_client), 1499):
            writer.write(from_client[i:i + 1499])
        await writer.drain()
        writer.write_eof()
        back = await asyncio.wait_for(reader.read(), 10)
        await asyncio.wait_for(done.wait(), 10)
        writer.close()
        assert back == from_server and bytes(got_upstream) == from_client
    await settle(proxy.capture, lambda rs: sum(isinstance(r, CloseRecord) for r in rs) == 3)
    assert proxy.serving
    await upstream.stop()


async def test_stop_closes_tapped_connections_and_records_it(echo_server, make_proxy) -> None:
    port = await echo_server()
    proxy = await make_proxy(f"ws://127.0.0.1:{port}/")
    ws = await connect(proxy.url)
    await ws.send("x")
    await ws.recv()
    await asyncio.wait_for(proxy.stop(), 10)
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(ws.recv(), 5)
    records = list(proxy.capture)
    assert any(isinstance(r, ErrorRecord) and "the tap stopped" in r.message for r in records)
    close = next(r for r in records if isinstance(r, CloseRecord))
    assert close.code == 1006 and not close.clean


async def test_frames_sent_with_the_request_follow_it_and_are_captured(make_proxy) -> None:
    upstream = await RawUpstream().start()  # accepts, then records what it reads
    proxy = await make_proxy(upstream.url)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    request, _ = handshake.client_request("127.0.0.1", proxy.port)
    early = Frame(Opcode.TEXT, b"too early", mask_key=KEY).encode()
    writer.write(request + early)  # before the answer: the tap passes it on after the request, in order
    await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await asyncio.wait_for(upstream.finished.wait(), 5)
    assert bytes(upstream.received) == early
    records = await settle(proxy.capture, closed)
    frame = next(r for r in records if isinstance(r, FrameRecord))
    assert (frame.direction, frame.offset, frame.raw) == ("in", 0, early)
    await upstream.stop()


async def test_a_client_that_never_finishes_its_request_is_dropped(make_proxy) -> None:
    proxy = await make_proxy("ws://127.0.0.1:9/", handshake_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no empty line: the head never ends
    assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped, nothing said
    writer.close()
    records = await settle(proxy.capture, lambda rs: bool(rs))
    assert "no complete request within handshake_timeout=0.3s" in records[0].message
