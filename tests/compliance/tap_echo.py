"""A ``websockets`` echo server and a ``wsexplore`` tap in front of it, for conformance runs through the tap.

    python tests/compliance/tap_echo.py [--host HOST]

Prints two lines once both listen, ``direct ws://...`` (the echo server) and
``tap ws://...`` (the tap), then serves until killed (SIGINT or SIGTERM stop
it cleanly). Running Autobahn|Testsuite against both URLs shows whether the
tap changes anything a peer can see: it must give the same result per case.
The capture is kept small: a conformance run pushes much through and nobody
looks at it here, but every frame is still dissected on the way.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import serve

from wsexplore.capture import Capture
from wsexplore.live.proxy import Proxy

MAX_MESSAGE_SIZE = 16 * 1024 * 1024


async def echo(conn) -> None:
    async for message in conn:
        await conn.send(message)


async def run(host: str) -> None:
    server = await serve(echo, host, 0, max_size=MAX_MESSAGE_SIZE, compression="deflate")
    port = server.sockets[0].getsockname()[1]
    proxy = Proxy(f"ws://{host}:{port}/", host, 0, max_message_size=MAX_MESSAGE_SIZE,
                  capture=Capture(max_records=1000, max_bytes=32 * 1024 * 1024))
    await proxy.start()
    print(f"direct ws://{host}:{port}/", flush=True)
    print(f"tap {proxy.url}", flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    try:
        await stop
    except asyncio.CancelledError:
        pass
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    asyncio.run(run(args.host))


if __name__ == "__main__":
    main()
