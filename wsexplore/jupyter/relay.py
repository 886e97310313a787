"""The relay's byte pump: the browser's stream (tornado) and the kernel's server (asyncio), bytes unchanged.

After the head (the preamble and the re-serialised request, written once),
every byte read on one side is written to the other as it came, both ways,
until both sides have closed:

* **backpressure**: each direction reads at most ``CHUNK`` bytes, then waits
  until they are in the other side's socket (tornado's ``write`` future, the
  asyncio writer's ``drain()``) before it reads again. Meanwhile nothing
  reads the sending socket, so its TCP window closes and the sender blocks:
  a peer that stops reading holds at most a chunk and the socket buffers here,
  never a growing queue;
* **close**: the end of one direction (the sender's EOF) is passed on as a
  half-close, so the other direction can finish (the server closes TCP first
  after a close handshake, RFC 6455 section 7.1.1, and the browser then ends
  its side). Once one direction is over, the other gets ``LINGER`` seconds;
  a reset or any error ends both at once. While the server is not reading
  (the relay waits to hand it bytes, and so reads nothing from the browser),
  the browser's socket is looked at every ``WATCH`` seconds without reading
  it, so a browser that went away still ends the relay. Both sockets are
  always closed;
* **containment**: nothing here raises into the Jupyter server; failures are
  logged at debug level (a browser tab closing is no error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from tornado.iostream import IOStream, StreamClosedError

__all__ = ["CHUNK", "LINGER", "Traffic", "pump"]

#: Bytes read from one side before they are handed to the other.
CHUNK = 64 * 1024
#: Seconds the second direction may run on after the first one ended.
LINGER = 10.0
#: Seconds between two looks at the browser's socket while the server does not take bytes.
WATCH = 1.0


@dataclass
class Traffic:
    """Bytes relayed so far each way (the head excluded)."""

    to_server: int = 0
    to_browser: int = 0


async def _browser_to_server(stream: IOStream, writer: asyncio.StreamWriter, traffic: Traffic,
                             activity: Callable[[], None]) -> None:
    while True:
        try:
            data = await stream.read_bytes(CHUNK, partial=True)
        except StreamClosedError:
            break
        traffic.to_server += len(data)
        activity()
        writer.write(data)
        await _drain(writer, stream)
    if stream.error is not None:
        raise ConnectionResetError(f"browser side: {stream.error}")
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()


# Linux's TCP states (tcpi_state of TCP_INFO) that mean the peer reset the connection, or sent its FIN.
_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8


def _browser_state(stream: IOStream) -> str:
    """"open", "eof" or "reset": the browser's socket, looked at without reading from it.

    Linux reports the TCP state (a reset shows even with unread bytes queued); elsewhere a
    peek at the next byte tells EOF and errors apart from data.
    """
    sock = stream.socket
    if sock is None or stream.closed():
        return "reset"
    tcp_info = getattr(socket, "TCP_INFO", None)
    try:
        if tcp_info is not None:
            state = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 1)[0]
            return "reset" if state == _TCP_CLOSE else "eof" if state == _TCP_CLOSE_WAIT else "open"
        return "eof" if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"" else "open"
    except (BlockingIOError, InterruptedError):
        return "open"
    except OSError:
        return "reset"


async def _drain(writer: asyncio.StreamWriter, stream: IOStream) -> None:
    """``writer.drain()``, ended by a reset of the browser (or ``LINGER`` seconds after its EOF)."""
    drained = asyncio.ensure_future(writer.drain())
    eof_since: float | None = None
    loop = asyncio.get_running_loop()
    try:
        while not (await asyncio.wait({drained}, timeout=WATCH))[0]:
            state = _browser_state(stream)
            if state == "reset":
                raise ConnectionResetError("the browser went away while the server was not reading")
            if state == "eof":
                eof_since = eof_since if eof_since is not None else loop.time()
                if loop.time() - eof_since > LINGER:
                    raise ConnectionResetError("the browser closed while the server was not reading")
        drained.result()
    finally:
        drained.cancel()


async def _server_to_browser(reader: asyncio.StreamReader, stream: IOStream, traffic: Traffic,
                             activity: Callable[[], None]) -> None:
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        traffic.to_browser += len(data)
        activity()
        await stream.write(data)
    sock = stream.socket
    if sock is not None and not stream.closed():
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)


def _report(log: logging.Logger | logging.LoggerAdapter, exc: BaseException) -> None:
    """A peer that went away is no error (debug); anything else is logged with its traceback."""
    if isinstance(exc, (OSError, StreamClosedError)):
        log.debug("wsexplore relay: a side went away: %r", exc)
    else:
        log.error("wsexplore relay failed", exc_info=exc)


async def pump(stream: IOStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, *,
               traffic: Traffic | None = None, activity: Callable[[], None] = lambda: None,
               linger: float = LINGER, log: logging.Logger | logging.LoggerAdapter | None = None) -> Traffic:
    """Write ``head`` to the server, then relay both ways until both sides closed; the bytes relayed."""
    traffic = traffic if traffic is not None else Traffic()
    log = log or logging.getLogger(__name__)
    tasks: set[asyncio.Task] = set()
    try:
        writer.write(head)
        await writer.drain()
        tasks = {asyncio.ensure_future(_browser_to_server(stream, writer, traffic, activity)),
                 asyncio.ensure_future(_server_to_browser(reader, stream, traffic, activity))}
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        if pending and not failed:
            done, pending = await asyncio.wait(pending, timeout=linger)
            failed = [t for t in done if not t.cancelled() and t.exception() is not None]
        for task in failed:
            _report(log, task.exception())  # type: ignore[arg-type]
    except (OSError, StreamClosedError) as exc:
        _report(log, exc)
    except asyncio.CancelledError:
        raise
    except Exception:  # never into the Jupyter server
        log.exception("wsexplore relay failed")
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        stream.close()
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    return traffic
