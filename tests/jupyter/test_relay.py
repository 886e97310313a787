"""The relay in a real Jupyter server: who gets through, and that the bytes arrive unchanged both ways.

Real parts only: ``jupyter server`` with ``--ServerApp.base_url=/user/demo/``
and a token (conftest), a kernel it started running ``wsexplore.Server``s,
``websockets`` clients and raw sockets on loopback. Where bytes are compared,
a small TCP recorder sits between the client and the Jupyter server and keeps
every byte each way, so the comparison never trusts the relay: what the
client put on the wire is set against what the kernel's capture holds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import struct
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from wsexplore import Frame, Opcode, dissect_stream
from wsexplore.jupyter import registry
from wsexplore.protocol.handshake import parse_request

from .conftest import BASE, Kernel

pytestmark = pytest.mark.timeout(180)

# Run once in the kernel: servers with the handlers the tests need, and a way to read their captures.
SETUP = """
import asyncio, base64, json
import wsexplore as ws

async def flood(conn):
    # "flood N": send N messages of 1 MiB as fast as the peer takes them, counting what went out.
    n = int((await conn.recv()).split()[1])
    block = bytes(1 << 20)
    for _ in range(n):
        await conn.send(block)
        flooded["sent"] += len(block)
    flooded["done"] = True
    async for _ in conn:
        pass

async def sink(conn):
    await asyncio.Event().wait()  # never reads: the server stops reading the peer

flooded = {"sent": 0, "done": False}
servers = {
    "echo": await ws.Server().start(),
    "deflate": await ws.Server(compression="deflate").start(),
    "flood": await ws.Server(handler=flood, capture=ws.Capture(max_bytes=4 << 20)).start(),
    "sink": await ws.Server(handler=sink, capture=ws.Capture(max_bytes=4 << 20)).start(),
    "norelay": await ws.Server(relay=False).start(),
}

def b64(data):
    return base64.b64encode(data).decode()

def dump(name, conn=None):
    cap = servers[name].capture
    conn = cap.connections[-1] if conn is None else conn
    opened = cap.opening(conn)
    frames = cap.frames(conn=conn)
    closes = cap.filter(kind="close", conn=conn)
    print(json.dumps({
        "conn": conn, "via": opened.via, "note": opened.note, "peer": list(opened.peer),
        "request": b64(opened.request), "response": b64(opened.response),
        "in": [b64(f.raw) for f in frames if f.direction == "in"],
        "out": [b64(f.raw) for f in frames if f.direction == "out"],
        "messages": [[m.direction, m.compressed_size] for m in cap.messages(conn=conn)],
        "close": [[c.code, c.reason, c.initiator, c.clean] for c in closes],
        "opens": len(cap.filter(kind="open")),
    }))

print(json.dumps({name: [s.port, s.relay_registration is not None] for name, s in servers.items()}))
"""


@dataclass
class Servers:
    ports: dict[str, int]
    registered: dict[str, bool]


@pytest.fixture(scope="module")
def servers(kernel: Kernel) -> Servers:
    info = kernel.json(SETUP)
    return Servers({k: v[0] for k, v in info.items()}, {k: v[1] for k, v in info.items()})


def relay_url(jupyter: Any, port: int, path: str = "/ws", *, via: int | None = None) -> str:
    return f"ws://127.0.0.1:{via or jupyter.port}{BASE}wsexplore/{port}{path}"


def auth(jupyter: Any) -> dict[str, str]:
    return {"Authorization": f"token {jupyter.token}"}


def status(jupyter: Any) -> dict[str, Any]:
    return jupyter.api("wsexplore/")


async def wait_for(what: str, predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


def dump(kernel: Kernel, name: str, conn: int | None = None) -> dict[str, Any]:
    out = kernel.json(f"dump({name!r}, {conn!r})")
    for key in ("request", "response"):
        out[key] = base64.b64decode(out[key])
    for key in ("in", "out"):
        out[key] = [base64.b64decode(x) for x in out[key]]
    return out


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert match, f"no VmRSS for {pid}"
    return int(match.group(1))


# ---------------------------------------------------------------------------- a recorder on the wire
@dataclass
class Recorder:
    """A TCP pass-through in front of the Jupyter server that keeps every byte each way, per connection."""

    target: int
    up: list[bytearray] = field(default_factory=list)  # client -> Jupyter
    down: list[bytearray] = field(default_factory=list)  # Jupyter -> client
    upstream_ports: list[int] = field(default_factory=list)  # our socket's port, as the Jupyter server sees it
    closed: list[asyncio.Event] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> Recorder:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up, down, done = bytearray(), bytearray(), asyncio.Event()
        self.up.append(up)
        self.down.append(down)
        self.closed.append(done)
        jup_r, jup_w = await asyncio.open_connection("127.0.0.1", self.target)
        self.upstream_ports.append(jup_w.get_extra_info("sockname")[1])

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: bytearray) -> None:
            try:
                while data := await reader.read(65536):
                    keep += data
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError):
                writer.transport.abort()

        await asyncio.gather(copy(client_r, jup_w, up), copy(jup_r, client_w, down))
        for w in (client_w, jup_w):
            w.close()
        done.set()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def recorder(jupyter: Any) -> Any:
    rec = await Recorder(jupyter.port).start()
    yield rec
    await rec.stop()


def split_head(data: bytes | bytearray) -> tuple[bytes, bytes]:
    end = data.index(b"\r\n\r\n") + 4
    return bytes(data[:end]), bytes(data[end:])


# ---------------------------------------------------------------------------- registration and status
def test_kernel_servers_register_and_the_status_page_lists_them(jupyter: Any, kernel: Kernel,
                                                                 servers: Servers) -> None:
    assert servers.registered == {"echo": True, "deflate": True, "flood": True, "sink": True, "norelay": False}
    assert jupyter.runtime_dir is not None
    files = sorted(p.name for p in jupyter.runtime_dir.glob(f"{registry.FILE_PREFIX}*.json"))
    assert files == sorted(f"{registry.FILE_PREFIX}{kernel.id}-{port}.json" for name, port in servers.ports.items()
                           if name != "norelay")
    for name in files:
        assert (jupyter.runtime_dir / name).stat().st_mode & 0o077 == 0, "a registration file others can read"
    answer = status(jupyter)
    assert answer["relay"] == "wsexplore" and answer["path"] == f"{BASE}wsexplore/PORT/"
    assert answer["ports"] == sorted(p for n, p in servers.ports.items() if n != "norelay")
    # The status page is a Jupyter API page: no credentials, no answer.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{jupyter.base_url}wsexplore/", timeout=5)
    assert refused.value.code == 403


def test_a_stopped_server_unregisters_and_a_dead_kernels_files_are_ignored(jupyter: Any) -> None:
    other = Kernel(jupyter)
    try:
        port = other.json("import wsexplore as ws, json\ns = await ws.Server().start()\nprint(s.port)")
        path = jupyter.runtime_dir / f"{registry.FILE_PREFIX}{other.id}-{port}.json"
        assert path.exists() and port in status(jupyter)["ports"]
        other.run("await s.stop()")
        assert not path.exists() and port not in status(jupyter)["ports"]
        other.run("s = await ws.Server(port=%d).start()" % port)
        assert path.exists()
        saved = path.read_bytes()
    finally:
        other.close()  # the kernel exits: its process removes what it registered
    assert not path.exists()
    # A file left behind by a kernel that is gone (killed, say) names no running kernel: ignored.
    path.write_bytes(saved)
    try:
        assert port not in status(jupyter)["ports"]
    finally:
        path.unlink()


# ---------------------------------------------------------------------------- bytes, both ways
MESSAGES: list[Any] = ["发送数据", os.urandom(200_000), "x" * 70_000, b""]


@pytest.mark.parametrize("name", ["echo", "deflate"])
async def test_relayed_bytes_are_the_clients_own_both_ways(jupyter: Any, kernel: Kernel, servers: Servers,
                                                            recorder: Recorder, name: str) -> None:
    port = servers.ports[name]
    url = relay_url(jupyter, port, "/ws?x=1&token=" + jupyter.token, via=recorder.port)
    async with connect(url, additional_headers={"Origin": jupyter.origin},
                       compression="deflate" if name == "deflate" else None, max_size=None) as ws:
        for message in MESSAGES:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "mented ", "发送"])  # one message in three frames (section 5.4)
        assert await ws.recv() == "fragmented 发送"
        pong = await ws.ping(b"ping!")
        await asyncio.wait_for(pong, 10)
    await asyncio.wait_for(recorder.closed[0].wait(), 10)
    seen = await asyncio.to_thread(dump, kernel, name)

    # What the client put on the wire after its request is exactly the server's "in" frames, and what
    # came back after the 101 is exactly its "out" frames: masking keys, RSV bits, fragmentation included.
    sent_head, sent_frames = split_head(recorder.up[0])
    got_head, got_frames = split_head(recorder.down[0])
    assert sent_frames == b"".join(seen["in"]) and len(sent_frames) > (200_000 if name == "echo" else 1000)
    assert got_frames == b"".join(seen["out"])
    assert got_head == seen["response"]  # the server's own 101, as the client read it
    frames = [d.frame for d in dissect_stream(sent_frames, role="server")]
    assert all(f is not None and f.mask_key is not None for f in frames)
    assert [f.fin for f in frames if f.opcode in (Opcode.TEXT, Opcode.CONTINUATION)][-3:] == [False, False, True]
    compressed = [f.rsv1 for f in frames if f.opcode in (Opcode.TEXT, Opcode.BINARY)]
    if name == "deflate":  # the client's own compressed frames, negotiated with the kernel's server itself
        assert any(compressed) and b"permessage-deflate" in seen["response"]
        assert any(size is not None for direction, size in seen["messages"] if direction == "in")
    else:
        assert not any(compressed) and b"Sec-WebSocket-Extensions" not in seen["response"]

    # The head: the client's header values in the client's order; the target without the relay's prefix
    # and without Jupyter's token; the names as tornado spells them. The record says all of that.
    sent, _ = parse_request(sent_head)
    relayed, _ = parse_request(seen["request"])
    assert sent.target == f"{BASE}wsexplore/{port}/ws?x=1&token={jupyter.token}"
    assert relayed.target == "/ws?x=1"
    assert [(k.lower(), v) for k, v in relayed.headers.items()] == [(k.lower(), v) for k, v in sent.headers.items()]
    assert relayed.headers.get("Sec-WebSocket-Key") == sent.headers.get("Sec-WebSocket-Key")
    assert b"\r\nSec-Websocket-Key: " in seen["request"]  # tornado's spelling, said in the note
    assert seen["via"] == "relay"
    assert f"target {BASE}wsexplore/{port}/ws?x=1&token=withheld became /ws?x=1" in seen["note"]
    assert jupyter.token not in seen["note"]
    assert seen["peer"] == ["127.0.0.1", recorder.upstream_ports[0]]  # the client as Jupyter saw it
    assert seen["close"] == [[1000, "", "remote", True]]


async def test_a_message_over_jupyter_server_proxys_10_mib_cap_passes(jupyter: Any, servers: Servers) -> None:
    """jupyter-server-proxy fails messages over 10 MiB on its own leg; bytes passed on have no such cap."""
    message = os.urandom(12 * 2**20)
    async with connect(relay_url(jupyter, servers.ports["echo"]), additional_headers=auth(jupyter),
                       compression=None, max_size=None) as ws:
        await ws.send(message)
        assert await asyncio.wait_for(ws.recv(), 60) == message


# ---------------------------------------------------------------------------- who gets through
def login_cookie(jupyter: Any) -> str:
    """The cookie a browser gets by opening a Jupyter page with ?token=."""
    with urllib.request.urlopen(f"{jupyter.base_url}api/status?token={jupyter.token}", timeout=5) as response:
        cookies = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or []]
    assert cookies, "no login cookie"
    return "; ".join(cookies)


async def handshake_status(url: str, headers: dict[str, str]) -> int:
    try:
        async with connect(url, additional_headers=headers, open_timeout=10) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


class Listener:
    """A plain TCP service on loopback that counts who connects: the relay must never reach it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]

    def accepted(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                return count
            conn.close()
            count += 1


async def test_credentials_and_origin_are_checked_as_jupyter_checks_them(jupyter: Any, kernel: Kernel,
                                                                         servers: Servers) -> None:
    url = relay_url(jupyter, servers.ports["echo"])
    before = (await asyncio.to_thread(dump, kernel, "echo"))["opens"]
    cookie = await asyncio.to_thread(login_cookie, jupyter)
    cases = {
        "no credentials": ({}, 403),
        "another server's token": ({"Authorization": "token " + "0" * 48}, 403),
        "a token in the URL that is not this server's": ({}, 403),
        "login cookie, a page of another origin": ({"Cookie": cookie, "Origin": "https://evil.example"}, 403),
        "login cookie, the Jupyter page's origin": ({"Cookie": cookie, "Origin": jupyter.origin}, 101),
        "token, any origin (Jupyter's rule for token requests)": (
            {**auth(jupyter), "Origin": "https://evil.example"}, 101),
    }
    got = {}
    for case, (headers, _) in cases.items():
        target = url + "?token=" + "1" * 48 if "in the URL" in case else url
        got[case] = await handshake_status(target, headers)
    assert got == {case: expected for case, (_, expected) in cases.items()}
    # The refused ones never reached the kernel's server: only the two accepted handshakes are there.
    assert (await asyncio.to_thread(dump, kernel, "echo"))["opens"] == before + 2


async def test_only_registered_servers_of_this_servers_kernels_are_reached(jupyter: Any, kernel: Kernel,
                                                                           servers: Servers) -> None:
    from wsexplore import Server

    listener = Listener()
    own = await Server().start()  # a wsexplore server, but of this test process, not of a kernel
    runtime = jupyter.runtime_dir
    fake = runtime / f"{registry.FILE_PREFIX}5e1f7a3e-0000-0000-0000-000000000000-{listener.port}.json"
    kernel_pid = await asyncio.to_thread(lambda: kernel.pid)
    try:
        assert await handshake_status(relay_url(jupyter, listener.port), auth(jupyter)) == 403
        assert await handshake_status(relay_url(jupyter, own.port), auth(jupyter)) == 403
        assert await handshake_status(relay_url(jupyter, servers.ports["norelay"]), auth(jupyter)) == 403
        # A file naming a kernel this Jupyter server does not run.
        fake.write_text(json.dumps({"version": 1, "port": listener.port, "host": "127.0.0.1", "token": "x",
                                    "pid": os.getpid(), "kernel_id": "5e1f7a3e-0000-0000-0000-000000000000"}))
        assert await handshake_status(relay_url(jupyter, listener.port), auth(jupyter)) == 403
        # A file naming the real kernel, written by a process that is not the kernel's.
        forged = runtime / f"{registry.FILE_PREFIX}{kernel.id}-{listener.port}.json"
        forged.write_text(json.dumps({"version": 1, "port": listener.port, "host": "127.0.0.1", "token": "x",
                                      "pid": os.getpid(), "kernel_id": kernel.id}))
        assert await handshake_status(relay_url(jupyter, listener.port), auth(jupyter)) == 403
        # The same file with the kernel's own pid would be taken: proof the check above is the pid's.
        forged.write_text(json.dumps({"version": 1, "port": listener.port, "host": "127.0.0.1", "token": "x",
                                      "pid": kernel_pid, "kernel_id": kernel.id}))
        assert listener.port in status(jupyter)["ports"]
        forged.unlink()
        assert listener.accepted() == 0, "the relay dialled a port it must not reach"
        assert not own.capture.filter(kind="open")
        # A plain GET (no upgrade) is no relay request; the kernel's server works for a proper one.
        with pytest.raises(urllib.error.HTTPError) as plain:
            await asyncio.to_thread(jupyter.api, f"wsexplore/{servers.ports['echo']}/")
        assert plain.value.code == 400
        assert await handshake_status(relay_url(jupyter, servers.ports["echo"]), auth(jupyter)) == 101
    finally:
        for path in runtime.glob(f"{registry.FILE_PREFIX}*-{listener.port}.json"):
            path.unlink()
        listener.sock.close()
        await own.stop()


# ---------------------------------------------------------------------------- closing
async def test_a_close_from_either_side_ends_the_relay(jupyter: Any, kernel: Kernel, servers: Servers,
                                                       recorder: Recorder) -> None:
    url = relay_url(jupyter, servers.ports["echo"], via=recorder.port)
    # 1. The client closes: clean close handshake, the Jupyter server drops its relay.
    async with connect(url, additional_headers=auth(jupyter), compression=None) as ws:
        await ws.send("one")
        await ws.recv()
        assert status(jupyter)["open"] == 1
    await asyncio.wait_for(recorder.closed[0].wait(), 10)
    await wait_for("the relay to end", lambda: status(jupyter)["open"] == 0)
    first = await asyncio.to_thread(dump, kernel, "echo")
    assert first["close"] == [[1000, "", "remote", True]]

    # 2. The kernel's server closes (code 4000): the client gets it, then TCP ends from the server's side.
    async with connect(url, additional_headers=auth(jupyter), compression=None) as ws:
        await ws.send("two")
        await ws.recv()
        conn = (await asyncio.to_thread(dump, kernel, "echo"))["conn"]
        await asyncio.to_thread(kernel.run, f"asyncio.ensure_future(servers['echo'].connections[{conn}]"
                                            ".close(4000, 'bye from the kernel'))")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4000 and ws.close_reason == "bye from the kernel"
    await asyncio.wait_for(recorder.closed[1].wait(), 10)
    await wait_for("the relay to end", lambda: status(jupyter)["open"] == 0)
    second = await asyncio.to_thread(dump, kernel, "echo", conn)
    assert second["close"] == [[4000, "bye from the kernel", "local", True]]

    # 3. The client vanishes (TCP reset): the server sees the connection fail, the relay ends too.
    reader, writer = await asyncio.open_connection("127.0.0.1", jupyter.port)
    writer.write(raw_upgrade(jupyter, servers.ports["echo"]))
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 101")
    await wait_for("the relay to open", lambda: status(jupyter)["open"] == 1)
    reset(writer)
    await wait_for("the relay to end", lambda: status(jupyter)["open"] == 0)
    third = await wait_for("the close record", lambda: (d := dump(kernel, "echo"))["close"] and d)
    assert third["close"][0][0] == 1006 and third["close"][0][3] is False


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), as a crashing client's system does. A plain close
    with bytes still queued toward a peer that reads nothing sends nothing at all: no one could tell."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def raw_upgrade(jupyter: Any, port: int) -> bytes:
    return (f"GET {BASE}wsexplore/{port}/ws HTTP/1.1\r\nHost: 127.0.0.1:{jupyter.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: token {jupyter.token}\r\n\r\n").encode()


# ---------------------------------------------------------------------------- backpressure
async def test_a_client_that_stops_reading_stalls_the_server_not_the_jupyter_server(
        jupyter: Any, kernel: Kernel, servers: Servers) -> None:
    total = 96  # MiB the kernel's server would send
    pid = jupyter.process.pid
    reader, writer = await asyncio.open_connection("127.0.0.1", jupyter.port)
    writer.write(raw_upgrade(jupyter, servers.ports["flood"]))
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 101")
    baseline = rss_kib(pid)
    writer.write(Frame(Opcode.TEXT, f"flood {total}".encode(), mask_key=os.urandom(4)).encode())
    await writer.drain()
    # Read nothing for a while: the server must stop sending, and no one may buffer the rest.
    await asyncio.sleep(3)
    stalled = kernel_sent = await asyncio.to_thread(kernel.json, "print(json.dumps(flooded))")
    t0 = time.monotonic()
    # The rest of Jupyter answers meanwhile (within the request's timeout: a blocked loop would not answer).
    api = await asyncio.to_thread(jupyter.api, "api/status")
    api_seconds = time.monotonic() - t0
    await asyncio.sleep(2)
    later = await asyncio.to_thread(kernel.json, "print(json.dumps(flooded))")
    grown_kib = rss_kib(pid) - baseline
    print(f"\nstalled after {stalled['sent'] / 2**20:.1f} MiB of {total} MiB; Jupyter server RSS +{grown_kib} KiB; "
          f"api/status in {api_seconds * 1000:.0f} ms")
    assert not kernel_sent["done"] and later["sent"] == stalled["sent"], "the server kept sending"
    assert stalled["sent"] < 40 * 2**20, "more was taken than socket buffers hold"
    assert grown_kib < 32 * 1024, "the Jupyter server buffered what the client did not read"
    assert "started" in api

    # Reading again, every byte arrives, in order, and the flood completes.
    expected = total * (2**20 + 10)  # 1 MiB binary frames from the server: a 10-byte header each
    received = 0
    while received < expected:
        chunk = await asyncio.wait_for(reader.read(1 << 20), 20)
        assert chunk, f"the stream ended after {received} of {expected} bytes"
        received += len(chunk)
    assert received == expected
    done = await wait_for("the flood to finish", lambda: kernel.json("print(json.dumps(flooded))")["done"])
    assert done
    writer.transport.abort()
    await wait_for("the relay to end", lambda: status(jupyter)["open"] == 0)


async def test_a_server_that_stops_reading_stalls_the_client_not_the_jupyter_server(
        jupyter: Any, servers: Servers) -> None:
    pid = jupyter.process.pid
    reader, writer = await asyncio.open_connection("127.0.0.1", jupyter.port)
    writer.write(raw_upgrade(jupyter, servers.ports["sink"]))
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 101")
    baseline = rss_kib(pid)
    frame = Frame(Opcode.BINARY, bytes(64 * 1024), mask_key=os.urandom(4)).encode()
    written = 0
    try:
        while written < 256 * 2**20:
            writer.write(frame)
            await asyncio.wait_for(writer.drain(), 3)
            written += len(frame)
    except asyncio.TimeoutError:
        pass
    grown_kib = rss_kib(pid) - baseline
    print(f"\nthe client could write {written / 2**20:.1f} MiB before blocking; Jupyter server RSS +{grown_kib} KiB")
    assert written < 48 * 2**20, "the client was never held back"
    assert grown_kib < 32 * 1024, "the Jupyter server buffered what the server did not read"
    # The client goes away while the server still reads nothing: the relay notices all the same.
    reset(writer)
    await wait_for("the relay to end", lambda: status(jupyter)["open"] == 0)


def test_jupyterlab_pages_tell_the_browser_client_where_the_relay_is(jupyter: Any) -> None:
    with urllib.request.urlopen(f"{jupyter.base_url}lab?token={jupyter.token}", timeout=10) as response:
        page = response.read().decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    assert config["wsexploreRelay"] == f"{BASE}wsexplore/"
    assert config["baseUrl"] == BASE
