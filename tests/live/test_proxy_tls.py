"""The tap in front of a wss:// upstream: a CA made here with openssl, verified, refused, or (loudly) not checked."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus

from wsexplore.capture import CloseRecord, MessageRecord, OpenRecord
from wsexplore.live.proxy import Proxy


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA and a certificate it signed for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command (Debian package openssl)", pytrace=False)
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
             "/CN=wsexplore test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
async def wss_port(certificates: Path) -> AsyncIterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")

    async def echo(conn) -> None:
        async for message in conn:
            await conn.send(message)

    server = await serve(echo, "127.0.0.1", 0, ssl=context, compression="deflate")
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def _round_trip(proxy: Proxy) -> list:
    async with connect(proxy.url, compression="deflate") as ws:
        await ws.send("over TLS")
        assert await ws.recv() == "over TLS"
    for _ in range(250):
        if any(isinstance(r, CloseRecord) for r in proxy.capture):
            break
        await asyncio.sleep(0.02)
    return list(proxy.capture)


async def test_wss_upstream_verified_with_a_ca_file(certificates: Path, wss_port: int) -> None:
    cafile = str(certificates / "ca.pem")
    async with Proxy(f"wss://127.0.0.1:{wss_port}/", cafile=cafile) as proxy:
        assert proxy.url.startswith("ws://127.0.0.1:")  # the client side is plain: the tap reads it
        records = await _round_trip(proxy)
        assert "TLS verified" in repr(proxy)
    opened = next(r for r in records if isinstance(r, OpenRecord))
    assert opened.status == 101
    assert f"certificate verified against {cafile}" in opened.note and "TLSv1." in opened.note
    messages = [r for r in records if isinstance(r, MessageRecord)]
    assert [(m.direction, m.data, m.compressed) for m in messages] == [("in", "over TLS", True),
                                                                      ("out", "over TLS", True)]


async def test_an_untrusted_certificate_gives_a_502_naming_it(wss_port: int) -> None:
    async with Proxy(f"wss://127.0.0.1:{wss_port}/") as proxy:  # the system trust store does not know the CA
        with pytest.raises(InvalidStatus) as info:
            async with connect(proxy.url, open_timeout=10):
                pass
    response = info.value.response
    assert response.status_code == 502
    assert b"TLS certificate was not accepted: unable to get local issuer certificate" in response.body
    opened = next(r for r in proxy.capture if isinstance(r, OpenRecord))
    assert opened.status == 502


async def test_verification_off_works_and_says_so_loudly(wss_port: int) -> None:
    with pytest.warns(UserWarning, match="WITHOUT certificate verification"):
        proxy = Proxy(f"wss://127.0.0.1:{wss_port}/", verify=False)
    async with proxy:
        assert "TLS NOT VERIFIED" in repr(proxy)
        records = await _round_trip(proxy)
    opened = next(r for r in records if isinstance(r, OpenRecord))
    assert "WITHOUT certificate verification" in opened.note


def test_tls_options_need_a_wss_upstream() -> None:
    with pytest.raises(ValueError, match="wss://"):
        Proxy("ws://127.0.0.1:1/", verify=False)
