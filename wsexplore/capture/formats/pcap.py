"""pcap and pcapng files in: every WebSocket connection they hold, as capture records.

The three steps each live in their own module: ``packets`` (the file, down to
TCP segments, with dpkt), ``tcp`` (each direction's bytes in order, gaps said
plainly) and ``flows`` with ``follower`` (what each TCP connection is, and its
WebSocket frames read by the protocol's ``Connection``). Streamed: one packet
at a time, so memory follows the connections open at once and the capture's
own bounds, not the size of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from ...display import plural
from ..store import Capture
from .flows import Counts, FlowTable, ReadOptions
from .packets import PacketReader, SkippedPackets, tcp_segments

__all__ = ["read_pcap", "PcapSummary", "ReadOptions"]


@dataclass
class PcapSummary:
    """What reading a packet capture found, beside the records."""

    kind: str
    packets: int
    counts: Counts
    skipped: SkippedPackets
    truncated: str | None

    def __str__(self) -> str:
        c = self.counts
        parts = [f"{self.kind}: {plural(self.packets, 'packet')}, {plural(c.flows, 'TCP connection')}",
                 f"{plural(c.websocket, 'WebSocket connection')} with a handshake"]
        if c.mid_stream:
            parts.append(f"{c.mid_stream} picked up mid-stream")
        if c.refused:
            parts.append(f"{c.refused} refused")
        if c.tls:
            parts.append(f"{plural(c.tls, 'TLS connection')} (not readable)")
        if c.other:
            parts.append(f"{c.other} other")
        if c.gaps:
            parts.append(plural(c.gaps, "gap"))
        if c.duplicate_bytes:
            parts.append(f"{plural(c.duplicate_bytes, 'byte')} seen twice (retransmissions, overlaps)")
        if self.skipped:
            parts.append(f"not TCP: {self.skipped}")
        if self.truncated:
            parts.append(f"the file is cut short: {self.truncated}")
        return "; ".join(parts)


def read_pcap(fp: BinaryIO, capture: Capture, *, name: str = "capture",
              options: ReadOptions | None = None) -> PcapSummary:
    """Append the WebSocket connections of the pcap or pcapng file ``fp`` (binary, at its start) to ``capture``.

    Raises ``CaptureFileError`` (a ValueError) naming the block or packet of a file that is not pcap
    or pcapng; a file cut short after a whole packet is read up to there, and an error record says so.
    """
    reader = PacketReader(fp, name)
    table = FlowTable(capture, options)
    skipped = SkippedPackets()
    add = table.add
    for segment in tcp_segments(iter(reader), skipped):
        add(segment)
    table.finish()
    if reader.truncated:
        capture.error(None, f"{name} is cut short: {reader.truncated}; read up to there",
                      time=table.last_time, wall=table.last_time)
    return PcapSummary(reader.kind, reader.packets_read, table.counts, skipped, reader.truncated)
