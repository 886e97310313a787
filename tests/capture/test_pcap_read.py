"""Reading real packet captures: every WebSocket frame, as Wireshark itself reads the same file.

The recordings are made here (dumpcap and tcpdump on loopback, ``websockets`` clients and server):
text, a 70 KiB binary message that spans TCP segments, a fragmented message, a ping, three frames
written in one TCP segment, two connections at once, a client and a server closing first, with and
without permessage-deflate, over IPv4 and IPv6, in every link type a Linux or BSD capture has.
tshark's reading of each file is the reference: the same frames per connection, in order.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import subprocess
import urllib.request
from pathlib import Path

import dpkt
import pytest

from wsexplore.capture import Capture, CloseRecord, OpenRecord
from wsexplore.capture.files import read_into

from .recordings import BLOB, Recorder, Traffic, editcap, free_port, load, our_frames, record, record_tls, \
    tshark_fields, tshark_frames


def assert_same_frames_as_tshark(path: Path, traffic: Traffic, capture: Capture | None = None) -> None:
    capture = capture if capture is not None else load(path)
    reference = tshark_frames(path, traffic.server_port)
    ours = our_frames(capture)
    assert set(ours) == set(reference) == set(traffic.clients)
    for port, frames in reference.items():
        assert ours[port] == frames, f"connection from port {port} ({traffic.clients[port]})"


def conn_of(capture: Capture, traffic: Traffic, conversation: str) -> int:
    port = next(p for p, name in traffic.clients.items() if name == conversation)
    return next(r.conn for r in capture if isinstance(r, OpenRecord) and r.peer[1] == port)


def test_plain_recording_gives_the_frames_tshark_gives(plain: tuple[Path, Traffic]) -> None:
    path, traffic = plain
    assert_same_frames_as_tshark(path, traffic)


def test_plain_recording_messages_handshakes_and_closes(plain: tuple[Path, Traffic]) -> None:
    path, traffic = plain
    capture = load(path)
    assert not capture.violations() and not capture.filter(kind="error")
    opens = capture.filter(kind="open")
    assert len(opens) == 3 and all(r.status == 101 and r.via == "pcap" for r in opens)
    assert all(r.request.startswith(b"GET /") and r.response.startswith(b"HTTP/1.1 101") for r in opens)
    full = conn_of(capture, traffic, "full")
    sent = [r.data for r in capture.messages(conn=full, direction="in")]
    assert sent == ["hello", BLOB, "fragmented"]
    assert [r.frames for r in capture.messages(conn=full, direction="in")] == [1, 1, 4]
    assert [r.data for r in capture.messages(conn=full, direction="out")] == ["hello", BLOB, "fragmented"]
    # The 70 KiB frame crossed loopback in more than one TCP segment and came out whole.
    big = [r for r in capture.frames(conn=full) if r.length == len(BLOB)]
    assert len(big) == 2
    closes = {r.conn: r for r in capture if isinstance(r, CloseRecord)}
    assert (closes[full].code, closes[full].closed_by, closes[full].clean) == (1000, "client", True)
    other = closes[conn_of(capture, traffic, "server-closes")]
    assert (other.code, other.reason, other.closed_by, other.clean) == (1001, "going away", "server", True)
    raw = closes[conn_of(capture, traffic, "raw")]
    assert (raw.code, raw.reason, raw.closed_by, raw.clean) == (1000, "done", "client", True)


def test_three_frames_in_one_segment_are_three_frame_records(plain: tuple[Path, Traffic]) -> None:
    path, traffic = plain
    capture = load(path)
    raw = conn_of(capture, traffic, "raw")
    frames = capture.frames(conn=raw, direction="in")
    assert [r.payload for r in frames][:3] == [b"one", b"two", b"\x00\x01\x02"]
    # They share one capture time: they came in one packet (tshark agrees: one frame number).
    assert len({r.time for r in list(frames)[:3]}) == 1
    port = next(p for p, n in traffic.clients.items() if n == "raw")
    rows = tshark_fields(path, "frame.number", "websocket.opcode", display=f"tcp.srcport=={port} && websocket")
    assert any(row[1].count(",") == 2 for row in rows)  # three opcodes in one packet


def test_frames_keep_raw_bytes_offsets_and_capture_times(plain: tuple[Path, Traffic]) -> None:
    path, traffic = plain
    capture = load(path)
    for conn in capture.connections:
        for direction in ("in", "out"):
            frames = list(capture.frames(conn=conn, direction=direction))
            offset = 0
            for r in frames:
                assert r.offset == offset  # stream offsets from the first byte after the handshake
                offset += len(r.raw)
                assert r.frame is not None and r.frame.encode() == r.raw
    times = [r.wall for r in capture]
    first = tshark_fields(path, "frame.time_epoch")[0][0]
    assert min(times) >= float(first) - 1e-6
    assert all(r.time == r.wall for r in capture)


def test_loopback_checksums_are_wrong_and_do_not_matter(plain: tuple[Path, Traffic]) -> None:
    path, _ = plain
    # Wireshark, asked to check, finds the loopback checksums bad (status 0): the kernel leaves them to
    # offload. The reader does not check them, as Wireshark by default does not.
    statuses = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-T", "fields",
                               "-e", "tcp.checksum.status"], capture_output=True, text=True, check=True).stdout.split()
    assert "0" in statuses
    assert len(load(path).frames()) == sum(len(f) for f in tshark_frames(path, plain[1].server_port).values())


def test_deflate_recording_gives_the_frames_tshark_gives_and_inflated_messages(
        deflate: tuple[Path, Traffic]) -> None:
    path, traffic = deflate
    assert_same_frames_as_tshark(path, traffic)
    capture = load(path)
    assert not capture.violations() and not capture.filter(kind="error")
    full = conn_of(capture, traffic, "full")
    messages = list(capture.messages(conn=full, direction="in"))
    assert [m.data for m in messages] == ["hello", BLOB, "fragmented"]
    assert all(m.compressed for m in messages)
    assert any(r.header.rsv1 for r in capture.frames(conn=full))
    # A compressed frame dissects in its connection's context: the message it inflates to.
    first = next(r for r in capture.frames(conn=full, direction="in") if r.header.rsv1)
    assert capture.inflated_message(first) == "hello"


def test_ipv6_recording(tmp_path: Path) -> None:
    path = tmp_path / "v6.pcapng"
    traffic = record(path, host="::1", conversations=("full", "raw"))
    capture = load(path)
    assert_same_frames_as_tshark(path, traffic, capture)
    assert all(r.peer[0] == "::1" for r in capture.filter(kind="open"))


def test_tcpdump_any_writes_linux_cooked_sll2(tmp_path: Path) -> None:
    path = tmp_path / "any.pcap"
    traffic = record(path, tool="tcpdump", interface="any", conversations=("full", "raw"))
    with open(path, "rb") as fp:
        assert dpkt.pcap.Reader(fp).datalink() == 276  # LINKTYPE_LINUX_SLL2
    assert_same_frames_as_tshark(path, traffic)


def test_tcpdump_any_with_sll_version_1(tmp_path: Path) -> None:
    path = tmp_path / "sll.pcap"
    traffic = record(path, tool="tcpdump", interface="any", extra=("-y", "LINUX_SLL"), conversations=("raw",))
    with open(path, "rb") as fp:
        assert dpkt.pcap.Reader(fp).datalink() == 113  # LINKTYPE_LINUX_SLL
    assert_same_frames_as_tshark(path, traffic)


def _relink(source: Path, target: Path, linktype: int, header: bytes) -> None:
    """The same packets with their Ethernet header replaced by another link type's header."""
    with open(source, "rb") as fp, open(target, "wb") as out:
        writer = dpkt.pcap.Writer(out, linktype=linktype, snaplen=262144)
        for ts, buf in dpkt.pcapng.Reader(fp):
            writer.writepkt(header + buf[14:], ts=ts)


@pytest.mark.parametrize(("linktype", "header"), [
    (0, (2).to_bytes(4, "little")),  # BSD null loopback, host byte order (tcpdump -i lo0 on macOS)
    (108, (2).to_bytes(4, "big")),  # OpenBSD loop, network byte order
])
def test_bsd_loopback_link_types(plain: tuple[Path, Traffic], tmp_path: Path, linktype: int, header: bytes) -> None:
    path, traffic = plain
    target = tmp_path / f"link{linktype}.pcap"
    _relink(path, target, linktype, header)
    assert_same_frames_as_tshark(target, traffic)


def test_raw_ip_made_by_editcap(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, traffic = plain
    target = tmp_path / "raw.pcap"
    editcap("-F", "pcap", "-C", "14", "-T", "rawip", path, target)  # chop the Ethernet header
    assert_same_frames_as_tshark(target, traffic)


def test_pcap_and_gzip_give_the_same_records(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, _ = plain
    as_pcap = tmp_path / "plain.pcap"
    editcap("-F", "pcap", path, as_pcap)
    zipped = tmp_path / "plain.pcap.gz"
    with open(as_pcap, "rb") as fp, gzip.open(zipped, "wb") as out:
        shutil.copyfileobj(fp, out)
    renamed = tmp_path / "capture.bin"  # the content decides, not the name
    shutil.copy(path, renamed)
    expected = [repr(r) for r in load(path)]
    assert [repr(r) for r in load(as_pcap)] == expected
    assert [repr(r) for r in load(zipped)] == expected
    assert [repr(r) for r in load(renamed)] == expected


def test_other_tcp_traffic_is_not_read(tmp_path: Path) -> None:
    """A plain HTTP request on the same port next to a WebSocket: only the WebSocket is a connection."""
    from websockets.asyncio.server import serve

    port = free_port()
    path = tmp_path / "mixed.pcapng"

    def http_get() -> None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        except OSError:
            pass  # websockets answers 426 Upgrade Required: the traffic wanted

    async def run() -> None:
        async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", port):
            await asyncio.to_thread(http_get)

    with Recorder(path, port):
        asyncio.run(run())
    assert len(load(path)) == 0
    summary = read_into(path, Capture())
    assert summary.counts.flows == 1 and summary.counts.other == 1


def test_tls_connection_is_listed_not_read(tmp_path: Path) -> None:
    path = tmp_path / "tls.pcapng"
    record_tls(path, tmp_path)
    capture = load(path)
    [opened] = capture.filter(kind="open")
    assert opened.status == 0 and not opened.handshake_seen and opened.via == "pcap"
    assert "TLS connection" in opened.note and "server name wss.example" in opened.note
    assert "SSLKEYLOGFILE" in opened.note and "not supported yet" in opened.note
    assert not capture.frames() and not capture.filter(kind="error")
    assert "TLS connection" in repr(opened)
