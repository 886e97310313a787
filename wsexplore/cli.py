"""Command line: ``wsexplore decode`` dissects frames given as hex or a binary file.

Exit status of ``decode``: 0 when every frame is valid, 1 when a violation was
found (after printing everything that could be dissected), 2 for unusable input.
"""

from __future__ import annotations

import argparse
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
    parser = argparse.ArgumentParser(
        prog="wsexplore",
        description="See the WebSocket protocol (RFC 6455) bit by bit.",
    )
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
    return parser


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
