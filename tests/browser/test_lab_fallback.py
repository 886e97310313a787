"""Static fallbacks in a real JupyterLab: the stored HTML before the cell runs, the live widget after.

The notebook is executed outside Lab as ``make notebooks`` does (nbclient, no widget state stored),
so its outputs are what a stored notebook holds: the widget view, its text/plain and its text/html.
Lab has not signed it, so it does not trust those outputs and renders only safe types: the
sanitized static HTML, with the frame's bits. Once the cell runs, the kernel's new output is
trusted and Lab draws the live anywidget instead, not the HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from wsexplore.widgets.fallback import STATIC_CLASS

from .lab import KERNELSPEC, UI_TIMEOUT, Lab, bits_of, output_of, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM_FRAME = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48")
HANDSHAKE = ("GET /ws HTTP/1.1\\r\\nHost: 127.0.0.1:8765\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")


def test_lab_shows_the_stored_html_until_the_cell_runs_then_the_live_widget(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.cells = [
        nbformat.v4.new_code_cell("from wsexplore.widgets import FrameView, HandshakeView\n"
                                  f'FrameView(bytes.fromhex("{CHROMIUM_FRAME.hex()}"))'),
        nbformat.v4.new_code_cell(f'HandshakeView(b"{HANDSHAKE}")'),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3", store_widget_state=False).execute()
    assert "text/html" in nb.cells[0].outputs[0].data
    nbformat.write(nb, lab.root / "fallback.ipynb")

    notebook = open_notebook("fallback.ipynb")
    # Stored, untrusted outputs: the static HTML, sanitized, with every bit of the frame in its grid.
    static = output_of(notebook, 0).locator(f".{STATIC_CLASS}")
    expect(static).to_have_count(1, timeout=UI_TIMEOUT)
    expect(output_of(notebook, 0).locator(".wsx-frameview")).to_have_count(0)
    cells = static.locator("table").first.locator("td")
    expect(cells).to_have_count(8 * len(CHROMIUM_FRAME))
    assert "".join(cells.all_inner_texts()) == bits_of(CHROMIUM_FRAME)
    expect(output_of(notebook, 1).locator(f".{STATIC_CLASS}")).to_contain_text("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    screenshot(lab_page, notebook.cell(0), artifacts_dir / "lab-fallback-stored.png")

    # Run: the kernel's own output is trusted, and Lab draws the live widget, not the HTML.
    notebook.run_cell(0)
    notebook.run_cell(1)
    live = output_of(notebook, 0).locator(".wsx-frameview")
    expect(live).to_have_count(1, timeout=UI_TIMEOUT)
    expect(live.locator(".wsx-bit")).to_have_count(8 * len(CHROMIUM_FRAME))
    expect(output_of(notebook, 0).locator(f".{STATIC_CLASS}")).to_have_count(0)
    expect(output_of(notebook, 1).locator(".widget-html")).to_contain_text("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    expect(output_of(notebook, 1).locator(f".{STATIC_CLASS}")).to_have_count(0)
    screenshot(lab_page, notebook.cell(0), artifacts_dir / "lab-fallback-live.png")
