"""Fixtures for live tests: servers on 127.0.0.1, port 0, always stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wsexplore.capture import Capture
from wsexplore.live.server import Server

MakeServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    """``await make_server(handler, **options)``: a started server, stopped (and checked) after the test."""
    servers: list[Server] = []

    async def make(handler=None, **options) -> Server:
        options.setdefault("capture", Capture())
        server = Server("127.0.0.1", 0, handler, **options)
        await asyncio.wait_for(server.start(), 5)
        servers.append(server)
        return server

    yield make
    for server in servers:
        await asyncio.wait_for(server.stop(), 20)
        assert not server.connections
        assert not server._tasks, "a handler task outlived stop()"
        assert not server._protocols, "a TCP connection outlived stop()"


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    """An echo server."""
    return await make_server()
