"""Checks that a finished connection leaves nothing in a reference cycle: a replaced capture is freed at once.

The collector is off while a test runs (``collector_off``), so that only reference counts free
anything: an object still alive then is held by a cycle or by a real reference.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import connect

from wsexplore.capture import Capture

MIB = bytes(range(256)) * 4096


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def echo_a_mib(url: str, *, peer_closes: bool) -> None:
    """One 1 MiB round trip from a websockets client; then it closes, or waits until the peer has closed."""
    async with connect(url, max_size=None) as client:
        await client.send(MIB)
        assert await client.recv() == MIB
        if peer_closes:
            await client.wait_closed()


def replace_capture_and_check_freed(owner: Any) -> None:
    """Give ``owner`` (a server or a tap) a new capture: the old one, records and payloads, must be gone at once."""
    old = weakref.ref(owner.capture)
    assert len(old()) >= 4  # the handshake, both frames, the close: the connection was recorded
    owner.capture = Capture()
    assert old() is None, "the replaced capture is still referenced"
