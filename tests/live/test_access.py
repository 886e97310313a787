"""Who may use a server: pages of other sites get 403, rebound Host names get 421, both recorded.

Raw sockets send exactly the Origin and Host a browser would (the probes in probes.py, run
against every capture point), the ``websockets`` client stands for a page with an Origin
and for tools without one, and ``wsexplore serve`` runs as a real process for its flags.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wsexplore.capture import ErrorRecord, OpenRecord
from wsexplore.live.access import AccessPolicy, normalize_origin, split_host
from wsexplore.protocol.handshake import parse_request
from wsexplore.protocol.opcodes import Opcode

from .probes import (
    T,
    Target,
    client_frame,
    exchange,
    http_request,
    open_websocket,
    read_frame,
    status_of,
    upgrade_request,
)
from .test_cli_serve import serve_process  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(60)


def refusals(target: Target, status: int) -> list[tuple[OpenRecord, ErrorRecord]]:
    """The refused requests recorded with ``status``: each open record and the error that says why."""
    found = []
    for opened in target.capture.filter(kind="open"):
        if opened.status == status:
            (error,) = target.capture.filter(kind="error", conn=opened.conn)
            found.append((opened, error))
    return found


# ---------------------------------------------------------------------------- Origin
async def test_a_page_of_another_site_gets_403_and_the_refusal_is_recorded(make_target) -> None:
    target = await make_target()
    request = upgrade_request(target, origin="http://evil.example")
    response = await exchange(target, request)
    assert response.status == 403
    assert b"http://evil.example" in response.body and b"--origins" in response.body
    ((opened, error),) = refusals(target, 403)
    assert opened.request == request and opened.response == response.raw and not opened.accepted
    assert error.error is not None and error.error.status == 403 and error.error.header == "Origin"
    # A real client that says it is that page fares no better, and the server goes on serving.
    with pytest.raises(InvalidStatus) as info:
        async with connect(target.url, origin="http://evil.example", open_timeout=T):
            pass
    assert info.value.response.status_code == 403
    assert len(refusals(target, 403)) == 2


@pytest.mark.parametrize("origin", [
    None,                        # not a web page: curl, scripts, the websockets client
    "SELF",                      # the server's own client page
    "http://localhost:8888",     # a JupyterLab on this machine: the BrowserClient's page
    "http://127.0.0.1:8888",
    "http://[::1]:8888",
    "https://localhost",
])
async def test_pages_that_may_connect(make_target, origin: str | None) -> None:
    target = await make_target()
    if origin == "SELF":
        origin = f"http://{target.authority}"
    reader, writer = await open_websocket(target, origin=origin)
    try:
        writer.write(client_frame(Opcode.TEXT, b"hello"))
        assert await read_frame(reader) == (Opcode.TEXT, b"hello")
    finally:
        writer.transport.abort()
    assert [r.status for r in target.capture.filter(kind="open")] == [101]


@pytest.mark.parametrize("origin", [
    "null",                                # a sandboxed frame or a file:// page
    "http://evil.example",
    "http://localhost.evil.example:8888",  # looks local, is not
    "http://127.0.0.2:8888",               # loopback, but not one of the three a notebook uses
    "file://",
    "http://127.0.0.1:1@evil.example",
    "PORT.evil",                           # another host on the server's own port
])
async def test_pages_that_may_not(make_target, origin: str) -> None:
    target = await make_target()
    origin = origin.replace("PORT.evil", f"http://evil.example:{target.port}")
    response = await exchange(target, upgrade_request(target, origin=origin))
    assert response.status == 403, response.raw
    assert len(refusals(target, 403)) == 1


async def test_origins_adds_pages_and_star_allows_any(make_target) -> None:
    listed = await make_target(origins=["http://good.example:3000"])
    assert await status_of(listed, upgrade_request(listed, origin="http://good.example:3000")) == 101
    assert await status_of(listed, upgrade_request(listed, origin="http://good.example")) == 403
    assert await status_of(listed, upgrade_request(listed, origin="http://localhost:8888")) == 101
    anyone = await make_target(origins="*")
    assert await status_of(anyone, upgrade_request(anyone, origin="http://evil.example")) == 101


async def test_api_ping_follows_the_same_origin_rule(make_server_target) -> None:
    target = await make_server_target()
    evil = await exchange(target, http_request(target, "POST", "/api/ping", origin="http://evil.example"))
    assert evil.status == 403
    assert len(refusals(target, 403)) == 1
    own = await exchange(target, http_request(target, "POST", "/api/ping", origin=f"http://{target.authority}"))
    assert own.status == 200 and own.body == b"pinged 0 connection(s)\n"


# ---------------------------------------------------------------------------- Host
@pytest.mark.parametrize("request_kind", ["page", "upgrade", "ping"])
async def test_a_dns_rebound_page_gets_421_for_every_request_and_it_is_recorded(make_target,
                                                                              request_kind: str) -> None:
    target = await make_target()
    rebound = f"evil.example:{target.port}"  # the page's own name, now resolving to 127.0.0.1
    same_site = f"http://{rebound}"  # so its Origin names the Host it sent: no help
    request = {
        "page": http_request(target, "GET", "/", host=rebound),
        "upgrade": upgrade_request(target, host=rebound, origin=same_site),
        "ping": http_request(target, "POST", "/api/ping", host=rebound, origin=same_site),
    }[request_kind]
    response = await exchange(target, request)
    assert response.status == 421
    assert b"evil.example" in response.body and b"DNS rebinding" in response.body
    assert b"<html" not in response.body.lower()  # the client page is not served under that name
    ((opened, error),) = refusals(target, 421)
    assert opened.request == request
    assert error.error is not None and error.error.header == "Host"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "127.0.0.7", "app.localhost", "LOCALHOST."])
async def test_loopback_names_are_served(make_target, host: str) -> None:
    target = await make_target()
    assert await status_of(target, upgrade_request(target, host=f"{host}:{target.port}")) == 101


async def test_the_client_page_is_served_under_loopback_names_only(make_server_target) -> None:
    target = await make_server_target()
    page = await exchange(target, http_request(target, host=f"localhost:{target.port}"))
    assert page.status == 200 and b"wsexplore" in page.body
    assert (await exchange(target, http_request(target, host=f"evil.example:{target.port}"))).status == 421


async def test_hosts_names_more_names_to_serve_and_a_missing_host_is_400(make_target) -> None:
    target = await make_target(hosts=["my.box"])
    assert await status_of(target, upgrade_request(target, host=f"my.box:{target.port}")) == 101
    assert (await exchange(target, upgrade_request(target, host="other.box"))).status == 421
    missing = await exchange(target, upgrade_request(target).replace(f"Host: {target.authority}\r\n".encode(), b""))
    assert missing.status == 400 and b"Host" in missing.body


async def test_a_relayed_connection_passes_with_the_jupyter_pages_host_and_origin(make_server_target) -> None:
    """The Jupyter server's relay authenticated the browser and applied Jupyter's Origin rules: a
    preamble with this server's token lets the request in with the hub's Host and Origin."""
    from wsexplore.jupyter import preamble

    target = await make_server_target()
    server = target.thing
    request = upgrade_request(target, host="hub.example.org", origin="https://hub.example.org")
    assert await status_of(target, request) == 421  # the same bytes straight from a page: refused
    line = preamble.encode(server._relay_token, ("10.0.0.5", 5555), f"/user/alice/wsexplore/{target.port}/")
    assert await status_of(target, line + request) == 101
    forged = preamble.encode("not-the-token", ("10.0.0.5", 5555), "/")
    assert await status_of(target, forged + request) == 403


# ---------------------------------------------------------------------------- the policy itself
def _request(host: str, origin: str | None = None) -> object:
    head = f"GET / HTTP/1.1\r\nHost: {host}\r\n" + (f"Origin: {origin}\r\n" if origin else "") + "\r\n"
    parsed = parse_request(head.encode())
    assert parsed is not None
    return parsed[0]


def test_a_relayed_connection_is_allowed_as_it_is() -> None:
    # The Jupyter server's relay has checked the user and the page's origin already.
    policy = AccessPolicy("127.0.0.1")
    request = _request("hub.example.org", "https://hub.example.org")
    assert policy.refusal(request) is not None
    assert policy.refusal(request, relayed=True) is None


def test_listening_on_every_interface_serves_any_host_but_trusts_only_addresses_for_same_origin() -> None:
    policy = AccessPolicy("0.0.0.0")
    assert not policy.check_host
    assert policy.refusal(_request("my.box:8765")) is None  # a GET of the page by name is served
    # The page's own WebSocket by IP address is its own origin; by a name it could be a rebound site.
    assert policy.refusal(_request("192.168.1.5:8765", "http://192.168.1.5:8765")) is None
    assert policy.refusal(_request("evil.example:8765", "http://evil.example:8765")).status == 403
    named = AccessPolicy("0.0.0.0", hosts=["my.box"])
    assert named.refusal(_request("my.box:8765", "http://my.box:8765")) is None
    assert named.refusal(_request("192.168.1.5:8765")) is None  # addresses cannot be rebound
    assert named.refusal(_request("evil.example:8765")).status == 421


def test_host_and_origin_parsing() -> None:
    assert split_host("[::1]:8765") == ("::1", 8765)
    assert split_host("Example.ORG") == ("example.org", None)
    for bad in ["", "::1", "a b", "host:port", "[::1", "host:99999", "user@host"]:
        assert split_host(bad) is None, bad
    assert normalize_origin("http://LOCALHOST") == ("http", "localhost", 80)
    assert normalize_origin("https://[::1]:8888") == ("https", "::1", 8888)
    for bad in ["null", "file://", "http://", "http://a:b", "http://host/path", "javascript:alert(1)"]:
        assert normalize_origin(bad) is None, bad
    with pytest.raises(ValueError, match="not an origin"):
        AccessPolicy(origins=["example.org"])


# ---------------------------------------------------------------------------- the command line
def _status(port: int, *, origin: str | None = None, host: str | None = None) -> int:
    import socket

    target = Target(port, None)  # type: ignore[arg-type]
    with socket.create_connection(("127.0.0.1", port), timeout=T) as sock:
        sock.sendall(upgrade_request(target, origin=origin, host=host))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ")[1])


@pytest.mark.timeout(90)
def test_serve_origins_and_allowed_host_flags_work_and_the_choice_is_printed(serve_process) -> None:
    server = serve_process("--origins", "http://good.example:3000", "--allowed-host", "my.box")
    port = int(server.url().rsplit(":", 1)[1].strip("/"))
    server.wait_for(r"browser pages: this server's own page, pages on localhost/127\.0\.0\.1/\[::1\], "
                    r"http://good\.example:3000; others get 403")
    server.wait_for(r"Host names served: localhost, 127\.0\.0\.1, \[::1\], my\.box; others get 421")
    assert _status(port, origin="http://good.example:3000") == 101
    assert _status(port, origin="http://evil.example") == 403
    assert _status(port, host=f"my.box:{port}") == 101
    assert _status(port, host=f"evil.example:{port}") == 421
    server.wait_for(r" 403 Forbidden")  # the refusals are printed like any refused handshake
    server.wait_for(r" 421 Misdirected Request")
    assert server.stop() == 0


@pytest.mark.timeout(90)
def test_serve_allow_any_origin_says_so_and_lets_any_page_in(serve_process) -> None:
    server = serve_process("--allow-any-origin")
    port = int(server.url().rsplit(":", 1)[1].strip("/"))
    server.wait_for(r"browser pages: any origin may connect \(--allow-any-origin\)")
    assert _status(port, origin="http://evil.example") == 101
    assert server.stop() == 0


def test_serve_refuses_a_malformed_origin_argument(capsys) -> None:
    from wsexplore.cli import main

    assert main(["serve", "--origins", "example.org"]) == 2
    assert "not an origin: 'example.org'" in capsys.readouterr().err


async def test_the_server_keeps_serving_after_refusals(make_target) -> None:
    target = await make_target()
    for _ in range(3):
        await exchange(target, upgrade_request(target, origin="http://evil.example"))
    async with connect(target.url, open_timeout=T) as ws:
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), T) == "still here"
