"""A HAR file made by Chromium itself, loaded as a capture.

Chromium's page talks to a live wsexplore server; the test listens to the
page's WebSocket over the Chrome DevTools Protocol (``Network.webSocket*``,
the events DevTools' own Network panel records) and writes the HAR the way
DevTools' "Save all as HAR" does (``_resourceType: "websocket"``,
``_webSocketMessages`` with type, time as wall-clock seconds, opcode and the
data, base64 for binary). Loading it must give the browser's handshake, every
message in the right direction with its payload and time, and no frames:
a HAR has none, and nothing is made up.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from wsexplore.capture import Capture, FrameRecord, MessageRecord, OpenRecord
from wsexplore.protocol.handshake import parse_request

from .conftest import ThreadedServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PAGE_SCRIPT = """async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const echoes = [];
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const done = new Promise((resolve) => {
    ws.onmessage = (event) => { echoes.push(event.data); if (echoes.length === 3) resolve(); };
  });
  ws.send("hello");
  ws.send(new Uint8Array([0, 1, 2, 255]));
  ws.send("发送数据");
  await done;
  const closed = new Promise((resolve) => { ws.onclose = resolve; });
  ws.close(1000, "bye");
  await closed;
  return echoes.length;
}"""

EVENTS = ("Network.webSocketCreated", "Network.webSocketWillSendHandshakeRequest",
          "Network.webSocketHandshakeResponseReceived", "Network.webSocketFrameSent",
          "Network.webSocketFrameReceived", "Network.webSocketFrameError", "Network.webSocketClosed")


def _headers(mapping: dict[str, str]) -> list[dict[str, str]]:
    # CDP joins repeated headers with "\n"; DevTools lists each value as a header of its own.
    return [{"name": name, "value": value} for name, values in mapping.items() for value in values.split("\n")]


def _version(headers_text: str | None, default: str = "HTTP/1.1") -> str:
    if not headers_text:
        return default
    first = headers_text.split("\r\n", 1)[0].split(" ")
    return next((part for part in first if part.startswith("HTTP/")), default)


def devtools_har(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The HAR DevTools writes for the WebSocket requests these CDP events describe."""
    requests: dict[str, dict[str, Any]] = {}
    for name, params in events:
        rid = params.get("requestId")
        req = requests.setdefault(rid, {"frames": []})
        if name == "Network.webSocketCreated":
            req["url"] = params["url"]
        elif name == "Network.webSocketWillSendHandshakeRequest":
            req["wall"], req["issued"] = params["wallTime"], params["timestamp"]
            req["request"] = params["request"]
        elif name == "Network.webSocketHandshakeResponseReceived":
            req["response"] = params["response"]
        elif name in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
            frame = params["response"]
            req["frames"].append({"type": "send" if name.endswith("Sent") else "receive",
                                  "time": params["timestamp"], "opcode": frame["opcode"],
                                  "data": frame["payloadData"]})
        elif name == "Network.webSocketFrameError":
            req["frames"].append({"type": "error", "time": params["timestamp"], "opcode": -1,
                                  "data": params["errorMessage"]})
    entries = []
    for req in requests.values():
        response = req["response"]
        offset = req["wall"] - req["issued"]  # DevTools' pseudoWallTime: monotonic to wall clock
        started = datetime.fromtimestamp(req["wall"], timezone.utc).isoformat().replace("+00:00", "Z")
        entries.append({
            "startedDateTime": started,
            "time": 0,
            "request": {"method": "GET", "url": req["url"],
                        "httpVersion": _version(response.get("requestHeadersText")),
                        "headers": _headers(response.get("requestHeaders") or req["request"]["headers"]),
                        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": response["status"], "statusText": response["statusText"],
                         "httpVersion": _version(response.get("headersText")),
                         "headers": _headers(response["headers"]), "cookies": [],
                         "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                         "headersSize": -1, "bodySize": -1, "_transferSize": 0, "_error": None},
            "cache": {}, "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 0,
                                     "receive": 0},
            "serverIPAddress": "127.0.0.1",
            "_resourceType": "websocket",
            "_webSocketMessages": [{**f, "time": f["time"] + offset} for f in req["frames"]],
        })
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [],
                    "entries": entries}}


def test_a_har_exported_from_chromium_loads_as_messages(live_server: ThreadedServer, page: Any,
                                                        tmp_path: Path) -> None:
    server = live_server.server
    events: list[tuple[str, dict[str, Any]]] = []
    cdp = page.context.new_cdp_session(page)
    for name in EVENTS:
        cdp.on(name, lambda params, name=name: events.append((name, params)))
    cdp.send("Network.enable")
    page.goto(server.http_url)
    url = f"ws://127.0.0.1:{server.port}/ws?from=har"
    assert page.evaluate(PAGE_SCRIPT, url) == 3
    live_server.wait_for("the close", lambda rs: any(r.kind == "close" for r in rs))
    page.wait_for_timeout(200)  # the last CDP events reach the test
    har = tmp_path / "chromium.har"
    document = devtools_har(events)
    har.write_text(json.dumps(document, indent=2), encoding="utf-8")
    # What Chromium reported: a base64 payload for the binary message, text for the text ones.
    reported = [(m["type"], m["opcode"], m["data"]) for m in document["log"]["entries"][0]["_webSocketMessages"]]
    assert reported[:3] == [("send", 1, "hello"), ("send", 2, "AAEC/w=="), ("send", 1, "发送数据")]

    capture = Capture.load(har)
    [opened] = [r for r in capture if isinstance(r, OpenRecord)]
    assert opened.via == "har" and opened.status == 101
    assert "no frames" in opened.note and url in opened.note
    # The browser's own handshake: the key the live server received is the key in the HAR.
    live_open = next(r for r in live_server.records() if isinstance(r, OpenRecord))
    live_key = parse_request(live_open.request)[0].headers["Sec-WebSocket-Key"]
    har_request = parse_request(opened.request)[0]
    assert har_request.headers["Sec-WebSocket-Key"] == live_key
    assert har_request.target == "/ws?from=har" and opened.request_line == "GET /ws?from=har HTTP/1.1"
    assert "permessage-deflate" in har_request.headers["Sec-WebSocket-Extensions"]
    # Every message, its direction and payload; no frames anywhere.
    messages = [r for r in capture if isinstance(r, MessageRecord)]
    sent = [m.data for m in messages if m.direction == "in"]
    received = [m.data for m in messages if m.direction == "out"]
    assert sent == ["hello", b"\x00\x01\x02\xff", "发送数据"]
    assert received == sent  # the live server echoes
    assert all(m.frames == 0 for m in messages) and not any(isinstance(r, FrameRecord) for r in capture)
    assert "no frames recorded" in repr(messages[0])
    # The same messages the live server captured, in the same order, at nearly the same times.
    live = [r for r in live_server.records() if isinstance(r, MessageRecord) and r.direction == "in"]
    assert [m.data for m in live] == sent
    for har_message, live_message in zip([m for m in messages if m.direction == "in"], live):
        assert abs(har_message.wall - live_message.wall) < 2.0
    assert opened.wall <= messages[0].wall
