"""Real recordings for the file-format tests: ``websockets`` peers on loopback, captured by
dumpcap or tcpdump, edited with editcap and mergecap, and tshark's reading of each file as the
reference a reader is held to.

Nothing here is mocked: the traffic is real, the capture tools are Debian's, and the reference is
Wireshark's own WebSocket dissector. ``make test`` installs the tools (the ``browser`` step).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from wsexplore.capture import Capture, FrameRecord, OpenRecord
from wsexplore.protocol.connection import Connection

from ..tools import need_root
from ..tools import need_tools as need

#: A 70 KiB binary message that does not compress, so it spans TCP segments either way.
BLOB = random.Random(70).randbytes(70 * 1024)
TOOLS = ("dumpcap", "tcpdump", "tshark", "editcap", "mergecap")


def need_tools() -> None:
    need(*TOOLS, why="recording real loopback traffic and reading it with Wireshark's own dissector")
    need_root("capturing on the loopback interface")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- capturing
class Recorder:
    """dumpcap or tcpdump writing ``path`` while traffic runs; ``with`` starts and stops it."""

    def __init__(self, path: Path, port: int, *, tool: str = "dumpcap", interface: str = "lo",
                 extra: tuple[str, ...] = ()) -> None:
        need_tools()  # every recording skips (or fails under WSEXPLORE_REQUIRE_ALL) without them
        self.path = path
        if tool == "dumpcap":
            self.argv = ["dumpcap", "-q", "-i", interface, "-f", f"tcp port {port}", "-w", str(path), *extra]
        else:
            self.argv = ["tcpdump", "-i", interface, "-U", "-w", str(path), *extra, f"tcp port {port}"]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Recorder:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while not (self.path.exists() and self.path.stat().st_size >= 24):  # a pcap or pcapng header is written
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode()  # type: ignore[union-attr]
                raise RuntimeError(f"{self.argv[0]} stopped: {stderr}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.argv[0]} did not start capturing")
            time.sleep(0.05)
        time.sleep(0.5)  # the filter is attached once the file header is out; a margin all the same
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        time.sleep(0.5)  # the last packets reach the file
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                continue
        self.process.stderr.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- traffic
async def echo_or_close(ws: ServerConnection) -> None:
    """Echo every message; "bye" makes the server close first (1001, "going away")."""
    async for message in ws:
        if message == "bye":
            await ws.close(1001, "going away")
            return
        await ws.send(message)


@dataclass
class Traffic:
    """What the clients sent, per client port, to check the recording against."""

    server_port: int
    clients: dict[int, str]  # client port -> the conversation it held ("full", "raw", "server-closes")


async def full_conversation(uri: str, compression: str | None, ports: dict[int, str]) -> None:
    """Text, a 70 KiB binary message, a fragmented text message, a ping, then the client closes."""
    async with connect(uri, compression=compression, max_size=None) as ws:
        ports[ws.local_address[1]] = "full"
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(BLOB)
        assert await ws.recv() == BLOB
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented"
        await (await ws.ping(b"ping!"))


async def server_closes(uri: str, compression: str | None, ports: dict[int, str]) -> None:
    """A few messages interleaved with the other connection, then the server closes."""
    async with connect(uri, compression=compression) as ws:
        ports[ws.local_address[1]] = "server-closes"
        for i in range(5):
            await ws.send(f"message {i} " + "x" * i * 40)
            await ws.recv()
            await asyncio.sleep(0.01)
        await ws.send("bye")
        await ws.wait_closed()


async def raw_client(host: str, port: int, ports: dict[int, str]) -> None:
    """A client that writes a handshake and then three frames in one write (one TCP segment)."""
    reader, writer = await asyncio.open_connection(host, port)
    ports[writer.get_extra_info("sockname")[1]] = "raw"
    shown = f"[{host}]" if ":" in host else host
    writer.write((f"GET /raw HTTP/1.1\r\nHost: {shown}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    conn = Connection("client")
    burst = conn.send_text("one") + conn.send_text("two") + conn.send_binary(b"\x00\x01\x02")
    writer.write(burst)
    await writer.drain()
    got = b""
    while len(got) < 5 + 5 + 5:
        got += await reader.read(100)
    writer.write(conn.send_close(1000, "done"))
    await writer.drain()
    await reader.read()  # the server's close, then EOF
    writer.close()


async def run_traffic(host: str, port: int, compression: str | None, conversations: list[str]) -> Traffic:
    ports: dict[int, str] = {}
    shown = f"[{host}]" if ":" in host else host
    uri = f"ws://{shown}:{port}/chat"
    async with serve(echo_or_close, host, port, compression=compression, max_size=None):
        jobs: list[Awaitable[Any]] = []
        for name in conversations:
            if name == "full":
                jobs.append(full_conversation(uri, compression, ports))
            elif name == "server-closes":
                jobs.append(server_closes(uri, compression, ports))
            elif name == "raw":
                jobs.append(raw_client(host, port, ports))
        await asyncio.gather(*jobs)
    return Traffic(port, ports)


def record(path: Path, *, host: str = "127.0.0.1", compression: str | None = None,
           conversations: tuple[str, ...] = ("full", "server-closes", "raw"), tool: str = "dumpcap",
           interface: str = "lo", extra: tuple[str, ...] = ()) -> Traffic:
    """Capture ``conversations`` (at the same time) with ``tool`` into ``path``."""
    need_tools()
    port = free_port(host)
    with Recorder(path, port, tool=tool, interface=interface, extra=extra):
        return asyncio.run(run_traffic(host, port, compression, list(conversations)))


# ---------------------------------------------------------------------------- TLS
def record_tls(path: Path, cert_dir: Path) -> int:
    """A TLS client and server on loopback (a self-signed certificate, made with openssl), captured."""
    need_tools()
    cert, key = cert_dir / "cert.pem", cert_dir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=wss.example", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()

    async def run() -> None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        client_ctx = ssl.create_default_context()
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        async with serve(echo_or_close, "127.0.0.1", port, ssl=server_ctx):
            async with connect(f"wss://127.0.0.1:{port}/", ssl=client_ctx, server_hostname="wss.example") as ws:
                await ws.send("secret")
                await ws.recv()

    with Recorder(path, port):
        asyncio.run(run())
    return port


# ---------------------------------------------------------------------------- editing
def editcap(*args: str | Path) -> None:
    subprocess.run(["editcap", *map(str, args)], check=True, capture_output=True)


def mergecap(*args: str | Path) -> None:
    subprocess.run(["mergecap", *map(str, args)], check=True, capture_output=True)


def tshark_fields(path: Path, *fields: str, display: str = "") -> list[list[str]]:
    argv = ["tshark", "-r", str(path), "-T", "fields", *(x for f in fields for x in ("-e", f))]
    if display:
        argv += ["-Y", display]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def packet_numbers(path: Path, display: str) -> list[int]:
    """The numbers of the packets that match a Wireshark display filter."""
    return [int(row[0]) for row in tshark_fields(path, "frame.number", display=display)]


# ---------------------------------------------------------------------------- the reference
#: One frame as compared: who sent it, FIN, RSV (3 bits), opcode, MASK, the unmasked payload.
Frame = tuple[str, int, int, int, int, bytes]


def tshark_frames(path: Path, server_port: int) -> dict[int, list[Frame]]:
    """Wireshark's reading of ``path``: the WebSocket frames of each TCP connection, by client port."""
    # --no-duplicate-keys: several WebSocket frames in one packet become a list, not repeated keys.
    # -d: the server's port is HTTP, whatever Wireshark registers there (an ephemeral port can be
    # one of its well-known ports, and then no upgrade and no WebSocket frame would be seen).
    out = subprocess.run(["tshark", "-r", str(path), "-d", f"tcp.port=={server_port},http", "-Y", "websocket",
                          "-T", "json", "-x", "--no-duplicate-keys"], check=True, capture_output=True, text=True).stdout
    frames: dict[int, list[Frame]] = {}
    for packet in json.loads(out or "[]"):
        layers = packet["_source"]["layers"]
        tcp = layers["tcp"]
        src, dst = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        sender, client = ("server", dst) if src == server_port else ("client", src)
        ws = layers["websocket"]
        for w in ws if isinstance(ws, list) else [ws]:
            payload = w.get("websocket.payload_raw")
            frames.setdefault(client, []).append((
                sender, int(w["websocket.fin"]), int(w["websocket.rsv"], 16), int(w["websocket.opcode"]),
                int(w["websocket.mask"]), bytes.fromhex(payload[0]) if payload else b""))
    return frames


def our_frames(capture: Capture) -> dict[int, list[Frame]]:
    """The same view of a capture: frames by the client port of their connection's open record."""
    ports = {r.conn: r.peer[1] for r in capture if isinstance(r, OpenRecord) and isinstance(r.peer, tuple)}
    frames: dict[int, list[Frame]] = {}
    for r in capture:
        if not isinstance(r, FrameRecord) or r.error is not None:
            continue
        header = r.header
        assert header is not None and r.payload is not None
        frames.setdefault(ports[r.conn], []).append((
            r.sender, int(header.fin), header.rsv >> 4, header.opcode, int(header.masked), r.payload))
    return frames


def load(path: Path) -> Capture:
    return Capture.load(path, max_records=1_000_000)


Edit = Callable[[Path, Path], None]
