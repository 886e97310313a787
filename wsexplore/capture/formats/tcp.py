"""One direction of a TCP connection as a byte stream, from the segments a capture holds.

Captures are messy: segments arrive out of order, twice (retransmissions),
overlapping, and sometimes not at all (the capture dropped them, or started
late). ``Stream`` turns them into what the receiving application read, in
order, and says plainly where bytes are missing instead of inventing them.

Offsets count from the first byte after the SYN (or, when the SYN was not
captured, from the first byte seen), unwrapped past 4 GiB. Where two segments
overlap, the bytes seen first are kept (RFC 9293 leaves the choice to the
receiver; Wireshark keeps the first too). Bytes are declared missing, not
just late, when:

* the other side acknowledged them (its ACK passed the hole: the receiver
  had them, the capture did not);
* more than ``max_pending`` bytes wait behind the hole;
* the stream ended (FIN, RST, or the end of the file).

Pure: no packets, no files; ``wsexplore.capture.formats.flows`` feeds it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

__all__ = ["Stream", "Data", "Gap", "SEQ_MOD", "DEFAULT_MAX_PENDING"]

SEQ_MOD = 1 << 32
_HALF = 1 << 31
#: Bytes that may wait behind a hole before the hole is declared missing.
DEFAULT_MAX_PENDING = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes the receiver read at ``offset``, in order."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Gap:
    """``size`` bytes at ``offset`` that crossed the network but are not in the capture."""

    offset: int
    size: int
    seq: int | None  # the TCP sequence number of the first missing byte, when the stream's start is known


class Stream:
    """Bytes in order from segments in any order; ``add`` returns what became readable.

    ``isn`` is the initial sequence number from the SYN (None when the SYN was
    not captured: the first segment seen then starts the stream at offset 0).
    """

    __slots__ = ("base", "delivered", "fin", "acked", "max_pending", "_pending", "_pending_bytes", "_order",
                 "duplicate_bytes", "ended")

    def __init__(self, isn: int | None = None, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        #: The sequence number of offset 0 (None until known).
        self.base: int | None = None if isn is None else (isn + 1) % SEQ_MOD
        #: The next offset the receiver reads: every byte before it was delivered or declared missing.
        self.delivered = 0
        #: The offset of the FIN, once seen.
        self.fin: int | None = None
        #: The highest offset the other side acknowledged.
        self.acked = 0
        self.max_pending = max_pending
        self._pending: list[tuple[int, int, bytes]] = []  # (offset, arrival order, data): a heap
        self._pending_bytes = 0
        self._order = 0
        #: Bytes seen more than once (retransmissions, overlaps).
        self.duplicate_bytes = 0
        #: True once the stream ended (FIN reached, RST, or the end of the capture).
        self.ended = False

    def __repr__(self) -> str:
        return (f"<Stream delivered={self.delivered} pending={self._pending_bytes} B in {len(self._pending)} "
                f"segment(s){' ended' if self.ended else ''}>")

    @property
    def started(self) -> bool:
        return self.base is not None

    def offset_of(self, seq: int) -> int:
        """The stream offset of sequence number ``seq``: the one nearest to what was read so far."""
        assert self.base is not None
        rel = (seq - self.base) % SEQ_MOD
        wraps = (self.delivered - rel + _HALF) // SEQ_MOD
        return rel + wraps * SEQ_MOD

    def seq_of(self, offset: int) -> int | None:
        return None if self.base is None else (self.base + offset) % SEQ_MOD

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    # -- segments in ----------------------------------------------------------------
    def add(self, seq: int, data: bytes, *, syn: bool = False, fin: bool = False,
            missing: int = 0) -> list[Data | Gap]:
        """A segment; what can be read now, in order (bytes, and holes declared missing).

        ``missing`` payload bytes followed ``data`` on the wire but were cut off by the capture's
        snapshot length: when the segment is read in order they are declared missing at once.
        """
        if self.ended:
            return []
        base = self.base
        if base is not None and data and not (self._pending or syn or fin or missing) and self.fin is None:
            # The common case, in order: the next bytes, nothing waiting.
            rel = (seq - base) % SEQ_MOD
            start = rel + (self.delivered - rel + _HALF) // SEQ_MOD * SEQ_MOD
            if start == self.delivered:
                self.delivered = start + len(data)
                return [Data(start, data)]
        if self.base is None:
            self.base = (seq + 1) % SEQ_MOD if syn else seq
        start = self.offset_of((seq + 1) % SEQ_MOD if syn else seq)
        out: list[Data | Gap] = []
        if fin and self.fin is None:
            self.fin = start + len(data) + missing
        if data:
            end = start + len(data)
            if end <= self.delivered:
                self.duplicate_bytes += len(data)
            elif start <= self.delivered:
                cut = self.delivered - start
                self.duplicate_bytes += cut
                self._deliver(Data(self.delivered, data[cut:]), out)
                if missing:
                    self._gap(missing, out)
                self._drain(out)
            else:
                heapq.heappush(self._pending, (start, self._order, data))
                self._order += 1
                self._pending_bytes += len(data)
                if self._pending_bytes > self.max_pending:
                    self._skip_hole(out)
        self._check_acked(out)
        self._check_fin()
        return out

    def ack(self, ack: int) -> list[Data | Gap]:
        """The other side acknowledged up to ``ack``: a hole before it was lost by the capture.

        Only an ACK seen while bytes wait behind a hole counts (it is the one that decides).
        """
        if not self._pending or self.base is None or self.ended:
            return []
        offset = self.offset_of(ack)
        if offset > self.acked:
            self.acked = offset
        out: list[Data | Gap] = []
        self._check_acked(out)
        self._check_fin()
        return out

    def end(self) -> list[Data | Gap]:
        """The stream is over (RST, or the end of the capture): every hole is missing, the rest is read."""
        out: list[Data | Gap] = []
        if self.ended:
            return out
        while self._pending:
            self._skip_hole(out)
        if self.fin is not None and self.fin > self.delivered:
            self._gap(self.fin - self.delivered, out)
        self.ended = True
        return out

    # -- inside ----------------------------------------------------------------------
    def _deliver(self, item: Data, out: list[Data | Gap]) -> None:
        out.append(item)
        self.delivered = item.offset + len(item.data)

    def _drain(self, out: list[Data | Gap]) -> None:
        """Deliver the waiting segments that now join the stream."""
        pending = self._pending
        while pending and pending[0][0] <= self.delivered:
            start, _, data = heapq.heappop(pending)
            self._pending_bytes -= len(data)
            end = start + len(data)
            if end <= self.delivered:
                self.duplicate_bytes += len(data)
                continue
            cut = self.delivered - start
            self.duplicate_bytes += cut
            self._deliver(Data(self.delivered, data[cut:]), out)

    def _gap(self, size: int, out: list[Data | Gap]) -> None:
        out.append(Gap(self.delivered, size, self.seq_of(self.delivered)))
        self.delivered += size

    def _skip_hole(self, out: list[Data | Gap]) -> None:
        """Declare the first hole missing and deliver what waited behind it."""
        if not self._pending:
            return
        first = self._pending[0][0]
        if first > self.delivered:
            self._gap(first - self.delivered, out)
        self._drain(out)

    def _check_acked(self, out: list[Data | Gap]) -> None:
        # Only a hole with bytes waiting behind it: an ACK alone may be for bytes still to come in the file.
        while self._pending and self.acked > self.delivered and self._pending[0][0] > self.delivered:
            self._skip_hole(out)

    def _check_fin(self) -> None:
        if self.fin is not None and self.delivered >= self.fin and not self._pending:
            self.ended = True
