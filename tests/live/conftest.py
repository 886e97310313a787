"""Fixtures for live tests: servers on 127.0.0.1, port 0, always stopped; capture points for the probes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wsexplore.capture import Capture
from wsexplore.live.proxy import Proxy
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


# Every capture point the hostile-peer probes (probes.py) run against, a factory a name: the
# capturing server, and the tap in front of one. The Jupyter relay joins here when it exists.
TARGETS = ["server", "tap"]


@pytest.fixture
async def make_tap(make_server: MakeServer) -> AsyncIterator[Callable[..., Awaitable[Target]]]:
    """``await make_tap(handler, origins=..., hosts=..., **server_options)``: a tap in front of a fresh server.

    The tap's own access rules are the ones under test, so the server behind it lets every
    origin in (it sees the Origin the tap forwards)."""
    proxies: list[Proxy] = []

    async def make(handler=None, **options) -> Target:
        access = {name: options.pop(name) for name in ("origins", "hosts") if name in options}
        upstream = await make_server(handler, **{"origins": "*", **options})
        proxy = Proxy(upstream.url, capture=Capture(), **access)
        await asyncio.wait_for(proxy.start(), 5)
        proxies.append(proxy)
        return Target(proxy.port, proxy.capture, thing=proxy)

    yield make
    for proxy in proxies:
        await asyncio.wait_for(proxy.stop(), 20)


@pytest.fixture(params=TARGETS)
async def make_target(request: pytest.FixtureRequest, make_server: MakeServer, make_tap) -> TargetFactory:
    """``await make_target(**options)``: a started capture point (see probes.Target), each in turn."""

    async def server(handler=None, **options) -> Target:
        started = await make_server(handler, **options)
        return Target(started.port, started.capture, thing=started)

    return {"server": server, "tap": make_tap}[request.param]


@pytest.fixture
async def make_server_target(make_server: MakeServer) -> TargetFactory:
    """The probes of the server's own limits (a read fed a slice per turn, idle_timeout, max_buffered):
    the tap passes bytes on as they come and has no such limits, so these run against the server."""

    async def server(handler=None, **options) -> Target:
        started = await make_server(handler, **options)
        return Target(started.port, started.capture, thing=started)

    return server
