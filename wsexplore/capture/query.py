"""Reading records: filters, counts, a summary, and the questions that need a frame's context.

``Query`` is what a ``Capture`` and its read-only views (``Records``, the
result of ``filter`` or a slice) share. Besides filtering it answers what a
single record cannot: which message a data frame ends up in (RFC 6455
section 5.4: the message record follows its frames), what a connection agreed
on for permessage-deflate (RFC 7692, from its 101 response), and so what a
compressed frame inflates to. The Explorer asks the same questions, so the
table, a query and ``Capture.dissect`` always agree.
"""

from __future__ import annotations

import html
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, overload

from ..display import format_size, peer, plural
from ..protocol.deflate import DeflateParams, find_params
from ..protocol.dissector import Dissection
from ..protocol.errors import ProtocolError
from ..protocol.handshake import parse_response
from ..protocol.opcodes import Opcode
from ..protocol.rules import DATA_OPCODES
from .lines import describe, describe_body, direction_of
from .records import DIRECTIONS, KINDS, CloseRecord, Direction, FrameRecord, MessageRecord, OpenRecord, Record

__all__ = ["Query", "Records", "SummaryTable"]

_HTML_ROWS = 40
_REPR_LINES = 20


class Query:
    """Reading a sequence of records, oldest first: shared by ``Capture`` and ``Records``."""

    __slots__ = ()

    def _items(self) -> Sequence[Record]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _header(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[Record]:
        return iter(self._items())

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Records: ...
    def __getitem__(self, index: int | slice) -> Record | Records:
        items = self._items()
        if isinstance(index, slice):
            start, stop, step = index.indices(len(items))
            if step == 1:
                return Records(islice(items, start, stop))
            return Records(list(items)[index])
        return items[index]

    @property
    def connections(self) -> tuple[int, ...]:
        """Connection ids, in the order first seen."""
        return tuple(dict.fromkeys(r.conn for r in self._items() if r.conn is not None))

    @property
    def nbytes(self) -> int:
        """Bytes of data the records hold: raw frames and handshakes, message data, texts."""
        return sum(r.nbytes for r in self._items())

    # -- filters ---------------------------------------------------------------
    def filter(
        self,
        conn: int | Iterable[int] | None = None,
        direction: Direction | None = None,
        opcode: int | Iterable[int] | None = None,
        text: str | bytes | None = None,
        kind: str | Iterable[str] | None = None,
    ) -> Records:
        """The records matching every criterion given, in order.

        ``direction`` and ``opcode`` only match frames and messages. ``text``
        (a substring) searches payloads and message data (str: decoded as
        UTF-8; bytes: as is), handshakes, close reasons and error messages.
        """
        conns = _as_set(conn)
        opcodes = _as_set(opcode)
        kinds = _as_set(kind)
        if kinds is not None:
            unknown = kinds - KINDS.keys()
            if unknown:
                raise ValueError(f"unknown kind(s) {sorted(unknown)}; kinds are {list(KINDS)}")
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
        if text is not None and not isinstance(text, (str, bytes)):
            raise TypeError("text must be str or bytes")
        out = []
        for r in self._items():
            if conns is not None and r.conn not in conns:
                continue
            if kinds is not None and r.kind not in kinds:
                continue
            if direction is not None and direction_of(r) != direction:
                continue
            if opcodes is not None and (
                not isinstance(r, (FrameRecord, MessageRecord)) or r.opcode not in opcodes
            ):
                continue
            if text is not None:
                haystack = r._text() if isinstance(text, str) else r._bytes()
                if text not in haystack:  # type: ignore[operator]
                    continue
            out.append(r)
        return Records(out)

    def frames(self, **criteria: Any) -> Records:
        """Frame records (``filter(kind="frame", ...)``)."""
        return self.filter(kind="frame", **criteria)

    def messages(self, **criteria: Any) -> Records:
        """Message records (``filter(kind="message", ...)``)."""
        return self.filter(kind="message", **criteria)

    def violations(self) -> Records:
        """Frame records that broke a rule."""
        return Records(r for r in self._items() if isinstance(r, FrameRecord) and r.error is not None)

    # -- a frame in its context ------------------------------------------------------
    def message_of(self, frame: FrameRecord, *, limit: int | None = None) -> tuple[MessageRecord | None, bool]:
        """The message record a data frame's message ends in, and whether that is decided yet.

        The record follows the message's frames on the same connection and
        direction (section 5.4); control frames (section 5.5) and frames that
        broke a rule belong to no message. A new message starting in that
        direction, or the connection closing, first means this one was never
        recorded. At most ``limit`` records after the frame are looked at (None:
        all), and reaching the limit decides "none"; running out of records
        leaves the answer undecided, as the message may still be recorded.
        """
        if frame.error is not None or frame.opcode not in DATA_OPCODES:
            return None, True
        items = self._items()
        start = bisect_right(items, frame.seq, key=_seq)
        stop = len(items) if limit is None else min(len(items), start + limit)
        for r in islice(items, start, stop):
            if r.conn != frame.conn:
                continue
            kind = type(r)
            if kind is MessageRecord and r.direction == frame.direction:  # type: ignore[attr-defined]
                return r, True  # type: ignore[return-value]
            if kind is FrameRecord and r.direction == frame.direction and r.opcode in _FIRST_OPCODES:  # type: ignore[attr-defined]
                return None, True  # another message began: this one never completed
            if kind is CloseRecord:
                return None, True
        return None, limit is not None and stop >= start + limit

    def compressed_message(self, frame: FrameRecord, *,
                           limit: int | None = None) -> tuple[MessageRecord | None, bool]:
        """``message_of`` when that message was compressed (permessage-deflate, RFC 7692), else None.

        A message's first frame without RSV1 is known uncompressed at once; any
        other data frame is compressed when the message it ends in says so.
        """
        header = frame.header
        if header is None or (header.opcode != Opcode.CONTINUATION and not header.rsv1):
            return None, True
        message, decided = self.message_of(frame, limit=limit)
        return (message if message is not None and message.compressed else None), decided

    def inflated_message(self, frame: FrameRecord) -> str | bytes | None:
        """The inflated message a compressed frame belongs to, from the message record after its frames."""
        message, _ = self.compressed_message(frame)
        return None if message is None else message.data

    def opening(self, conn: int | None) -> OpenRecord | None:
        """The handshake that opened connection ``conn`` (its 101), or None (refused, or evicted).

        Every record of a connection inherits how its handshake arrived (``via``, ``note``,
        ``reframed``): a frame of a connection that came through jupyter-server-proxy is the
        proxy's frame, one that came through the Jupyter server's relay is the browser's.
        """
        for r in self._items():
            if type(r) is OpenRecord and r.conn == conn and r.status == 101:  # type: ignore[attr-defined]
                return r  # type: ignore[return-value]
        return None

    def deflate_params(self, conn: int | None) -> DeflateParams | None:
        """The permessage-deflate parameters connection ``conn`` agreed on (from its 101 response), or None."""
        opened = self.opening(conn)
        if opened is None:
            return None
        try:
            parsed = parse_response(opened.response)
            return None if parsed is None else find_params(parsed[0].headers)
        except (ProtocolError, ValueError):
            return None

    def dissect(self, record: FrameRecord | int) -> Dissection:
        """A frame record (or its ``seq``) dissected in its connection's context.

        When the connection negotiated permessage-deflate (RFC 7692), RSV1 is
        read as "per-message compressed" and a compressed frame is shown with
        the message it inflates to: the ``MessageRecord`` that follows its
        frames (with context takeover a compressed frame does not inflate on
        its own). Without that context it is ``record.dissect()``.
        """
        if isinstance(record, int):
            found = next((r for r in self._items() if r.seq == record), None)
            if not isinstance(found, FrameRecord):
                raise KeyError(f"no frame record #{record} in this capture")
            record = found
        params = self.deflate_params(record.conn)
        if params is None:
            return record.dissect()
        return record.dissect(deflate=params, inflated=self.inflated_message(record))

    # -- text, tables and HTML ------------------------------------------------------
    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per record, typed columns (see :mod:`wsexplore.capture.table`).

        pandas is optional: without it this raises ImportError saying how to install it.
        """
        from .table import to_pandas

        return to_pandas(self._items())

    def summary(self) -> str:
        """One line per connection: handshake status, frames and bytes each way, messages, close."""
        table = SummaryTable()
        for r in self._items():
            table.add(r)
        return table.text()

    def _repr_html_(self) -> str:
        items = self._items()
        n = len(items)
        rows: list[Record | None]
        if n > _HTML_ROWS:
            half = _HTML_ROWS // 2
            rows = [*islice(items, 0, half), None, *islice(items, n - half, n)]
        else:
            rows = list(items)
        t0 = items[0].time if n else 0.0
        cells = []
        for r in rows:
            if r is None:
                cells.append(f'<tr><td colspan="6">… {n - 2 * (_HTML_ROWS // 2)} more …</td></tr>')
                continue
            failed = r.kind == "error" or (isinstance(r, FrameRecord) and r.error is not None)
            style = ' style="color:#b00"' if failed else ""
            cells.append(
                f"<tr{style}><td>{r.seq}</td><td>{'' if r.conn is None else r.conn}</td>"
                f"<td>+{r.time - t0:.3f} s</td><td>{direction_of(r)}</td><td>{r.kind}</td>"
                f"<td style=\"text-align:left\"><code>{html.escape(describe_body(r))}</code></td></tr>"
            )
        return (
            f"<div><p><code>{html.escape(self._header())}</code></p>"
            "<table><thead><tr><th>#</th><th>conn</th><th>time</th><th>dir</th><th>kind</th>"
            f"<th style=\"text-align:left\">record</th></tr></thead><tbody>{''.join(cells)}</tbody></table></div>"
        )


class SummaryTable:
    """``Query.summary`` built one record at a time, so a reader can summarise a file it streams.

    Call it (or ``add``) with each record; ``text()`` is the table. It keeps a
    few counters per connection, never the records.
    """

    def __init__(self) -> None:
        self._per: dict[int, dict[str, Any]] = {}
        #: Frames that broke a rule, and error records (gaps, failures), in all connections.
        self.violations = 0
        self.errors = 0

    def __call__(self, record: Record) -> None:
        self.add(record)

    def add(self, r: Record) -> None:
        if isinstance(r, FrameRecord) and r.error is not None:
            self.violations += 1
        elif r.kind == "error":
            self.errors += 1
        if r.conn is None:
            return
        c = self._per.get(r.conn)
        if c is None:
            c = self._per[r.conn] = {"peer": "?", "status": "-", "in": [0, 0], "out": [0, 0], "messages": 0,
                                     "close": "-"}
        if isinstance(r, OpenRecord):
            c["peer"], c["status"] = peer(r.peer), str(r.status) if r.handshake_seen else "none"
        elif isinstance(r, FrameRecord):
            c[r.direction][0] += 1
            c[r.direction][1] += r.nbytes
        elif isinstance(r, MessageRecord):
            c["messages"] += 1
        elif isinstance(r, CloseRecord):
            c["close"] = f"{r.code if r.code is not None else '-'} by {r.closed_by}" + (
                "" if r.clean else " (not clean)")

    def text(self) -> str:
        rows = [("conn", "peer", "status", "in", "out", "messages", "close")]
        for conn, c in self._per.items():
            rows.append((str(conn), c["peer"], c["status"],
                         f"{plural(c['in'][0], 'frame')}, {format_size(c['in'][1])}",
                         f"{plural(c['out'][0], 'frame')}, {format_size(c['out'][1])}",
                         str(c["messages"]), c["close"]))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


class Records(Query):
    """An immutable view: the result of ``filter`` or of slicing a capture."""

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self._records: tuple[Record, ...] = tuple(records)

    def _items(self) -> tuple[Record, ...]:
        return self._records

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Records):
            return self._records == other._records
        if isinstance(other, (list, tuple)):
            return self._records == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _header(self) -> str:
        return (f"<Records {plural(len(self._records), 'record')}, {plural(len(self.connections), 'connection')}, "
                f"{format_size(self.nbytes)}>")

    def __repr__(self) -> str:
        lines = [self._header()]
        lines += [describe(r) for r in self._records[:_REPR_LINES]]
        if len(self._records) > _REPR_LINES:
            lines.append(f"… {len(self._records) - _REPR_LINES} more")
        return "\n".join(lines)


_FIRST_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY})  # the data opcodes that start a message


def _seq(record: Record) -> int:
    return record.seq


def _as_set(value: int | str | Iterable[int] | Iterable[str] | None) -> frozenset | None:
    if value is None:
        return None
    if isinstance(value, (int, str)):
        return frozenset((value,))
    return frozenset(value)
