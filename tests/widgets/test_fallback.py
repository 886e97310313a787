"""Static fallbacks: every view's mime bundle also holds text/html of what it shows, and nbconvert renders it.

GitHub and nbviewer render notebooks with nbconvert, which draws a widget only
when the notebook stores that widget's state; the notebooks here store none, so
the ``text/html`` beside the widget view is what a reader without a kernel sees.
These tests read that HTML as such a reader would (the bits in the grid, the
rows of the table) and check that it is the same on every run, since nbval
compares it with the stored one.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from wsexplore.capture import Capture
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets import BrowserClient, Explorer, FrameBuilder, FrameView, HandshakeView
from wsexplore.widgets.fallback import STATIC_CLASS

from .test_explorer import REQUEST, RESPONSE, TEXT_IN, chromium_capture

pytestmark = pytest.mark.timeout(120)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def bundle(widget: object) -> dict:
    data = widget._repr_mimebundle_()  # type: ignore[attr-defined]
    return data[0] if isinstance(data, tuple) else data


class _Cells(HTMLParser):
    """The text of every <td>, in order, and the tables' rows."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html)
    return parser.rows


def grid_bits(html: str) -> str:
    """The bits of the grid: the rows whose cells are all 0 or 1 (the header row of numbers 0-31 is not)."""
    return "".join("".join(row) for row in table_rows(html)
                   if row and all(c in ("0", "1") for c in row) and len(row) > 2)


def test_frameview_bundle_has_the_widget_and_the_bit_grid() -> None:
    view = FrameView(TEXT_IN, editable=True)
    data = bundle(view)
    assert set(data) == {"text/plain", WIDGET_VIEW, "text/html"}
    assert data[WIDGET_VIEW]["model_id"] == view.model_id
    html = data["text/html"]
    assert f'class="{STATIC_CLASS}"' in html and "FrameView, as displayed" in html and "editable" in html
    # The grid holds the frame's bits as the widget draws them: the header, the key and the payload's
    # first 16 bytes (the same cut as the text diagram, said below the grid).
    expected = "".join(f"{b:08b}" for b in TEXT_IN)
    assert grid_bits(html) == expected[: len(grid_bits(html))]
    assert len(grid_bits(html)) == 8 * len(TEXT_IN)
    assert "Masking key" in html and "55 d0 e1 e6" in html and "no violation" in html
    assert "<script" not in html


def test_frameview_fallback_follows_an_edit_and_shows_the_violation() -> None:
    view = FrameView(TEXT_IN, editable=True)
    view.flip_bit(1)  # RSV1 without an extension: the bytes are now a broken frame
    html = bundle(view)["text/html"]
    assert grid_bits(html).startswith("11000001")
    assert "RSV1 is 1 but no extension" in html


def test_fallback_is_the_same_for_the_same_view_state() -> None:
    """nbval compares the stored text/html: two views of the same bytes must give the same HTML."""
    assert bundle(FrameView(TEXT_IN))["text/html"] == bundle(FrameView(TEXT_IN))["text/html"]
    cap = chromium_capture()
    assert bundle(Explorer(cap))["text/html"] == bundle(Explorer(cap))["text/html"]


def test_handshake_view_fallback_is_its_table() -> None:
    view = HandshakeView(REQUEST, RESPONSE)
    html = bundle(view)["text/html"]
    assert view.value in html and "HandshakeView, as displayed" in html
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in html and "✓" in html
    assert "hunter2" not in html  # the cookie stays redacted in the static copy too


def test_explorer_fallback_lists_the_rows_without_times() -> None:
    cap = chromium_capture()
    explorer = Explorer(cap)
    html = bundle(explorer)["text/html"]
    rows = table_rows(html)
    header = rows[0]
    assert header[:5] == ["#", "conn", "dir", "kind", "opcode"]
    body = [r for r in rows[1:] if r]
    assert [int(r[0]) for r in body] == [r.seq for r in cap]
    text_frame = body[1]
    assert text_frame[2:8] == ["in", "frame", "TEXT", "1", "000", "1"] and '"发送数据"' in text_frame[9]
    assert any("RSV1" in r[-1] or "FramingError" in r[-1] for r in body)  # the broken frame's rule
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{3}", html)  # no wall clock
    assert not re.search(r"[+-]\d+\.\d{3}\b", html)  # no relative time


def test_explorer_fallback_shows_filters_and_the_selected_frame() -> None:
    cap = chromium_capture()
    explorer = Explorer(cap)
    explorer.filters.direction.value = "in"
    explorer.table.selected = 2
    html = bundle(explorer)["text/html"]
    assert "direction=in" in html
    rows = [r for r in table_rows(html.split("selected #2", 1)[0])[1:] if r]
    assert rows and all(r[2] == "in" for r in rows)
    detail = html.split("selected #2", 1)[1]
    assert grid_bits(detail) == "".join(f"{b:08b}" for b in TEXT_IN)
    assert "Part of message" in detail and "发送数据" in detail
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{3}", html)


def test_explorer_fallback_of_a_handshake_row() -> None:
    explorer = Explorer(chromium_capture())
    explorer.table.selected = 1
    html = bundle(explorer)["text/html"]
    assert "selected #1" in html and "Sec-WebSocket-Accept, step by step" in html


def test_frame_builder_fallback_has_controls_bits_and_bytes() -> None:
    builder = FrameBuilder(frame=Frame(Opcode.PING, b"x" * 3, fin=False, mask_key=b"\x01\x02\x03\x04"))
    html = bundle(builder)["text/html"]
    assert "FIN=0" in html and "MASK=1" in html and "masking key 01 02 03 04" in html
    assert builder.hex.value in html  # the bytes as the builder writes them
    assert grid_bits(html).startswith("00001001")
    assert "fragmented" in html or "FIN" in html  # a control frame with FIN=0 breaks section 5.5
    assert "control frame" in html.lower()


async def test_browser_client_fallback_has_status_path_and_log() -> None:
    from wsexplore.live.server import Server

    async with Server() as server:
        client = BrowserClient(server)
        html = bundle(client)["text/html"]
        assert "closed" in html and client.url in html and "direct" in html
        assert "log: empty" in html
        client.history = [{"dir": "out", "kind": "text", "detail": '"hi"'}]
        html = bundle(client)["text/html"]
        assert "&quot;hi&quot;" in html and "log: empty" not in html


def test_closed_widget_has_no_bundle() -> None:
    view = FrameView(TEXT_IN)
    view.close()
    assert view._repr_mimebundle_ is None or bundle(view) is None


def _execute(source: str, tmp_path: Path, *, store_widget_state: bool) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=store_widget_state,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def test_nbconvert_renders_the_fallback_when_no_widget_state_is_stored(tmp_path: Path) -> None:
    """What GitHub and nbviewer do: nbconvert's HTML of the stored notebook shows the bits."""
    source = f'from wsexplore.widgets import FrameView\nFrameView(bytes.fromhex("{TEXT_IN.hex()}"))'
    nb = _execute(source, tmp_path, store_widget_state=False)
    assert "widgets" not in nb.metadata
    out = nb.cells[0].outputs[0]
    assert WIDGET_VIEW in out.data and "text/html" in out.data
    page, _ = HTMLExporter().from_notebook_node(nb)
    assert STATIC_CLASS in page
    assert grid_bits(page.split(STATIC_CLASS, 1)[1]) == "".join(f"{b:08b}" for b in TEXT_IN)

    # With the widget state stored, nbconvert draws the widget with JavaScript instead (which GitHub
    # does not run): that is why the notebooks are stored without it.
    with_state = _execute(source, tmp_path, store_widget_state=True)
    page, _ = HTMLExporter().from_notebook_node(with_state)
    assert STATIC_CLASS not in page and WIDGET_VIEW in page


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_notebook_holds_a_fallback_for_every_widget_and_no_widget_state(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], f"{path.name} stores widget state: nbconvert would not show the HTML"
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                assert STATIC_CLASS in "".join(data.get("text/html", "")), f"{path.name} cell {i}: no fallback"
