"""frameview.js in a real Chromium, against a kernel-side FrameView.

No Jupyter here: the page gets a small model object with anywidget's interface
(get, set, on, off, save_changes, send), filled from the Python widget's synced
state; what the script saves is fed back through ``_handle_msg`` as a browser's
update would be, and the new state is pushed to the page. This checks the
drawing and the edit path of the ES module itself; the JupyterLab test drives
the whole stack.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets import FrameView

from .test_frameview import CHROMIUM, browser_sends, browser_sets

pytestmark = pytest.mark.browser

from playwright import sync_api  # noqa: E402  (a test dependency: make test installs it)

CHROMIUM_PATH = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM_PATH):  # make test installs it; never pass silently without it
    raise RuntimeError(f"{CHROMIUM_PATH} is missing: run `make test` (it installs Debian's chromium)")

WIDGETS = Path(__file__).resolve().parents[2] / "wsexplore" / "widgets"

HARNESS = """
window.makeModel = (state) => {
  const values = { ...state };
  const listeners = {};
  window.saved = [];
  window.sent = [];
  const model = {
    get: (k) => values[k],
    set: (k, v) => { values[k] = v; (listeners["change:" + k] || []).forEach((f) => f()); window.dirty[k] = v; },
    on: (name, f) => { (listeners[name] = listeners[name] || []).push(f); },
    off: (name, f) => { listeners[name] = (listeners[name] || []).filter((g) => g !== f); },
    save_changes: () => { window.saved.push({ ...window.dirty }); window.dirty = {}; },
    send: (content) => window.sent.push(content),
  };
  window.dirty = {};
  window.kernel = (update) => {  // state pushed by the kernel
    for (const [k, v] of Object.entries(update)) {
      values[k] = v;
      (listeners["change:" + k] || []).forEach((f) => f());
    }
  };
  return model;
};
window.toBytes = (v) => Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
"""

SYNCED = ("role", "editable", "bit_layout", "masking_page", "rsv_allowed", "fields", "error", "summary", "masking",
          "masking_total", "frame_size", "masking_page_size", "max_bytes", "hex_error", "deflate_params", "compressed",
          "compression", "compressed_size", "inflated_size", "inflated_text", "inflated_hex", "compression_ratio",
          "via", "via_note", "reframed")


def test_harness_carries_every_synced_trait() -> None:
    own = {k for k in FrameView().keys if not k.startswith("_") and k not in widgets.DOMWidget.class_trait_names()}
    assert own == set(SYNCED) | {"data"}


def state(view: FrameView) -> dict[str, Any]:
    out = {name: getattr(view, name) for name in SYNCED}
    out["data_b64"] = base64.b64encode(view.data).decode()
    return out


class Page:
    """One page rendering one FrameView, kept in step with the kernel-side widget."""

    def __init__(self, page: Any, view: FrameView) -> None:
        self.page = page
        self.view = view
        self.last = state(view)
        page.set_content("<html><body><div id='root'></div></body></html>")
        page.add_style_tag(content=(WIDGETS / "frameview.css").read_text())
        page.add_script_tag(content=HARNESS)
        page.evaluate(
            """async ([src, state]) => {
                 const data = Uint8Array.from(atob(state.data_b64), (c) => c.charCodeAt(0));
                 delete state.data_b64;
                 state.data = new DataView(data.buffer);
                 const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
                 const mod = await import(url);
                 window.model = window.makeModel(state);
                 mod.default.render({ model: window.model, el: document.getElementById("root") });
               }""",
            [(WIDGETS / "frameview.js").read_text(), state(view)],
        )

    def push(self) -> None:
        """Send what changed in the kernel's state, as the widget manager does after a re-dissection."""
        now = state(self.view)
        changed = {k: v for k, v in now.items() if self.last.get(k) != v}
        self.last = now
        self.page.evaluate(
            """(s) => {
                 if ("data_b64" in s) {
                   s.data = new DataView(Uint8Array.from(atob(s.data_b64), (c) => c.charCodeAt(0)).buffer);
                   delete s.data_b64;
                 }
                 window.kernel(s);
               }""", changed)
        self.page.evaluate("() => new Promise((r) => setTimeout(r, 0))")

    def sync_back(self) -> None:
        """Apply what the script saved to the kernel-side widget, then push the result back."""
        saved = self.page.evaluate(
            "() => window.saved.splice(0).map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) =>"
            " [k, v instanceof DataView ? { bytes: window.toBytes(v) } : v])))")
        for update in saved:
            decoded = {k: bytes(v["bytes"]) if isinstance(v, dict) and "bytes" in v else v for k, v in update.items()}
            browser_sets(self.view, **decoded)
        for content in self.page.evaluate("() => window.sent.splice(0)"):
            browser_sends(self.view, content)
        self.push()

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()


@pytest.fixture(scope="module")
def browser() -> Any:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM_PATH, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == []


def test_draws_every_bit_and_one_label_per_field(page: Any) -> None:
    view = FrameView(CHROMIUM)
    p = Page(page, view)
    assert p.count(".wsx-bit") == view.drawn_bits == 144
    assert p.count(".wsx-label") == len(view.drawn_fields) == 9
    labels = page.eval_on_selector_all(".wsx-label", "els => els.map((e) => e.dataset.field)")
    assert labels == view.drawn_fields
    bits = page.eval_on_selector_all(".wsx-bit", "els => els.map((e) => e.textContent).join('')")
    assert bits == "".join(f"{b:08b}" for b in CHROMIUM)
    assert page.eval_on_selector('.wsx-bit[data-bit="8"]', "e => e.dataset.field") == "MASK"
    assert p.count(".wsx-error") == 0 and p.count(".wsx-ok") == 1
    assert p.count(".wsx-masking-row") == 12
    assert page.locator(".wsx-masking-row").first.inner_text().split() == ["0", "b0", "^", "55", "[0]", "=", "e5"]
    page.hover('.wsx-label[data-field="Opcode"]')
    assert "0x1: text frame" in page.inner_text(".wsx-info") and "RFC 6455 section 5.2" in page.inner_text(".wsx-info")


def test_rfc_layout_rows_of_32_bits(page: Any) -> None:
    view = FrameView(CHROMIUM, layout="rfc")
    p = Page(page, view)
    assert p.count(".wsx-row") == 5  # 18 bytes: 4 full rows of 32 bits, then 16 bits
    assert p.count(".wsx-bit") == 144 and p.count(".wsx-label") == 9
    page.click(".wsx-layout-toggle")
    p.sync_back()
    assert view.bit_layout == "bytes" and p.count(".wsx-row") == 18


def test_click_flips_fin_and_the_kernel_redissects(page: Any) -> None:
    view = FrameView(CHROMIUM, editable=True)
    p = Page(page, view)
    page.click('.wsx-bit[data-bit="0"]')
    p.sync_back()
    assert view.data[0] == 0x01 and view.frame.fin is False
    assert page.inner_text('.wsx-bit[data-bit="0"]') == "0"
    assert "FIN=0" in page.inner_text(".wsx-summary")

    page.click('.wsx-bit[data-bit="8"]')  # MASK: the violation lands on bit 8
    p.sync_back()
    assert view.error["field"] == "MASK"
    assert page.get_attribute(".wsx-error", "data-bit") == "8"
    assert "FramingError" in page.inner_text(".wsx-error-message")
    assert page.inner_text(".wsx-after") == "4 bytes after the frame (from byte 14): not part of it"
    assert p.count(".wsx-masking") == 0


def test_typed_hex_and_invalid_hex(page: Any) -> None:
    view = FrameView(CHROMIUM, editable=True)
    p = Page(page, view)
    page.fill(".wsx-hex-input", "81 8z")
    page.click(".wsx-hex-apply")
    p.sync_back()
    assert view.data == CHROMIUM
    assert "not a hex digit" in page.inner_text(".wsx-hex-error")
    assert page.input_value(".wsx-hex-input") == "81 8z"  # what was typed stays, to be corrected
    page.fill(".wsx-hex-input", "89 80 01 02 03 04")
    page.click(".wsx-hex-apply")
    p.sync_back()
    assert view.frame == Frame(Opcode.PING, mask_key=b"\x01\x02\x03\x04") and view.hex_error == ""
    assert p.count(".wsx-hex-error") == 0 and p.count(".wsx-bit") == 48


def test_masking_more_button_pages(page: Any) -> None:
    view = FrameView(Frame(Opcode.BINARY, bytes(range(200)), mask_key=b"\x01\x02\x03\x04"))
    p = Page(page, view)
    assert p.count(".wsx-masking-row") == 64
    page.click(".wsx-more")
    p.sync_back()
    assert view.masking_page == 1
    rows = page.eval_on_selector_all(".wsx-masking-row", "els => els.map((e) => Number(e.dataset.index))")
    assert rows == list(range(64, 128))


def test_large_frame_draws_only_the_first_bytes(page: Any) -> None:
    view = FrameView(Frame(Opcode.BINARY, bytes(100_000), mask_key=b"\x01\x02\x03\x04"))
    p = Page(page, view)
    assert p.count(".wsx-bit") == 8 * 256
    assert page.inner_text(".wsx-more-bytes") == f"{len(view.data) - 256} more bytes not drawn"
    assert json.loads(json.dumps(view.fields)) == view.fields  # plain JSON values only


def test_a_proxys_frame_says_so_above_its_bits(page: Any) -> None:
    from wsexplore.capture import Capture

    cap = Capture()
    opened = cap.opened(1, ("127.0.0.1", 1), b"GET / HTTP/1.1\r\n\r\n", b"", 101, via="jupyter-server-proxy")
    view = FrameView(CHROMIUM, opened=opened)
    p = Page(page, view)
    banner = page.locator(".wsx-via")
    assert banner.count() == 1 and "wsx-reframed" in banner.get_attribute("class")
    assert "the proxy's frame, not the browser's" in banner.inner_text()
    assert p.count(".wsx-bit") == 144  # the bits are still drawn, below the warning
    view.load(CHROMIUM)  # bytes of no connection: the warning goes
    p.push()
    assert page.locator(".wsx-via").count() == 0
