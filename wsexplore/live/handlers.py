"""Ready-made connection handlers: ``echo`` (what Autobahn|Testsuite expects) and the tutorial's ``demo``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["echo", "demo", "HANDLERS"]


async def echo(conn: ServerConnection) -> None:
    """Send every message back as it came: text as text, binary as binary.

    As a ``Server``'s handler this function itself does not run: the server
    answers each message in the turn of the event loop that read it, with no
    task per connection; the echoes of a read go out after its automatic
    pongs (``Server``'s docstring). Called directly, on a connection of
    another handler, it echoes as written here.
    """
    async for message in conn:
        await conn.send(message)


async def demo(conn: ServerConnection, *, interval: float = 2.0) -> None:
    """The tutorial's demo, done right: every ``interval`` seconds, reply with the
    latest message plus a timestamp.

    The tutorial starts a new ``setInterval`` for every message and never stops
    any; here each connection has exactly one timer, started by its first
    message and cancelled when the connection closes.
    """
    latest: list[str | bytes] = []

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            message = latest[-1]
            text = message if isinstance(message, str) else message.hex(" ")
            await conn.send(f"{text} {time.strftime('%H:%M:%S')}")

    timer: asyncio.Task | None = None
    try:
        async for message in conn:
            latest[:] = [message]
            if timer is None:
                timer = asyncio.get_running_loop().create_task(tick())
    finally:
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await timer


HANDLERS = {"echo": echo, "demo": demo}
