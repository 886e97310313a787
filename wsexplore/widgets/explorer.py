"""Explorer: a live, filterable table of a capture's records, with the bits of the one selected.

The table is what a dissector's packet list is: one row per record (RFC 6455
section 4 handshakes, section 5.2 frames with their FIN/RSV/MASK bits, section
5.4 messages, section 7 closes, errors). Selecting a row shows its
``FrameView`` (read by the side that received it) and the message the frame
belongs to; a handshake row shows its ``HandshakeView``.

Live traffic must freeze neither the kernel nor the browser, so:

* the capture subscriber only appends the record to a pending list and, if
  none is scheduled, arms one timer (``loop.call_later(interval)`` on the
  running loop); the timer flushes everything pending at once, so the view
  is updated at most ``1 / interval`` times a second however fast frames come;
* only a window of rows (the latest ``window`` matching the filters, or an
  older page) is sent to the browser, as small dicts in the ``rows`` trait;
* rows are built from raw bytes only for the records in that window, and
  filtering reuses ``Capture.filter`` so the table and a query always agree.

Under permessage-deflate (RFC 7692) a frame's payload is deflate data: the row
of a compressed frame keeps its RSV1 bit and wire length and previews the
message it inflates to (the capture's message record after its frames), and
its ``FrameView`` reads RSV1 as "per-message compressed" and shows the
compressed bytes, the inflated message and the ratio.

Outside a running event loop nothing can fire a timer: a record is then
flushed at once if the last flush is older than ``interval``, else on the
next record or an explicit ``flush()``.
"""

from __future__ import annotations

import asyncio
import bisect
import html
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from time import monotonic
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..capture import Capture, CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord, Record, Records
from ..capture.lines import data_preview, format_body, format_record, payload_preview, via_label
from ..display import ELLIPSIS, clock, data_size, escape, hex_preview, plural
from ..live.server import Server
from ..protocol.deflate import DeflateParams
from ..protocol.opcodes import Opcode, opcode_name
from ..protocol.rules import DATA_OPCODES
from .fallback import StaticFallback, static_block
from .frameview import FrameView
from .handshake_view import HandshakeView, via_html

__all__ = ["Explorer", "RecordTable", "DEFAULT_WINDOW", "FLUSH_INTERVAL"]

log = logging.getLogger(__name__)

#: Rows sent to the browser at most.
DEFAULT_WINDOW = 200
#: Seconds between two updates of the view at most (about ten a second).
FLUSH_INTERVAL = 0.1
#: Records scanned after a frame for the message it ends up in.
_MESSAGE_SCAN = 20_000
#: Characters of a message's text shown in the detail pane.
_MESSAGE_TEXT = 2_000

_HERE = Path(__file__).parent
_RESERVED = tuple(v for v in range(16) if v not in {op.value for op in Opcode})

# Dropdown choices: (label, value); ANY means "no criterion" (a Dropdown shows nothing for None).
ANY = ""
_DIRECTIONS = (("both", ANY), ("in: client → server", "in"), ("out: server → client", "out"))
_KINDS = (("all", ANY), ("frames", "frame"), ("messages", "message"), ("handshakes", "open"),
          ("closes", "close"), ("errors", "error"), ("violations", "violation"))
_OPCODES = (("any", ANY), *((op.name, op.name) for op in Opcode), ("reserved", "reserved"))


def _opcode_values(choice: str) -> tuple[int, ...] | None:
    if choice == ANY:
        return None
    if choice == "reserved":
        return _RESERVED
    return (Opcode[choice].value,)


# ---------------------------------------------------------------------------- rows
def record_row(record: Record, t0: float, *, message: MessageRecord | None = None,
               opened: OpenRecord | None = None) -> dict[str, Any]:
    """The small dict the table draws for ``record``: every value computed here, none in JS.

    Keys: seq, time (seconds since ``t0``), clock (wall clock), conn, dir
    ("in", "out" or ""), kind, op (opcode name, "" for non-frames), fin (0/1 or
    None), rsv ("000"), mask (0/1 or None), len (payload or data bytes), preview,
    err (the rule broken, "" if none), inflated (None, or for a frame of a
    compressed message the size of the message it inflates to), via (the
    connection's path in a word: "relay", "proxy", "tap" or "" when direct),
    via_note (that path in a sentence) and reframed (True when a proxy
    re-framed the connection: its records are the proxy's, not the peer's).

    ``message`` is the compressed message (permessage-deflate, RFC 7692) a
    frame belongs to: its payload is deflate data, so the preview shows the
    message it inflates to instead. ``opened`` is the handshake of the
    record's connection (an OpenRecord is its own): every record inherits how
    its connection arrived.
    """
    if isinstance(record, OpenRecord):
        opened = record
    row: dict[str, Any] = {
        "seq": record.seq, "time": f"{record.time - t0:+.3f}", "clock": clock(record.wall),
        "conn": record.conn, "dir": "", "kind": record.kind, "op": "", "fin": None, "rsv": "", "mask": None,
        "len": None, "preview": "", "err": "", "inflated": None,
        "via": via_label(opened), "via_note": "" if opened is None else opened.via_text,
        "reframed": opened is not None and opened.reframed,
    }
    if isinstance(record, FrameRecord):
        header = record.header
        row["dir"] = record.direction
        if header is not None:
            row["op"] = opcode_name(header.opcode)
            row["fin"] = int(header.fin)
            row["rsv"] = f"{int(header.rsv1)}{int(header.rsv2)}{int(header.rsv3)}"
            if header.b1 is not None:
                row["mask"] = int(header.masked)
        length = record.length
        row["len"] = length
        row["preview"] = payload_preview(record.opcode, record.payload, length) if header else "(no bytes)"
        if message is not None and message.compressed_size is not None:
            size = data_size(message.data)
            part = "" if message.frames == 1 else f" (one of {message.frames} frames)"
            row["inflated"] = size
            row["preview"] = (f"deflate {length} B{part} → {opcode_name(message.opcode)} {size} B "
                              f"{data_preview(message.data)}")
        if record.injected:
            row["preview"] = f"[injected] {row['preview']}"
        if record.error is not None:
            row["err"] = f"{type(record.error).__name__}: {escape(str(record.error))}"
    elif isinstance(record, MessageRecord):
        row["dir"] = record.direction
        row["op"] = opcode_name(record.opcode)
        row["len"] = data_size(record.data)
        deflated = "" if record.compressed_size is None else f", deflated to {record.compressed_size} B"
        row["preview"] = f"{data_preview(record.data)} ({plural(record.frames, 'frame')}{deflated})"
    elif isinstance(record, OpenRecord):
        status = escape(record.status_line) or str(record.status)
        row["preview"] = f"{escape(record.request_line) or '(no request line)'} → {status}"
        if not record.accepted:
            row["err"] = f"refused with {record.status}"
    elif isinstance(record, CloseRecord):
        row["preview"] = format_body(record)
    elif isinstance(record, ErrorRecord):
        row["preview"] = escape(record.message)
        row["err"] = type(record.error).__name__ if record.error is not None else "error"
    return row


# ---------------------------------------------------------------------------- static rows
#: The columns of the static table: (heading, row key). Times are left out: they differ on every run.
_STATIC_COLUMNS = (("#", "seq"), ("conn", "conn"), ("dir", "dir"), ("kind", "kind"), ("opcode", "op"),
                   ("FIN", "fin"), ("RSV", "rsv"), ("MASK", "mask"), ("len", "len"), ("preview", "preview"),
                   ("rule broken", "err"))
_TH = "border-bottom:1px solid #999;padding:1px 6px;text-align:left;font-weight:bold"
_TD = "padding:1px 6px;vertical-align:top;white-space:nowrap"


def rows_html(rows: list[dict[str, Any]], *, total: int, first_index: int = 0) -> str:
    """The table's rows as plain HTML (no times: they differ between runs), with how many match."""
    if not rows:
        return '<div style="color:#666">no records</div>'
    head = "".join(f'<th style="{_TH}">{h}</th>' for h, _ in _STATIC_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for _, key in _STATIC_COLUMNS:
            value = row.get(key)
            text = "" if value is None else str(value)
            if key == "preview" and row.get("via"):
                text = f"[{row['via']}] {text}"
            style = _TD + (";color:#cc0000" if key == "err" and text else "")
            cells.append(f'<td style="{style}">{html.escape(text)}</td>')
        bad = ";background:#fde0e0" if row.get("err") else ""
        body.append(f'<tr style="border-bottom:1px solid #eee{bad}">{"".join(cells)}</tr>')
    shown = (f"rows {first_index + 1}-{first_index + len(rows)} of {total} matching"
             if len(rows) < total else f"{plural(total, 'matching record')}")
    return (f'<div style="color:#666">{html.escape(shown)}</div>'
            f'<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
            f"<tr>{head}</tr>{''.join(body)}</table>")


# ---------------------------------------------------------------------------- the table
class RecordTable(StaticFallback, anywidget.AnyWidget):
    """The table's view in the browser: draws ``rows``, reports ``selected`` and paging.

    ``selected`` is the seq of the selected record (None: none). ``total`` is
    how many records match the filters, ``first_index`` the position of the
    first row among them, ``follow`` whether the window tracks the newest
    records. Paging requests arrive as custom messages ``{"page": "older" |
    "newer" | "latest"}``.
    """

    _esm = _HERE / "explorer.js"
    _css = _HERE / "explorer.css"

    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected = traitlets.Int(None, allow_none=True).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    first_index = traitlets.Int(0).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    window = traitlets.Int(DEFAULT_WINDOW).tag(sync=True)
    counters = traitlets.Dict().tag(sync=True)

    def static_html(self) -> str:
        """The rows shown now, without their times."""
        return static_block("RecordTable", rows_html(self.rows, total=self.total, first_index=self.first_index))

    def __repr__(self) -> str:
        return f"RecordTable({len(self.rows)} rows of {self.total}, selected={self.selected})"


class _Filters(widgets.HBox):
    """The filter controls: connection, direction, kind, opcode and a text search."""

    def __init__(self) -> None:
        small = widgets.Layout(width="auto")
        style = {"description_width": "initial"}
        self.conn = widgets.Dropdown(options=[("all", ANY)], value=ANY, description="conn", layout=small,
                                     style=style)
        self.direction = widgets.Dropdown(options=_DIRECTIONS, value=ANY, description="direction",
                                          layout=small, style=style)
        self.kind = widgets.Dropdown(options=_KINDS, value=ANY, description="kind", layout=small, style=style)
        self.opcode = widgets.Dropdown(options=_OPCODES, value=ANY, description="opcode", layout=small,
                                       style=style)
        self.text = widgets.Text(value="", placeholder="search text (Enter)", description="text",
                                 continuous_update=False, layout=widgets.Layout(width="16em"), style=style)
        super().__init__([self.conn, self.direction, self.kind, self.opcode, self.text],
                         layout=widgets.Layout(flex_flow="row wrap"))

    @property
    def controls(self) -> tuple[widgets.ValueWidget, ...]:
        return (self.conn, self.direction, self.kind, self.opcode, self.text)

    def __repr__(self) -> str:
        return "_Filters()"


class Explorer(StaticFallback, widgets.VBox):
    """A live table of a capture (or a running server's capture) with filters and a detail pane.

    ``Explorer(server)`` watches ``server.capture`` (a tap's too: ``Explorer(proxy)``); ``Explorer(Capture.load(path))``
    explores a saved one. ``window`` rows at most are sent to the browser;
    ``interval`` is the shortest time between two view updates. ``close()``
    unsubscribes from the capture and closes every widget it made.
    """

    _closed = False

    def __init__(self, source: Server | Capture | Records, *, window: int = DEFAULT_WINDOW,
                 interval: float = FLUSH_INTERVAL) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if interval < 0:
            raise ValueError("interval must not be negative")
        self.server: Any = None  # the live source (a Server or a Proxy), if any
        if isinstance(source, (Capture, Records)):
            capture, label = source, "capture" if isinstance(source, Capture) else "records"
            self.server = None
        elif isinstance(getattr(source, "capture", None), Capture):  # a Server, a Proxy (tap): a live source
            capture, label = source.capture, "server" if isinstance(source, Server) else type(source).__name__.lower()
            self.server = source
        else:
            raise TypeError(f"Explorer needs a Server, a Proxy, a Capture or Records, got {type(source).__name__}")
        self.capture: Capture | Records = capture
        self.window = window
        self.interval = interval
        self._label = label
        self._pending: list[Record] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._last_flush = 0.0
        self._closed = False
        self._updating = False  # set while Python itself changes the filter controls
        self._first_seq: int | None = None  # first row's seq when not following
        self._row_cache: dict[int, dict[str, Any]] = {}
        self._awaiting: set[int] = set()  # frames of a compressed message whose message is not recorded yet
        self._deflate_conns: dict[int | None, DeflateParams | None] = {}
        self._openings: dict[int, OpenRecord] = {}
        self._frames = 0
        self._frame_bytes = 0
        self._known_conns: tuple[int, ...] = ()
        self._dropped_seen = self._dropped()
        self.detail_view: widgets.Widget | None = None
        self.message: MessageRecord | None = None
        #: Times the view was updated after it was made (each flush that changed something counts once).
        self.updates = 0

        items = list(capture)
        self._t0 = items[0].time if items else monotonic()
        for r in items:
            if isinstance(r, FrameRecord):
                self._frames += 1
                self._frame_bytes += r.nbytes
        self._matching: list[Record] = items

        self.filters = _Filters()
        self.table = RecordTable(window=window)
        self._detail_header = widgets.HTML(value="<i>select a row to see its bits</i>")
        self._detail_body = widgets.VBox([])
        self.detail = widgets.VBox([self._detail_header, self._detail_body],
                                   layout=widgets.Layout(border="1px solid var(--jp-border-color2, #ddd)",
                                                         padding="4px"))
        super().__init__([self.filters, self.table, self.detail])
        self.add_class("wsx-explorer-box")

        for control in self.filters.controls:
            control.observe(self._on_filter, names="value")
        self.table.observe(self._on_select, names="selected")
        self.table.observe(self._on_follow, names="follow")
        self.table.on_msg(self._on_table_msg)

        self._update_conn_options()
        self._render()
        self.updates = 0
        self._unsubscribe: Callable[[], None] | None = (
            capture.subscribe(self._on_record) if isinstance(capture, Capture) else None
        )

    # -- repr ------------------------------------------------------------------
    def __repr__(self) -> str:
        closed = ", closed" if self._closed else ""
        return (f"Explorer({self._label}: {plural(len(self.capture), 'record')}, "
                f"{plural(len(self.capture.connections), 'connection')}, {self._dropped()} dropped{closed})")

    def static_html(self) -> str:
        """The counters, the filters in use, the rows (without times) and the selected record's detail."""
        self.flush()
        c = self.table.counters
        counts = (f"{plural(c.get('records', 0), 'record')}, {plural(c.get('connections', 0), 'connection')}, "
                  f"{plural(c.get('frames', 0), 'frame')} ({c.get('bytes', 0)} B), {c.get('dropped', 0)} dropped")
        used = [f"{control.description}={control.value}" for control in self.filters.controls if control.value != ANY]
        parts = [f"<div><b>{html.escape(self._label)}</b>: {html.escape(counts)}"
                 + (f"; filters: {html.escape(', '.join(used))}" if used else "") + "</div>",
                 rows_html(self.rows, total=self.table.total, first_index=self.table.first_index)]
        if self.table.selected is not None:
            parts.append('<div style="margin-top:6px;border-top:1px solid #ccc;padding-top:4px">'
                         f"{self._static_detail(self.table.selected)}</div>")
        return static_block("Explorer", "".join(parts))

    def _static_detail(self, seq: int) -> str:
        """The detail pane of the selected record, without wall-clock times."""
        record = self._find(seq)
        if record is None:
            return f"<b>selected #{seq}</b>: no longer in the capture"
        conn = "#-" if record.conn is None else f"#{record.conn}"
        out = [f"<div><b>selected #{seq}</b> <code>{html.escape(f'{conn} {format_body(record)}')}</code></div>"]
        view = self.detail_view
        if isinstance(view, FrameView):
            out.append(view.static_body())
            if self.message is not None:
                out.append(f"<p>Part of message:</p>{self._message_html(self.message, with_clock=False)}")
        elif isinstance(view, HandshakeView):
            out.append(view.value)
        elif isinstance(record, MessageRecord):
            out.append(self._message_html(record, with_clock=False))
        return "".join(out)

    # -- public state ------------------------------------------------------------
    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows sent to the browser (the current window)."""
        return self.table.rows

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.table.counters)

    @property
    def matching(self) -> Records:
        """Every record (still in the capture) that matches the filters, flushed so far."""
        return Records(self._matching)

    @property
    def selected(self) -> Record | None:
        """The selected record, if it is still in the capture."""
        seq = self.table.selected
        return None if seq is None else self._find(seq)

    def select(self, seq: int | None) -> None:
        """Select the record with this seq (what clicking its row does)."""
        self.table.selected = seq

    def set_filters(self, *, conn: int | None = None, direction: str | None = None, kind: str | None = None,
                    opcode: str | None = None, text: str = "") -> None:
        """Set every filter at once (None: no criterion), recomputing the table once.

        ``kind`` is "frame", "message", "open", "close", "error" or "violation";
        ``opcode`` an ``Opcode`` name or "reserved".
        """
        if isinstance(opcode, int):
            opcode = opcode_name(opcode) if opcode in {op.value for op in Opcode} else "reserved"
        f = self.filters
        self._updating = True
        try:
            if conn is not None and conn not in [v for _, v in f.conn.options]:
                f.conn.options = [*f.conn.options, (f"#{conn}", conn)]
            f.conn.value = ANY if conn is None else conn
            f.direction.value = direction or ANY
            f.kind.value = kind or ANY
            f.opcode.value = opcode or ANY
            f.text.value = text
        finally:
            self._updating = False
        self._refilter()

    def page(self, where: str) -> None:
        """Show "older" or "newer" rows, or the "latest" ones (and follow new records again)."""
        n = len(self._matching)
        start = self._start_index()
        if where == "latest":
            self._first_seq = None
            self.table.follow = True
        elif where == "older":
            start = max(0, start - self.window)
            self._first_seq = self._matching[start].seq if n else None
            self.table.follow = False
        elif where == "newer":
            start += self.window
            if start + self.window >= n:
                self._first_seq = None
                self.table.follow = True
            else:
                self._first_seq = self._matching[start].seq
                self.table.follow = False
        else:
            raise ValueError(f"page must be 'older', 'newer' or 'latest', got {where!r}")
        self._render()

    def flush(self) -> None:
        """Apply every pending record to the view now (the timer does this on its own)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = monotonic()
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._count(pending)
        self._trim_evicted()
        oldest = self._oldest_seq()
        fresh = [r for r in pending if r.seq >= oldest]
        self._matching.extend(self._apply_filters(Records(fresh)))
        self._update_conn_options()
        self._render()

    def close(self) -> None:
        """Unsubscribe from the capture, stop the timer and close every widget this made."""
        if self._closed or not hasattr(self, "table"):  # closed, or never finished __init__
            self._closed = True
            super().close()
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = []
        self._set_detail(None, [])
        for w in (*self.filters.controls, self.filters, self.table, self._detail_header, self._detail_body,
                  self.detail):
            w.close()
        super().close()

    # -- the subscriber and its timer --------------------------------------------------
    def _on_record(self, record: Record) -> None:
        """Called by the capture for every new record: O(1), never touches the widgets."""
        self._pending.append(record)
        timer_loop = self._timer_loop
        if self._timer is not None and timer_loop is not None and not timer_loop.is_closed():
            return
        self._timer = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if monotonic() - self._last_flush >= self.interval:
                self.flush()
            return
        self._timer_loop = loop
        self._timer = loop.call_later(self.interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        try:
            self.flush()
        except Exception:  # a view that failed to draw must not stop the next flushes
            log.exception("Explorer failed to update its view")

    # -- filtering ---------------------------------------------------------------
    def _criteria(self) -> dict[str, Any]:
        f = self.filters
        kind = f.kind.value
        return {
            "conn": None if f.conn.value == ANY else f.conn.value,
            "direction": f.direction.value or None,
            "opcode": _opcode_values(f.opcode.value),
            "text": f.text.value or None,
            "kind": "frame" if kind == "violation" else kind or None,
        }

    def _apply_filters(self, records: Records | Capture) -> list[Record]:
        criteria = self._criteria()
        if all(v is None for v in criteria.values()):
            return list(records)
        out = list(records.filter(**criteria))
        if self.filters.kind.value == "violation":
            out = [r for r in out if isinstance(r, FrameRecord) and r.error is not None]
        return out

    def _refilter(self) -> None:
        if self._pending:
            self._count(self._pending)
            self._pending = []
        self._matching = self._apply_filters(self.capture)
        self._dropped_seen = self._dropped()
        self._first_seq = None
        self.table.follow = True
        self._update_conn_options()
        self._render()

    def _on_filter(self, change: dict[str, Any]) -> None:
        if not self._updating and not self._closed:
            self._refilter()

    # -- bookkeeping ---------------------------------------------------------------
    def _dropped(self) -> int:
        return self.capture.dropped if isinstance(self.capture, Capture) else 0

    def _max_records(self) -> int:
        return self.capture.max_records if isinstance(self.capture, Capture) else len(self.capture)

    def _oldest_seq(self) -> int:
        capture = self.capture
        return capture[0].seq if len(capture) else 0

    def _count(self, records: Iterable[Record]) -> None:
        for r in records:
            if type(r) is FrameRecord:
                self._frames += 1
                self._frame_bytes += r.nbytes

    def _trim_evicted(self) -> None:
        dropped = self._dropped()
        if dropped == self._dropped_seen:
            return
        self._dropped_seen = dropped
        oldest = self._oldest_seq()
        cut = bisect.bisect_left(self._matching, oldest, key=_seq)
        if cut:
            del self._matching[:cut]
        if self._awaiting:
            self._awaiting = {seq for seq in self._awaiting if seq >= oldest}

    def _update_conn_options(self) -> None:
        conns = self.capture.connections
        if conns == self._known_conns:
            return
        self._known_conns = conns
        dropdown = self.filters.conn
        value = dropdown.value
        options = [("all", ANY), *((f"#{c}", c) for c in conns)]
        if value != ANY and value not in conns:
            options.append((f"#{value}", value))
        self._updating = True
        try:
            with dropdown.hold_trait_notifications():
                dropdown.options = options
                dropdown.value = value
        finally:
            self._updating = False

    def _start_index(self) -> int:
        n = len(self._matching)
        if self._first_seq is None:
            return max(0, n - self.window)
        i = bisect.bisect_left(self._matching, self._first_seq, key=_seq)
        return max(0, min(i, n - 1))

    def _render(self) -> None:
        """Send the window, the counts and the counters, as one update."""
        start = self._start_index()
        shown = self._matching[start : start + self.window]
        cache = self._row_cache
        rows = []
        for r in shown:
            row = cache.get(r.seq)
            if row is None or r.seq in self._awaiting:
                row = self._row(r)
            rows.append(row)
        self._row_cache = {row["seq"]: row for row in rows}
        counters = {
            "records": len(self.capture),
            "frames": self._frames,
            "bytes": self._frame_bytes,
            "connections": len(self.capture.connections),
            "dropped": self._dropped(),
        }
        table = self.table
        with table.hold_sync():
            changed = rows != table.rows or counters != table.counters or len(self._matching) != table.total
            table.rows = rows
            table.first_index = start
            table.total = len(self._matching)
            table.counters = counters
            if self._first_seq is None and not table.follow:
                table.follow = True
        if changed:
            self.updates += 1

    def _row(self, record: Record) -> dict[str, Any]:
        message = None
        if type(record) is FrameRecord:
            message, decided = self._compressed_message(record)
            if decided:
                self._awaiting.discard(record.seq)
            else:
                self._awaiting.add(record.seq)
        return record_row(record, self._t0, message=message, opened=self._opening(record.conn))

    def _opening(self, conn: int | None) -> OpenRecord | None:
        """The handshake of connection ``conn`` (how its records arrived), looked up once it is found."""
        if conn is None:
            return None
        opened = self._openings.get(conn)
        if opened is None:
            opened = self.capture.opening(conn)
            if opened is not None:
                self._openings[conn] = opened
        return opened

    # -- permessage-deflate ----------------------------------------------------------
    def _deflate_params(self, conn: int | None) -> DeflateParams | None:
        """What connection ``conn`` agreed on for permessage-deflate (None: not negotiated), looked up once."""
        if conn not in self._deflate_conns:
            self._deflate_conns[conn] = self.capture.deflate_params(conn)
        return self._deflate_conns[conn]

    def _compressed_message(self, frame: FrameRecord) -> tuple[MessageRecord | None, bool]:
        """The compressed message (RFC 7692) a frame belongs to, and whether that is decided yet.

        Only frames of a connection that negotiated permessage-deflate are
        looked at; the capture's query decides (``compressed_message``), over
        at most ``_MESSAGE_SCAN`` records. Until the message is recorded the
        answer is not decided, and the row is built again later.
        """
        if not self._deflate_params(frame.conn):
            return None, True
        return self.capture.compressed_message(frame, limit=_MESSAGE_SCAN)

    # -- selection and paging from the browser ----------------------------------------
    def _on_follow(self, change: dict[str, Any]) -> None:
        if change["new"]:
            if self._first_seq is not None:
                self._first_seq = None
                self._render()
        elif self._first_seq is None and self._matching:
            self._first_seq = self._matching[self._start_index()].seq

    def _on_table_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("page") in ("older", "newer", "latest"):
            self.page(content["page"])

    def _find(self, seq: int) -> Record | None:
        capture = self.capture
        i = bisect.bisect_left(capture, seq, key=_seq)  # type: ignore[arg-type]
        if i < len(capture):
            r = capture[i]
            if r.seq == seq:
                return r
        return None

    def _on_select(self, change: dict[str, Any]) -> None:
        if self._closed:
            return
        seq = change["new"]
        self.message = None
        if seq is None:
            self._set_detail("<i>select a row to see its bits</i>", [])
            return
        record = self._find(seq)
        if record is None:
            self._set_detail(f"record #{seq} is no longer in the capture (evicted: the capture keeps "
                             f"{self._max_records()} records at most)", [])
            return
        head = f"<code>{html.escape(format_record(record))}</code>"
        opened = record if isinstance(record, OpenRecord) else self._opening(record.conn)
        if opened is not None and not isinstance(record, (FrameRecord, OpenRecord)):
            head += via_html(opened)  # a FrameView and a HandshakeView say it themselves
        if isinstance(record, FrameRecord):
            params = self._deflate_params(record.conn)
            compressed, _ = self._compressed_message(record)
            view = FrameView(record, role="server" if record.direction == "in" else "client", deflate=params,
                             inflated=None if compressed is None else compressed.data, opened=opened)
            self.message, note = self._message_of(record)
            self._set_detail(head, [view, widgets.HTML(note)], view)
        elif isinstance(record, OpenRecord):
            view = HandshakeView(record)
            self._set_detail(head, [view], view)
        elif isinstance(record, MessageRecord):
            self._set_detail(head, [widgets.HTML(self._message_html(record))])
        else:
            self._set_detail(head, [])

    def _set_detail(self, header: str | None, body: list[widgets.Widget],
                    view: widgets.Widget | None = None) -> None:
        old = self._detail_body.children
        if header is not None:
            self._detail_header.value = header
        self._detail_body.children = tuple(body)
        self.detail_view = view
        for w in old:
            w.close()

    # -- messages ------------------------------------------------------------------
    def _message_of(self, frame: FrameRecord) -> tuple[MessageRecord | None, str]:
        """The message a data frame ends up in (section 5.4), and a line saying so."""
        if frame.error is not None:
            return None, "<p>This frame broke a rule, so the connection failed: it is part of no message.</p>"
        if frame.opcode not in DATA_OPCODES:
            return None, ("<p>A control frame (section 5.5): it stands alone, even between the fragments "
                          "of a message, and is part of no message.</p>")
        message, _ = self.capture.message_of(frame, limit=_MESSAGE_SCAN)
        if message is not None:
            return message, f"<p>Part of message:</p>{self._message_html(message)}"
        if frame.direction == "out":
            return None, ("<p>The server records the messages it receives, and of those it sends only the "
                          "compressed ones (permessage-deflate); this one is recorded as its frames only.</p>")
        return None, "<p>No complete message yet: the message this frame starts or continues has not ended.</p>"

    def _message_html(self, m: MessageRecord, *, with_clock: bool = True) -> str:
        data = m.data
        deflated = ("" if m.compressed_size is None else
                    f"<p>Compressed (permessage-deflate, RFC 7692): {m.compressed_size} B of deflate data on the "
                    f"wire inflated to these {data_size(data)} B.</p>")
        if isinstance(data, str):
            cut = len(data) > _MESSAGE_TEXT
            shown = html.escape(escape(data[:_MESSAGE_TEXT])) + (ELLIPSIS if cut else "")
        else:
            shown = html.escape(hex_preview(data, _MESSAGE_TEXT // 3))
        line = format_record(m) if with_clock else f"#{m.conn} {format_body(m)}"
        return (f"<div class='wsx-message'><code>{html.escape(line)}</code>{deflated}"
                f"<pre style='white-space:pre-wrap;max-height:12em;overflow:auto'>{shown}</pre></div>")


def _seq(record: Record) -> int:
    return record.seq
