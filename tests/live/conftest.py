"""Fixtures for live tests: servers on 127.0.0.1, port 0, always stopped; capture points for the probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wsexplore.capture import Capture
from wsexplore.live.server import Server

from .probes import Target, TargetFactory

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


# Every capture point the hostile-peer probes (probes.py) run against: a factory a name.
# The tap and the Jupyter relay join here when they exist.
TARGETS = ["server"]


@pytest.fixture(params=TARGETS)
async def make_target(request: pytest.FixtureRequest, make_server: MakeServer) -> TargetFactory:
    """``await make_target(**options)``: a started capture point (see probes.Target)."""

    async def server(handler=None, **options) -> Target:
        started = await make_server(handler, **options)
        return Target(started.port, started.capture, thing=started)

    return {"server": server}[request.param]
