"""An echo server for conformance runs: ``wsexplore.live.server.Server`` with its default echo handler.

    python tests/compliance/echo_server.py [--port PORT] [--host HOST] [--websockets]

Prints its ``ws://`` URL on one line once it listens, then serves until it is
killed (SIGINT or SIGTERM stop it cleanly). Messages up to 16 MiB are accepted,
as Autobahn|Testsuite's case 9.1.6 needs (RFC 6455 section 10.4 lets a server
pick its own limit). permessage-deflate is accepted (RFC 7692), for the 12.x
and 13.x cases; the other cases offer no extension. The capture is kept small: a conformance run pushes
hundreds of MiB through and nobody looks at them here. ``--websockets`` serves
the same echo with a ``websockets`` server instead (same limit, no compression):
the reference ``tests/compliance/speed.py`` times it against. websockets 16 and later
fail a message of more than 4096 fragments with 1009 unless ``WEBSOCKETS_MAX_FRAGMENTS``
says otherwise (case 9.3.1 sends 4 MiB in 65,536 fragments); like wsexplore's server,
the reference then limits the message's size only, so that both do the same work on
every case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from wsexplore.capture import Capture
from wsexplore.live.server import Server

MAX_MESSAGE_SIZE = 16 * 1024 * 1024


async def serve_websockets(host: str, port: int) -> None:
    os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(MAX_MESSAGE_SIZE))  # read on import
    from websockets.asyncio.server import serve as websockets_serve

    async def echo(conn) -> None:  # type: ignore[no-untyped-def]
        async for message in conn:
            await conn.send(message)

    async with websockets_serve(echo, host, port, max_size=MAX_MESSAGE_SIZE, compression=None) as server:
        print(f"ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
        await _until_stopped()


async def _until_stopped() -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    try:
        await stop
    except asyncio.CancelledError:
        pass


async def serve(host: str, port: int) -> None:
    server = Server(host, port, max_message_size=MAX_MESSAGE_SIZE, compression="deflate",
                    capture=Capture(max_records=1000, max_bytes=32 * 1024 * 1024))
    await server.start()
    print(server.url, flush=True)
    try:
        await _until_stopped()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001, help="0 picks a free port (default 9001)")
    parser.add_argument("--websockets", action="store_true", help="serve with websockets instead (the reference)")
    args = parser.parse_args(argv)
    asyncio.run((serve_websockets if args.websockets else serve)(args.host, args.port))


if __name__ == "__main__":
    main()
