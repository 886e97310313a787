"""Packets from pcap and pcapng files, down to TCP segments (dpkt does the unusual headers).

Two steps, both streamed (one packet in memory at a time):

* ``PacketReader``: the file's packets with their capture time and link type.
  pcap (microsecond and nanosecond, either byte order): dpkt reads the file
  header, and the records are read here as dpkt's reader reads them. pcapng
  is walked block by block here so that every interface keeps its own link
  type and time resolution (dpkt's reader takes the first interface's for
  all), with dpkt parsing each block but the enhanced packet blocks without
  options (most of them), which need no more than ``struct``.
* ``tcp_segments``: Ethernet (with VLAN tags), Linux cooked (SLL and SLL2, as
  ``tcpdump -i any`` writes), BSD null and OpenBSD loop (``tcpdump -i lo0``)
  and raw IP link types; IPv4 and IPv6; the TCP header. Checksums are not
  checked: loopback captures carry wrong ones (the kernel leaves them to
  offload), and Wireshark does not check them by default either.

Most packets are plain: IPv4 or IPv6 without extension headers, then TCP.
Those are read with ``struct`` straight from the packet's bytes
(``_quick_segment``), finding exactly what dpkt finds without building its
objects, which took half of a whole read; anything else (a fragment, a VLAN
tag, a header cut short, another protocol) goes to dpkt as before.

Errors: ``CaptureFileError`` (a ValueError) names the packet and byte offset
of a file that is not pcap or pcapng as far as it goes; a file cut short
after its last whole packet ends quietly with ``truncated`` set.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import BinaryIO, NamedTuple

import dpkt
from dpkt import pcapng as _ng

from ..records import WALL_RANGE
from .fields import CaptureFileError

__all__ = [
    "PcapFileError",
    "Packet",
    "Segment",
    "PacketReader",
    "tcp_segments",
    "LINKTYPES",
    "PCAP_MAGICS",
    "PCAPNG_MAGIC",
]

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# Link types (https://www.tcpdump.org/linktypes.html) this reader follows down to TCP.
NULL, ETHERNET, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2 = 0, 1, 101, 108, 113, 228, 229, 276
_RAW_ALIASES = (12, 14)  # DLT_RAW on some BSDs, as written in old files
LINKTYPES = {NULL: "BSD null loopback", ETHERNET: "Ethernet", RAW: "raw IP", LOOP: "OpenBSD loopback",
             LINUX_SLL: "Linux cooked (SLL)", IPV4: "raw IPv4", IPV6: "raw IPv6", LINUX_SLL2: "Linux cooked (SLL2)"}

_AF_INET = 2
_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS
_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD


class PcapFileError(CaptureFileError):
    """A pcap or pcapng file that cannot be read: the message names the file and where in it."""

    def __init__(self, message: str) -> None:
        super().__init__(None, None, message)


def _checked_time(ts: float, name: str, number: int) -> float:
    """A packet's time as a record's wall clock, or the error that says it is none (WALL_RANGE)."""
    if not WALL_RANGE[0] <= ts <= WALL_RANGE[1]:
        raise PcapFileError(f"{name}: packet {number}: time {ts:g} s since 1970 is not a date from year 1 to 9999")
    return ts


class Packet(NamedTuple):
    """One captured packet: its number in the file (from 1), time (seconds since the epoch), link type, bytes.

    A named tuple, as ``Segment``: one is made per packet, and a frozen dataclass costs eight times as much
    to make."""

    number: int
    time: float
    linktype: int
    data: bytes


class Segment(NamedTuple):
    """A TCP segment as captured. ``missing`` counts payload bytes the snapshot length cut off."""

    number: int
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    missing: int = 0

    @property
    def syn(self) -> bool:
        return bool(self.flags & dpkt.tcp.TH_SYN)

    @property
    def fin(self) -> bool:
        return bool(self.flags & dpkt.tcp.TH_FIN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & dpkt.tcp.TH_RST)

    @property
    def has_ack(self) -> bool:
        return bool(self.flags & dpkt.tcp.TH_ACK)


# ---------------------------------------------------------------------------- files
# Four 32-bit numbers: a pcap record header (seconds, fraction, captured and original length), or the start
# of a pcapng enhanced packet block's body (interface, time high and low, captured length).
_FOUR_LE = struct.Struct("<IIII")
_FOUR_BE = struct.Struct(">IIII")
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct(">I")
_EPB_LE = _U32_LE.pack(_ng.PCAPNG_BT_EPB)
_EPB_BE = _U32_BE.pack(_ng.PCAPNG_BT_EPB)
_NANO = Decimal("1E9")  # as dpkt divides: a nanosecond file's times are exact decimals


class PacketReader:
    """The packets of a pcap or pcapng file opened in binary mode, in file order.

    ``kind`` is "pcap" or "pcapng"; ``truncated`` is set once iteration met a
    file that ends inside a packet (a capture still being written, or cut).
    """

    def __init__(self, fp: BinaryIO, name: str = "capture") -> None:
        self.fp = fp
        self.name = name
        self.truncated: str | None = None
        magic = fp.read(4)
        fp.seek(-len(magic), 1)
        self._magic = magic
        if magic in PCAP_MAGICS:
            self.kind = "pcap"
        elif magic == PCAPNG_MAGIC:
            self.kind = "pcapng"
        else:
            raise PcapFileError(f"{name}: not a pcap or pcapng file (starts with {magic.hex(' ') or 'nothing'})")
        self.packets_read = 0

    def __iter__(self) -> Iterator[Packet]:
        return self._pcap() if self.kind == "pcap" else self._pcapng()

    def _pcap(self) -> Iterator[Packet]:
        fp = self.fp
        magic = self._magic
        try:
            reader = dpkt.pcap.Reader(fp)  # checks the file header and gives its link type
        except (ValueError, dpkt.UnpackError, struct.error) as exc:
            raise PcapFileError(f"{self.name}: pcap file header: {exc}") from None
        linktype = reader.datalink()
        # The record headers are read here, as dpkt's reader reads them (same times, same ends), without
        # building an object for each: seconds, micro- or nanoseconds, captured length, original length.
        head = _FOUR_LE if magic[0] in (0xD4, 0x4D) else _FOUR_BE
        nano = magic in (PCAP_MAGICS[2], PCAP_MAGICS[3])
        size = head.size
        unpack = head.unpack
        read = fp.read
        name = self.name
        low, high = WALL_RANGE
        number = 0
        while True:
            buf = read(size)
            if len(buf) < size:
                if buf:
                    self.truncated = f"the file ends inside the record header of packet {number + 1}"
                return
            seconds, fraction, caplen, _ = unpack(buf)
            number += 1
            self.packets_read = number
            ts = seconds + (fraction / _NANO if nano else fraction / 1e6)
            if not low <= ts <= high:
                _checked_time(ts, name, number)  # raises, naming the packet
            yield Packet(number, ts, linktype, read(caplen))

    def _pcapng(self) -> Iterator[Packet]:
        read = self.fp.read
        name = self.name
        little = True
        interfaces: list[tuple[int, float, int]] = []  # (link type, ticks per second, offset in seconds)
        # 32-bit numbers, and an enhanced packet block's type, in the byte order of the section
        u32, epb = _U32_LE, _EPB_LE
        low, high = WALL_RANGE
        number = 0
        where = 0
        while True:
            head = read(8)
            if not head:
                return
            if len(head) < 8:
                self.truncated = f"the file ends inside a block header at byte {where}"
                return
            if head[:4] == PCAPNG_MAGIC:  # a section header: its byte order holds until the next one
                bom = read(4)
                little = bom == b"\x4d\x3c\x2b\x1a"
                if not little and bom != b"\x1a\x2b\x3c\x4d":
                    raise PcapFileError(f"{name}: byte {where}: section header with an unknown byte-order "
                                           f"magic {bom.hex(' ')}")
                u32, epb = (_U32_LE, _EPB_LE) if little else (_U32_BE, _EPB_BE)
                length = u32.unpack_from(head, 4)[0]
                body = bom + read(max(length - 12, 0))
                interfaces = []
            else:
                length = u32.unpack_from(head, 4)[0]
                body = read(max(length - 8, 0))
                if head[:4] == epb and len(body) == length - 8:
                    # Most blocks: checked and read without the general path below, which finds the same.
                    plain = _plain_epb(head, body, little)
                    if plain is not None and plain[0] < len(interfaces):
                        iface, ts_high, ts_low, data = plain
                        number += 1
                        linktype, ticks, offset = interfaces[iface]
                        ts = offset + ((ts_high << 32) | ts_low) / ticks
                        self.packets_read = number
                        if not low <= ts <= high:
                            _checked_time(ts, name, number)  # raises, naming the packet
                        yield Packet(number, ts, linktype, data)
                        where += length
                        continue
            if length < 12 or length % 4:
                raise PcapFileError(f"{name}: byte {where}: block length {length} is not a multiple of 4 "
                                       "of at least 12 (pcapng section 3.1)")
            if len(body) < length - 8:
                self.truncated = f"the file ends inside a block at byte {where} (packet {number + 1} or later)"
                return
            block = head + body
            btype = u32.unpack_from(head)[0]
            try:
                if btype == _ng.PCAPNG_BT_IDB:
                    interfaces.append(_interface(block, little))
                elif btype in (_ng.PCAPNG_BT_EPB, _ng.PCAPNG_BT_PB):
                    # A block with options, an old packet block, or a plain block that names an interface
                    # not described (dpkt reads it as ``_plain_epb`` would, and the error below says so).
                    number += 1
                    cls = ((_ng.EnhancedPacketBlockLE if little else _ng.EnhancedPacketBlock)
                           if btype == _ng.PCAPNG_BT_EPB else (_ng.PacketBlockLE if little else _ng.PacketBlock))
                    parsed = cls(block)
                    iface = parsed.iface_id & 0xFFFF if btype == _ng.PCAPNG_BT_PB else parsed.iface_id
                    ts_high, ts_low, data = parsed.ts_high, parsed.ts_low, parsed.pkt_data
                    if iface >= len(interfaces):
                        raise PcapFileError(f"{name}: packet {number} (byte {where}) names interface "
                                               f"{iface}, but only {len(interfaces)} were described before it")
                    linktype, ticks, offset = interfaces[iface]
                    ts = offset + ((ts_high << 32) | ts_low) / ticks
                    self.packets_read = number
                    yield Packet(number, _checked_time(ts, name, number), linktype, data)
                elif btype == _ng.PCAPNG_BT_SPB:  # simple packet: no time, the first interface
                    number += 1
                    if not interfaces:
                        raise PcapFileError(f"{name}: packet {number} (byte {where}) comes before any "
                                               "interface description")
                    size = u32.unpack_from(block, 8)[0]
                    self.packets_read = number
                    yield Packet(number, 0.0, interfaces[0][0], block[12:12 + min(size, length - 16)])
            except (dpkt.NeedData, dpkt.UnpackError, struct.error) as exc:
                raise PcapFileError(f"{name}: block at byte {where}: {exc or type(exc).__name__}") from None
            where += length


def _plain_epb(head: bytes, body: bytes, little: bool) -> tuple[int, int, int, bytes] | None:
    """Interface, time (high, low) and packet of an enhanced packet block (its first 8 bytes, then the
    rest) without options, most of them, where dpkt would check only that the two length fields agree;
    None leaves the block to dpkt."""
    length = 8 + len(body)
    if length < 32:
        return None
    iface, ts_high, ts_low, caplen = (_FOUR_LE if little else _FOUR_BE).unpack_from(body)
    if length != 32 + caplen + -caplen % 4 or body[-4:] != head[4:]:
        return None
    return iface, ts_high, ts_low, body[20:20 + caplen]


def _interface(block: bytes, little: bool) -> tuple[int, float, int]:
    """An interface description: link type, timestamp ticks per second, offset (pcapng section 4.2)."""
    idb = (_ng.InterfaceDescriptionBlockLE if little else _ng.InterfaceDescriptionBlock)(block)
    ticks, offset = 1e6, 0
    for opt in idb.opts:
        if opt.code == _ng.PCAPNG_OPT_IF_TSRESOL and opt.data:
            value = opt.data[0]
            ticks = float(2 ** (value & 0x7F)) if value & 0x80 else float(10 ** value)
        elif opt.code == _ng.PCAPNG_OPT_IF_TSOFFSET and len(opt.data) >= 8:
            offset = struct.unpack("<q" if little else ">q", opt.data[:8])[0]
    return idb.linktype, ticks, offset


# ---------------------------------------------------------------------------- link, IP, TCP
def _network(linktype: int, data: bytes) -> dpkt.Packet | bytes | None:
    """The IP packet inside a link-layer frame (a dpkt IP or IP6), None when it holds no IP."""
    if linktype == ETHERNET:
        return dpkt.ethernet.Ethernet(data).data
    if linktype in (NULL, LOOP):
        family = int.from_bytes(data[:4], "little" if linktype == NULL else "big")
        if family > 0xFFFF:  # written on a host of the other byte order
            family = int.from_bytes(data[:4], "big" if linktype == NULL else "little")
        if family == _AF_INET:
            return dpkt.ip.IP(data[4:])
        if family in _AF_INET6:
            return dpkt.ip6.IP6(data[4:])
        return None
    if linktype == LINUX_SLL:
        return dpkt.sll.SLL(data).data
    if linktype == LINUX_SLL2:
        return dpkt.sll2.SLL2(data).data
    if linktype in (RAW, IPV4, IPV6) or linktype in _RAW_ALIASES:
        version = data[0] >> 4 if data else 0
        if version == 4:
            return dpkt.ip.IP(data)
        if version == 6:
            return dpkt.ip6.IP6(data)
    return None


_IP = dpkt.ip.IP
_IP6 = dpkt.ip6.IP6
_TCP = dpkt.tcp.TCP


class SkippedPackets:
    """Why packets were not read as TCP: counts per reason (shown in a summary)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __str__(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))


def tcp_segments(packets: Iterator[Packet], skipped: SkippedPackets | None = None) -> Iterator[Segment]:
    """The TCP segments among ``packets``; the others are counted in ``skipped`` by reason."""
    skipped = skipped if skipped is not None else SkippedPackets()
    quick = _quick_segment
    for packet in packets:
        found = quick(packet.linktype, packet.data)
        if found is not None:
            src, dst, sport, dport, seq, ack, flags, payload, missing = found
            yield Segment(packet.number, packet.time, _address(src), sport, _address(dst), dport, seq, ack, flags,
                          payload, missing)
            continue
        try:
            net = _network(packet.linktype, packet.data)
        except (dpkt.UnpackError, dpkt.NeedData, struct.error, IndexError):
            skipped.add("packets whose link or IP header is cut or malformed")
            continue
        kind = type(net)
        if kind is _IP:
            if net.mf or net.offset:
                skipped.add("IP fragments")
                continue
            src, dst = net.src, net.dst
            total = net.len - net.hl * 4 if net.len else 0  # the IP payload as sent (0: TSO, not known)
        elif kind is _IP6:
            src, dst = net.src, net.dst
            total = net.plen if net.nxt == 6 else 0  # with extension headers: not known here
        else:
            if net is None and packet.linktype not in LINKTYPES and packet.linktype not in _RAW_ALIASES:
                skipped.add(f"packets of link type {packet.linktype} (not read)")
            else:
                skipped.add("packets that are not IP")
            continue
        tcp = net.data
        if type(tcp) is not _TCP:
            if net.p == 6 if kind is _IP else net.nxt == 6:
                skipped.add("TCP segments whose header is cut")
            else:
                skipped.add("packets that are not TCP")
            continue
        payload = tcp.data
        missing = max(total - tcp.off * 4 - len(payload), 0)
        yield Segment(packet.number, packet.time, _address(src), tcp.sport, _address(dst), tcp.dport,
                      tcp.seq, tcp.ack, tcp.flags, payload, missing)


_IPV4_HEAD = struct.Struct("!BxHxxHxB2x4s4s")  # version and header length, total length, flags and offset, ...
_IPV6_HEAD = struct.Struct("!IHBx16s16s")  # version, class and flow; payload length, next header, ...
_TCP_HEAD = struct.Struct("!HHIIH")  # ports, sequence and acknowledgment numbers, data offset and flags
_PROTO_TCP = 6
_TYPE_IPV4, _TYPE_IPV6 = _ETH_IPV4.to_bytes(2, "big"), _ETH_IPV6.to_bytes(2, "big")  # as link headers hold them
_QuickSegment = tuple[bytes, bytes, int, int, int, int, int, bytes, int]


def _quick_ipv4(data: bytes, at: int) -> _QuickSegment | None:
    """The TCP segment of an unfragmented IPv4 packet at ``at`` (options or not), read as dpkt reads it:
    the IP packet ends at its total length, or with the bytes when that is 0 (segmentation offload)."""
    if len(data) - at < 20:
        return None
    v_hl, total, flags_offset, proto, src, dst = _IPV4_HEAD.unpack_from(data, at)
    head = (v_hl & 0x0F) * 4
    if v_hl >> 4 != 4 or head < 20 or proto != _PROTO_TCP or flags_offset & 0x3FFF:
        return None
    end = min(at + total, len(data)) if total else len(data)
    return _quick_tcp(data, at + head, end, total - head if total else 0, src, dst)


def _quick_ipv6(data: bytes, at: int) -> _QuickSegment | None:
    """The TCP segment of an IPv6 packet at ``at`` whose next header is TCP (no extension headers)."""
    if len(data) - at < 40:
        return None
    first, plen, nxt, src, dst = _IPV6_HEAD.unpack_from(data, at)
    if first >> 28 != 6 or nxt != _PROTO_TCP:
        return None
    end = min(at + 40 + plen, len(data)) if plen else len(data)
    return _quick_tcp(data, at + 40, end, plen, src, dst)


def _quick_tcp(data: bytes, start: int, end: int, total: int, src: bytes, dst: bytes) -> _QuickSegment | None:
    """The TCP header at ``start`` and the payload up to ``end``; ``total``: the IP payload as sent (0: not
    known), which says how many payload bytes the snapshot length cut off."""
    if end - start < 20:
        return None  # cut: dpkt says so
    sport, dport, seq, ack, off_flags = _TCP_HEAD.unpack_from(data, start)
    offset = (off_flags >> 12) * 4
    if offset < 20:
        return None
    payload = data[start + offset:end]
    return src, dst, sport, dport, seq, ack, off_flags & 0x1FF, payload, max(total - offset - len(payload), 0)


def _quick_typed(type_at: int, ip_at: int, data: bytes) -> _QuickSegment | None:
    """A link header whose EtherType is at ``type_at`` (Ethernet, Linux cooked), its IP packet at ``ip_at``.
    VLAN tags, MPLS, 802.3 lengths and other protocols go to dpkt."""
    kind = data[type_at:type_at + 2]
    if kind == _TYPE_IPV4:
        return _quick_ipv4(data, ip_at)
    if kind == _TYPE_IPV6:
        return _quick_ipv6(data, ip_at)
    return None


def _quick_raw(data: bytes) -> _QuickSegment | None:
    version = data[0] >> 4 if data else 0
    return _quick_ipv4(data, 0) if version == 4 else _quick_ipv6(data, 0) if version == 6 else None


#: Link types read by ``_quick_segment``; the others (BSD loopback: its family's byte order varies) go to dpkt.
_QUICK: dict[int, Callable[[bytes], _QuickSegment | None]] = {
    ETHERNET: partial(_quick_typed, 12, 14), LINUX_SLL: partial(_quick_typed, 14, 16),
    LINUX_SLL2: partial(_quick_typed, 0, 20),
    RAW: _quick_raw, IPV4: _quick_raw, IPV6: _quick_raw, **{alias: _quick_raw for alias in _RAW_ALIASES},
}


def _quick_segment(linktype: int, data: bytes) -> _QuickSegment | None:
    """``(src, dst, sport, dport, seq, ack, flags, payload, missing)`` of a plain TCP packet, exactly as the
    dpkt path would find them; None sends the packet down that path (anything unusual, or not TCP)."""
    quick = _QUICK.get(linktype)
    return None if quick is None else quick(data)


_ADDRESSES: dict[bytes, str] = {}


def _address(raw: bytes) -> str:
    text = _ADDRESSES.get(raw)
    if text is None:
        text = str(ipaddress.ip_address(raw))
        if len(_ADDRESSES) < 4096:
            _ADDRESSES[raw] = text
    return text
