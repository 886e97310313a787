"""``wsexplore decode``: dissect frames as they are read, print each one and forget it.

The input (a binary file, or hex text from the arguments or stdin) is read a
piece at a time and cut into frames as it arrives (``protocol.framing``), so
memory stays flat whatever the input's size: it is bounded by the largest frame
kept (``--max-frame-size``; a longer frame is dissected as far as its first
bytes and the rest passed over). Each frame is printed as a bit diagram with
its fields (``dissect``), or with ``--summary`` as the one line the capture
console prints for a frame (``capture.lines.frame_line``), judged by the same
rules (``judge``) at a fraction of the cost. Lines are written in batches.
On a terminal (stderr, while stdout goes elsewhere) long inputs show progress.

Exit status: 0 when every frame is valid, 1 when a violation was found (after
printing everything that could be dissected), 2 for unusable input.
"""

from __future__ import annotations

import argparse
import os
import stat
import time
from collections import Counter
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

from .capture.lines import frame_line, quick_frame_fields
from .display import plural
from .hexinput import HexError, looks_like_hex, read_hex
from .protocol.dissector import dissect, judge
from .protocol.errors import TruncatedFrame
from .protocol.framing import FramePiece, split_frames
from .protocol.header import MASK_MASK, payload_length
from .protocol.opcodes import opcode_name

__all__ = ["add_decode_arguments", "run_decode", "DEFAULT_MAX_FRAME_SIZE"]

#: Payload bytes of one frame kept and dissected at most (a longer frame is shown as far as this).
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
READ_SIZE = 1 << 20  # bytes (or characters of hex) read at a time
BATCH = 1 << 16  # characters of output gathered before one write
PROGRESS_EVERY = 0.25  # seconds between progress updates
_PROGRESS_CHECK = 4096  # frames between looks at the clock


def add_decode_arguments(dec: argparse.ArgumentParser, size_type: Callable[[str], int]) -> None:
    """The ``decode`` subcommand's arguments."""
    dec.add_argument("hex", nargs="*", metavar="HEX",
                     help="frame bytes as hex; spaces, ':' and 0x prefixes are allowed; '-' or nothing reads "
                          "hex from stdin")
    dec.add_argument("--file", metavar="PATH", help="read raw binary bytes from PATH instead")
    dec.add_argument("--role", choices=("server", "client"), default="server",
                     help="the side reading the bytes: 'server' (default) expects masked frames from a client, "
                          "'client' expects unmasked frames from a server")
    dec.add_argument("--summary", action="store_true",
                     help="one line per frame (opcode, header bits, length, key, payload preview, rule broken) "
                          "and the totals, instead of each frame's bit diagram")
    dec.add_argument("--max-frame-size", type=size_type, metavar="N", default=DEFAULT_MAX_FRAME_SIZE,
                     help="payload bytes of one frame dissected at most (default 16 MiB); a longer frame is "
                          "shown as far as its first N payload bytes, the rest is read and passed over")


# ---------------------------------------------------------------------------- input, a piece at a time
class _Input:
    """Where the bytes come from: an iterator of byte pieces, the total size when known, a count of what was read."""

    def __init__(self, pieces: Iterator[bytes], total: int | None) -> None:
        self.pieces = pieces
        self.total = total
        self.read = 0  # bytes (or hex characters) consumed so far


def _counted(source: Iterable[bytes | str], counter: _Input) -> Iterator[bytes | str]:
    for piece in source:
        counter.read += len(piece)
        yield piece


def _regular_size(fileno: Callable[[], int]) -> int | None:
    try:
        info = os.fstat(fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _file_pieces(fh: BinaryIO, path: str, err: TextIO) -> Iterator[bytes]:
    first = True
    while True:
        piece = fh.read(READ_SIZE)
        if not piece:
            return
        if first and looks_like_hex(piece[:4096]):
            print(f"wsexplore decode: {path} looks like hex text; --file reads raw bytes, so its characters are "
                  f"dissected as bytes (for the hex: wsexplore decode - < {path})", file=err)
        first = False
        yield piece


def _text_pieces(stream: TextIO) -> Iterator[str]:
    while True:
        piece = stream.read(READ_SIZE)
        if not piece:
            return
        yield piece


def _open_input(args: argparse.Namespace, stdin: TextIO, err: TextIO) -> tuple[_Input, Callable[[], None]]:
    """The input the arguments name, and how to close it; HexError for arguments that cannot be used."""
    if args.file is not None:
        if args.hex:
            raise HexError("give either HEX arguments or --file, not both")
        try:
            fh = open(args.file, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise HexError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
        src = _Input(iter(()), _regular_size(fh.fileno))
        src.pieces = _counted(_file_pieces(fh, args.file, err), src)  # type: ignore[assignment]
        return src, fh.close
    if not args.hex or args.hex == ["-"]:
        src = _Input(iter(()), _regular_size(getattr(stdin, "fileno", lambda: -1)))
        src.pieces = read_hex(_counted(_text_pieces(stdin), src))  # type: ignore[arg-type]
        return src, lambda: None
    for arg in args.hex:
        if arg != "-" and os.path.isfile(arg):
            print(f"wsexplore decode: {arg} is a file; HEX arguments are hex text: to read the file's bytes, "
                  f"use --file {arg}", file=err)
            break
    text = " ".join(args.hex)
    src = _Input(iter(()), len(text))
    src.pieces = read_hex(_counted([text], src))  # type: ignore[arg-type]
    return src, lambda: None


def _looks_like_path(arg: str) -> bool:
    """A HEX argument that reads as a file name ("capture.bin", "./frames", "C:\\x"): never valid hex."""
    return "/" in arg or "\\" in arg or ("." in arg and arg != "-")


# ---------------------------------------------------------------------------- progress on a terminal
class _Progress:
    """``decode: 1,234,567 frames, 45.6 MB of 100.0 MB (45%)`` on stderr, rewritten in place, while it is a
    terminal and stdout is not (frames printed to the terminal show the progress themselves)."""

    def __init__(self, err: TextIO, out: TextIO, src: _Input) -> None:
        self.err, self.src = err, src
        self.on = _isatty(err) and not _isatty(out)
        self.next = time.monotonic() + PROGRESS_EVERY
        self.shown = False

    def update(self, frames: int) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + PROGRESS_EVERY
        total = self.src.total
        of = f" of {total / 1e6:.1f} MB ({100 * self.src.read / total:.0f}%)" if total else ""
        self.err.write(f"\rdecode: {frames:,} frame{'' if frames == 1 else 's'}, {self.src.read / 1e6:.1f} MB{of} ")
        self.err.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[K")
            self.err.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------- one frame
def _note_for(piece: FramePiece, max_frame: int) -> str:
    """What a frame longer than ``--max-frame-size`` shows, and what was passed over."""
    note = (f"frame of {piece.size} bytes: its payload is longer than --max-frame-size ({max_frame} bytes), so "
            f"only its first {len(piece.data)} bytes are dissected; {plural(piece.skipped, 'more byte')} "
            "read and passed over, not judged")
    if piece.ended_early:
        note += f"; the input ends {plural(piece.ended_early, 'byte')} before the end of this frame"
    return note


def _full(number: int, piece: FramePiece, role: str, max_frame: int) -> tuple[str, str | None, bool]:
    """A frame's bit diagram and fields: (text, the violation's kind or None, judged)."""
    d = dissect(piece.data, role=role, stream_offset=piece.offset)  # type: ignore[arg-type]
    title = f"== frame {number} at offset {piece.offset} ({plural(d.size, 'byte')}"
    if piece.cut:
        title += f" of {piece.size}"
    text = f"{title}) ==\n"
    judged, error = True, d.error
    if piece.cut:
        text += f"({_note_for(piece, max_frame)})\n"
        if isinstance(error, TruncatedFrame) and not piece.ended_early:
            judged, error = False, None
    text += f"{d}\n\n"
    return text, None if error is None else type(error).__name__, judged


def _summary(number: int, piece: FramePiece, role: str, max_frame: int) -> tuple[str, str | None, bool, int | None]:
    """A frame's one line: (line, the violation's kind or None, judged, opcode).

    Most frames are whole text or binary frames with a 7- or 16-bit length that their first bytes
    already show break no header rule: no RSV bit (decode negotiates no extension), masked as the
    reading ``role`` requires, a 16-bit length only from 126 on (section 5.2). Their line is read
    straight from the bytes (``quick_frame_fields``, which declines text that is not whole UTF-8);
    every other frame is judged in full (``_judged_summary``), and both give the same line.
    """
    data = piece.data
    if len(data) >= 4 and not piece.skipped:
        b0, b1 = data[0], data[1]
        length = b1 & 0x7F
        if (b0 & 0x70 == 0 and (b1 & 0x80) == (0x80 if role == "server" else 0)
                and (length < 126 or length == 126 and payload_length(data) >= 126)):  # type: ignore[operator]
            fields = quick_frame_fields(data)  # type: ignore[arg-type]
            if fields is not None:
                return f"#{number} @{piece.offset} {fields}\n", None, True, b0 & 0x0F
    return _judged_summary(number, piece, role, max_frame)


def _judged_summary(number: int, piece: FramePiece, role: str,
                    max_frame: int) -> tuple[str, str | None, bool, int | None]:
    """``_summary`` for any frame, judged by every rule (``judge``)."""
    v = judge(piece.data, role=role)  # type: ignore[arg-type]
    header = v.header
    assert header is not None  # a piece has at least one byte
    judged, error = True, v.error
    tail = ""
    if piece.cut:
        tail = f" ({len(piece.data) - header.size} of {header.length} payload bytes kept, the rest not judged)"
        if isinstance(error, TruncatedFrame) and not piece.ended_early:
            judged, error = False, None
    b1 = header.b1
    line = frame_line(header.b0, b1 is not None and bool(b1 & MASK_MASK), header.opcode, header.length,
                      header.mask_key, None if v.missing or piece.cut else v.payload, error)
    return f"#{number} @{piece.offset} {line}{tail}\n", None if error is None else type(error).__name__, judged, \
        header.opcode


# ---------------------------------------------------------------------------- the command
def run_decode(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Dissect and print every frame of the input; the exit status (see the module's docstring)."""
    try:
        src, close = _open_input(args, stdin, err)
    except HexError as exc:
        print(f"wsexplore decode: {exc}", file=err)
        return 2
    max_frame = args.max_frame_size
    role = args.role
    progress = _Progress(err, out, src)
    batch: list[str] = []
    size = 0
    frames = bad = unjudged = 0
    end = 0
    kinds: Counter[str] = Counter()
    opcodes: Counter[int] = Counter()
    try:
        for piece in split_frames(src.pieces, max_payload=max_frame):
            frames += 1
            if args.summary:
                text, kind, judged, opcode = _summary(frames, piece, role, max_frame)
                opcodes[opcode] += 1  # type: ignore[index]
            else:
                text, kind, judged = _full(frames, piece, role, max_frame)
            if kind is not None:
                bad += 1
                kinds[kind] += 1
            unjudged += not judged
            end = piece.offset + len(piece.data) + piece.skipped
            batch.append(text)
            size += len(text)
            if size >= BATCH:
                out.write("".join(batch))
                batch, size = [], 0
            if not frames % _PROGRESS_CHECK and progress.on:
                progress.update(frames)
    except HexError as exc:
        out.write("".join(batch))
        out.flush()
        progress.done()
        hint = ""
        if (not frames and args.file is None and any(_looks_like_path(a) for a in args.hex)
                and not any(os.path.isfile(a) for a in args.hex)):  # an existing file was pointed out already
            hint = "; to read a file's bytes, use --file PATH"
        print(f"wsexplore decode: {exc}" + (f" (after {plural(frames, 'frame')})" if frames else "") + hint,
              file=err)
        return 2
    finally:
        close()
    progress.done()
    out.write("".join(batch))
    if not frames:
        out.flush()
        print("wsexplore decode: no bytes to decode", file=err)
        return 2
    if args.summary:
        out.write("opcodes: " + ", ".join(f"{opcode_name(op)} {n}" for op, n in sorted(opcodes.items())) + "\n")
        if kinds:
            out.write("violations: " + ", ".join(f"{kind} {n}" for kind, n in kinds.most_common()) + "\n")
    verdict = "all valid" if not bad else f"{bad} with a violation"
    if unjudged:
        verdict += f"; {unjudged} not judged past --max-frame-size"
    out.write(f"{plural(frames, 'frame')} in {end} bytes: {verdict}\n")
    out.flush()
    return 1 if bad else 0
