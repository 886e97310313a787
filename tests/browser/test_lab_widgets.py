"""The widgets in a real JupyterLab, in Debian's Chromium: what a person sees and clicks.

JupyterLab runs as a subprocess of the test (``lab.py``: loopback, a free port,
a random token, offline) serving a temporary directory that holds the
notebooks: small ones written here with ``nbformat`` and a copy of
``notebooks/05-live-server.ipynb``. Cells run through Lab's own commands (the
Run menu's), awaited until the kernel is done; the page is then read and
clicked like a person would. Each test saves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from wsexplore import Opcode, apply_mask, dissect
from wsexplore.widgets import FrameView

from .lab import LARGE_CELLS, REPO, UI_TIMEOUT, Lab, LabNotebook, bits_of, output_of, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

#: The text frame Chromium sent in the tutorial: "发送数据", masked with 55 d0 e1 e6 (RFC 6455 section 5.7).
CHROMIUM_FRAME = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48")
TEXT = "发送数据"


# ---------------------------------------------------------------------------- 1. FrameView
def test_frameview_draws_every_bit_and_label_and_a_click_flips_fin_in_the_kernel(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    # The same class, in this process, says what the browser must draw.
    expected = FrameView(CHROMIUM_FRAME, editable=True)
    # FIN cleared, nothing else: the first byte becomes 0 000 0001 (FIN=0, RSV=000, opcode TEXT, section 5.2).
    flipped = bytes([0b0000_0001]) + CHROMIUM_FRAME[1:]
    expected_after = FrameView(flipped, editable=True)
    assert expected.drawn_bits == 144 and expected.frame is not None and expected.frame.fin

    name = lab.write_notebook("frameview.ipynb", [
        "from wsexplore.widgets import FrameView\n"
        f'v = FrameView(bytes.fromhex("{CHROMIUM_FRAME.hex()}"), editable=True)\n'
        "v",
    ])
    nb = open_notebook(name)
    outputs = nb.run_cell(0)
    assert any("FrameView(TEXT" in o.get("data", {}).get("text/plain", "") for o in outputs), outputs

    view = output_of(nb, 0).locator(".wsx-frameview")
    cells = view.locator(".wsx-bit")
    expect(cells).to_have_count(144, timeout=UI_TIMEOUT)
    labels = view.locator(".wsx-label")
    expect(labels).to_have_count(len(expected.drawn_fields))
    assert labels.evaluate_all("ls => ls.map(l => l.dataset.field)") == expected.drawn_fields
    # Every cell shows its bit of the frame, in order.
    assert "".join(cells.all_inner_texts()) == bits_of(CHROMIUM_FRAME)
    assert cells.evaluate_all("cs => cs.map(c => Number(c.dataset.bit))") == list(range(144))
    expect(view.locator(".wsx-summary")).to_contain_text(expected.summary)
    expect(view.locator(".wsx-error")).to_have_count(0)
    expect(view.locator(".wsx-ok")).to_have_text("no violation")
    screenshot(lab_page, view, artifacts_dir / "lab-frameview.png")

    # Click FIN: the page sends the new bytes, the kernel re-dissects and sends the new fields back.
    fin = view.locator('.wsx-bit[data-bit="0"]')
    expect(fin).to_have_attribute("data-field", "FIN")
    fin.click()
    expect(view.locator('.wsx-bit[data-bit="0"]')).to_have_text("0")
    expect(view.locator(".wsx-summary")).to_contain_text(expected_after.summary)
    assert expected_after.summary != expected.summary
    expect(view.locator(".wsx-hex-input")).to_have_value(" ".join(f"{b:02x}" for b in flipped))
    screenshot(lab_page, view, artifacts_dir / "lab-frameview-fin-flipped.png")

    # The kernel's own frame changed, in FIN only: read it from a new cell.
    printed = nb.run_code("print(v.frame.fin, v.frame.opcode.name, v.frame.mask_key.hex(), "
                          "v.frame.payload.decode(), v.data.hex())")
    assert printed.split() == ["False", "TEXT", "55d0e1e6", TEXT, flipped.hex()]


# ---------------------------------------------------------------------------- 2. BrowserClient -> Server -> Explorer
def _wait_new_browser_row(page: Any, explorer: Any, after_seq: int) -> dict[str, str]:
    """The first TEXT frame row coming in after ``after_seq``, once the Explorer shows it (nothing else is run)."""
    handle = page.wait_for_function(
        """([root, after]) => {
          const rows = root.querySelectorAll('tr.wsx-row[data-kind="frame"][data-direction="in"][data-opcode="TEXT"]');
          for (const tr of rows) {
            if (Number(tr.dataset.seq) > after) return { ...tr.dataset, text: tr.innerText };
          }
          return null;
        }""",
        arg=[explorer.element_handle(), after_seq], timeout=UI_TIMEOUT)
    return handle.json_value()


def _max_seq(explorer: Any) -> int:
    seqs = explorer.locator("tr.wsx-row").evaluate_all("rs => rs.map(r => Number(r.dataset.seq))")
    return max(seqs, default=0)


def _execution_counts(nb: LabNotebook) -> list[Any]:
    return nb.evaluate("(path) => panelOf(path).content.widgets.map(c => c.model.executionCount ?? null)")


def test_browser_client_text_reaches_the_kernel_server_and_the_explorer_shows_it_live(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.write_notebook("live.ipynb", [
        "import wsexplore as ws\n"
        "from wsexplore.widgets import BrowserClient, Explorer\n"
        "server = await ws.Server().start()\n"
        "server",
        "explorer = Explorer(server)\nexplorer",
        "client = BrowserClient(server)\nclient",
    ])
    nb = open_notebook(name)
    started = nb.run_cell(0)[0]["data"]["text/plain"]
    port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/", started).group(1))
    for i in (1, 2):
        nb.run_cell(i)
    explorer = output_of(nb, 1).locator(".wsx-explorer")
    client = output_of(nb, 2).locator(".wsx-client")
    expect(client.locator(".wsx-mode")).to_have_text("direct")  # Lab on this machine: no proxy in between
    expect(client.locator(".wsx-url")).to_have_value(f"ws://127.0.0.1:{port}/")

    client.locator(".wsx-connect").click()
    expect(client.locator(".wsx-status")).to_have_text("open")
    ran = _execution_counts(nb)
    client.locator(".wsx-text").fill(TEXT)
    client.locator(".wsx-send-text").click()

    # The Explorer's table updates by itself: no cell is run from here on until the row is there.
    row = _wait_new_browser_row(lab_page, explorer, 0)
    assert row["mask"] == "1" and row["fin"] == "1", row
    assert TEXT in row["text"], row
    assert _execution_counts(nb) == ran, "a cell ran while waiting for the row"
    message = explorer.locator('tr.wsx-row[data-kind="message"][data-direction="in"][data-opcode="TEXT"]')
    expect(message).to_have_count(1)
    expect(message).to_contain_text(TEXT)
    # The server echoed it; the browser's log shows the echo.
    expect(client.locator('.wsx-log li[data-dir="in"][data-kind="text"]')).to_contain_text(f'12 B: "{TEXT}"')
    expect(explorer.locator('tr.wsx-row[data-kind="frame"][data-direction="out"][data-opcode="TEXT"]')
           ).to_have_count(1)
    lab_page.wait_for_timeout(300)  # let the next batched update land, so the screenshot is the final table
    screenshot(lab_page, nb.cell(1), artifacts_dir / "lab-browser-client-explorer.png")

    # The kernel holds the browser's frame: masked with a key the browser chose, payload 发送数据.
    printed = nb.run_code(
        "import json\n"
        "frames = [r for r in server.capture.filter(kind='frame', direction='in') if r.opcode == ws.Opcode.TEXT]\n"
        "opens = server.capture.filter(kind='open')\n"
        "print(json.dumps({'seq': [r.seq for r in frames], 'raw': [r.raw.hex() for r in frames],\n"
        "                  'request': [o.request.decode('latin-1') for o in opens]}))"
    )
    seen = json.loads(printed)
    assert seen["seq"] == [int(row["seq"])]
    raw = bytes.fromhex(seen["raw"][0])
    d = dissect(raw, role="server")
    assert d.error is None and d.frame is not None
    assert d.frame.fin and d.frame.opcode == Opcode.TEXT and raw[1] & 0x80
    key = d.frame.mask_key
    assert key is not None and len(key) == 4 and raw[2:6] == key
    assert apply_mask(raw[6:], key) == TEXT.encode() and d.frame.payload.decode() == TEXT
    (request,) = seen["request"]
    assert "Chrome" in request and "Sec-WebSocket-Key" in request


# ---------------------------------------------------------------------------- 3. notebook 05 in Lab
def test_live_server_notebook_runs_in_lab_and_its_browser_client_shows_up_in_its_explorer(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.copy_notebook(REPO / "notebooks" / "05-live-server.ipynb")
    nb = open_notebook(name)
    sources = nb.evaluate("(path) => panelOf(path).content.widgets.map(c => c.model.sharedModel.getSource())")
    last = len(sources) - 1
    assert "server.stop()" in sources[last], "05-live-server's last cell is expected to stop the server"
    explorer_cell = next(i for i, s in enumerate(sources) if "Explorer(server)" in s)
    client_cell = next(i for i, s in enumerate(sources) if "BrowserClient(server)" in s)

    # The stored outputs (and widget views restored from the saved state) go first, so every
    # widget found below is one this run made.
    nb.command("notebook:clear-all-cell-outputs")
    # The last cell stops the server, so the browser has to send before it runs. Lab's own
    # "Run All Above Selected Cell" with the last cell selected runs everything else (server,
    # Explorer, BrowserClient, the Python-driven traffic) top to bottom; then the browser
    # sends; then the last cell runs, and the browser sees its connection closed.
    nb.select(last)
    nb.command("notebook:run-all-above", timeout=180)
    cells = nb.evaluate(
        "(path) => panelOf(path).content.widgets.map(c => [c.model.type, c.model.executionCount ?? null])")
    for i, (kind, count) in enumerate(cells):
        nb.raise_errors(i, nb.outputs(i))
        if kind == "code":
            assert (count is None) == (i == last), f"cell {i} ran: {count is not None}"

    explorer = output_of(nb, explorer_cell).locator(".wsx-explorer")
    client = output_of(nb, client_cell).locator(".wsx-client")
    expect(explorer.locator("tr.wsx-row").first).to_be_visible()
    before = _max_seq(explorer)  # the Python-driven frames of the notebook are already listed
    assert before > 0

    client.locator(".wsx-connect").click()
    expect(client.locator(".wsx-status")).to_have_text("open")
    client.locator(".wsx-text").fill(TEXT)
    client.locator(".wsx-send-text").click()
    row = _wait_new_browser_row(lab_page, explorer, before)
    assert row["mask"] == "1" and row["fin"] == "1" and TEXT in row["text"], row

    # Select the row: its FrameView shows the browser's masked frame bit by bit.
    explorer.locator(f'tr.wsx-row[data-seq="{row["seq"]}"]').click()
    detail = output_of(nb, explorer_cell).locator(".wsx-frameview")
    expect(detail.locator(".wsx-bit")).to_have_count(8 * (2 + 4 + len(TEXT.encode())))
    expect(detail.locator('.wsx-bit[data-bit="8"]')).to_have_text("1")  # MASK
    expect(detail.locator(".wsx-masking-row")).to_have_count(len(TEXT.encode()))
    screenshot(lab_page, output_of(nb, explorer_cell), artifacts_dir / "lab-05-live-server.png")

    # Now the last cell: the server stops, and the browser's socket is closed by it.
    nb.run_cell(last)
    expect(client.locator(".wsx-status")).to_have_text("closed")
    expect(client.locator('.wsx-log li[data-kind="close"]')).to_have_count(1)
    expect(client.locator('.wsx-log li[data-dir="in"][data-kind="text"]')).to_contain_text(f'12 B: "{TEXT}"')
    screenshot(lab_page, nb.cell(client_cell), artifacts_dir / "lab-05-live-server-client.png")


# ---------------------------------------------------------------------------- 4. a large frame, 10,000 records
# How long each step takes is a make bench figure (group "browser", the same steps timed in the page).
def test_frameview_of_a_125_byte_payload_and_an_explorer_of_ten_thousand_records(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.write_notebook("large.ipynb", LARGE_CELLS)
    nb = open_notebook(name)
    frame_size, second_byte = ast.literal_eval(nb.run_cell(0)[0]["data"]["text/plain"])
    # The kernel encodes it in the 7-bit form: MASK=1 and Payload len 125 in the second byte, no
    # extended length, so 2 header bytes + 4 key bytes + 125 payload bytes.
    assert second_byte == 0b1_1111101
    assert frame_size == 2 + 4 + 125

    # -- FrameView of a frame with a 125-byte payload: every bit cell drawn.
    bits = 8 * frame_size
    nb.run_cell(1)
    view = output_of(nb, 1).locator(".wsx-frameview")
    expect(view.locator(".wsx-bit")).to_have_count(bits)
    # The page draws that length: bits 9-15 (Payload len) read 125.
    length_bits = view.locator(".wsx-bit").evaluate_all(
        "cs => cs.filter(c => Number(c.dataset.bit) >= 9 && Number(c.dataset.bit) < 16).map(c => c.innerText)")
    assert "".join(length_bits) == f"{125:07b}"
    # A bit flipped: the page sends the bytes, the kernel re-dissects, the view redraws with its summary.
    summary_before = view.locator(".wsx-summary").inner_text()
    view.locator('.wsx-bit[data-bit="0"]').click()
    expect(view.locator(".wsx-summary")).not_to_have_text(summary_before)
    screenshot(lab_page, view, artifacts_dir / "lab-frameview-125.png")

    # -- Explorer: 10,000 records appended in one cell; the table shows the latest row by itself.
    nb.run_cell(2)
    table_node = output_of(nb, 2).locator(".wsx-explorer")
    expect(table_node).to_be_visible()
    printed = LabNotebook.stdout(nb.run_cell(3)).split()  # records, the last one's number, milliseconds
    assert printed[:2] == ["10000", "10000"], printed
    last_row = table_node.locator('tr.wsx-row[data-seq="10000"]')
    expect(last_row).to_have_count(1)
    expect(table_node.locator(".wsx-counters")).to_contain_text("10000 records")
    expect(table_node.locator(".wsx-range")).to_contain_text("of 10000")
    assert table_node.locator("tr.wsx-row").count() <= 200, "the Explorer renders a window of rows, not all"

    # Click the latest row: its FrameView appears in the detail pane.
    detail = output_of(nb, 2).locator(".wsx-frameview")
    last_row.click()
    expect(detail.locator(".wsx-bit")).to_have_count(8 * (2 + 4 + len(b"message 9999")))
    # Click another row: the detail pane changes to that record's frame.
    other_seq = 9_901  # record #1 is the handshake, #n the frame i = n - 1: even i went out, unmasked
    table_node.locator(f'tr.wsx-row[data-seq="{other_seq}"]').click()
    expect(detail.locator(".wsx-bit")).to_have_count(8 * (2 + len(f"message {other_seq - 1}".encode())))
    # Page to older rows: the window moves by the kernel's answer, and stops following the newest.
    first_seq = table_node.locator("tr.wsx-row").first.get_attribute("data-seq")
    table_node.locator(".wsx-older").click()
    expect(table_node.locator("tr.wsx-row").first).not_to_have_attribute("data-seq", first_seq)
    expect(table_node.locator(".wsx-follow input")).not_to_be_checked()
    screenshot(lab_page, output_of(nb, 2), artifacts_dir / "lab-explorer-10000.png")
