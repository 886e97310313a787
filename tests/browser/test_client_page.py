"""The built-in client page in a real Chromium: what the browser puts on the wire, as captured.

The page is the one ``GET /`` serves; the browser's own WebSocket stack does the
handshake (section 4.1), picks the masking keys (section 5.3) and answers the
server's ping with a pong (section 5.5.3), so the capture shows exactly what a
browser sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsexplore.capture import CloseRecord, FrameRecord, OpenRecord, Record
from wsexplore.protocol import handshake
from wsexplore.protocol.opcodes import Opcode

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def _frames(records: list[Record], direction: str, opcode: Opcode) -> list[FrameRecord]:
    return [r for r in records if isinstance(r, FrameRecord) and r.direction == direction and r.opcode == opcode]


def _log_entry(page: Any, direction: str, kind: str, text: str) -> Any:
    from playwright.sync_api import expect

    entry = page.locator(f'#log li[data-direction="{direction}"][data-kind="{kind}"]', has_text=text)
    expect(entry).to_have_count(1, timeout=20_000)
    return entry


def test_browser_frames_are_masked_by_the_browser_and_echoed(live_server, page, artifacts: Path) -> None:
    from playwright.sync_api import expect

    server = live_server.server
    page.goto(server.http_url)
    expect.set_options(timeout=20_000)
    expect(page).to_have_title("wsexplore client")
    expect(page.locator("#url")).to_have_value(f"{server.url}ws")
    expect(page.locator("#proxy-note")).to_be_hidden()

    page.click("#connect")
    expect(page.locator("#state")).to_have_text("open")
    # The server declines permessage-deflate, so the page reports no extension.
    _log_entry(page, "sys", "open", 'extensions=""')

    page.fill("#text", "发送数据")
    page.click("#send-text")
    _log_entry(page, "in", "text", '12 B: "发送数据"')
    page.fill("#hex", "01 02 03")
    page.click("#send-binary")
    _log_entry(page, "in", "binary", "3 B: 01 02 03")

    page.click("#ping")
    _log_entry(page, "sys", "ping", "pinged 1 connection(s)")
    pong = live_server.wait_for("pong from the browser", lambda rs: _frames(rs, "in", Opcode.PONG))

    page.screenshot(path=str(artifacts / "client-page.png"), full_page=True)

    # The handshake: Chromium's own request, its deflate offer declined.
    records = live_server.records()
    opens = [r for r in records if isinstance(r, OpenRecord)]
    assert len(opens) == 1 and opens[0].status == 101
    request, _ = handshake.parse_request(opens[0].request)
    assert request.path == "/ws"
    assert "Chrome" in request.headers.get("User-Agent")
    assert "permessage-deflate" in request.headers.get("Sec-WebSocket-Extensions")
    assert request.headers.get("Origin") == server.http_url.rstrip("/")
    assert b"sec-websocket-extensions" not in opens[0].response.lower()

    # The browser's frames: masked with keys of its own choosing, one per frame.
    (text_in,) = _frames(records, "in", Opcode.TEXT)
    (binary_in,) = _frames(records, "in", Opcode.BINARY)
    for rec in (text_in, binary_in):
        assert rec.error is None
        assert rec.raw[1] & 0x80, "MASK bit must be set on a client frame"
        assert rec.frame.mask_key is not None and len(rec.frame.mask_key) == 4
        assert not (rec.frame.rsv1 or rec.frame.rsv2 or rec.frame.rsv3)
    assert text_in.frame.mask_key != binary_in.frame.mask_key
    assert text_in.frame.fin and text_in.frame.payload == "发送数据".encode()
    assert text_in.raw[6:] != text_in.frame.payload  # masked on the wire
    assert binary_in.frame.fin and binary_in.frame.payload == b"\x01\x02\x03"

    # The server's replies: unmasked (section 5.1), same payloads.
    (text_out,) = _frames(records, "out", Opcode.TEXT)
    (binary_out,) = _frames(records, "out", Opcode.BINARY)
    assert text_out.frame.mask_key is None and not text_out.raw[1] & 0x80
    assert text_out.raw == b"\x81\x0c" + "发送数据".encode()
    assert binary_out.raw == b"\x82\x03\x01\x02\x03"

    # The ping came from the server; the browser's pong echoes its payload, masked.
    (ping_out,) = _frames(records, "out", Opcode.PING)
    assert ping_out.frame.payload == b"wsexplore" and ping_out.frame.mask_key is None
    assert pong[0].frame.payload == b"wsexplore" and pong[0].frame.mask_key is not None

    # Closing from the page: a clean close, started by the client. The page's close
    # event reports the server's answering close frame, whose body is the bare code.
    page.fill("#code", "1000")
    page.fill("#reason", "bye")
    page.click("#close")
    _log_entry(page, "sys", "close", 'code=1000 reason="" clean=true')
    expect(page.locator("#state")).to_have_text("closed")
    (close,) = live_server.wait_for("close record", lambda rs: [r for r in rs if isinstance(r, CloseRecord)])
    assert (close.code, close.reason, close.initiator, close.clean) == (1000, "bye", "remote", True)
    (close_in,) = _frames(live_server.records(), "in", Opcode.CLOSE)
    assert close_in.frame.payload == b"\x03\xe8bye" and close_in.frame.mask_key is not None

    assert page.errors == []  # type: ignore[attr-defined]
    assert (artifacts / "client-page.png").stat().st_size > 10_000


def test_page_reports_a_bad_url_and_bad_hex(live_server, page) -> None:
    from playwright.sync_api import expect

    page.goto(live_server.server.http_url)
    page.fill("#url", "ftp://127.0.0.1/")  # not ws:, wss:, http: or https: - the constructor throws
    page.click("#connect")
    _log_entry(page, "sys", "error", "\"ftp://127.0.0.1/\": ")
    expect(page.locator("#state")).to_have_text("closed")
    page.fill("#url", live_server.server.url)
    page.click("#connect")
    expect(page.locator("#state")).to_have_text("open")
    page.fill("#hex", "01 0g")
    page.click("#send-binary")
    _log_entry(page, "sys", "error", "not hex: 01 0g")
    assert not _frames(live_server.records(), "in", Opcode.BINARY)
    page.click("#disconnect")
    expect(page.locator("#state")).to_have_text("closed")
    assert page.errors == []  # type: ignore[attr-defined]


def test_page_under_a_proxy_prefix_uses_a_relative_endpoint_and_warns(live_server, page) -> None:
    """Under jupyter-server-proxy the page sits at {base_url}proxy/PORT/: its WebSocket URL must keep
    that prefix, and it must say that the capture then shows the proxy's frames, not the browser's."""
    from playwright.sync_api import expect

    server = live_server.server
    prefix = f"{server.http_url}user/someone/proxy/8765/"

    def relay(route: Any) -> None:  # stands in for the proxy: strip the prefix, ask the real server
        path = route.request.url[len(prefix):]
        route.fulfill(response=route.fetch(url=server.http_url + path))

    page.route(f"{prefix}**", relay)
    page.goto(prefix)
    expect(page.locator("#url")).to_have_value(f"ws://127.0.0.1:{server.port}/user/someone/proxy/8765/ws",
                                               timeout=20_000)
    expect(page.locator("#proxy-note")).to_be_visible()
    expect(page.locator("#proxy-note")).to_contain_text("not this browser's")
    assert page.errors == []  # type: ignore[attr-defined]
