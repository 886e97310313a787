"""The benchmarks' raw echo client speaks RFC 6455 as a client must, and notices a wrong echo."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from .conftest import MakeServer

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "raw_client.py"
_spec = importlib.util.spec_from_file_location("raw_client", _PATH)
assert _spec is not None and _spec.loader is not None
raw_client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw_client)


def _texts(tag: int, count: int) -> list[str]:
    return [f"{tag}-{i}".ljust(32, "x") for i in range(count)]


async def test_round_trips_through_a_capturing_server(make_server: MakeServer) -> None:
    server = await make_server()
    clients = await asyncio.wait_for(raw_client.open_clients(server.url, [_texts(t, 20) for t in range(3)]), 10)
    assert await asyncio.wait_for(raw_client.round_trips(clients), 10) == 60
    await raw_client.close_all(clients)
    frames = server.capture.frames(direction="in")
    assert len(frames) == 63  # 60 texts and 3 closes, every one masked with a key of its own
    assert len({r.frame.mask_key for r in frames} - {None}) == 63
    assert not server.capture.violations()
    closes = server.capture.filter(kind="close")
    assert [(c.code, c.clean) for c in closes] == [(1000, True)] * 3


async def test_a_wrong_echo_fails_the_round_trips() -> None:
    async def wrong_fifth(ws) -> None:
        n = 0
        async for message in ws:
            n += 1
            await ws.send(message if n != 5 else message.upper())

    async with serve(wrong_fifth, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        clients = await raw_client.open_clients(f"ws://127.0.0.1:{port}/", [_texts(0, 10)])
        with pytest.raises(AssertionError, match="echo #4"):
            await asyncio.wait_for(raw_client.round_trips(clients), 10)
