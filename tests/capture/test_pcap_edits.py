"""Captures with trouble in them, made by editing real recordings with Wireshark's own tools
(editcap, mergecap) or, where those cannot, by rewriting packets with dpkt: retransmitted and
duplicated segments, segments out of order, overlapping segments, a lost segment, packets cut by a
snapshot length, a capture started mid-connection. The reference is tshark's reading of the
unedited recording: what could be read must be the same frames, what could not must be said.
"""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from wsexplore.capture import Capture, ErrorRecord, OpenRecord

from .recordings import (Frame, Traffic, editcap, load, mergecap, our_frames, packet_numbers, tshark_fields,
                         tshark_frames)


def port_of(traffic: Traffic, conversation: str) -> int:
    return next(p for p, name in traffic.clients.items() if name == conversation)


def only(frames: list[Frame], sender: str) -> list[Frame]:
    return [f for f in frames if f[0] == sender]


def without_the_blob(frames: list[Frame]) -> list[Frame]:
    """The client's frames of the full conversation without its 70 KiB binary frame."""
    client = only(frames, "client")
    big = next(i for i, f in enumerate(client) if f[3] == 2)
    return client[:big] + client[big + 1:]


def errors(capture: Capture) -> list[str]:
    return [r.message for r in capture if isinstance(r, ErrorRecord)]


def test_every_packet_twice_reads_as_once(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, traffic = plain
    doubled = tmp_path / "doubled.pcapng"
    mergecap("-w", doubled, path, path)  # every packet retransmitted at once
    assert len(tshark_fields(doubled, "frame.number")) == 2 * len(tshark_fields(path, "frame.number"))
    capture = load(doubled)
    assert our_frames(capture) == tshark_frames(path, traffic.server_port)
    assert not errors(capture) and not capture.violations()
    assert [repr(r) for r in capture] == [repr(r) for r in load(path)]


def _reorder(path: Path, target: Path, first: int, tmp: Path) -> None:
    """Swap packets ``first`` and ``first + 1`` with editcap (keep ranges) and mergecap -a (concatenate)."""
    parts = []
    for i, selection in enumerate([f"1-{first - 1}", str(first + 1), str(first), f"{first + 2}-1000000"]):
        part = tmp / f"part{i}.pcapng"
        editcap("-r", path, part, selection)
        parts.append(part)
    mergecap("-a", "-w", target, *parts)


def test_segments_out_of_order(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, traffic = plain
    port = port_of(traffic, "full")
    # The client's fragmented message: its first two data segments change places.
    data = packet_numbers(path, f"tcp.srcport=={port} && websocket.opcode==0")
    first = packet_numbers(path, f"tcp.srcport=={port} && websocket.opcode==1 && websocket.fin==0")[0]
    assert data[0] == first + 1 or data[0] > first
    target = tmp_path / "reordered.pcapng"
    _reorder(path, target, first, tmp_path)
    numbers = [int(r[1]) for r in tshark_fields(target, "frame.number", "tcp.seq_raw",
                                                  display=f"tcp.srcport=={port} && tcp.len>0")]
    assert numbers != sorted(numbers)  # the file really holds them out of order
    capture = load(target)
    assert our_frames(capture) == tshark_frames(path, traffic.server_port)
    assert not errors(capture)


def test_overlapping_and_split_segments(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    """The raw client's one segment with three frames becomes two segments that overlap by 5 bytes,
    sent in the wrong order, and a stale copy of the first one after them."""
    path, traffic = plain
    port = port_of(traffic, "raw")
    target = tmp_path / "overlap.pcapng"
    [burst] = packet_numbers(path, f"tcp.srcport=={port} && websocket.opcode==1")
    with open(path, "rb") as fp, open(target, "wb") as out:
        writer = dpkt.pcapng.Writer(out, snaplen=262144)
        for number, (ts, buf) in enumerate(dpkt.pcapng.Reader(fp), 1):
            if number != burst:
                writer.writepkt(buf, ts=ts)
                continue
            eth = dpkt.ethernet.Ethernet(buf)
            ip, tcp = eth.data, eth.data.data
            payload = tcp.data
            pieces = [(8, payload[8:]), (0, payload[:13]), (0, payload[:13])]
            for offset, piece in pieces:
                tcp2 = dpkt.tcp.TCP(sport=tcp.sport, dport=tcp.dport, seq=tcp.seq + offset, ack=tcp.ack,
                                    flags=tcp.flags, win=tcp.win, data=piece)
                ip2 = dpkt.ip.IP(src=ip.src, dst=ip.dst, p=6, ttl=64, len=20 + len(tcp2), data=tcp2)
                writer.writepkt(bytes(dpkt.ethernet.Ethernet(src=eth.src, dst=eth.dst, type=eth.type, data=ip2)),
                                ts=ts)
    capture = load(target)
    assert our_frames(capture) == tshark_frames(path, traffic.server_port)
    assert not errors(capture)


def _drop_blob_tail(path: Path, traffic: Traffic, tmp: Path) -> tuple[Path, int]:
    port = port_of(traffic, "full")
    # The last segment of the client's 70 KiB frame: the one where Wireshark finishes reassembling it.
    [tail] = packet_numbers(path, f"tcp.srcport=={port} && websocket.opcode==2")
    [size] = [int(r[0]) for r in tshark_fields(path, "tcp.len", display=f"frame.number=={tail}")]
    target = tmp / "lost.pcapng"
    editcap(path, target, str(tail))  # editcap deletes the packets it is given
    return target, size


def test_a_lost_segment_is_a_gap_said_plainly_and_reading_resumes(plain: tuple[Path, Traffic],
                                                                   tmp_path: Path) -> None:
    path, traffic = plain
    target, size = _drop_blob_tail(path, traffic, tmp_path)
    capture = load(target)
    port = port_of(traffic, "full")
    reference = tshark_frames(path, traffic.server_port)
    ours = our_frames(capture)
    # Every client frame but the one the gap cut, in order: nothing invented, nothing else lost.
    assert only(ours[port], "client") == without_the_blob(reference[port])
    assert only(ours[port], "server") == only(reference[port], "server")
    for other in set(reference) - {port}:
        assert ours[other] == reference[other]
    [gap] = [m for m in errors(capture) if m.startswith("gap:")]
    assert f"gap: {size:,} bytes of the client → server stream at offset".replace(",", "") in gap.replace(",", "")
    assert "TCP sequence number" in gap and "it cut the frame at offset" in gap
    assert "read on from offset" in gap and "(0 bytes skipped)" in gap
    full = next(r.conn for r in capture if isinstance(r, OpenRecord) and r.peer[1] == port)
    assert [m.data for m in capture.messages(conn=full, direction="in")] == ["hello", "fragmented"]
    assert not capture.violations()


def test_a_lost_segment_with_deflate_context_takeover_keeps_the_frames(deflate: tuple[Path, Traffic],
                                                                       tmp_path: Path) -> None:
    path, traffic = deflate
    target, size = _drop_blob_tail(path, traffic, tmp_path)
    capture = load(target)
    port = port_of(traffic, "full")
    reference = tshark_frames(path, traffic.server_port)
    assert only(our_frames(capture)[port], "client") == without_the_blob(reference[port])
    [gap] = [m for m in errors(capture) if m.startswith("gap:")]
    assert "compression history is lost" in gap
    # After the gap the client's messages cannot be inflated: none is made up.
    full = next(r.conn for r in capture if isinstance(r, OpenRecord) and r.peer[1] == port)
    assert [m.data for m in capture.messages(conn=full, direction="in")] == ["hello"]
    assert not capture.violations()


def test_snapshot_length_cuts_are_gaps(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, traffic = plain
    target = tmp_path / "snap.pcapng"
    editcap("-s", "2000", path, target)  # every packet cut to 2000 bytes: only the 70 KiB frames lose bytes
    capture = load(target)
    gaps = [m for m in errors(capture) if m.startswith("gap:")]
    assert len(gaps) >= 2  # the 70 KiB frame, each way
    assert all("are not in the capture" in g for g in gaps)
    reference = tshark_frames(path, traffic.server_port)
    ours = our_frames(capture)
    for port, frames in reference.items():
        for sender in ("client", "server"):
            # Frames found after a gap are recorded once their boundary is proved, so the two
            # directions interleave differently; each direction keeps its order.
            expected = [f for f in only(frames, sender) if len(f[5]) < 2000]
            assert only(ours[port], sender) == expected, (traffic.clients[port], sender)
        times = [r.wall for r in capture.frames(conn=next(
            r.conn for r in capture if isinstance(r, OpenRecord) and r.peer[1] == port))]
        captured = sorted(float(t[0]) for t in tshark_fields(path, "frame.time_epoch"))
        assert all(any(abs(t - c) < 1e-6 for c in captured) for t in times)  # each a packet's own time


def test_capture_started_mid_connection(plain: tuple[Path, Traffic], tmp_path: Path) -> None:
    path, traffic = plain
    port = port_of(traffic, "full")
    # Start the capture at the client's fragmented message: every handshake is before it.
    first = packet_numbers(path, f"tcp.srcport=={port} && websocket.opcode==1 && websocket.fin==0")[0]
    handshakes = packet_numbers(path, "http.response.code==101")
    assert max(handshakes) < first
    target = tmp_path / "mid.pcapng"
    editcap("-r", path, target, f"{first}-1000000")
    capture = load(target)
    reference = tshark_frames(path, traffic.server_port)
    ours = our_frames(capture)
    opens = [r for r in capture if isinstance(r, OpenRecord)]
    assert opens and all(r.status == 0 and not r.handshake_seen for r in opens)
    assert all("captured mid-stream" in r.note and "handshake is not in the capture" in r.note for r in opens)
    assert port in ours
    for client_port, frames in ours.items():
        for sender in ("client", "server"):
            got, whole = only(frames, sender), only(reference[client_port], sender)
            assert got == whole[len(whole) - len(got):], (traffic.clients[client_port], sender)  # a suffix
    # The client's fragmented message, ping and close are all there, and so is the message.
    assert only(ours[port], "client") == only(reference[port], "client")[-6:]
    full = next(r.conn for r in opens if r.peer[1] == port)
    assert [m.data for m in capture.messages(conn=full, direction="in")] == ["fragmented"]
    assert not capture.violations()
    assert any(r.kind == "close" and r.conn == full and r.clean for r in capture)
