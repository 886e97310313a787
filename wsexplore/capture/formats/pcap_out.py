"""Any capture out as pcapng or pcap: each WebSocket connection as a TCP/IP flow Wireshark dissects.

A capture holds what crossed the wire above TCP: the handshake heads and
every frame's raw bytes at its stream offset, with the time it was read.
This writes them as the TCP connection that carried them: SYN, SYN-ACK and
ACK, the request and the response, every frame in its own segments (at
most ``MSS`` bytes each) with sequence numbers from its stream offset, so a
frame missing from the capture (evicted, or a gap in a recording) leaves a
hole Wireshark reports too, then FIN and ACK both ways once the connection
closed. IPv4 or IPv6, inside Ethernet frames, with correct IP and TCP
checksums (dpkt computes them); the times are the records' ``wall`` clock.

Addresses: the client is the record's ``peer``; the server is the host and
port of the request's ``Host`` header when the host is an IP address, else
the loopback address of the client's family with that port (80 when none).
A capture's TCP segmentation is not known, so each frame starts a segment.

Connections read from a HAR file have no frames and are left out; a capture
made only of them cannot be written. Connections whose handshake was not
captured (mid-stream, TLS) are written without one (mid-stream) or left out
(TLS: no bytes were read). Credentials in the heads are redacted unless
``include_secrets``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import BinaryIO, Literal

import dpkt

from ...protocol.handshake import parse_request
from ..records import CloseRecord, FrameRecord, OpenRecord, Record
from ..store import Capture

__all__ = ["write_packets", "MSS"]

#: The largest TCP payload written in one segment (Ethernet's).
MSS = 1460
_WINDOW = 65535
_CLIENT_ISN = 0x10000000
_SERVER_ISN = 0x20000000
_MAC_CLIENT = bytes.fromhex("020000000001")
_MAC_SERVER = bytes.fromhex("020000000002")
_PSH_ACK = dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK


@dataclass
class _Flow:
    client: tuple[bytes, int]
    server: tuple[bytes, int]
    v6: bool
    client_base: int  # the sequence number of the client's WebSocket stream offset 0
    server_base: int
    client_next: int  # the next sequence number each side sends
    server_next: int
    closed: bool = False


class _Writer:
    def __init__(self, fp: BinaryIO, kind: Literal["pcapng", "pcap"]) -> None:
        if kind == "pcapng":
            self._out = dpkt.pcapng.Writer(fp, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        else:
            self._out = dpkt.pcap.Writer(fp, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB, nano=True)
        self.flows: dict[int, _Flow] = {}
        self.packets = 0
        self._ip_id = 1

    def packet(self, flow: _Flow, from_client: bool, seq: int, ack: int, flags: int, payload: bytes,
               time: float) -> None:
        (src, sport), (dst, dport) = (flow.client, flow.server) if from_client else (flow.server, flow.client)
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq % (1 << 32), ack=ack % (1 << 32) if flags &
                           dpkt.tcp.TH_ACK else 0, flags=flags, win=_WINDOW, data=payload)
        if flow.v6:
            ip: dpkt.Packet = dpkt.ip6.IP6(src=src, dst=dst, nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, plen=len(tcp), data=tcp)
            ip.extension_hdrs = {}
            ethertype = dpkt.ethernet.ETH_TYPE_IP6
        else:
            ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, ttl=64, id=self._ip_id & 0xFFFF,
                            len=20 + len(tcp), data=tcp)
            ip.df = 1
            self._ip_id += 1
            ethertype = dpkt.ethernet.ETH_TYPE_IP
        macs = (_MAC_CLIENT, _MAC_SERVER) if from_client else (_MAC_SERVER, _MAC_CLIENT)
        frame = dpkt.ethernet.Ethernet(src=macs[0], dst=macs[1], type=ethertype, data=ip)
        self._out.writepkt(bytes(frame), ts=time)
        self.packets += 1

    def data(self, flow: _Flow, from_client: bool, seq: int, payload: bytes, time: float) -> None:
        """``payload`` from one side at ``seq``, in segments of at most ``MSS`` bytes."""
        for start in range(0, len(payload), MSS) or (0,):
            piece = payload[start:start + MSS]
            ack = flow.server_next if from_client else flow.client_next
            self.packet(flow, from_client, seq + start, ack, _PSH_ACK, piece, time)
        end = seq + len(payload)
        if from_client:
            flow.client_next = max(flow.client_next, end)
        else:
            flow.server_next = max(flow.server_next, end)


def _address(host: str | None, v6: bool) -> bytes | None:
    if host is None:
        return None
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if (ip.version == 6) != v6:
        return None
    return ip.packed


def _endpoints(record: OpenRecord | None, conn: int) -> tuple[tuple[bytes, int], tuple[bytes, int], bool]:
    """Client and server (address, port) for a connection, and whether they are IPv6."""
    peer = record.peer if record is not None else None
    client_host, client_port = None, 0
    if isinstance(peer, tuple) and len(peer) >= 2:
        client_host, client_port = str(peer[0]), int(peer[1]) if isinstance(peer[1], int) else 0
    v6 = client_host is not None and ":" in client_host
    client = _address(client_host, v6) or (socket.inet_pton(socket.AF_INET6, "::1") if v6 else bytes([127, 0, 0, 1]))
    if not 0 < client_port < 65536:
        client_port = 40000 + conn % 20000
    server_host, server_port = None, 80
    if record is not None and record.request:
        parsed = None
        try:
            parsed = parse_request(record.request)
        except ValueError:
            pass
        host = parsed[0].headers.get("Host") if parsed else None
        if host:
            name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
            if name and port.isdigit() and 0 < int(port) < 65536:
                server_host, server_port = name, int(port)
            else:
                server_host = host
    server = _address(server_host, v6) or (socket.inet_pton(socket.AF_INET6, "::1") if v6 else bytes([127, 0, 0, 1]))
    if server == client and server_port == client_port:
        server_port = 80 if client_port != 80 else 8080
    return (client, client_port), (server, server_port), v6


def _open(writer: _Writer, record: OpenRecord, include_secrets: bool) -> None:
    conn = record.conn
    assert conn is not None
    shown = record if include_secrets else record.redacted()
    client, server, v6 = _endpoints(record, conn)
    seen = record.handshake_seen
    flow = _Flow(client, server, v6, 0, 0, _CLIENT_ISN + 1, _SERVER_ISN + 1)
    writer.flows[conn] = flow
    t = record.wall
    if seen:
        writer.packet(flow, True, _CLIENT_ISN, 0, dpkt.tcp.TH_SYN, b"", t)
        writer.packet(flow, False, _SERVER_ISN, _CLIENT_ISN + 1, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, b"", t)
        writer.packet(flow, True, _CLIENT_ISN + 1, _SERVER_ISN + 1, dpkt.tcp.TH_ACK, b"", t)
        writer.data(flow, True, flow.client_next, shown.request, t)
        writer.data(flow, False, flow.server_next, shown.response, t)
    flow.client_base, flow.server_base = flow.client_next, flow.server_next
    if seen and not record.accepted:
        _close(writer, flow, server_first=True, time=t)


def _close(writer: _Writer, flow: _Flow, *, server_first: bool, time: float) -> None:
    if flow.closed:
        return
    flow.closed = True
    fin_ack = dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK
    first, second = (False, True) if server_first else (True, False)
    for side in (first, second):
        seq = flow.client_next if side else flow.server_next
        ack = flow.server_next if side else flow.client_next
        writer.packet(flow, side, seq, ack, fin_ack, b"", time)
        if side:
            flow.client_next += 1
        else:
            flow.server_next += 1
    writer.packet(flow, first, flow.client_next if first else flow.server_next,
                  flow.server_next if first else flow.client_next, dpkt.tcp.TH_ACK, b"", time)


def write_packets(capture: Capture, fp: BinaryIO, *, kind: Literal["pcapng", "pcap"] = "pcapng",
                  include_secrets: bool = False) -> int:
    """Write ``capture`` to the binary file ``fp`` as TCP/IP flows; returns how many packets were written."""
    records: list[Record] = list(capture)
    har = {r.conn for r in records if isinstance(r, OpenRecord) and r.via == "har"}
    tls = {r.conn for r in records if isinstance(r, OpenRecord) and not r.handshake_seen
           and r.note.startswith("TLS")}
    writable = [r for r in records if r.conn is not None and r.conn not in har and r.conn not in tls
                and isinstance(r, (OpenRecord, FrameRecord, CloseRecord))]
    if not writable and har:
        raise ValueError("nothing to write as packets: the connections of this capture come from a HAR file, "
                         "which holds messages and no frames (their bytes are not known)")
    writer = _Writer(fp, kind)
    for record in writable:
        conn = record.conn
        assert conn is not None
        if isinstance(record, OpenRecord):
            _open(writer, record, include_secrets)
            continue
        flow = writer.flows.get(conn)
        if flow is None:  # its handshake was evicted from the capture: frames only
            client, server, v6 = _endpoints(None, conn)
            flow = writer.flows[conn] = _Flow(client, server, v6, _CLIENT_ISN + 1, _SERVER_ISN + 1,
                                              _CLIENT_ISN + 1, _SERVER_ISN + 1)
        if isinstance(record, FrameRecord):
            from_client = record.direction == "in"
            base = flow.client_base if from_client else flow.server_base
            writer.data(flow, from_client, base + record.offset, record.raw, record.wall)
        else:  # CloseRecord: TCP closes after the WebSocket close (the server first, RFC 6455 section 7.1.1)
            _close(writer, flow, server_first=True, time=record.wall)
    return writer.packets
