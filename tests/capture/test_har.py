"""HAR files: Chrome's ``_webSocketMessages``, Firefox's entries, and strict reading of every field.

The Chromium-made HAR is tested in ``tests/browser/test_har_chromium.py``; these files are
written here in the same shapes to pin each rule.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from wsexplore.capture import Capture, ErrorRecord, MessageRecord, OpenRecord


def entry(**over) -> dict:
    base = {
        "startedDateTime": "2024-05-01T12:00:00.000Z",
        "_resourceType": "websocket",
        "request": {"method": "GET", "url": "wss://example.com/socket?room=1", "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Host", "value": "example.com"},
                                {"name": "Upgrade", "value": "websocket"},
                                {"name": "Cookie", "value": "session=secret"},
                                {"name": "Sec-WebSocket-Key", "value": "dGhlIHNhbXBsZSBub25jZQ=="}]},
        "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Upgrade", "value": "websocket"},
                                 {"name": "Sec-WebSocket-Accept", "value": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}]},
        "_webSocketMessages": [
            {"type": "send", "time": 1714564800.5, "opcode": 1, "data": "hello"},
            {"type": "receive", "time": 1714564800.75, "opcode": 2,
             "data": base64.b64encode(b"\x00\xff").decode()},
        ],
    }
    base.update(over)
    return base


def write(tmp_path: Path, *entries: dict, name: str = "x.har") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                                        "entries": list(entries)}}))
    return path


def test_chrome_messages_directions_times_payloads(tmp_path: Path) -> None:
    other = {"startedDateTime": "2024-05-01T11:59:59Z", "request": {"method": "GET", "url": "https://example.com/",
             "headers": []}, "response": {"status": 200, "headers": []}}
    capture = Capture.load(write(tmp_path, other, entry()))
    opened, sent, received = list(capture)
    assert isinstance(opened, OpenRecord) and opened.via == "har" and opened.status == 101
    assert opened.request_line == "GET /socket?room=1 HTTP/1.1"
    assert b"Cookie: session=secret" in opened.request  # kept, and redacted when shown
    assert "session=secret" not in opened.handshake()
    assert opened.wall == 1714564800.0 and "WebInspector 537.36" in opened.note and "no frames" in opened.note
    assert isinstance(sent, MessageRecord) and (sent.direction, sent.data, sent.frames) == ("in", "hello", 0)
    assert (received.direction, received.data, received.wall) == ("out", b"\x00\xff", 1714564800.75)
    assert "no frames recorded" in repr(sent) and not capture.frames()
    # The one line per record says it too.
    from wsexplore.capture.lines import format_record
    assert "(no frames recorded)" in format_record(sent)


def test_firefox_entry_without_messages_is_listed(tmp_path: Path) -> None:
    firefox = entry(_resourceType=None)  # Firefox: no _resourceType; the upgrade says it is a WebSocket
    del firefox["_resourceType"], firefox["_webSocketMessages"]
    firefox["request"]["url"] = "ws://localhost:8765/"
    [opened] = Capture.load(write(tmp_path, firefox))
    assert opened.status == 101 and "lists the handshake but no messages" in opened.note


def test_chrome_error_and_control_messages(tmp_path: Path) -> None:
    messages = [{"type": "error", "time": 1.0, "opcode": -1, "data": "Invalid frame header"},
                {"type": "receive", "time": 2.0, "opcode": 9, "data": ""}]
    capture = Capture.load(write(tmp_path, entry(_webSocketMessages=messages)))
    texts = [r.message for r in capture if isinstance(r, ErrorRecord)]
    assert texts[0] == "the browser reported a WebSocket error: Invalid frame header"
    assert "1 PING" in texts[1]


@pytest.mark.parametrize(("change", "where"), [
    (lambda e: e["_webSocketMessages"][1].update(data="***"), "log.entries[0]._webSocketMessages[1].data: a binary"),
    (lambda e: e["_webSocketMessages"][0].update(type="sent"), "log.entries[0]._webSocketMessages[0].type"),
    (lambda e: e["_webSocketMessages"][0].update(time="soon"), "log.entries[0]._webSocketMessages[0].time: must be"),
    (lambda e: e["_webSocketMessages"][0].update(opcode=3), "log.entries[0]._webSocketMessages[0].opcode"),
    (lambda e: e["_webSocketMessages"][0].update(opcode=True), "log.entries[0]._webSocketMessages[0].opcode"),
    (lambda e: e["request"]["headers"].append({"name": "X", "value": "a\r\nInjected: 1"}),
     "log.entries[0].request.headers[4].value: a header value cannot hold CR"),
    (lambda e: e["request"]["headers"].append({"name": "Bad Name", "value": "v"}),
     "log.entries[0].request.headers[4].name"),
    (lambda e: e["response"].update(status="101"), "log.entries[0].response.status: must be a number"),
    (lambda e: e.update(startedDateTime="yesterday"), "log.entries[0].startedDateTime"),
    (lambda e: e.pop("request"), "log.entries[0]: no 'request'"),
])
def test_a_bad_field_is_named(tmp_path: Path, change, where: str) -> None:
    bad = entry()
    change(bad)
    with pytest.raises(ValueError) as info:
        Capture.load(write(tmp_path, bad))
    assert str(info.value).startswith(str(tmp_path / "x.har") + ": ")
    assert where in str(info.value)


def test_not_json_and_not_a_har(tmp_path: Path) -> None:
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": {"entries": [}')
    with pytest.raises(ValueError, match=r"broken.har: line 1, column 22: not JSON"):
        Capture.load(broken)
    wrong = tmp_path / "wrong.har"
    wrong.write_text('{"log": []}')
    with pytest.raises(ValueError, match=r"wrong.har: log: must be an object"):
        Capture.load(wrong)
