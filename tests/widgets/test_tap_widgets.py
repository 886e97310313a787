"""FrameBuilder aimed at a tapped conversation: Send inserts the frame, as built, toward one side."""

from __future__ import annotations

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from wsexplore.capture import FrameRecord
from wsexplore.live.proxy import Proxy
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets import Explorer, FrameBuilder


async def _echo(conn) -> None:
    async for message in conn:
        await conn.send(message)


async def test_builder_injects_toward_the_server_masked_and_toward_the_client_unmasked() -> None:
    server = await serve(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Proxy(f"ws://127.0.0.1:{port}/") as proxy, connect(proxy.url) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            (conn,) = proxy.connections
            to_server = FrameBuilder(proxy.injector(conn, to="server"))
            assert to_server.mask.value and to_server.frame.mask_key is not None  # a server reads masked frames
            assert to_server.view.error is None and "to the server" in repr(to_server)
            to_server.payload.value = "built by hand"
            await to_server.send()
            assert await ws.recv() == "built by hand"  # the server got it and echoed it

            to_client = FrameBuilder(proxy.injector(conn, to="client"))
            assert not to_client.mask.value and to_client.view.error is None
            to_client.mask.value = True  # a server frame must not be masked: shown as the client reads it
            assert to_client.view.error["field"] == "MASK"
            to_client.mask.value = False
            to_client.payload.value = "to the page"
            await to_client.send()
            assert await ws.recv() == "to the page"
            injected = [r for r in proxy.capture if isinstance(r, FrameRecord) and r.injected]
            assert [(r.direction, r.opcode, r.payload) for r in injected] == [
                ("in", Opcode.TEXT, b"built by hand"), ("out", Opcode.TEXT, b"to the page")]
            assert injected[0].raw == to_server.data  # exactly as built, key and all
    finally:
        server.close()
        await server.wait_closed()


async def test_the_explorer_shows_a_taps_capture_with_injected_frames_marked() -> None:
    server = await serve(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Proxy(f"ws://127.0.0.1:{port}/") as proxy, connect(proxy.url) as ws:
            explorer = Explorer(proxy)
            await ws.send("seen by both")
            assert await ws.recv() == "seen by both"
            (conn,) = proxy.connections
            await proxy.inject(conn, b"\x89\x03tap", to="client")  # a ping toward the client, raw bytes
            await ws.send("after")
            await ws.recv()
            explorer.flush()
            rows = explorer.rows
            assert [row["seq"] for row in rows] == [r.seq for r in proxy.capture]
            assert {row["dir"] for row in rows if row["kind"] == "frame"} == {"in", "out"}
            (marked,) = [row for row in rows if row["preview"].startswith("[injected]")]
            assert marked["op"] == "PING" and marked["dir"] == "out"
            assert repr(explorer).startswith("Explorer(proxy:")
            explorer.close()
    finally:
        server.close()
        await server.wait_closed()
