"""Captures out as pcapng and pcap: valid TCP/IP flows that Wireshark dissects as the same frames.

Sources: the live ``Server`` (a real ``websockets`` client), ``wsexplore serve --save x.pcapng``,
a JSON Lines file and a packet capture read back. tshark is the judge: the WebSocket frames it
finds in our file, per connection and in order, are the capture's; every IP and TCP checksum is
right; no TCP analysis warning (no retransmission, no missing segment, no bad ACK).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from wsexplore.capture import Capture, FrameRecord, OpenRecord
from wsexplore.live.server import Server

from .recordings import BLOB, Traffic, load, need_tools, our_frames, record, tshark_fields, tshark_frames


def checked(path: Path) -> None:
    """tshark, asked to verify every checksum, finds them good; and it sees no TCP trouble."""
    rows = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
                           "-T", "fields", "-e", "ip.checksum.status", "-e", "ipv6.src", "-e", "tcp.checksum.status",
                           "-e", "tcp.analysis.flags"], check=True, capture_output=True, text=True).stdout.splitlines()
    assert rows
    for row in rows:
        ip, ipv6, tcp, flags = row.split("\t")
        assert tcp == "1", row  # 1: good
        assert ip == "1" or ipv6, row
        assert not flags, row


async def talk(server: Server, compression: str | None) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/", compression=compression, max_size=None) as ws:
        await ws.send("hello")
        await ws.recv()
        await ws.send(BLOB)
        await ws.recv()
        await ws.send(["frag", "ment", "ed"])
        await ws.recv()
        await (await ws.ping(b"ping!"))


async def live_capture(compression: str | None) -> Capture:
    options = {"compression": "deflate"} if compression else {}
    server = await Server("127.0.0.1", 0, max_message_size=1 << 20, **options).start()
    try:
        await asyncio.gather(talk(server, compression), talk(server, compression))
    finally:
        await server.stop()
    return server.capture


def server_port(capture: Capture) -> int:
    opened = next(r for r in capture if isinstance(r, OpenRecord))
    return int(opened.request.split(b"Host: ", 1)[1].split(b"\r\n", 1)[0].rsplit(b":", 1)[1])


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_a_live_capture_as_pcapng_is_what_tshark_reads(tmp_path: Path, compression: str | None) -> None:
    need_tools()
    capture = await live_capture(compression)
    path = tmp_path / "live.pcapng"
    capture.save(path)
    checked(path)
    assert tshark_frames(path, server_port(capture)) == our_frames(capture)
    # The handshake is what the server saw, as Wireshark decodes it.
    assert tshark_fields(path, "http.response.code", display="http.response")[0] == ["101"]
    if compression:
        # Wireshark sees RSV1 exactly on the text frames the server or the client compressed (a short
        # message may go out uncompressed: deflate would have made it larger), and some were compressed.
        theirs = sorted(row[0] for row in tshark_fields(path, "websocket.rsv", display="websocket.opcode==1"))
        ours = sorted(f"0x{(r.raw[0] >> 4) & 7:02x}" for r in capture.frames() if r.opcode == 1)
        assert theirs == ours
        assert "0x04" in theirs


async def test_jsonl_to_pcapng_to_jsonl_keeps_every_frame(tmp_path: Path) -> None:
    capture = await live_capture(None)
    capture.save(tmp_path / "first.jsonl")
    from_jsonl = Capture.load(tmp_path / "first.jsonl")
    from_jsonl.save(tmp_path / "middle.pcapng")
    from_pcapng = load(tmp_path / "middle.pcapng")
    from_pcapng.save(tmp_path / "last.jsonl")
    last = Capture.load(tmp_path / "last.jsonl")

    def frames(c: Capture) -> list[tuple]:
        ports = {r.conn: r.peer[1] for r in c if isinstance(r, OpenRecord)}
        return [(ports[r.conn], r.direction, r.offset, r.raw) for r in c if isinstance(r, FrameRecord)]

    assert frames(last) == frames(from_pcapng) == frames(capture)
    assert [r.request for r in last.filter(kind="open")] == [r.redacted().request for r in capture.filter(kind="open")]
    assert [(r.code, r.closed_by, r.clean) for r in last.filter(kind="close")] == \
        [(r.code, r.closed_by, r.clean) for r in capture.filter(kind="close")]
    assert [r.data for r in last.messages(direction="in")] == [r.data for r in capture.messages(direction="in")]


def test_a_recording_read_and_written_again(tmp_path: Path) -> None:
    original = tmp_path / "recorded.pcapng"
    traffic: Traffic = record(original, conversations=("full", "raw"))
    capture = load(original)
    for name in ("again.pcapng", "again.pcap"):
        path = tmp_path / name
        capture.save(path)
        checked(path)
        assert tshark_frames(path, traffic.server_port) == tshark_frames(original, traffic.server_port)
    with open(tmp_path / "again.pcap", "rb") as fp:
        assert fp.read(4) == bytes.fromhex("4d3cb2a1")  # nanosecond pcap
    # The packets keep the times the frames were captured at.
    ours = sorted(float(t[0]) for t in tshark_fields(tmp_path / "again.pcapng", "frame.time_epoch",
                                                     display="websocket"))
    theirs = sorted(float(t[0]) for t in tshark_fields(original, "frame.time_epoch", display="websocket"))
    assert abs(ours[0] - theirs[0]) < 1e-5 and abs(ours[-1] - theirs[-1]) < 1e-5


def test_ipv6_peers_are_written_as_ipv6(tmp_path: Path) -> None:
    original = tmp_path / "v6.pcapng"
    traffic = record(original, host="::1", conversations=("raw",))
    path = tmp_path / "out.pcapng"
    load(original).save(path)
    checked(path)
    assert {row[0] for row in tshark_fields(path, "ipv6.src")} == {"::1"}
    assert tshark_frames(path, traffic.server_port) == tshark_frames(original, traffic.server_port)


def test_a_har_capture_has_no_frames_to_write(tmp_path: Path) -> None:
    har = tmp_path / "x.har"
    har.write_text('{"log": {"entries": [{"_resourceType": "websocket", "startedDateTime": "2024-01-01T00:00:00Z",'
                   ' "request": {"method": "GET", "url": "ws://h/", "headers": []},'
                   ' "response": {"status": 101, "headers": []}, "_webSocketMessages": []}]}}')
    with pytest.raises(ValueError, match="HAR file, which holds messages and no frames"):
        Capture.load(har).save(tmp_path / "x.pcapng")


@pytest.mark.timeout(90)
def test_serve_save_pcapng(tmp_path: Path) -> None:
    """``wsexplore serve --save x.pcapng``: Ctrl-C writes a file Wireshark reads as the session."""
    from websockets.sync.client import connect as sync_connect

    from tests.live.test_cli_serve import ServeProcess

    need_tools()
    path = tmp_path / "session.pcapng"
    proc = ServeProcess("--save", str(path))
    try:
        url = proc.url()
        with sync_connect(url) as ws:
            ws.send("hello pcapng")
            assert ws.recv() == "hello pcapng"
        proc.wait_for(r"closed 1000")
        assert proc.stop() == 0
    finally:
        proc.kill()
    checked(path)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    frames = next(iter(tshark_frames(path, port).values()))
    assert [(f[0], f[3], f[5]) for f in frames] == [
        ("client", 1, b"hello pcapng"), ("server", 1, b"hello pcapng"), ("client", 8, b"\x03\xe8"),
        ("server", 8, b"\x03\xe8")]
