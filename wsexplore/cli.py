"""Command line: ``wsexplore decode`` dissects frames given as hex or a binary file (``cli_decode``);
``wsexplore serve`` runs the capturing server and prints every handshake and frame.

Exit status of ``decode``: 0 when every frame is valid, 1 when a violation was
found (after printing everything that could be dissected), 2 for unusable input.
Exit status of ``serve``: 0 after a clean stop (Ctrl-C or SIGTERM), 1 when it
cannot listen or cannot save, 2 for unusable arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Sequence, TextIO

from .hexinput import HexError, parse_hex

if TYPE_CHECKING:
    from .live.console import ConsolePrinter

__all__ = ["main", "parse_hex", "HexError"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsexplore",
        description="See the WebSocket protocol (RFC 6455) bit by bit.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    dec = sub.add_parser(
        "decode",
        help="dissect WebSocket frames given as hex (or a binary file)",
        description="Dissect consecutive WebSocket frames as they are read: bit diagram, fields and the first "
        "violation of each (or one line each with --summary). Exit 0 when all frames are valid, 1 when a "
        "violation was found, 2 for unusable input.",
    )
    from .cli_decode import add_decode_arguments

    add_decode_arguments(dec, _positive)
    dec.set_defaults(run=_decode)

    from .live.handlers import HANDLERS

    srv = sub.add_parser(
        "serve",
        help="run a capturing WebSocket server and print every handshake and frame",
        description="Serve WebSocket connections (and a browser client page at http://HOST:PORT/) and print one "
        "line per handshake, frame, close and error: direction, opcode, FIN/RSV/MASK bits, payload length, "
        "masking key, payload preview and any rule broken. Ctrl-C or SIGTERM stops; with --save the capture is "
        "then written as JSON Lines (credentials redacted).",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    srv.add_argument("--handler", choices=sorted(HANDLERS), default="echo",
                     help="what the server does with messages: 'echo' sends each back (default), 'demo' "
                          "repeats the latest one with a timestamp every 2 s")
    srv.add_argument("--save", metavar="PATH", help="write the capture to PATH (JSON Lines) when stopping")
    srv.add_argument("--max-message-size", type=_positive, metavar="N", default=None,
                     help="largest frame or message accepted, in bytes; larger ones close the connection "
                          "with 1009")
    srv.add_argument("--compression", choices=("none", "deflate"), default="none",
                     help="'deflate' accepts a client's permessage-deflate offer (RFC 7692), so compressed "
                          "frames (RSV1=1) can be watched; default none")
    srv.set_defaults(run=_serve)
    return parser


def _integer(text: str, low: int, high: int | None, what: str) -> int:
    """An argparse type: ``text`` as an int from ``low`` to ``high`` (no upper bound when None)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f"at least {low}"
        raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
    return value


def _port(text: str) -> int:
    return _integer(text, 0, 65535, "a port number")


def _positive(text: str) -> int:
    return _integer(text, 1, None, "a number")


def _decode(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .cli_decode import run_decode

    return run_decode(args, out, err, stdin)


def _browsable(host: str) -> str:
    """A host a browser can open: a wildcard address is reachable as the loopback one."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    if args.save is not None:
        folder = os.path.dirname(os.path.abspath(args.save))
        if not os.path.isdir(folder):
            print(f"wsexplore serve: cannot save to {args.save}: no directory {folder}", file=err)
            return 2
    try:
        return asyncio.run(_serve_async(args, out, err))
    except KeyboardInterrupt:  # where signal handlers cannot be installed; the server was stopped already
        return 0


async def _serve_async(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .live.console import ConsolePrinter
    from .live.handlers import HANDLERS
    from .live.server import Server

    options: dict = {} if args.max_message_size is None else {"max_message_size": args.max_message_size}
    if args.compression == "deflate":
        options["compression"] = "deflate"
    server = Server(args.host, args.port, HANDLERS[args.handler], **options)
    try:
        await server.start()
    except OSError as exc:
        print(f"wsexplore serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=err)
        return 1
    printer = ConsolePrinter(out)
    printer.follow(server.capture)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []
    installed: list[int] = []

    def on_signal(name: str) -> None:
        received.append(name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass

    host = _browsable(args.host)
    shown = f"[{host}]" if ":" in host else host
    where = " (all interfaces)" if host != args.host else ""
    print(f"wsexplore serve: {args.handler} handler listening on {args.host or '*'}:{server.port}{where}", file=out)
    print(f"  open the client page:  http://{shown}:{server.port}/", file=out)
    print(f"  WebSocket clients:     ws://{shown}:{server.port}/", file=out)
    saving = f"; the capture is saved to {args.save}" if args.save else ""
    print(f"Ctrl-C to stop{saving}.", file=out, flush=True)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        why = f" ({received[0]})" if received else ""
        _console_done(printer)
        print(f"wsexplore serve: stopping{why}, closing {len(server.connections)} connection(s)", file=out,
              flush=True)
        await server.stop()
        _console_done(printer, close=True)
        status = 0
        if args.save is not None:
            capture = server.capture
            try:
                capture.save(args.save)
            except OSError as exc:
                print(f"wsexplore serve: cannot save to {args.save}: {exc.strerror or exc}", file=err)
                status = 1
            else:
                conns = len(capture.connections)
                print(f"wsexplore serve: saved {len(capture)} records ({conns} connection"
                      f"{'' if conns == 1 else 's'}) to {args.save}", file=out, flush=True)
    return status


def _console_done(printer: ConsolePrinter, *, close: bool = False) -> None:
    """Print what the console still holds (and stop it); an output closed by its reader is not an error here."""
    try:
        printer.close() if close else printer.flush()
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    out, err = sys.stdout, sys.stderr
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")  # payload text must never crash the output
        except (ValueError, OSError):
            pass
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (argparse exits 2)
        return exc.code if isinstance(exc.code, int) else 2
    return int(args.run(args, out, err, sys.stdin))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
