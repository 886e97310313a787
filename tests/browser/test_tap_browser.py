"""Chromium through the tap: a page opens ``new WebSocket(tap_url)`` to a capturing server behind it.

The upstream is a ``wsexplore`` Server with permessage-deflate; the tap sits
between it and the browser on the same event loop (in a background thread).
The page sees the server's echoes; the tap's capture holds both legs: the
browser's own masked, compressed frames and the server's, inflated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from wsexplore.capture import CloseRecord, FrameRecord, MessageRecord, OpenRecord
from wsexplore.live.proxy import Proxy

from .conftest import ThreadedServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SCRIPT = """async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const got = [];
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject("error"); });
  const next = () => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
  ws.send("发送数据 through the tap");
  got.push(await next());
  ws.send(new Uint8Array([1, 2, 3, 250]));
  got.push(Array.from(new Uint8Array(await next())));
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve([e.code, e.reason, e.wasClean]); });
  ws.close(1000, "page done");
  got.push(await closed);
  return {got, extensions: ws.extensions};
}"""


@pytest.fixture
def tapped() -> Iterator[tuple[ThreadedServer, Proxy]]:
    upstream = ThreadedServer(compression="deflate")

    async def start() -> Proxy:
        return await Proxy(upstream.server.url).start()

    proxy = upstream.call(start())
    try:
        yield upstream, proxy
    finally:
        upstream.call(proxy.stop())
        upstream.close()


def test_chromium_through_the_tap(tapped, page: Any) -> None:
    upstream, proxy = tapped
    page.goto(upstream.server.http_url)  # any page on this machine (about:blank may not reach loopback)
    result = page.evaluate(SCRIPT, proxy.url)
    # The server answers the close with its code alone (section 5.5.1), so the page sees no reason.
    assert result["got"] == ["发送数据 through the tap", [1, 2, 3, 250], [1000, "", True]]
    assert "permessage-deflate" in result["extensions"]

    async def records() -> list:
        return list(proxy.capture)

    def closed(records: list) -> bool:
        return any(isinstance(r, CloseRecord) for r in records)

    upstream.wait_for("the tap's close record", lambda _: closed(upstream.call(records())))
    tap_records = upstream.call(records())
    opened = next(r for r in tap_records if isinstance(r, OpenRecord))
    assert opened.via == "tap" and opened.status == 101
    assert b"Chrome/" in opened.request and b"permessage-deflate" in opened.request
    assert opened.forwarded_request is not None and f"Host: {proxy.upstream.authority}".encode() in \
        opened.forwarded_request
    frames = [r for r in tap_records if isinstance(r, FrameRecord)]
    assert not any(f.error for f in frames)
    browser_frames = [f for f in frames if f.direction == "in"]
    assert all(f.frame.masked for f in browser_frames) and browser_frames[0].frame.rsv1  # Chromium compresses
    for direction in ("in", "out"):
        data = [r.data for r in tap_records if isinstance(r, MessageRecord) and r.direction == direction]
        assert data == ["发送数据 through the tap", bytes([1, 2, 3, 250])]
    close = next(r for r in tap_records if isinstance(r, CloseRecord))
    assert (close.code, close.reason, close.initiator, close.clean) == (1000, "page done", "remote", True)
    # The server behind the tap saw the same frames, byte for byte.
    server_frames = [r for r in upstream.records() if isinstance(r, FrameRecord)]
    assert [(f.direction, f.raw) for f in server_frames] == [(f.direction, f.raw) for f in frames]
    assert not page.errors
