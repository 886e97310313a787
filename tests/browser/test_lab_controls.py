"""The controls a person clicks in JupyterLab, in Debian's Chromium, checked against the kernel.

* BrowserClient: "send binary", "ping (server)" and "close" clicked in the page;
  the server running in the kernel captured what the browser put on the wire.
* FrameBuilder: fields changed in the page; the bytes shown in the page, the
  FrameView bits and the kernel's ``builder.frame`` agree with the frame
  written out by hand from RFC 6455 section 5.2.
* HandshakeView of a real browser handshake: the Sec-WebSocket-Accept steps and
  ✓ marks drawn, and the cookies Chromium sent (JupyterLab's own) nowhere in the DOM.

Waits are for events (a log line, a capture record, a DOM value), each bounded;
nothing is timed. Each test saves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

import wsexplore as ws

from .lab import Lab, LabNotebook, bits_of, output_of, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

#: The fixed GUID of RFC 6455 section 1.3, hashed with the client's key into Sec-WebSocket-Accept.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Kernel-side code shared by the notebooks: a server, and a bounded wait on its capture.
SERVER_CELL = """\
import asyncio, base64, json
import wsexplore as ws
from wsexplore.widgets import BrowserClient, HandshakeView

server = await ws.Server().start()

async def eventually(what, predicate, timeout=20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"no {what} in the capture within {timeout} s: {list(server.capture)!r}")
        await asyncio.sleep(0.05)
    return value

def frames(opcode, direction):
    return list(server.capture.frames(opcode=opcode, direction=direction))

def raw(records):
    return [base64.b64encode(r.raw).decode() for r in records]

server"""


def _unmask(data: bytes, key: bytes) -> bytes:
    """Section 5.3 written out: octet i XOR key octet i mod 4."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _kernel_json(nb: LabNotebook, code: str) -> Any:
    """Run ``code`` (which prints one JSON document) in a new cell; the document."""
    return json.loads(nb.run_code(code))


def _wire(frames_b64: list[str]) -> list[bytes]:
    return [base64.b64decode(f) for f in frames_b64]


def _connected_client(nb: LabNotebook) -> tuple[Any, int]:
    """Run the server cell and a BrowserClient cell; click connect; the client's locator and port."""
    from playwright.sync_api import expect

    started = nb.run_cell(0)[0]["data"]["text/plain"]
    port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/", started).group(1))
    nb.run_cell(1)
    client = output_of(nb, 1).locator(".wsx-client")
    expect(client.locator(".wsx-url")).to_have_value(f"ws://127.0.0.1:{port}/")
    client.locator(".wsx-connect").click()
    expect(client.locator(".wsx-status")).to_have_text("open")
    return client, port


# ---------------------------------------------------------------------------- BrowserClient controls
def test_browser_client_binary_ping_and_close_controls_reach_the_kernel_server(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.write_notebook("controls.ipynb", [SERVER_CELL, "client = BrowserClient(server)\nclient"])
    nb = open_notebook(name)
    client, _ = _connected_client(nb)
    log = client.locator(".wsx-log")

    # -- send binary: the hex typed in the page goes out as one masked BINARY frame.
    sent = bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF])
    client.locator(".wsx-hex").fill("00 01 7f 80 fe ff")
    client.locator(".wsx-send-binary").click()
    expect(log.locator('li[data-dir="out"][data-kind="binary"]')).to_contain_text("6 B: 00 01 7f 80 fe ff")
    expect(log.locator('li[data-dir="in"][data-kind="binary"]')).to_contain_text("6 B: 00 01 7f 80 fe ff")
    seen = _kernel_json(nb, "records = await eventually('binary frame in', lambda: frames(ws.Opcode.BINARY, 'in'))\n"
                            "print(json.dumps(raw(records)))")
    (wire,) = _wire(seen)
    assert wire[0] == 0b1000_0010  # FIN=1, RSV=000, opcode 0x2 (binary)
    assert wire[1] == 0x80 | len(sent)  # MASK=1: a client masks every frame (section 5.3)
    key = wire[2:6]
    assert _unmask(wire[6:], key) == sent
    d = ws.dissect(wire, role="server")
    assert d.error is None and d.frame is not None and d.frame.payload == sent

    # -- ping: a page cannot send one; the kernel asks the server, which pings; the browser answers.
    client.locator(".wsx-ping").click()
    expect(log.locator('li[data-dir="sys"][data-kind="ping"]')).to_contain_text(
        "asked the server to ping: pinged 1 connection(s)")
    seen = _kernel_json(nb, "pongs = await eventually('pong', lambda: frames(ws.Opcode.PONG, 'in'))\n"
                            "pings = frames(ws.Opcode.PING, 'out')\n"
                            "print(json.dumps({'ping': raw(pings), 'pong': raw(pongs),\n"
                            "                  'order': [pings[0].seq, pongs[0].seq]}))")
    (ping,), (pong,) = _wire(seen["ping"]), _wire(seen["pong"])
    assert ping[0] == 0b1000_1001 and not ping[1] & 0x80  # FIN=1 PING, unmasked: server to client
    ping_data = ping[2:2 + (ping[1] & 0x7F)]
    assert pong[0] == 0b1000_1010 and pong[1] & 0x80  # FIN=1 PONG, masked by the browser
    assert _unmask(pong[6:], pong[2:6]) == ping_data  # a pong carries the ping's data back (section 5.5.3)
    assert len(ping_data) > 0
    assert seen["order"][0] < seen["order"][1]

    # -- close with a code and a reason typed in the page.
    client.locator(".wsx-code").fill("4000")
    client.locator(".wsx-reason").fill("done here")
    client.locator(".wsx-close").click()
    expect(client.locator(".wsx-status")).to_have_text("closed")
    expect(log.locator('li[data-dir="out"][data-kind="close"]')).to_contain_text('code=4000 reason="done here"')
    expect(log.locator('li[data-dir="sys"][data-kind="close"]')).to_contain_text("code=4000")
    expect(log.locator('li[data-dir="sys"][data-kind="close"]')).to_contain_text("clean=true")
    seen = _kernel_json(nb, "closes = await eventually('close record', lambda: server.capture.filter(kind='close'))\n"
                            "print(json.dumps({'in': raw(frames(ws.Opcode.CLOSE, 'in')),\n"
                            "                  'out': raw(frames(ws.Opcode.CLOSE, 'out')),\n"
                            "                  'records': [[c.code, c.reason, c.initiator, c.clean] for c in closes]}))")
    (close_in,) = _wire(seen["in"])
    body = (4000).to_bytes(2, "big") + b"done here"
    assert close_in[0] == 0b1000_1000 and close_in[1] == 0x80 | len(body)  # FIN=1 CLOSE, masked
    assert _unmask(close_in[6:], close_in[2:6]) == body  # code 4000 in network order, then the reason
    (close_out,) = _wire(seen["out"])
    assert close_out[0] == 0b1000_1000 and close_out[2:4] == (4000).to_bytes(2, "big")  # the server echoes the code
    # One close record: code and reason as the browser sent them, begun by the client ("remote"), clean.
    assert seen["records"] == [[4000, "done here", "remote", True]]

    screenshot(lab_page, nb.cell(1), artifacts_dir / "lab-browser-client-controls.png")


# ---------------------------------------------------------------------------- FrameBuilder
def test_frame_builder_fields_changed_in_the_page_rebuild_the_bytes_in_the_page_and_the_kernel(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.write_notebook("builder.ipynb", ["from wsexplore.widgets import FrameBuilder\nb = FrameBuilder()\nb"])
    nb = open_notebook(name)
    nb.run_cell(0)
    out = output_of(nb, 0)
    hex_box = out.get_by_label("bytes", exact=True)
    view = out.locator(".wsx-frameview")

    # The default: a final unmasked TEXT frame "Hello" (section 5.2: 0x81, length 5, the UTF-8 bytes).
    hello = bytes([0b1000_0001, 5]) + b"Hello"
    expect(hex_box).to_have_value(hello.hex(" "))
    expect(view.locator(".wsx-bit")).to_have_count(8 * len(hello))

    # Clear FIN: only the top bit of the first byte changes.
    out.get_by_label("FIN", exact=True).uncheck()
    expect(hex_box).to_have_value(bytes([0b0000_0001, 5]).hex(" ") + " " + b"Hello".hex(" "))
    # Binary, masked with the key of the RFC's example, payload "Hi".
    out.get_by_label("opcode").select_option(label="0x2: binary frame")
    out.get_by_label("MASK", exact=True).check()  # turns masking on with a random key ...
    key = bytes.fromhex("55d0e1e6")
    out.get_by_label("masking key").fill(key.hex(" "))  # ... which is replaced by this one
    out.get_by_label("payload", exact=True).fill("Hi")
    # Written out by hand: 02 (FIN=0, opcode 2), 82 (MASK=1, length 2), the key, then
    # 'H' ^ 0x55 = 0x1d and 'i' ^ 0xd0 = 0xb9 (section 5.3).
    expected = bytes.fromhex("02 82 55 d0 e1 e6 1d b9")
    expect(hex_box).to_have_value(expected.hex(" "))
    expect(out).to_contain_text("2 payload bytes: 7-bit length")

    # The FrameView in the builder draws those bytes bit by bit, with no violation (a masked
    # non-final binary frame read by a server is valid).
    bits = view.locator(".wsx-bit")
    expect(bits).to_have_count(8 * len(expected))
    assert "".join(bits.all_inner_texts()) == bits_of(expected)
    expect(view.locator(".wsx-ok")).to_have_text("no violation")
    expect(view.locator(".wsx-error-message")).to_have_count(0)

    # The kernel's builder holds the same frame.
    printed = nb.run_code("print(b.data.hex(), b.frame.fin, b.frame.opcode.name, b.frame.mask_key.hex(), "
                          "b.frame.payload.hex(), b.length_form, b.error)")
    assert printed.split() == [expected.hex(), "False", "BINARY", key.hex(), b"Hi".hex(), "7-bit", "None"]

    # A rule broken on purpose: RSV1 without an extension is built, sent to the kernel, and flagged.
    out.get_by_label("RSV1", exact=True).check()
    flagged = bytes([expected[0] | 0b0100_0000]) + expected[1:]
    expect(hex_box).to_have_value(flagged.hex(" "))
    message = view.locator(".wsx-error-message")
    expect(message).to_have_attribute("data-field", "RSV1")
    expect(message).to_have_attribute("data-bit", "1")
    expect(message).to_contain_text("section 5.2")
    expect(view.locator(".wsx-bit.wsx-error")).to_have_attribute("data-bit", "1")
    assert nb.run_code("print(b.data.hex(), b.frame.rsv1)").split() == [flagged.hex(), "True"]

    screenshot(lab_page, out, artifacts_dir / "lab-frame-builder.png")


# ---------------------------------------------------------------------------- HandshakeView
def test_handshake_view_of_a_browser_handshake_shows_the_accept_steps_and_no_cookie(
        lab: Lab, open_notebook: Any, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    name = lab.write_notebook("handshake.ipynb", [
        SERVER_CELL,
        "client = BrowserClient(server)\nclient",
        "opened = await eventually('handshake', lambda: server.capture.filter(kind='open'))\n"
        "HandshakeView(opened[0])",
    ])
    nb = open_notebook(name)
    _connected_client(nb)
    nb.run_cell(2)
    view = output_of(nb, 2).locator(".widget-html-content")
    expect(view).to_contain_text("Sec-WebSocket-Accept, step by step")

    # What Chromium sent, read in the kernel: its key, its accept answer (neither is a secret).
    seen = _kernel_json(nb, "r = opened[0]\n"
                            "req = ws.handshake.parse_request(r.request)[0]\n"
                            "resp = ws.handshake.parse_response(r.response)[0]\n"
                            "print(json.dumps({'key': req.headers.get('Sec-WebSocket-Key'),\n"
                            "                  'accept': resp.headers.get('Sec-WebSocket-Accept'),\n"
                            "                  'cookie': len(req.headers.get('Cookie') or '')}))")
    key = seen["key"]
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    accept = base64.b64encode(digest).decode()
    assert seen["accept"] == accept  # the server answered the browser correctly (section 4.2.2)

    text = view.inner_text()
    steps = [("1. key + GUID", key + GUID), ("2. SHA-1", digest.hex()), ("3. base64", accept)]
    for label, value in steps:
        row = view.locator("tr", has_text=label)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(value)
    assert text.index(key + GUID) < text.index(digest.hex()) < text.rindex(accept)
    accept_row = view.locator("tr", has=lab_page.locator("b", has_text=re.compile(r"^Sec-WebSocket-Accept$")))
    expect(accept_row).to_contain_text(f"{accept} \u2713")
    expect(view).to_contain_text(f"\u2713 the response's Sec-WebSocket-Accept {accept} matches")
    assert "\u2717" not in text

    # The browser sent JupyterLab's cookies to the kernel's server (same host, another port);
    # the view shows their size, never their values.
    cookies = lab_page.context.cookies()
    assert cookies and seen["cookie"] > 0, "Chromium sent no Cookie header: nothing to redact"
    cookie_row = view.locator("tr", has=lab_page.locator("b", has_text=re.compile(r"^Cookie$")))
    expect(cookie_row).to_contain_text(f"<redacted {seen['cookie']} bytes>")
    html = view.inner_html()
    for cookie in cookies:
        assert cookie["value"] not in html and cookie["value"] not in text, cookie["name"]
    expect(view).to_contain_text("credential headers are redacted")

    screenshot(lab_page, output_of(nb, 2), artifacts_dir / "lab-handshake-view.png")
