"""wait_for_record: the record a cell wants, at once when recorded already, else when it arrives."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

import wsexplore as ws
from wsexplore.capture import Capture, CloseRecord

pytestmark = pytest.mark.timeout(30)


async def test_returns_a_record_already_there_and_waits_for_one_to_come() -> None:
    async with ws.Server() as server:
        async with connect(server.url, compression=None) as peer:
            await peer.send("hi")
            assert await peer.recv() == "hi"
            opened = await ws.wait_for_record(server.capture, kind="open")
            assert opened.seq == 1
            waiting = asyncio.ensure_future(ws.wait_for_record(server.capture, kind="close"))
            await asyncio.sleep(0)
            assert not waiting.done()
        close = await waiting
        assert isinstance(close, CloseRecord) and close.code == 1000 and close in server.capture.filter(kind="close")


async def test_a_predicate_narrows_the_match() -> None:
    async with ws.Server() as server:
        async with connect(server.url, compression=None) as peer:
            for text in ("one", "two"):
                await peer.send(text)
                await peer.recv()
        second = await ws.wait_for_record(server.capture, lambda r: r.data == "two", kind="message")
        assert second.data == "two"


async def test_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="kind='close', conn=7"):
        await ws.wait_for_record(Capture(), kind="close", conn=7, timeout=0.05)
