"""The BrowserClient's kernel side: which URL a page uses, what it is told to do, its repr.

The socket itself runs in a browser page (tests/browser); here the page's
reports are played through ``set_state``, the way the widget protocol
delivers them, and the messages to the page are read off the widget's comm.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from wsexplore import Opcode, Server
from wsexplore.widgets import BrowserClient
from wsexplore.widgets.browser_client import DIRECT_NOTE, page_base_url, resolve_url

PORT = 8765
MARK = "?wsexplore-via=jupyter-server-proxy"  # what the server reads to label the proxy's records


# ---------------------------------------------------------------------------- URL choice
@pytest.mark.parametrize(
    ("page_url", "base_url", "expected"),
    [
        ("", "", ("ws://127.0.0.1:8765/", "direct")),
        ("http://localhost:8888/lab/tree/demo.ipynb", "/", ("ws://127.0.0.1:8765/", "direct")),
        ("http://127.0.0.1:8888/lab?reset", "", ("ws://127.0.0.1:8765/", "direct")),
        ("http://[::1]:8888/notebooks/demo.ipynb", "/", ("ws://127.0.0.1:8765/", "direct")),
        # a notebook whose own path mentions /user/ is still a local page
        ("http://localhost:8888/lab/tree/user/bob/demo.ipynb", "/", ("ws://127.0.0.1:8765/", "direct")),
        # Binder: a hub, over https
        ("https://hub.2i2c.mybinder.org/user/me-repo-abc123/lab/tree/demo.ipynb", "/user/me-repo-abc123/",
         ("wss://hub.2i2c.mybinder.org/user/me-repo-abc123/proxy/8765/" + MARK, "proxy")),
        # the base URL read from the page path when the page config gives none
        ("https://hub.example.org/user/alice/lab/tree/x.ipynb", "",
         ("wss://hub.example.org/user/alice/proxy/8765/" + MARK, "proxy")),
        # a JupyterHub on this machine: still a hub, so through its proxy
        ("http://localhost:8000/user/alice/lab", "/user/alice/", ("ws://localhost:8000/user/alice/proxy/8765/"
                                                                  + MARK, "proxy")),
        # JupyterLab on another host: 127.0.0.1 would be the browser's own machine
        ("http://lab.example.org:8888/jupyter/lab/tree/x.ipynb", "/jupyter/",
         ("ws://lab.example.org:8888/jupyter/proxy/8765/" + MARK, "proxy")),
        # a page that is no web page (an editor's webview): direct
        ("vscode-webview://abc/index.html", "", ("ws://127.0.0.1:8765/", "direct")),
    ],
)
def test_resolve_url(page_url: str, base_url: str, expected: tuple[str, str]) -> None:
    assert resolve_url(PORT, page_url=page_url, base_url=base_url) == expected


@pytest.mark.parametrize(
    ("page_url", "base_url", "expected"),
    [
        # the relay wins wherever the page found it: on Binder, on a hub, and on this machine
        ("https://hub.2i2c.mybinder.org/user/me-repo-abc123/lab/tree/demo.ipynb", "/user/me-repo-abc123/",
         "wss://hub.2i2c.mybinder.org/user/me-repo-abc123/wsexplore/8765/"),
        ("http://127.0.0.1:8888/user/demo/lab/tree/05.ipynb?token=x", "/user/demo/",
         "ws://127.0.0.1:8888/user/demo/wsexplore/8765/"),
        ("http://localhost:8888/lab/tree/demo.ipynb", "/", "ws://localhost:8888/wsexplore/8765/"),
    ],
)
def test_resolve_url_prefers_the_relay_when_the_page_found_it(page_url: str, base_url: str, expected: str) -> None:
    assert resolve_url(PORT, page_url=page_url, base_url=base_url, relay=True) == (expected, "relay")
    # without the relay: the proxy on a hub, direct on this machine
    assert resolve_url(PORT, page_url=page_url, base_url=base_url)[1] == (
        "direct" if page_url.startswith("http://localhost:8888/lab") else "proxy")
    # a page whose address is not known yet cannot use the relay
    assert resolve_url(PORT, relay=True) == ("ws://127.0.0.1:8765/", "direct")


def test_resolve_url_uses_the_servers_host_and_the_override() -> None:
    assert resolve_url(PORT, host="0.0.0.0") == ("ws://127.0.0.1:8765/", "direct")
    assert resolve_url(PORT, host="::1") == ("ws://[::1]:8765/", "direct")
    assert resolve_url(PORT, host="localhost") == ("ws://localhost:8765/", "direct")
    page = "https://hub.example.org/user/alice/lab"
    assert resolve_url(PORT, page_url=page, override="ws://10.0.0.5:9000/ws") == ("ws://10.0.0.5:9000/ws",
                                                                                   "direct")
    relayed = "wss://hub.example.org/user/alice/wsexplore/9000/ws"
    assert resolve_url(PORT, page_url=page, override=relayed, relay=False) == (relayed, "relay")
    assert resolve_url(PORT, override="wss://h.example.org/user/a/proxy/9000/") == (
        "wss://h.example.org/user/a/proxy/9000/", "proxy")


def test_page_base_url() -> None:
    assert page_base_url("http://localhost:8888/lab/tree/a.ipynb") == "/"
    assert page_base_url("https://h.org/user/x/notebooks/a.ipynb") == "/user/x/"
    assert page_base_url("https://h.org/user/x/doc/tree/a.ipynb") == "/user/x/"
    assert page_base_url("https://h.org/anything", "/prefix") == "/prefix/"
    assert page_base_url("https://h.org/anything", "https://h.org/user/y/") == "/user/y/"



# ---------------------------------------------------------------------------- the widget
def test_a_port_gives_the_direct_url_and_a_deterministic_repr() -> None:
    client = BrowserClient(PORT)
    assert (client.url, client.mode, client.port) == ("ws://127.0.0.1:8765/", "direct", PORT)
    assert client.note == DIRECT_NOTE
    assert client.status == "closed" and client.history == []
    assert repr(client) == "BrowserClient(ws://127.0.0.1:8765/ direct)"
    bundle = client._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["text/plain"] == repr(client)
    client.close()


def test_the_page_report_switches_to_the_proxy_and_says_so() -> None:
    client = BrowserClient(PORT)
    # what the page's JavaScript sends once rendered on Binder
    client.set_state({"page_url": "https://hub.mybinder.org/user/me-abc/lab/tree/demo.ipynb",
                      "base_url": "/user/me-abc/"})
    assert client.url == "wss://hub.mybinder.org/user/me-abc/proxy/8765/" + MARK
    assert client.mode == "proxy"
    assert client.resolved_for == client.page_url
    assert "the server sees the proxy's frames, not the browser's" in client.note
    assert "masking keys and extension offers are the proxy's" in client.note
    assert "over 10 MiB" in client.note and "/user/me-abc/proxy/8765/" in client.note
    assert "the capture labels them so" in client.note
    assert repr(client) == f"BrowserClient(wss://hub.mybinder.org/user/me-abc/proxy/8765/{MARK} proxy)"
    # an override typed in the view wins, and clearing it chooses again
    client.set_state({"override": "ws://127.0.0.1:8765/ws"})
    assert (client.url, client.mode) == ("ws://127.0.0.1:8765/ws", "direct")
    client.set_state({"override": ""})
    assert client.mode == "proxy"
    client.close()


@pytest.fixture
def in_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As inside a kernel started by a Jupyter server: its connection file sits in the runtime directory."""
    from wsexplore.jupyter import registry

    connection_file = tmp_path / "kernel-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.json"
    monkeypatch.setattr(registry, "kernel_connection_file", lambda: connection_file)
    return tmp_path


BINDER_PAGE = {"page_url": "https://hub.mybinder.org/user/me-abc/lab/tree/demo.ipynb", "base_url": "/user/me-abc/"}


async def test_the_page_finding_the_relay_switches_to_it_and_says_so(in_a_kernel: Path) -> None:
    async with Server("127.0.0.1", 0) as server:
        assert server.relay_registration is not None and server.relay_registration.path.parent == in_a_kernel
        client = BrowserClient(server)
        # what the page's JavaScript sends once rendered on Binder, the relay named in its page config
        client.set_state({**BINDER_PAGE, "relay": "yes"})
        port = server.port
        assert (client.url, client.mode) == (f"wss://hub.mybinder.org/user/me-abc/wsexplore/{port}/", "relay")
        assert client.resolved_for == client.page_url
        assert f"/user/me-abc/wsexplore/{port}/" in client.note
        assert "the server sees the browser's own frames" in client.note
        assert repr(client) == f"BrowserClient(wss://hub.mybinder.org/user/me-abc/wsexplore/{port}/ relay)"
        # A client given the port alone finds the registration file too.
        by_port = BrowserClient(port)
        by_port.set_state({**BINDER_PAGE, "relay": "yes"})
        assert by_port.mode == "relay"
        # a page without the relay: back to the proxy
        client.set_state({"relay": "no"})
        assert client.mode == "proxy"
        client.close()
        by_port.close()


async def test_the_relay_is_not_used_for_a_server_it_cannot_reach(in_a_kernel: Path) -> None:
    async with Server("127.0.0.1", 0, relay=False) as server:
        client = BrowserClient(server)
        client.set_state({**BINDER_PAGE, "relay": "yes"})
        assert client.mode == "proxy"  # the relay would answer 403: not registered
        client.close()
        by_port = BrowserClient(server.port)  # no registration file for that port either
        by_port.set_state({**BINDER_PAGE, "relay": "yes"})
        assert by_port.mode == "proxy"
        by_port.close()


def test_url_argument_overrides() -> None:
    client = BrowserClient(PORT, url="ws://127.0.0.1:8765/ws")
    assert repr(client) == "BrowserClient(ws://127.0.0.1:8765/ws direct)"
    client.set_state({"page_url": "https://hub.org/user/a/lab", "base_url": "/user/a/"})
    assert client.url == "ws://127.0.0.1:8765/ws"
    client.close()


async def test_a_running_server_gives_its_port() -> None:
    async with Server("127.0.0.1", 0) as server:
        client = BrowserClient(server)
        assert client.port == server.port > 0
        assert client.url == server.url
        assert client.server is server
        assert repr(client) == f"BrowserClient(ws://127.0.0.1:{server.port}/ direct)"
        client.close()


async def test_the_notebook_page_it_runs_in_may_use_the_server() -> None:
    """A page of another origin is refused, until a BrowserClient reports that it is its notebook page;
    through jupyter-server-proxy the page's Host reaches the server too, so that name is served."""
    async with Server("127.0.0.1", 0) as server:
        async def status(origin: str, host: str) -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write((f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          f"Origin: {origin}\r\n\r\n").encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.transport.abort()
            return int(head.split(b" ")[1])

        hub = "https://hub.example.org"
        assert await status(hub, "hub.example.org") == 421
        assert await status(hub, f"127.0.0.1:{server.port}") == 403
        client = BrowserClient(server)
        client.set_state({"page_url": f"{hub}/user/alice/lab/tree/x.ipynb", "base_url": "/user/alice/"})
        assert client.mode == "proxy"
        assert await status(hub, "hub.example.org") == 101
        assert await status(hub, f"127.0.0.1:{server.port}") == 101
        assert await status("https://other.example.org", f"127.0.0.1:{server.port}") == 403
        client.close()


def test_a_server_not_started_or_a_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError, match="start the server"):
        BrowserClient(Server("127.0.0.1", 0))
    with pytest.raises(TypeError):
        BrowserClient("8765")
    with pytest.raises(ValueError):
        BrowserClient(0)


def test_python_drives_the_page_with_custom_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    client = BrowserClient(PORT)
    sent: list[tuple[dict, list]] = []
    monkeypatch.setattr(client.comm, "send", lambda data=None, buffers=None, **kw: sent.append((data, buffers)))
    client.connect()
    client.send_text("发送数据")
    client.send_binary(b"\x01\x02\x03")
    client.send_binary("ff 00")
    client.close_connection(4000, "bye")
    client.disconnect()
    assert all(data["method"] == "custom" for data, _ in sent)
    contents = [data["content"] for data, _ in sent]
    assert contents == [
        {"action": "connect"},
        {"action": "send_text", "text": "发送数据"},
        {"action": "send_binary"},
        {"action": "send_binary"},
        {"action": "close", "code": 4000, "reason": "bye"},
        {"action": "disconnect"},
    ]
    assert [bytes(b) for b in sent[2][1]] == [b"\x01\x02\x03"]
    assert [bytes(b) for b in sent[3][1]] == [b"\xff\x00"]
    with pytest.raises(TypeError):
        client.send_text(b"bytes")  # type: ignore[arg-type]
    monkeypatch.undo()
    client.close()


def record_sent(client: BrowserClient, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(client.comm, "send", lambda data=None, buffers=None, **kw: sent.append(data["content"]))
    return sent


async def _eventually(what: str, predicate, timeout: float = 10.0):
    """Poll ``predicate`` on this loop until it is truthy (bounded); its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.02)
    return value


async def test_ping_asks_the_server_from_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's ping button and ``ping()`` both make the server ping; the answer reaches the log."""
    async with Server("127.0.0.1", 0) as server:
        client = BrowserClient(server)
        sent = record_sent(client, monkeypatch)
        async with connect(server.url, compression=None, open_timeout=10, close_timeout=10) as ws:
            assert await asyncio.wait_for(client.ping(), 10) == "pinged 1 connection(s)"
            assert sent == [{"event": "log", "dir": "sys", "kind": "ping",
                             "detail": "asked the server to ping: pinged 1 connection(s)"}]
            # the button: the page sends {"action": "ping"} to the kernel, as a widget custom message
            client._handle_custom_msg({"action": "ping"}, [])
            await _eventually("answer to the button's ping", lambda: len(sent) == 2)
            assert sent[1]["detail"] == "asked the server to ping: pinged 1 connection(s)"
            # the client answers each ping with a pong carrying the ping's data (section 5.5.3)
            pongs = await _eventually("two pongs", lambda: len(server.capture.frames(opcode=Opcode.PONG,
                                                                                     direction="in")) == 2
                                      and server.capture.frames(opcode=Opcode.PONG, direction="in"))
            assert ws.state.name == "OPEN"
        pings = server.capture.frames(opcode=Opcode.PING, direction="out")
        assert len(pings) == 2
        assert [p.frame.payload for p in pings] == [p.frame.payload for p in pongs]
        assert all(p.seq < q.seq for p, q in zip(pings, pongs))
        # With nobody connected the server pings no one, and says so.
        assert await asyncio.wait_for(client.ping(), 10) == "pinged 0 connection(s)"
        assert sent[-1]["detail"] == "asked the server to ping: pinged 0 connection(s)"
        client.close()


def test_ping_without_a_server_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = BrowserClient(port)
    sent = record_sent(client, monkeypatch)
    answer = client.ping()  # no event loop here: done at once
    assert answer.startswith("could not ask the server to ping: ConnectionRefusedError")
    assert sent == [{"event": "log", "dir": "sys", "kind": "error", "detail": answer}]
    client.close()


def test_the_page_reports_status_and_history() -> None:
    client = BrowserClient(PORT)
    seen: list[str] = []
    client.observe(lambda change: seen.append(change["new"]), names="status")
    client.set_state({"status": "connecting"})
    client.set_state({"status": "open", "history": [
        {"time": "12:00:00.000", "dir": "out", "kind": "text", "detail": '12 B: "发送数据"'}]})
    assert seen == ["connecting", "open"]
    assert client.history[0]["detail"].endswith('"发送数据"')
    client.close()


# ---------------------------------------------------------------------------- the page's contract
def test_the_views_files_are_in_the_package_and_keep_the_dom_contract() -> None:
    here = Path(__file__).resolve().parents[2] / "wsexplore" / "widgets"
    client_js = (here / "browser_client.js").read_text()
    explorer_js = (here / "explorer.js").read_text()
    client = BrowserClient(PORT)
    assert client._esm == client_js  # the file itself, no build step
    client.close()
    for cls in ("wsx-connect", "wsx-disconnect", "wsx-text", "wsx-send-text", "wsx-hex", "wsx-send-binary",
                "wsx-ping", "wsx-code", "wsx-reason", "wsx-close", "wsx-status", "wsx-mode", "wsx-note", "wsx-url",
                "wsx-log"):
        assert f'"{cls}"' in client_js, cls
    assert 'model.on("msg:custom"' in client_js
    assert "export default { initialize, render }" in client_js
    for needle in ('`wsx-row ', "dataset.seq", "dataset.direction", "dataset.opcode", 'model.set("selected"'):
        assert needle in explorer_js, needle
    assert "http" not in explorer_js and "import " not in explorer_js and "import " not in client_js  # no CDN
    assert (here / "browser_client.css").is_file() and (here / "explorer.css").is_file()
