"""Capture files: what a file is, told by its content, and the format module that reads or writes it.

``Capture.load`` and ``Capture.save`` come here. Reading never trusts a file
name: the first bytes decide (pcap and pcapng magic numbers, a gzip wrapper
around any of them, the JSON Lines header line, a HAR's ``log`` object).
Writing picks the format from the file name's suffix (``.pcapng``, ``.pcap``;
anything else is JSON Lines) or from ``format``.

Loading is parsing only: nothing in a file is imported or run, and a file
that does not hold what it claims raises one ``ValueError`` that names the
file and the place (line, packet, block, JSON path).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from typing import IO, TYPE_CHECKING, Any, Literal

from .formats import har, jsonl
from .formats.fields import CaptureFileError
from .formats.packets import PCAP_MAGICS, PCAPNG_MAGIC

if TYPE_CHECKING:
    from .formats.pcap import ReadOptions
    from .store import Capture

__all__ = ["detect", "load", "read_into", "save", "Kind", "SAVE_FORMATS"]

Kind = Literal["pcap", "pcapng", "jsonl", "har", "gzip"]
#: What ``save`` writes, by ``format`` name.
SAVE_FORMATS = ("jsonl", "pcapng", "pcap")
_GZIP = b"\x1f\x8b"
_SNIFF = 64 * 1024


def detect(head: bytes) -> Kind | None:
    """The kind of file whose first bytes are ``head`` (up to 64 KiB), None when it is none of them."""
    magic = head[:4]
    if magic in PCAP_MAGICS:
        return "pcap"
    if magic == PCAPNG_MAGIC:
        return "pcapng"
    if head[:2] == _GZIP:
        return "gzip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return None
    first = text.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if isinstance(header, dict):
        if "format" in header:  # a JSON Lines header: the jsonl reader says what is wrong with it
            return "jsonl"
        if "log" in header:
            return "har"
        return None
    return "har" if b'"log"' in text else None


def _name(source: str | os.PathLike | IO) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", type(source).__name__))


def _binary(source: str | os.PathLike | IO) -> tuple[IO[bytes], bool]:
    """A binary file for ``source`` that can seek, and whether this function opened it."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(source, "rb"), True
        except OSError as exc:
            raise OSError(exc.errno, f"cannot open {os.fspath(source)}: {exc.strerror or exc}") from None
    if isinstance(source, io.TextIOBase):
        return io.BytesIO(source.read().encode("utf-8")), True
    return source, False  # type: ignore[return-value]


def read_into(source: str | os.PathLike | IO, capture: Capture, *, options: ReadOptions | None = None) -> Any:
    """Append what ``source`` holds to ``capture`` (whose subscribers see each record as it is read).

    Returns what the format reports beside the records (a pcap summary), or None.
    Raises ValueError naming the file and the place for a file it cannot read.
    """
    name = _name(source)
    fp, opened = _binary(source)
    try:
        return _read(fp, capture, name, options)
    finally:
        if opened:
            fp.close()


def _read(fp: IO[bytes], capture: Capture, name: str, options: ReadOptions | None, depth: int = 0) -> Any:
    head = fp.read(_SNIFF)
    fp.seek(-len(head), io.SEEK_CUR)
    kind = detect(head)
    if kind == "gzip" and depth == 0:
        with gzip.GzipFile(fileobj=fp) as inner:
            try:
                buffered = io.BufferedReader(inner)  # type: ignore[arg-type]
                return _read(buffered, capture, name, options, depth + 1)
            except (OSError, EOFError) as exc:
                raise ValueError(f"{name}: not a readable gzip file ({exc})") from None
    if kind in ("pcap", "pcapng"):
        from .formats.pcap import read_pcap

        return read_pcap(fp, capture, name=name, options=options)
    if kind is None:
        shown = head[:8].hex(" ") if head else "nothing"
        raise ValueError(f"{name}: not a capture file: it starts with {shown}, which is neither pcap, pcapng, "
                         "a wsexplore capture (JSON Lines) nor a HAR file")
    if kind == "jsonl":
        capture._adopt(_read_jsonl(fp, name))
        return None
    try:
        text = fp.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: byte {exc.start}: not UTF-8 text, as a {kind} file must be") from None
    try:
        har.read(text, capture)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return None


def _read_jsonl(fp: IO[bytes], name: str) -> jsonl.Saved:
    """A JSON Lines capture; a ``CaptureFileError`` naming the file, the line and the field when it is not one."""
    data = fp.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaptureFileError.not_utf8(data, exc, name) from None
    del data  # the text alone while the records are made: a large capture's file is held once, not twice
    try:
        return jsonl.loads(text)
    except CaptureFileError as exc:
        raise exc.in_file(name) from None


def load(source: str | os.PathLike | IO, *, max_records: int | None = None, max_bytes: int | None = None,
         options: ReadOptions | None = None) -> Capture:
    """A new ``Capture`` with what ``source`` holds (see ``Capture.load``)."""
    from .store import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, Capture

    name = _name(source)
    fp, opened = _binary(source)
    try:
        head = fp.read(_SNIFF)
        fp.seek(-len(head), io.SEEK_CUR)
        if detect(head) == "jsonl":  # the file keeps the bounds of the capture it came from
            saved = _read_jsonl(fp, name)
            if max_bytes is None:
                max_bytes = DEFAULT_MAX_BYTES if saved.max_bytes is None else saved.max_bytes
            cap = Capture(max_records=max_records or saved.max_records or DEFAULT_MAX_RECORDS, max_bytes=max_bytes)
            cap._adopt(saved)
            return cap
        cap = Capture(max_records=max_records or DEFAULT_MAX_RECORDS,
                      max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
        _read(fp, cap, name, options)
        return cap
    finally:
        if opened:
            fp.close()


def save(capture: Capture, target: str | os.PathLike | IO, *, format: str | None = None,
         include_secrets: bool = False) -> None:
    """Write ``capture`` to ``target`` (see ``Capture.save``)."""
    if format is None:
        suffix = os.fspath(target).lower() if isinstance(target, (str, os.PathLike)) else ""
        format = "pcapng" if suffix.endswith(".pcapng") else "pcap" if suffix.endswith(".pcap") else "jsonl"
    if format not in SAVE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(SAVE_FORMATS)}, got {format!r}")
    if format == "jsonl":
        lines = jsonl.lines(capture._saved(), include_secrets=include_secrets)
        if isinstance(target, (str, os.PathLike)):
            with open(target, "wb") as fp:
                fp.writelines(lines)
        elif isinstance(target, (io.RawIOBase, io.BufferedIOBase)) or "b" in getattr(target, "mode", ""):
            target.writelines(lines)  # type: ignore[arg-type]
        else:  # a text stream
            for line in lines:
                target.write(line.decode("utf-8"))  # type: ignore[arg-type]
        return
    from .formats.pcap_out import write_packets

    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as fp:
            write_packets(capture, fp, kind=format, include_secrets=include_secrets)  # type: ignore[arg-type]
    else:
        write_packets(capture, target, kind=format, include_secrets=include_secrets)  # type: ignore[arg-type]
