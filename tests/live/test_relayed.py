"""How the server tells a relayed or proxied connection from a direct one, and records it.

A real server on 127.0.0.1 and a raw socket client that writes exactly what the
Jupyter server's relay writes (:mod:`wsexplore.jupyter.preamble`), or what
jupyter-server-proxy's tornado client writes. The relay itself runs in
tests/jupyter against a real Jupyter server.
"""

from __future__ import annotations

import asyncio

import pytest

from wsexplore import Frame, Opcode
from wsexplore.capture import OpenRecord
from wsexplore.jupyter import preamble
from wsexplore.protocol.handshake import client_request

BROWSER = ("203.0.113.7", 51234)
ORIGINAL = "/user/demo/wsexplore/{port}/ws?token=withheld"


def relayed_request(port: int, key: str = "dGhlIHNhbXBsZSBub25jZQ==") -> bytes:
    """The head the relay forwards: tornado's spelling of the names, the browser's values."""
    return ("GET /ws HTTP/1.1\r\nHost: hub.example.org\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-Websocket-Key: {key}\r\nSec-Websocket-Version: 13\r\nOrigin: https://hub.example.org\r\n"
            "Cookie: jupyter-login=secret\r\n\r\n").encode()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


async def test_a_preamble_with_the_servers_token_is_stripped_and_the_connection_recorded_as_relayed(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    line = preamble.encode(server._relay_token, BROWSER, ORIGINAL.format(port=server.port))
    data = line + relayed_request(server.port)
    for i in range(len(data)):  # one byte at a time: the preamble and the head may be split anywhere
        writer.write(data[i : i + 1])
        await writer.drain()
    response = await read_head(reader)
    assert response.startswith(b"HTTP/1.1 101 ") and b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response
    frame = Frame(Opcode.TEXT, "发送数据".encode(), mask_key=bytes.fromhex("55d0e1e6")).encode()
    writer.write(frame)
    echo = await asyncio.wait_for(reader.readexactly(14), 5)
    assert echo == Frame(Opcode.TEXT, "发送数据".encode()).encode()
    (conn,) = server.connections.values()
    assert conn.relayed == preamble.Relayed(BROWSER, ORIGINAL.format(port=server.port))
    assert conn.remote == BROWSER
    writer.close()
    await asyncio.sleep(0.1)

    opened = server.capture.opening(conn.id)
    assert isinstance(opened, OpenRecord) and opened.via == "relay" and not opened.reframed
    assert opened.peer == BROWSER  # the browser, not the relay's socket
    assert opened.request == relayed_request(server.port)  # the preamble is not part of the handshake
    assert f"target /user/demo/wsexplore/{server.port}/ws?token=withheld became /ws" in opened.note
    assert "tornado" in opened.note and "every byte after the head is the browser's own" in opened.note
    assert "via relay" in repr(opened)
    (frame_record,) = server.capture.frames(direction="in")
    assert frame_record.raw == frame  # the frame's bytes as written, masking key and all


@pytest.mark.parametrize("token", ["not-this-servers-token", None])
async def test_a_preamble_with_another_token_is_refused_with_403_and_recorded(server, make_server, token) -> None:
    if token is None:  # the token of another server: valid somewhere, not here
        other = await make_server()
        token = other._relay_token
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(preamble.encode(token, BROWSER, "/ws") + relayed_request(server.port))
    response = await read_head(reader)
    assert response.startswith(b"HTTP/1.1 403 ")
    writer.close()
    await asyncio.sleep(0.05)
    (opened,) = server.capture.filter(kind="open")
    assert opened.status == 403 and opened.via is None and opened.peer != BROWSER
    (error,) = server.capture.filter(kind="error")
    assert "token this server did not issue" in error.message
    assert not server.connections


async def test_a_server_made_with_relay_false_takes_no_preamble_and_does_not_register(make_server) -> None:
    server = await make_server(relay=False)
    assert server.relay_registration is None  # not in a kernel either way; relay=False never registers
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(preamble.encode("any", BROWSER, "/ws") + relayed_request(server.port))
    assert (await read_head(reader)).startswith(b"HTTP/1.1 403 ")
    writer.close()


async def test_malformed_or_overlong_preambles_are_refused(server) -> None:
    for line in (preamble.MAGIC + b"only-a-token\r\n",
                 preamble.MAGIC + server._relay_token.encode() + b" 1.2.3.4 99999 /ws\r\n",
                 preamble.MAGIC + b"x" * (preamble.MAX_LINE + 10)):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(line + relayed_request(server.port))
        assert (await read_head(reader)).startswith(b"HTTP/1.1 403 "), line[:60]
        writer.close()
    assert [r.status for r in server.capture.filter(kind="open")] == [403, 403, 403]


async def test_a_direct_client_is_recorded_as_direct(server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    request, _ = client_request("127.0.0.1", server.port, "/ws")
    writer.write(request)
    assert (await read_head(reader)).startswith(b"HTTP/1.1 101 ")
    writer.close()
    await asyncio.sleep(0.05)
    (opened,) = server.capture.filter(kind="open")
    assert (opened.via, opened.note, opened.peer[0]) == (None, "", "127.0.0.1")


@pytest.mark.parametrize("mark", ["header", "query"])
async def test_jupyter_server_proxys_request_is_labelled_as_the_proxys(server, mark: str) -> None:
    """What jupyter-server-proxy 4.6 sends: tornado's spelling, its context headers; or the BrowserClient's
    query parameter when the proxy is configured to add no header."""
    target = "/ws?wsexplore-via=jupyter-server-proxy" if mark == "query" else "/ws"
    context = "X-Proxycontextpath: /user/demo/proxy/{port}\r\n" if mark == "header" else ""
    head = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-Websocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-Websocket-Version: 13\r\n"
            f"{context.format(port=server.port)}Accept-Encoding: gzip\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head)
    assert (await read_head(reader)).startswith(b"HTTP/1.1 101 ")
    writer.write(Frame(Opcode.TEXT, b"hi", mask_key=b"abcd").encode())
    await asyncio.wait_for(reader.readexactly(4), 5)
    writer.close()
    await asyncio.sleep(0.05)
    (opened,) = server.capture.filter(kind="open")
    assert opened.via == "jupyter-server-proxy" and opened.reframed
    assert "the proxy's, not the browser's" in opened.note
    assert (f"X-ProxyContextPath: /user/demo/proxy/{server.port}" in opened.note) == (mark == "header")
    assert ("wsexplore-via=jupyter-server-proxy" in opened.note) == (mark == "query")
    assert "tornado's spelling" in opened.note
    # Every record of the connection inherits it through the query layer.
    (frame,) = server.capture.frames(direction="in")
    assert server.capture.opening(frame.conn) is opened


async def test_tornados_spelling_alone_is_no_proxy(server) -> None:
    """A tornado client talking to the server itself sends its own frames: not labelled a proxy."""
    head = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-Websocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-Websocket-Version: 13\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head)
    assert (await read_head(reader)).startswith(b"HTTP/1.1 101 ")
    writer.close()
    await asyncio.sleep(0.05)
    assert server.capture.filter(kind="open")[0].via is None
