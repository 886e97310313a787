"""permessage-deflate with a real Chromium: the browser's own compression, as captured.

The server runs with ``compression="deflate"`` and accepts the offer every
Chromium handshake makes (``permessage-deflate; client_max_window_bits``,
RFC 7692 section 7.1). Chromium then compresses every message it sends: the
captured "in" frames carry RSV1 (section 6), are masked with the browser's
own keys (RFC 6455 section 5.3), and inflate to exactly what the page sent.
The server's echoes are compressed too, and the page shows them inflated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wsexplore.capture import FrameRecord, MessageRecord, OpenRecord, Record
from wsexplore.protocol import handshake
from wsexplore.protocol.deflate import DeflateParams, PerMessageDeflate
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets.frameview import FrameView

from .conftest import ThreadedServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

TEXT = "发送数据" * 20  # 240 bytes of UTF-8: compression matters
BINARY_HEX = "01 02 03 " * 16
BINARY = bytes.fromhex(BINARY_HEX)


@pytest.fixture
def deflate_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer(compression="deflate")
    try:
        yield server
    finally:
        server.close()


def _frames(records: list[Record], direction: str) -> list[FrameRecord]:
    return [r for r in records if isinstance(r, FrameRecord) and r.direction == direction
            and r.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION)]


def _log_entries(page: Any, direction: str, kind: str, text: str, count: int) -> None:
    from playwright.sync_api import expect

    entry = page.locator(f'#log li[data-direction="{direction}"][data-kind="{kind}"]', has_text=text)
    expect(entry).to_have_count(count, timeout=20_000)


def test_chromium_compresses_and_the_capture_inflates_what_the_page_sent(deflate_server, page,
                                                                         artifacts: Path) -> None:
    from playwright.sync_api import expect

    server = deflate_server.server
    page.goto(server.http_url)
    expect.set_options(timeout=20_000)
    page.click("#connect")
    expect(page.locator("#state")).to_have_text("open")
    # The browser reports the extension the server accepted.
    _log_entries(page, "sys", "open",
                 'extensions="permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"', 1)

    sent: list[str | bytes] = [TEXT, BINARY, TEXT]
    page.fill("#text", TEXT)
    page.click("#send-text")
    _log_entries(page, "in", "text", f'240 B: "{TEXT}"', 1)
    page.fill("#hex", BINARY_HEX)
    page.click("#send-binary")
    _log_entries(page, "in", "binary", f"{len(BINARY)} B: {BINARY.hex(' ')}", 1)
    page.click("#send-text")  # the same text again: context takeover makes it a few bytes
    _log_entries(page, "in", "text", f'240 B: "{TEXT}"', 2)

    records = deflate_server.wait_for(
        "the three echoed messages",
        lambda rs: rs if len([r for r in rs if isinstance(r, MessageRecord) and r.direction == "out"]) == 3 else None)
    page.screenshot(path=str(artifacts / "deflate-page.png"), full_page=True)

    # The handshake: Chromium's offer, the server's answer.
    (opened,) = [r for r in records if isinstance(r, OpenRecord)]
    request, _ = handshake.parse_request(opened.request)
    assert request.headers.get("Sec-WebSocket-Extensions") == "permessage-deflate; client_max_window_bits"
    response, _ = handshake.parse_response(opened.response)
    # The server's defaults (deflate.SERVER_DEFAULT): 12-bit windows, Chromium's asked for as it offered.
    assert response.headers.get_all("Sec-WebSocket-Extensions") == [
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"]
    params = server.capture.deflate_params(opened.conn)
    assert params == DeflateParams(server_max_window_bits=12, client_max_window_bits=12)

    # What the browser put on the wire: one compressed frame per message, RSV1 set, masked with its own keys.
    frames_in = _frames(records, "in")
    assert len(frames_in) == 3
    keys = set()
    for rec, message in zip(frames_in, sent):
        f = rec.frame
        assert rec.error is None and f.fin and f.rsv1 and not (f.rsv2 or f.rsv3)
        assert rec.raw[0] & 0x40 and rec.raw[1] & 0x80  # RSV1 and MASK on the wire
        assert f.mask_key is not None and len(f.mask_key) == 4
        keys.add(f.mask_key)
        data = message.encode() if isinstance(message, str) else message
        assert f.payload != data and len(f.payload) < len(data)
        d = server.capture.dissect(rec)
        assert d.ok and d.compressed and d.inflated == data
        assert d.field("RSV1").meaning.startswith("per-message compressed")
        assert d.compression_ratio == pytest.approx(len(f.payload) / len(data))
        if isinstance(message, str):
            assert d.text == message
    assert len(keys) == 3  # a fresh key per frame
    assert len(frames_in[2].frame.payload) < len(frames_in[0].frame.payload)  # the window remembers the text

    # Inflated independently, in order, with one window (as the server's connection does): the same bytes.
    receiver = PerMessageDeflate(params, "server")
    assert [receiver.inflate(r.frame.payload) for r in frames_in] == [
        m.encode() if isinstance(m, str) else m for m in sent]

    # The server's echoes: compressed as well (RSV1), unmasked, inflating to the same messages.
    frames_out = _frames(records, "out")
    assert len(frames_out) == 3
    for rec, message in zip(frames_out, sent):
        assert rec.raw[0] & 0x40 and not rec.raw[1] & 0x80 and rec.frame.mask_key is None
        d = server.capture.dissect(rec)
        assert d.ok and d.compressed and d.inflated == (message.encode() if isinstance(message, str) else message)

    # The FrameView of the browser's frame, drawn by frameview.js: the permessage-deflate panel.
    from tests.widgets.test_frameview_js import Page

    view = FrameView(frames_in[0], capture=server.capture)
    widget_page = page.context.new_page()
    Page(widget_page, view)
    panel = widget_page.locator(".wsx-deflate")
    expect(panel).to_have_count(1)
    expect(panel.locator("summary")).to_have_text(
        "permessage-deflate (RFC 7692): RSV1=1, the first frame of a compressed message")
    expect(panel.locator(".wsx-inflated-text")).to_have_text(TEXT)
    expect(panel.locator(".wsx-inflated")).to_have_attribute("data-size", "240")
    expect(panel.locator(".wsx-ratio-label")).to_contain_text(f"on the wire {len(frames_in[0].frame.payload)} B")
    expect(widget_page.locator('.wsx-bit[data-bit="1"]')).to_have_text("1")
    widget_page.hover('.wsx-label[data-field="RSV1"]')
    expect(widget_page.locator(".wsx-info")).to_contain_text("per-message compressed")
    widget_page.screenshot(path=str(artifacts / "deflate-frameview.png"), full_page=True)

    assert page.errors == []  # type: ignore[attr-defined]
    assert (artifacts / "deflate-page.png").stat().st_size > 10_000
