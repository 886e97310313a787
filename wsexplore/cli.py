"""Command line: ``wsexplore decode`` dissects frames given as hex or a binary file;
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
import string
import sys
from typing import Sequence, TextIO

__all__ = ["main", "parse_hex", "HexError"]

_HEX = frozenset(string.hexdigits)
_SEPARATORS = frozenset(string.whitespace) | {":"}


class HexError(ValueError):
    """Text that is not a hex dump."""


def parse_hex(text: str) -> bytes:
    """Bytes from a hex dump: spaces, newlines, ``:`` separators and ``0x`` prefixes are allowed.

    Raises HexError naming the first bad character and its position (1-based),
    or the odd number of hex digits.
    """
    digits: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _HEX:
            if ch == "0" and i + 1 < n and text[i + 1] in "xX" and (i == 0 or text[i - 1] in _SEPARATORS):
                i += 2  # a 0x prefix
                continue
            digits.append(ch)
        elif ch not in _SEPARATORS:
            line = text.count("\n", 0, i) + 1
            where = f"position {i + 1}" + (
                f" (line {line}, column {i - text.rfind(chr(10), 0, i)})" if "\n" in text else "")
            raise HexError(f"not hex: {ch!r} at {where}")
        i += 1
    if len(digits) % 2:
        raise HexError(f"odd number of hex digits ({len(digits)}): a byte is two digits")
    return bytes.fromhex("".join(digits))


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="wsexplore",
        description="See the WebSocket protocol (RFC 6455) bit by bit.",
    )
    parser.add_argument("--version", action="version", version=f"wsexplore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    dec = sub.add_parser(
        "decode",
        help="dissect WebSocket frames given as hex (or a binary file)",
        description="Dissect consecutive WebSocket frames: bit diagram, fields and the first violation of each. "
        "Exit 0 when all frames are valid, 1 when a violation was found, 2 for unusable input.",
    )
    dec.add_argument("hex", nargs="*", metavar="HEX",
                     help="frame bytes as hex; spaces, ':' and 0x prefixes are allowed; '-' or nothing reads "
                          "hex from stdin")
    dec.add_argument("--file", metavar="PATH", help="read raw binary bytes from PATH instead")
    dec.add_argument("--role", choices=("server", "client"), default="server",
                     help="the side reading the bytes: 'server' (default) expects masked frames from a client, "
                          "'client' expects unmasked frames from a server")
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
    srv.add_argument("--save", metavar="PATH",
                     help="write the capture to PATH (checked before serving), again every --save-every seconds "
                          "while it grows and when stopping: pcapng for a name ending in .pcapng, pcap for .pcap "
                          "(Wireshark opens both), else JSON Lines")
    srv.add_argument("--save-every", type=float, metavar="SECONDS", default=None,
                     help="seconds between two writes of the growing capture with --save (default 5)")
    srv.add_argument("--max-message-size", type=_positive, metavar="N", default=None,
                     help="largest frame or message accepted, in bytes; larger ones close the connection "
                          "with 1009")
    srv.add_argument("--compression", choices=("none", "deflate"), default="none",
                     help="'deflate' accepts a client's permessage-deflate offer (RFC 7692), so compressed "
                          "frames (RSV1=1) can be watched; default none")
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
    tap.add_argument("--save", metavar="PATH",
                     help="write the capture to PATH when stopping: pcapng for a name ending in .pcapng, pcap "
                          "for .pcap (Wireshark opens both), else JSON Lines")
    tap.add_argument("--cafile", metavar="PATH",
                     help="CA certificates (PEM) to verify a wss:// upstream with, instead of the system's")
    tap.add_argument("--insecure", action="store_true",
                     help="do not verify a wss:// upstream's certificate (anyone on the path could read and change "
                          "the traffic)")
    tap.add_argument("--origin", metavar="ORIGIN", help="send this Origin to the upstream instead of the client's")
    tap.add_argument("--max-message-size", type=_positive, metavar="N", default=None,
                     help="largest frame or message the tap dissects, in bytes; past it that direction is passed "
                          "on unparsed")
    tap.set_defaults(run=_proxy)


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


def _read_input(args: argparse.Namespace, stdin: TextIO) -> bytes:
    if args.file is not None:
        if args.hex:
            raise HexError("give either HEX arguments or --file, not both")
        try:
            with open(args.file, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise HexError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if not args.hex or args.hex == ["-"]:
        return parse_hex(stdin.read())
    return parse_hex(" ".join(args.hex))


def _decode(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from .protocol.dissector import dissect_stream

    try:
        data = _read_input(args, stdin)
    except HexError as exc:
        print(f"wsexplore decode: {exc}", file=err)
        return 2
    if not data:
        print("wsexplore decode: no bytes to decode", file=err)
        return 2
    frames = dissect_stream(data, role=args.role)
    bad = 0
    for number, d in enumerate(frames, start=1):
        title = f"frame {number} at offset {d.offset} ({d.size} byte{'s' if d.size != 1 else ''})"
        print(f"== {title} ==", file=out)
        print(d, file=out)
        print(file=out)
        bad += not d.ok
    total = len(frames)
    verdict = "all valid" if not bad else f"{bad} with a violation"
    print(f"{total} frame{'s' if total != 1 else ''} in {len(data)} bytes: {verdict}", file=out)
    return 1 if bad else 0


def _browsable(host: str) -> str:
    """A host a browser can open: a wildcard address is reachable as the loopback one."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _serve(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    if args.save is not None:
        from .capture.autosave import save_problem

        problem = save_problem(args.save)
        if problem is not None:
            print(f"wsexplore serve: cannot save to {args.save}: {problem}", file=err)
            return 2
    if args.save_every is not None and not args.save_every > 0:
        print("wsexplore serve: --save-every must be a positive number of seconds", file=err)
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
    server.capture.subscribe(printer)
    autosave = None
    if args.save is not None:
        from .capture.autosave import DEFAULT_INTERVAL, AutoSave

        def failed(exc: OSError) -> None:
            print(f"wsexplore serve: cannot save to {args.save}: {exc.strerror or exc} (will try again)", file=err)

        autosave = AutoSave(server.capture, args.save, args.save_every or DEFAULT_INTERVAL, failed).start()

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
    saving = (f"; the capture is saved to {args.save} every {autosave.interval:g} s and at the stop"
              if autosave is not None else "")
    print(f"Ctrl-C to stop{saving}.", file=out, flush=True)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        why = f" ({received[0]})" if received else ""
        print(f"wsexplore serve: stopping{why}, closing {len(server.connections)} connection(s)", file=out,
              flush=True)
        await server.stop()
        status = 0
        if autosave is not None:
            await autosave.stop()
            from .capture.autosave import save_atomically

            capture = server.capture
            try:
                save_atomically(capture, args.save)
            except OSError as exc:
                print(f"wsexplore serve: cannot save to {args.save}: {exc.strerror or exc}", file=err)
                status = 1
            else:
                conns = len(capture.connections)
                print(f"wsexplore serve: saved {len(capture)} records ({conns} connection"
                      f"{'' if conns == 1 else 's'}) to {args.save}", file=out, flush=True)
    return status


#: Records a streaming ``read`` keeps in memory (the lines are printed as they come).
_READ_WINDOW = 1000


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
    if not args.summary:
        printer = ConsolePrinter(out)

        def print_line(record):  # type: ignore[no-untyped-def]
            try:
                printer(record)
            except BrokenPipeError:
                raise _OutputClosed from None

        capture.subscribe(print_line)
    try:
        found = read_into(args.file, capture)
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

    if args.save is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        print(f"wsexplore proxy: cannot save to {args.save}: no directory "
              f"{os.path.dirname(os.path.abspath(args.save))}", file=err)
        return 2
    options: dict = {"cafile": args.cafile, "verify": not args.insecure, "origin": args.origin}
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
    from .live.console import ConsolePrinter

    try:
        await proxy.start()
    except OSError as exc:
        print(f"wsexplore proxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=err)
        return 1
    proxy.capture.subscribe(ConsolePrinter(out))
    host = _browsable(args.host)
    shown = f"[{host}]" if ":" in host else host
    where = " (all interfaces)" if host != args.host else ""
    print(f"wsexplore proxy: listening on {args.host or '*'}:{proxy.port}{where}, passing connections on to "
          f"{proxy.upstream.url}", file=out)
    print(f"  WebSocket clients:     ws://{shown}:{proxy.port}{proxy.upstream.path}", file=out)
    if proxy.upstream.secure:
        loud = "WARNING: " if args.insecure else ""
        print(f"  {loud}{proxy.tls_description()}", file=out)
    saving = f"; the capture is saved to {args.save}" if args.save else ""
    print(f"Ctrl-C to stop{saving}.", file=out, flush=True)
    return await _until_stopped("proxy", proxy, args.save, out, err)


async def _until_stopped(command: str, source, save: str | None, out: TextIO, err: TextIO) -> int:
    """Wait for Ctrl-C or SIGTERM, stop ``source`` (anything with ``stop()`` and ``capture``), save."""
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
        print(f"wsexplore {command}: stopping{why}, closing {len(source.connections)} connection(s)", file=out,
              flush=True)
        await source.stop()
        status = 0
        if save is not None:
            capture = source.capture
            try:
                capture.save(save)
            except OSError as exc:
                print(f"wsexplore {command}: cannot save to {save}: {exc.strerror or exc}", file=err)
                status = 1
            else:
                conns = len(capture.connections)
                print(f"wsexplore {command}: saved {len(capture)} records ({conns} connection"
                      f"{'' if conns == 1 else 's'}) to {save}", file=out, flush=True)
    return status


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
