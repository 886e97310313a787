"""Command line: ``wsexplore decode`` dissects frames given as hex or a binary file (``cli_decode``);
``wsexplore serve`` runs the capturing server and prints every handshake and frame;
``wsexplore proxy`` taps a WebSocket server and prints both legs;
``wsexplore read`` prints the same lines for a recorded file (pcap, pcapng, HAR, JSON Lines).

Exit status of ``decode``: 0 when every frame is valid, 1 when a violation was
found (after printing everything that could be dissected), 2 for unusable input.
Exit status of ``serve`` and ``proxy``: 0 after a clean stop (Ctrl-C or SIGTERM),
1 when it cannot listen or cannot save, 2 for unusable arguments.
Exit status of ``read``: 0 when every frame is valid, 1 when a frame broke a
rule or the file has gaps or other errors, 2 for a file it cannot read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Callable, Sequence, TextIO

from .hexinput import HexError, parse_hex

if TYPE_CHECKING:
    from .live.console import ConsolePrinter

__all__ = ["main", "parse_hex", "HexError"]


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .protocol.masking import ACCELERATED

    parser = argparse.ArgumentParser(
        prog="wsexplore",
        description="See the WebSocket protocol (RFC 6455) bit by bit.",
    )
    # Which masking runs says how fast frames of a few hundred bytes to 32 KiB go (make bench, group mask).
    masking = "masking in C" if ACCELERATED else "masking in Python, without its C extension"
    parser.add_argument("--version", action="version", version=f"wsexplore {__version__} ({masking})")
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
        "then written (pcapng or pcap by the file name, else JSON Lines; credentials redacted).",
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    srv.add_argument("--handler", choices=sorted(HANDLERS), default="echo",
                     help="what the server does with messages: 'echo' sends each back (default), 'demo' "
                          "repeats the latest one with a timestamp every 2 s")
    _add_save_arguments(srv)
    srv.add_argument("--max-message-size", type=_positive, metavar="N", default=None,
                     help="largest frame or message accepted, in bytes; larger ones close the connection "
                          "with 1009")
    srv.add_argument("--compression", choices=("none", "deflate"), default="none",
                     help="'deflate' accepts a client's permessage-deflate offer (RFC 7692), so compressed "
                          "frames (RSV1=1) can be watched; default none")
    _add_access_arguments(srv)
    srv.add_argument("--idle-timeout", type=_seconds, metavar="SECONDS", default=30.0,
                     help="close a connection whose peer sends nothing for this long in the middle of a frame "
                          "or message, with 1008 (default 30; 0 never)")
    srv.set_defaults(run=_serve)
    _add_proxy_parser(sub)

    rd = sub.add_parser(
        "read",
        help="print every handshake, frame and close of a recording (pcap, pcapng, HAR, JSON Lines)",
        description="Read a recording and print the lines 'serve' prints, one per handshake, frame, close and "
        "error: pcap and pcapng captures (tcpdump, Wireshark; TCP put back in order, gaps said plainly), HAR "
        "files (browser developer tools: messages only) and captures saved by wsexplore, told apart by their "
        "content. Streamed: memory stays flat however large the file. Exit 0 when every frame is valid, 1 when "
        "a frame broke a rule or the file has gaps or errors, 2 when the file cannot be read.",
    )
    rd.add_argument("file", metavar="FILE", help="the recording to read")
    rd.add_argument("--summary", action="store_true",
                    help="print one line per connection (frames and bytes each way, messages, close) instead of "
                         "one line per record")
    rd.set_defaults(run=_read)
    return parser


def _add_proxy_parser(sub: argparse._SubParsersAction) -> None:
    tap = sub.add_parser(
        "proxy",
        help="tap a WebSocket server: pass every byte on unchanged and print both legs",
        description="Listen for WebSocket clients and pass their connections on to --upstream unchanged (only the "
        "Host line of the upgrade request is set to the upstream's), printing one line per handshake, frame, "
        "close and error of both legs, as 'serve' does. Ctrl-C or SIGTERM stops; with --save the capture is then "
        "written (pcapng or pcap by the file name, else JSON Lines; credentials redacted).",
    )
    tap.add_argument("--upstream", required=True, metavar="URL",
                     help="the server to pass connections on to: ws://HOST[:PORT][/PATH] or wss://...")
    tap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    tap.add_argument("--port", type=_port, default=8766, help="TCP port (default 8766; 0 picks a free one)")
    _add_save_arguments(tap)
    tap.add_argument("--cafile", metavar="PATH",
                     help="CA certificates (PEM) to verify a wss:// upstream with, instead of the system's")
    tap.add_argument("--insecure", action="store_true",
                     help="do not verify a wss:// upstream's certificate (anyone on the path could read and change "
                          "the traffic)")
    tap.add_argument("--origin", metavar="ORIGIN", help="send this Origin to the upstream instead of the client's")
    tap.add_argument("--max-message-size", type=_positive, metavar="N", default=None,
                     help="largest frame or message the tap dissects, in bytes; past it that direction is passed "
                          "on unparsed")
    _add_access_arguments(tap)
    tap.set_defaults(run=_proxy)


def _add_save_arguments(command: argparse.ArgumentParser) -> None:
    """Where the capture goes (``wsexplore.capture.autosave``): the same flags for ``serve`` and ``proxy``."""
    command.add_argument("--save", metavar="PATH",
                         help="write the capture to PATH (checked before listening), again every --save-every "
                              "seconds while it grows and when stopping: pcapng for a name ending in .pcapng, pcap "
                              "for .pcap (Wireshark opens both), else JSON Lines")
    command.add_argument("--save-every", type=float, metavar="SECONDS", default=None,
                         help="seconds between two writes of the growing capture with --save (default 5); "
                              "while traffic flows, a write waits for a pause, this long at most")


def _add_access_arguments(command: argparse.ArgumentParser) -> None:
    """Who may connect (``wsexplore.live.access``): the same flags for ``serve`` and ``proxy``."""
    pages = command.add_mutually_exclusive_group()
    pages.add_argument("--origins", nargs="+", metavar="ORIGIN", type=_origin, default=[],
                       help="also let browser pages of these origins connect (e.g. http://localhost:3000); "
                            "by default only this server's own page, pages on localhost/127.0.0.1/[::1] "
                            "(a local notebook) and clients that send no Origin may; others get 403")
    pages.add_argument("--allow-any-origin", action="store_true",
                       help="let a page of any web site connect (not safe: any site you visit can then use "
                            "this server)")
    command.add_argument("--allowed-host", action="append", metavar="NAME", type=_host, default=[],
                         help="also serve requests sent to this host name (the Host header); while listening on "
                              "loopback only loopback names are served, against DNS rebinding (421 otherwise); "
                              "repeat for more names")


def _access_options(args: argparse.Namespace) -> dict:
    return {"origins": "*" if args.allow_any_origin else args.origins, "hosts": args.allowed_host}


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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def _origin(text: str) -> str:
    from .live.access import normalize_origin

    if normalize_origin(text) is None:
        raise argparse.ArgumentTypeError(f"not an origin: {text!r} (expected scheme://host[:port], "
                                         "e.g. http://localhost:3000)")
    return text


def _host(text: str) -> str:
    from .live.access import split_host

    if split_host(text) is None:
        raise argparse.ArgumentTypeError(f"not a host name: {text!r}")
    return text


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


def _save_unusable(command: str, args: argparse.Namespace, err: TextIO) -> bool:
    """``--save`` tried before listening: a path that cannot be written is refused at once (said on ``err``)."""
    if args.save is not None:
        from .capture.autosave import save_problem

        problem = save_problem(args.save)
        if problem is not None:
            print(f"wsexplore {command}: cannot save to {args.save}: {problem}", file=err)
            return True
    if args.save_every is not None and not args.save_every > 0:
        print(f"wsexplore {command}: --save-every must be a positive number of seconds", file=err)
        return True
    return False


def _start_autosave(command: str, capture, args: argparse.Namespace, err: TextIO):  # type: ignore[no-untyped-def]
    """With ``--save``: write the growing capture every ``--save-every`` seconds, so a crash loses little."""
    if args.save is None:
        return None
    from .capture.autosave import DEFAULT_INTERVAL, AutoSave

    def failed(exc: OSError) -> None:
        print(f"wsexplore {command}: cannot save to {args.save}: {exc.strerror or exc} (will try again)", file=err)

    return AutoSave(capture, args.save, args.save_every or DEFAULT_INTERVAL, failed).start()


def _saving(args: argparse.Namespace, autosave) -> str:  # type: ignore[no-untyped-def]
    if autosave is None:
        return ""
    return f"; the capture is saved to {args.save} every {autosave.interval:g} s and at the stop"


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    if _save_unusable("serve", args, err):
        return 2
    try:
        return asyncio.run(_serve_async(args, out, err))
    except KeyboardInterrupt:  # where signal handlers cannot be installed; the server was stopped already
        return 0


async def _serve_async(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .display import format_size
    from .live.handlers import HANDLERS
    from .live.server import Server

    options: dict = {} if args.max_message_size is None else {"max_message_size": args.max_message_size}
    if args.compression == "deflate":
        options["compression"] = "deflate"
    options.update(_access_options(args))
    options["idle_timeout"] = args.idle_timeout or None
    server = Server(args.host, args.port, HANDLERS[args.handler], **options)

    def banner(shown: str, where: str) -> list[str]:
        idle = (f"a peer silent for {server.idle_timeout:g} s inside a frame or message gets 1008"
                if server.idle_timeout else "no idle timeout")
        return [f"wsexplore serve: {args.handler} handler listening on {args.host or '*'}:{server.port}{where}",
                f"  open the client page:  http://{shown}:{server.port}/",
                f"  WebSocket clients:     ws://{shown}:{server.port}/",
                *(f"  {line}" for line in server.access.describe()),
                f"  limits: {idle}; past {format_size(server.max_buffered)} held across connections for "
                "unfinished messages, 1013"]

    return await _run_until_stopped("serve", server, args, out, err, banner)


#: Records a streaming ``read`` keeps in memory (their lines are printed ``_READ_BATCH`` records at a time).
_READ_WINDOW = 1000
_READ_BATCH = 256  # records printed in one write by ``read``


class _OutputClosed(BaseException):
    """The reader of our output went away (``wsexplore read f | head``): stop reading, quietly.

    A BaseException, so that the capture's guard for broken subscribers lets it through.
    """


def _read(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .capture.files import read_into
    from .capture.query import SummaryTable
    from .capture.store import Capture
    from .display import plural
    from .live.console import ConsolePrinter

    capture = Capture(max_records=_READ_WINDOW)
    table = SummaryTable()
    capture.subscribe(table)
    printer = None if args.summary else ConsolePrinter(out, batch=_READ_BATCH)
    if printer is not None:

        def print_line(record):  # type: ignore[no-untyped-def]
            try:
                printer(record)
            except BrokenPipeError:
                raise _OutputClosed from None

        capture.subscribe(print_line)
    try:
        try:
            found = read_into(args.file, capture)
        finally:
            if printer is not None:  # the lines read so far, before anything else is said
                try:
                    printer.flush()
                except BrokenPipeError:
                    raise _OutputClosed from None
    except _OutputClosed:
        return 0
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        print(f"wsexplore read: {reason}".replace("\n", " "), file=err)
        return 2
    if args.summary:
        print(table.text(), file=out)
        if found is not None:
            print(found, file=out)
    problems = table.violations + table.errors
    if problems:
        print(f"wsexplore read: {plural(table.violations, 'frame')} broke a rule; "
              f"{plural(table.errors, 'error record')} (gaps and other problems)", file=err)
    return 1 if problems else 0


def _proxy(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .live.proxy import Proxy

    if _save_unusable("proxy", args, err):
        return 2
    options: dict = {"cafile": args.cafile, "verify": not args.insecure, "origin": args.origin,
                     **_access_options(args)}
    if args.max_message_size is not None:
        options["max_message_size"] = args.max_message_size
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said below, on the console, where it is seen
            proxy = Proxy(args.upstream, args.host, args.port, **options)
    except (ValueError, OSError) as exc:
        print(f"wsexplore proxy: {exc}", file=err)
        return 2
    try:
        return asyncio.run(_proxy_async(proxy, args, out, err))
    except KeyboardInterrupt:  # where signal handlers cannot be installed; the tap was stopped already
        return 0


async def _proxy_async(proxy, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def banner(shown: str, where: str) -> list[str]:
        lines = [f"wsexplore proxy: listening on {args.host or '*'}:{proxy.port}{where}, passing connections on "
                 f"to {proxy.upstream.url}",
                 f"  WebSocket clients:     ws://{shown}:{proxy.port}{proxy.upstream.path}",
                 *(f"  {line}" for line in proxy.access.describe())]
        if proxy.upstream.secure:
            loud = "WARNING: " if args.insecure else ""
            lines.append(f"  {loud}{proxy.tls_description()}")
        return lines

    return await _run_until_stopped("proxy", proxy, args, out, err, banner)


async def _run_until_stopped(command: str, source, args: argparse.Namespace,  # type: ignore[no-untyped-def]
                             out: TextIO, err: TextIO, banner: Callable[[str, str], list[str]]) -> int:
    """Start ``source`` (a ``Server`` or a ``Proxy``), print ``banner(host to show, where)``, print its capture
    on the console and save it as it grows (``--save``) until Ctrl-C or SIGTERM."""
    from .live.console import ConsolePrinter

    try:
        await source.start()
    except OSError as exc:
        print(f"wsexplore {command}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=err)
        return 1
    printer = ConsolePrinter(out)
    printer.follow(source.capture)
    autosave = _start_autosave(command, source.capture, args, err)
    host = _browsable(args.host)
    shown = f"[{host}]" if ":" in host else host
    where = " (all interfaces)" if host != args.host else ""
    for line in banner(shown, where):
        print(line, file=out)
    print(f"Ctrl-C to stop{_saving(args, autosave)}.", file=out, flush=True)
    return await _until_stopped(command, source, args.save, out, err, printer, autosave)


async def _until_stopped(command: str, source, save: str | None, out: TextIO, err: TextIO,
                         printer: ConsolePrinter, autosave=None) -> int:  # type: ignore[no-untyped-def]
    """Wait for Ctrl-C or SIGTERM, stop ``source`` (anything with ``stop()`` and ``capture``), print what
    ``printer`` still holds, stop ``autosave`` and save a last time."""
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
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        why = f" ({received[0]})" if received else ""
        _console_done(printer)
        print(f"wsexplore {command}: stopping{why}, closing {len(source.connections)} connection(s)", file=out,
              flush=True)
        await source.stop()
        _console_done(printer, close=True)
        status = 0
        if autosave is not None:
            await autosave.stop()
        if save is not None:
            from .capture.autosave import save_atomically

            capture = source.capture
            try:
                save_atomically(capture, save)
            except OSError as exc:
                print(f"wsexplore {command}: cannot save to {save}: {exc.strerror or exc}", file=err)
                status = 1
            else:
                from .display import plural

                conns = plural(len(capture.connections), "connection")
                print(f"wsexplore {command}: saved {len(capture)} records ({conns}) to {save}", file=out, flush=True)
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
