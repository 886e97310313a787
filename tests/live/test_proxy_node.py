"""Node's ``ws`` client through the tap to a ``websockets`` server, with and without permessage-deflate.

The client lives in ``tests/node`` (``ws`` pinned in its package.json and
lock file, installed with ``npm ci --prefix tests/node``; ``make test`` does
it, and so does this module when ``node_modules`` is missing).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from wsexplore.capture import CloseRecord, FrameRecord, MessageRecord, OpenRecord
from wsexplore.live.proxy import Proxy

from ..tools import missing

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js and npm (Debian packages nodejs and npm: the ws client of these tests)")
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        subprocess.run([npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"], check=True,
                       capture_output=True, timeout=300)
    return NODE_DIR / "client.js"


async def _echo(conn) -> None:
    async for message in conn:
        await conn.send(message)


@pytest.mark.parametrize("mode", ["plain", "deflate"])
async def test_node_ws_client_through_the_tap(node_client: Path, mode: str) -> None:
    server = await serve(_echo, "127.0.0.1", 0, compression="deflate" if mode == "deflate" else None)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Proxy(f"ws://127.0.0.1:{port}/") as proxy:
            node = await asyncio.create_subprocess_exec("node", str(node_client), proxy.url, mode,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(node.communicate(), 30)
            assert node.returncode == 0, err.decode()
            for _ in range(250):
                if any(isinstance(r, CloseRecord) for r in proxy.capture):
                    break
                await asyncio.sleep(0.02)
            records = list(proxy.capture)
    finally:
        server.close()
        await server.wait_closed()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["event"] for e in events] == ["open", "message", "message", "message", "close"]
    assert events[1]["data"] == "hello from node" and events[2]["data"] == "000102fdfeff"
    assert events[3]["data"] == "ü" * 40000
    assert events[4] == {"event": "close", "code": 1000, "reason": "node done"}
    assert ("permessage-deflate" in events[0]["extensions"]) == (mode == "deflate")

    opened = next(r for r in records if isinstance(r, OpenRecord))
    assert opened.status == 101 and opened.via == "tap"
    frames = [r for r in records if isinstance(r, FrameRecord)]
    assert not any(f.error for f in frames)
    assert all(f.frame.masked for f in frames if f.direction == "in")
    assert not any(f.frame.masked for f in frames if f.direction == "out")
    for direction in ("in", "out"):
        data = [r.data for r in records if isinstance(r, MessageRecord) and r.direction == direction]
        assert data == ["hello from node", bytes([0, 1, 2, 253, 254, 255]), "ü" * 40000]
        compressed = [r.compressed for r in records if isinstance(r, MessageRecord) and r.direction == direction]
        assert all(compressed) if mode == "deflate" else not any(compressed)
    close = next(r for r in records if isinstance(r, CloseRecord))
    assert (close.code, close.reason, close.initiator, close.clean) == (1000, "node done", "remote", True)
