"""Record the session notebook 10 opens: real loopback traffic from Debian's Chromium, twice observed.

``make notebook-data`` runs this (as root: tcpdump captures on ``lo``). A
wsexplore ``Server`` with permessage-deflate runs in this process; Chromium's
page connects to it and sends the tutorial demo's two texts, three bytes of
binary and a long repetitive text; the server echoes each (the long one in
fragments) and pings once. Two witnesses record it:

* ``tcpdump`` on the loopback interface writes ``notebooks/data/chromium-session.pcap``:
  every TCP segment, so every frame, its masking key, RSV1 and fragments;
* Chromium's DevTools Protocol events (``Network.webSocket*``, what DevTools'
  Network panel records) are written as DevTools' "Save all as HAR" writes
  them, ``notebooks/data/chromium-session.har``: messages only.

The files are committed; the notebooks read them, so they read the same on every run.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from wsexplore.live.server import Server, ServerConnection

from .conftest import CHROMIUM, CHROMIUM_ARGS, ThreadedServer
from .test_har_chromium import EVENTS, devtools_har
from .wire import Wire

DATA = Path(__file__).resolve().parents[2] / "notebooks" / "data"
LONG_TEXT = "发送数据" * 20

PAGE_SCRIPT = """async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const got = [];
  ws.onmessage = (event) => got.push(event.data);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const echoes = (n) => new Promise((resolve) => {
    const check = () => (got.length >= n ? resolve() : setTimeout(check, 5));
    check();
  });
  ws.send("发送数据");
  await echoes(1);
  ws.send("发送数据2");
  await echoes(2);
  ws.send(new Uint8Array([1, 2, 3]));
  await echoes(3);
  ws.send(LONG_TEXT);
  await echoes(4);
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.close(1000, "bye");
  return await closed;
}""".replace("LONG_TEXT", json.dumps(LONG_TEXT))


async def handler(conn: ServerConnection) -> None:
    """Echo; ping once after the second message; send the long text back in 4-byte fragments."""
    async for message in conn:
        if message == "发送数据2":
            await conn.ping(b"still there?")
        await conn.send(message, fragment_size=4 if message == LONG_TEXT else None)


def record(directory: Path = DATA) -> tuple[Path, Path]:
    from playwright.sync_api import sync_playwright

    directory.mkdir(parents=True, exist_ok=True)
    live = ThreadedServer(handler=handler, compression="deflate", relay=False)
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wire = Wire(live.server.port, Path(tmp)).start()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                cdp = page.context.new_cdp_session(page)
                for name in EVENTS:
                    cdp.on(name, lambda params, name=name: events.append((name, params)))
                cdp.send("Network.enable")
                page.goto(live.server.http_url)
                try:
                    code = page.evaluate(PAGE_SCRIPT, f"ws://127.0.0.1:{live.server.port}/ws")
                except Exception:
                    print("\n".join(map(repr, live.records())), file=sys.stderr)
                    raise
                assert code == 1000, code
                live.wait_for("the close", lambda rs: any(r.kind == "close" for r in rs))
                page.wait_for_timeout(300)  # the last CDP events reach this process
                browser.close()
            report = wire.stop()
            assert re.search(r"^0 packets dropped by kernel", report, re.M), report
            pcap = directory / "chromium-session.pcap"
            pcap.write_bytes(wire.path.read_bytes())
    finally:
        live.close()
    har = directory / "chromium-session.har"
    har.write_text(json.dumps(devtools_har(events), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return pcap, har


if __name__ == "__main__":
    for path in record(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA):
        print(f"wrote {path} ({path.stat().st_size} B)")
