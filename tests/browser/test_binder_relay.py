"""The Binder set-up, for real: the browser's own bytes reach the kernel's server through the relay.

JupyterLab runs from an environment built from binder/ alone (tests/binder_env.py:
Binder's Python from binder/runtime.txt, binder/requirements.txt, binder/postBuild),
under ``--ServerApp.base_url=/user/demo/`` with token auth, as on mybinder.org.
Chromium opens notebook 05 with ``?token=``, the notebook runs, and the
BrowserClient sends "发送数据". Three witnesses that do not depend on the relay:

* Chromium itself, over the DevTools protocol
  (``Network.webSocketWillSendHandshakeRequest``): the Sec-WebSocket-Key it sent;
* tcpdump on loopback (tests/browser/wire.py): every byte between Chromium and
  the Jupyter server, so the frames the kernel's capture holds can be set
  against what Chromium put on the wire, masking keys and RSV bits included;
* the kernel's capture, read from a notebook cell.

The same notebook in a Lab with jupyter-server-proxy only (the relay turned
off) shows the proxied path: another key than Chromium's, the proxy's frames,
and every view saying so.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wsexplore import dissect_stream
from wsexplore.protocol.handshake import parse_request

from ..binder_env import BinderEnv
from .conftest import WITHOUT_RELAY
from .lab import REPO, Lab, LabNotebook, output_of, screenshot, start_lab
from .wire import TcpStream, Wire

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

BASE = "/user/demo/"
TEXT = "发送数据"
#: Long enough that Chromium's permessage-deflate has something to gain.
LONG_TEXT = TEXT * 40


def _lab(binder_env: BinderEnv, workdir: Path, artifacts_dir: Path, name: str, **options: Any) -> Iterator[Lab]:
    lab = start_lab(workdir, jupyter=binder_env.jupyter, base_path=BASE, **options)
    try:
        yield lab
    finally:
        lab.stop()
        try:
            (artifacts_dir / f"{name}.log").write_bytes(lab.log_path.read_bytes())
        except OSError:
            pass


@pytest.fixture(scope="module")
def relay_lab(binder_env: BinderEnv, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Lab]:
    yield from _lab(binder_env, tmp_path_factory.mktemp("binder-lab"), artifacts_dir, "binder-lab-relay")


@pytest.fixture(scope="module")
def proxy_lab(binder_env: BinderEnv, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Lab]:
    yield from _lab(binder_env, tmp_path_factory.mktemp("binder-lab-proxy"), artifacts_dir, "binder-lab-proxy",
                    server_config=WITHOUT_RELAY)


class Handshakes:
    """The WebSocket handshakes Chromium sends, as it reports them over the DevTools protocol."""

    def __init__(self, page: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        self.urls: dict[str, str] = {}
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", lambda p: self.urls.__setitem__(p["requestId"], p["url"]))
        cdp.on("Network.webSocketWillSendHandshakeRequest",
               lambda p: self.seen.append({"url": self.urls.get(p["requestId"], ""), **p["request"]}))
        cdp.send("Network.enable")
        self.cdp = cdp

    def to(self, fragment: str) -> dict[str, str]:
        """The headers of the one handshake whose URL contains ``fragment``."""
        found = [h for h in self.seen if fragment in h["url"]]
        assert len(found) == 1, f"handshakes to {fragment}: {[h['url'] for h in self.seen]}"
        return {k.lower(): v for k, v in found[0]["headers"].items()}


def _open_05(lab: Lab, page: Any) -> tuple[LabNotebook, int, int, int, int]:
    """Notebook 05 open in Lab, run down to (not including) its last cell, which stops the server.

    Returns the notebook, the Explorer's, the BrowserClient's and the "whose bytes" cell, and the
    kernel server's port.
    """
    name = lab.copy_notebook(REPO / "notebooks" / "05-live-server.ipynb")
    nb = LabNotebook(page, lab, name).open()
    nb.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    sources = nb.evaluate("(path) => panelOf(path).content.widgets.map(c => c.model.sharedModel.getSource())")
    last = len(sources) - 1
    assert "server.stop()" in sources[last]
    nb.command("notebook:clear-all-cell-outputs")
    nb.select(last)
    nb.command("notebook:run-all-above", timeout=180)
    for i in range(last):
        nb.raise_errors(i, nb.outputs(i))
    explorer_cell = next(i for i, s in enumerate(sources) if "Explorer(server)" in s)
    client_cell = next(i for i, s in enumerate(sources) if "BrowserClient(server)" in s)
    paths_cell = next(i for i, s in enumerate(sources) if "opened.via_text" in s)
    port = int(nb.run_code("print(server.port)").strip())
    return nb, explorer_cell, client_cell, paths_cell, port


def _connect_and_send(nb: LabNotebook, cell: int, text: str) -> Any:
    from playwright.sync_api import expect

    client = output_of(nb, cell).locator(".wsx-client")
    client.locator(".wsx-connect").click()
    expect(client.locator(".wsx-status")).to_have_text("open")
    client.locator(".wsx-text").fill(text)
    client.locator(".wsx-send-text").click()
    expect(client.locator('.wsx-log li[data-dir="in"][data-kind="text"]')).to_contain_text(text[:20])
    return client


_DUMP = """
import base64, json
def _wire(records):
    return base64.b64encode(b"".join(r.raw for r in records)).decode()
_cap = {server}.capture
_open = [r for r in _cap.filter(kind="open") if r.accepted and r.via == {via!r}][-1]
_frames = _cap.frames(conn=_open.conn)
print(json.dumps({{
    "conn": _open.conn, "via": _open.via, "note": _open.note, "reframed": _open.reframed,
    "request": base64.b64encode(_open.request).decode(), "response": base64.b64encode(_open.response).decode(),
    "in": _wire([f for f in _frames if f.direction == "in"]),
    "out": _wire([f for f in _frames if f.direction == "out"]),
    "frames": [[f.seq, f.direction] for f in _frames],
    "compressed": [m.compressed_size is not None for m in _cap.messages(conn=_open.conn, direction="in")],
    "records": len(_cap.filter(conn=_open.conn)),
}}))
"""


def _kernel_capture(nb: LabNotebook, server: str, via: str) -> dict[str, Any]:
    seen = json.loads(nb.run_code(_DUMP.format(server=server, via=via)).strip().splitlines()[-1])
    for key in ("request", "response", "in", "out"):
        seen[key] = base64.b64decode(seen[key])
    return seen


def _stream_to(streams: list[TcpStream], target: str) -> TcpStream:
    found = [s for s in streams if s.client.startswith(f"GET {target}".encode())]
    assert len(found) == 1, f"connections asking for {target}: {len(found)}"
    return found[0]


def _after_head(data: bytes) -> tuple[bytes, bytes]:
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


# ---------------------------------------------------------------------------- the relay
def test_binder_lab_relays_the_browsers_own_handshake_and_frames_to_the_kernel(
        relay_lab: Lab, lab_page: Any, tmp_path: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    chromium = Handshakes(lab_page)
    nb, explorer_cell, client_cell, paths_cell, port = _open_05(relay_lab, lab_page)
    client = output_of(nb, client_cell).locator(".wsx-client")
    relay_url = f"ws://127.0.0.1:{relay_lab.port}{BASE}wsexplore/{port}/"
    expect(client.locator(".wsx-mode")).to_have_text("relay")
    expect(client.locator(".wsx-url")).to_have_value(relay_url)
    expect(client.locator(".wsx-note")).to_contain_text("the server sees the browser's own frames")

    wire = Wire(relay_lab.port, tmp_path).start()
    try:
        _connect_and_send(nb, client_cell, TEXT)
        # The same with permessage-deflate: a second server, compressing, and its own BrowserClient.
        z_cell = nb.append_cell("server_z = await ws.Server(compression='deflate').start()\n"
                                "client_z = BrowserClient(server_z)\nclient_z")
        nb.run_cell(z_cell)
        z_port = int(nb.run_code("print(server_z.port)").strip())
        _connect_and_send(nb, z_cell, LONG_TEXT)
        plain = _kernel_capture(nb, "server", "relay")
        deflated = _kernel_capture(nb, "server_z", "relay")
    finally:
        report = wire.stop()
    assert re.search(r"^0 packets dropped by kernel$", report, re.M), report
    streams = wire.streams()

    for seen, server_port in ((plain, port), (deflated, z_port)):
        # 1. The handshake is the browser's: the key Chromium says it sent, in the kernel's capture.
        sent = chromium.to(f"{BASE}wsexplore/{server_port}/")
        captured, _ = parse_request(seen["request"])
        assert captured.headers.get("Sec-WebSocket-Key") == sent["sec-websocket-key"]
        assert captured.headers.get("Origin") == sent["origin"] == relay_lab.origin
        assert captured.headers.get("User-Agent") == sent["user-agent"]
        assert seen["via"] == "relay" and not seen["reframed"]
        assert f"target {BASE}wsexplore/{server_port}/ became /" in seen["note"]

        # 2. The frames are the browser's: byte for byte what Chromium put on the wire to the Jupyter
        #    server (tcpdump's record), masking keys included, and what came back is the server's.
        tcp = _stream_to(streams, f"{BASE}wsexplore/{server_port}/")
        head, from_browser = _after_head(tcp.client)
        response, to_browser = _after_head(tcp.server)
        assert from_browser == seen["in"], "the kernel's server holds other bytes than Chromium sent"
        assert to_browser == seen["out"]
        assert response == seen["response"]
        assert head.split(b"\r\n")[0] == f"GET {BASE}wsexplore/{server_port}/ HTTP/1.1".encode()
        frames = [d.frame for d in dissect_stream(from_browser, role="server")]
        keys = [f.mask_key for f in frames]
        assert frames and all(k is not None and len(k) == 4 for k in keys) and len(set(keys)) == len(keys)

    # 3. Chromium's compressed frames (RSV1, RFC 7692), negotiated with the kernel's server itself.
    assert b"permessage-deflate" in deflated["response"] and b"permessage-deflate" not in plain["response"]
    rsv1 = [f.rsv1 for f in (d.frame for d in dissect_stream(deflated["in"], role="server")) if f.opcode == 1]
    assert rsv1 and all(rsv1) and deflated["compressed"] == [True]
    assert not any(f.rsv1 for f in (d.frame for d in dissect_stream(plain["in"], role="server")))

    # 4. What a person sees: the Explorer's rows of that connection say "relay".
    explorer = output_of(nb, explorer_cell).locator(".wsx-explorer")
    row = explorer.locator('tr.wsx-row[data-kind="frame"][data-direction="in"][data-via="relay"]').first
    expect(row).to_contain_text(f"#{plain['conn']} · relay")
    screenshot(lab_page, output_of(nb, explorer_cell), artifacts_dir / "binder-relay-explorer.png")
    # The notebook's own account of the paths, run again now that the browser is connected.
    told = nb.stdout(nb.run_cell(paths_cell))
    assert f"conn {plain['conn']} open 127.0.0.1:" in told and "via relay: through the Jupyter server's byte relay" in told
    assert f"target {BASE}wsexplore/{port}/ became /" in told
    nb.shutdown_kernel()


_OPEN = """async (urls) => {
  const open = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
  });
  const out = {};
  for (const [name, url] of Object.entries(urls)) out[name] = await open(url);
  return out;
}"""


class ElsewhereSite:
    """Another web site on this machine (another port: the same site for cookies, another origin)."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = b"<!doctype html><title>elsewhere</title><p>a page of another origin</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_binder_lab_lets_through_only_what_jupyter_lets_through(relay_lab: Lab, browser: Any) -> None:
    """Chromium, with and without Lab's login cookie, from Lab's page and from another site's page."""
    context = browser.new_context()
    errors: list[str] = []
    elsewhere = ElsewhereSite()
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        nb = LabNotebook(page, relay_lab, relay_lab.write_notebook("refusals.ipynb", [
            "import wsexplore as ws\nserver = await ws.Server().start()\nprint(server.port)"])).open()
        port = int(nb.stdout(nb.run_cell(0)).strip())
        url = f"ws://127.0.0.1:{relay_lab.port}{BASE}wsexplore/{port}/"
        unregistered = f"ws://127.0.0.1:{relay_lab.port}{BASE}wsexplore/{relay_lab.port}/"  # Jupyter's own port
        # Lab's page, with Lab's login cookie: the kernel's server, yes; a port no kernel registered, no.
        from_lab = page.evaluate(_OPEN, {"own": url, "unregistered": unregistered})
        # Another site's page in the same browser: Chromium sends Lab's cookie along (same site), the
        # Origin says where the page is from, and Jupyter's Origin check refuses it.
        foreign = context.new_page()
        foreign.goto(elsewhere.url)
        from_elsewhere = foreign.evaluate(_OPEN, {"cookie": url})
        # A browser without the cookie: no token, another token, and (the control) this server's token.
        stranger = browser.new_context()
        try:
            bare = stranger.new_page()
            bare.goto(elsewhere.url)
            from_stranger = bare.evaluate(_OPEN, {"none": url, "other token": url + "?token=" + "0" * 48,
                                                  "this token": url + "?token=" + relay_lab.token})
        finally:
            stranger.close()
        statuses = json.loads(nb.run_code(
            "import json\nprint(json.dumps([r.status for r in server.capture.filter(kind='open')]))"))
        nb.shutdown_kernel()
    finally:
        context.close()
        elsewhere.close()
    assert from_lab == {"own": "open", "unregistered": "refused"}
    assert from_elsewhere == {"cookie": "refused"}
    assert from_stranger == {"none": "refused", "other token": "refused", "this token": "open"}
    # Only the two accepted connections ever reached the kernel's server.
    assert statuses == [101, 101]
    assert not errors


# ---------------------------------------------------------------------------- jupyter-server-proxy only
def test_without_the_relay_the_proxys_frames_are_labelled_as_the_proxys(
        proxy_lab: Lab, lab_page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    chromium = Handshakes(lab_page)
    nb, explorer_cell, client_cell, paths_cell, port = _open_05(proxy_lab, lab_page)
    client = output_of(nb, client_cell).locator(".wsx-client")
    expect(client.locator(".wsx-mode")).to_have_text("proxy")
    expect(client.locator(".wsx-url")).to_have_value(
        f"ws://127.0.0.1:{proxy_lab.port}{BASE}proxy/{port}/?wsexplore-via=jupyter-server-proxy")
    _connect_and_send(nb, client_cell, TEXT)
    seen = _kernel_capture(nb, "server", "jupyter-server-proxy")

    # The kernel's server got the proxy's handshake: not the key Chromium sent.
    sent = chromium.to(f"{BASE}proxy/{port}/")
    captured, _ = parse_request(seen["request"])
    assert captured.headers.get("Sec-WebSocket-Key") != sent["sec-websocket-key"]
    assert seen["reframed"] and "the proxy's, not the browser's" in seen["note"]
    told = nb.stdout(nb.run_cell(paths_cell))
    assert "via jupyter-server-proxy: through jupyter-server-proxy" in told and "not the peer's" in told

    # Every view says so, on the records themselves.
    explorer = output_of(nb, explorer_cell).locator(".wsx-explorer")
    rows = explorer.locator('tr.wsx-row[data-via="proxy"]')
    expect(rows).to_have_count(seen["records"])  # every record of the proxied connection, none without
    expect(explorer.locator(f'tr.wsx-row[data-via="proxy"]:not([data-kind="open"])').first).to_be_visible()
    for i in range(rows.count()):
        assert "wsx-reframed" in (rows.nth(i).get_attribute("class") or "")
        expect(rows.nth(i).locator("td.wsx-via")).to_contain_text("\u26a0 proxy")
    frame_seq = next(seq for seq, direction in seen["frames"] if direction == "in")
    explorer.locator(f'tr.wsx-row[data-seq="{frame_seq}"]').click()
    detail = output_of(nb, explorer_cell)
    expect(detail.locator(".wsx-frameview .wsx-via.wsx-reframed")).to_contain_text(
        "the proxy's frame, not the browser's")
    screenshot(lab_page, detail, artifacts_dir / "binder-proxy-frameview.png")
    open_seq = int(explorer.locator('tr.wsx-row[data-kind="open"][data-via="proxy"]').first.get_attribute("data-seq"))
    explorer.locator(f'tr.wsx-row[data-seq="{open_seq}"]').click()
    expect(detail.locator(".wsx-via.wsx-reframed")).to_contain_text("the proxy's handshake and frames, not the browser's")
    screenshot(lab_page, detail, artifacts_dir / "binder-proxy-handshake.png")
    nb.shutdown_kernel()
