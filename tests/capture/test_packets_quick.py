"""The quick paths of the packet reader find exactly what dpkt finds, on plain input and on bent input.

``_quick_segment`` reads a plain IPv4 or IPv6 TCP packet with ``struct``, and ``_plain_epb`` a
pcapng enhanced packet block without options; anything they do not vouch for they leave to dpkt
(None). The reference is dpkt, on the same bytes: the same segment (or block), field for field,
whenever a quick path answers, and the quick paths must answer for the plain input every capture
is made of.
"""

from __future__ import annotations

import io
import struct

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.capture.formats import packets
from wsexplore.capture.formats.packets import (
    ETHERNET,
    IPV4,
    IPV6,
    LINUX_SLL,
    LINUX_SLL2,
    NULL,
    RAW,
    Packet,
    Segment,
    SkippedPackets,
    tcp_segments,
)

LINKS = [ETHERNET, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, 14]


def tcp(payload: bytes, *, sport: int = 40000, dport: int = 8765, seq: int = 1, ack: int = 2, flags: int = 0x18,
        options: bytes = b"") -> bytes:
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (offset << 12) | flags, 65535, 0, 0) + options + payload


def ipv4(segment: bytes, *, total: int | None = None, flags_offset: int = 0x4000, options: bytes = b"",
         proto: int = 6, version: int = 4) -> bytes:
    head = 20 + len(options)
    length = head + len(segment) if total is None else total
    return struct.pack("!BBHHHBBH4s4s", (version << 4) | head // 4, 0, length, 1, flags_offset, 64, proto, 0,
                       bytes([127, 0, 0, 1]), bytes([10, 0, 0, 2])) + options + segment


def ipv6(segment: bytes, *, plen: int | None = None, nxt: int = 6) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(segment) if plen is None else plen, nxt, 64,
                       bytes(15) + b"\x01", bytes(15) + b"\x02") + segment


def link(linktype: int, ip: bytes) -> bytes:
    kind = b"\x86\xdd" if ip[0] >> 4 == 6 else b"\x08\x00"
    if linktype == ETHERNET:
        return bytes(12) + kind + ip
    if linktype == LINUX_SLL:
        return struct.pack("!HHH8s", 0, 1, 6, bytes(8)) + kind + ip
    if linktype == LINUX_SLL2:
        return kind + struct.pack("!HiHBB8s", 0, 1, 1, 0, 6, bytes(8)) + ip
    return ip  # raw IP


def by_dpkt(linktype: int, data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Segment], dict[str, int]]:
    """What the dpkt path makes of one packet, the quick path switched off."""
    skipped = SkippedPackets()
    with monkeypatch.context() as m:
        m.setattr(packets, "_quick_segment", lambda linktype, data: None)
        found = list(tcp_segments(iter([Packet(7, 1.5, linktype, data)]), skipped))
    return found, skipped.counts


def by_quick(linktype: int, data: bytes) -> tuple[list[Segment], dict[str, int]]:
    skipped = SkippedPackets()
    return list(tcp_segments(iter([Packet(7, 1.5, linktype, data)]), skipped)), skipped.counts


@pytest.mark.parametrize(("linktype", "version"), [(linktype, version) for linktype in LINKS for version in (4, 6)
                                                   if (linktype, version) not in ((IPV4, 6), (IPV6, 4))])
def test_plain_packets_take_the_quick_path(linktype: int, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    segment = tcp(b"\x81\x05hello", options=b"\x01\x01\x08\x0a" + bytes(8))
    data = link(linktype, ipv4(segment) if version == 4 else ipv6(segment)) + b"\x00" * 6  # with link padding
    assert packets._quick_segment(linktype, data) is not None
    quick = by_quick(linktype, data)
    assert quick == by_dpkt(linktype, data, monkeypatch)
    [seg] = quick[0]
    assert seg.payload == b"\x81\x05hello" and seg.missing == 0 and (seg.sport, seg.dport) == (40000, 8765)


def test_what_the_quick_path_leaves_to_dpkt(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tcp(b"data")
    left = {
        "an IP fragment": (ETHERNET, link(ETHERNET, ipv4(plain, flags_offset=0x2000))),
        "UDP": (ETHERNET, link(ETHERNET, ipv4(plain, proto=17))),
        "a VLAN tag": (ETHERNET, bytes(12) + b"\x81\x00\x00\x01\x08\x00" + ipv4(plain)),
        "an IPv6 extension header": (ETHERNET, link(ETHERNET, ipv6(bytes([6, 0]) + bytes(6) + plain, nxt=0))),
        "a TCP header cut": (ETHERNET, link(ETHERNET, ipv4(plain))[:14 + 20 + 12]),
        "BSD loopback": (NULL, struct.pack("<I", 2) + ipv4(plain)),
    }
    for why, (linktype, data) in left.items():
        assert packets._quick_segment(linktype, data) is None, why
        assert by_quick(linktype, data) == by_dpkt(linktype, data, monkeypatch), why


@st.composite
def bent_packets(draw: st.DrawFn) -> tuple[int, bytes]:
    """A packet built right, then perhaps with its lengths wrong, bytes changed or its end cut."""
    linktype = draw(st.sampled_from(LINKS))
    version = 6 if linktype == IPV6 else 4 if linktype == IPV4 else draw(st.sampled_from([4, 6]))
    payload = draw(st.binary(max_size=40))
    options = draw(st.sampled_from([b"", b"\x01\x01\x01\x01", bytes(12)]))
    segment = tcp(payload, flags=draw(st.integers(0, 0xFFF)), options=options,
                  seq=draw(st.integers(0, 2**32 - 1)))
    if version == 4:
        ip = ipv4(segment, total=draw(st.none() | st.integers(0, 0xFFFF)),
                  flags_offset=draw(st.sampled_from([0, 0x4000, 0x2000, 0x0001, 0x8000])),
                  options=draw(st.sampled_from([b"", b"\x01\x01\x01\x00"])))
    else:
        ip = ipv6(segment, plen=draw(st.none() | st.integers(0, 0xFFFF)))
    data = bytearray(link(linktype, ip) + draw(st.binary(max_size=8)))
    for at, value in draw(st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=3)):
        if at < len(data):
            data[at] = value
    cut = draw(st.none() | st.integers(0, len(data)))
    return linktype, bytes(data if cut is None else data[:cut])


@settings(max_examples=600, deadline=None)
@given(bent_packets())
def test_the_quick_path_reads_what_dpkt_reads(packet: tuple[int, bytes]) -> None:
    linktype, data = packet
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert by_quick(linktype, data) == by_dpkt(linktype, data, monkeypatch)


@st.composite
def enhanced_packet_blocks(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A pcapng enhanced packet block (pcapng section 4.3), with or without options, perhaps bent."""
    little = draw(st.booleans())
    order = "<" if little else ">"
    packet = draw(st.binary(max_size=30))
    caplen = draw(st.sampled_from([len(packet), len(packet) + 4, max(len(packet) - 1, 0)]))
    options = draw(st.sampled_from([b"", struct.pack(order + "HH", 1, 4) + b"note" + bytes(4)]))
    body = struct.pack(order + "IIIII", draw(st.integers(0, 3)), draw(st.integers(0, 2**32 - 1)),
                       draw(st.integers(0, 2**32 - 1)), caplen, len(packet))
    body += packet + bytes(-len(packet) % 4) + options
    length = 12 + len(body)
    trailer = draw(st.sampled_from([length, length + 4]))
    return struct.pack(order + "II", 6, length) + body + struct.pack(order + "I", trailer), little


@settings(max_examples=300, deadline=None)
@given(enhanced_packet_blocks())
def test_an_enhanced_packet_block_reads_as_dpkt_reads_it(block_and_order: tuple[bytes, bool]) -> None:
    block, little = block_and_order
    plain = packets._plain_epb(block[:8], block[8:], little)
    if plain is None:
        return  # left to dpkt, which reads it (or says what is wrong) as before
    epb = (dpkt.pcapng.EnhancedPacketBlockLE if little else dpkt.pcapng.EnhancedPacketBlock)(block)
    assert plain == (epb.iface_id, epb.ts_high, epb.ts_low, epb.pkt_data)
    assert not epb.opts  # only blocks without options are read here


def test_plain_enhanced_packet_blocks_are_read_here() -> None:
    packet = b"\x45" + bytes(40)
    for little in (True, False):
        order = "<" if little else ">"
        body = struct.pack(order + "IIIII", 0, 1, 2, len(packet), len(packet)) + packet + bytes(-len(packet) % 4)
        block = struct.pack(order + "II", 6, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))
        assert packets._plain_epb(block[:8], block[8:], little) == (0, 1, 2, packet)


def pcapng_file(little: bool) -> bytes:
    """A section header, an Ethernet interface with microsecond times, a plain block, one with a comment."""
    o = "<" if little else ">"

    def block(kind: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack(o + "II", kind, 12 + len(body)) + body + struct.pack(o + "I", 12 + len(body))

    def enhanced(microseconds: int, packet: bytes, options: bytes = b"") -> bytes:
        head = struct.pack(o + "IIIII", 0, microseconds >> 32, microseconds & 0xFFFFFFFF, len(packet), len(packet))
        return block(6, head + packet + bytes(-len(packet) % 4) + options)

    packet = link(ETHERNET, ipv4(tcp(b"\x81\x02hi")))
    comment = struct.pack(o + "HH", 1, 5) + b"hello" + bytes(3) + bytes(4)  # opt_comment, then opt_endofopt
    return (block(0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))
            + block(1, struct.pack(o + "HHI", ETHERNET, 0, 65535))
            + enhanced(1_700_000_000_000_000, packet) + enhanced(1_700_000_000_500_000, packet, comment))


@pytest.mark.parametrize("little", [True, False])
def test_a_pcapng_file_in_either_byte_order(little: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    data = pcapng_file(little)

    def read() -> list[Packet]:
        return list(packets.PacketReader(io.BytesIO(data), "test.pcapng"))

    found = read()
    monkeypatch.setattr(packets, "_plain_epb", lambda head, body, little: None)
    assert found == read()  # the same as dpkt reads every block
    assert [(p.number, p.time, p.linktype) for p in found] == [(1, 1_700_000_000.0, ETHERNET),
                                                               (2, 1_700_000_000.5, ETHERNET)]
    assert found[0].data == found[1].data == link(ETHERNET, ipv4(tcp(b"\x81\x02hi")))
