"""The store: a bounded, ordered ``Capture`` of records, with subscribers and one way in.

Every record enters through ``Capture._append``: the public appenders
(``opened``, ``frame``, ``message``, ``closed``, ``error``), loading a file,
and ``record_events``, which turns what a ``wsexplore.protocol.Connection``
reported into records. The live server calls ``record_events`` once per read
and once per send, and tests call it the same way, so a capture built by
hand and one built by the server cannot differ.

Appending stays O(1) and without dissection. With no subscriber to hand a
record to, ``record_events`` appends a ``PendingRecord`` (the record's class
and its arguments) that becomes a record the first time the capture is read.
The store is bounded by record count and by the memory its records take
(``max_bytes``): each record counts its data plus what holding it costs in
Python objects (``records.memory_cost``), so ``max_bytes=256 MiB`` holds about
256 MiB. The oldest records are evicted first and every eviction is counted.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from itertools import islice
from collections.abc import Callable, Iterable
from time import monotonic
from time import time as wall_clock
from typing import IO, TYPE_CHECKING

from ..display import data_size, format_size, plural
from ..protocol.errors import ProtocolError
from ..protocol.events import ConnectionClosed, Event, FrameReceived, FrameSent, MessageReceived, ProtocolViolation
from ..protocol.frames import Frame
from ..protocol.opcodes import Opcode
from .formats import jsonl
from .query import Query
from .records import (
    DIRECTIONS,
    INITIATORS,
    CloseRecord,
    Direction,
    ErrorRecord,
    FrameRecord,
    Initiator,
    MessageRecord,
    VIA,
    FRAME_CACHE_LIMIT,
    FRAME_COST,
    MESSAGE_COST,
    SMALL_FRAME_COST,
    SPLIT_COST,
    SPLIT_FROM,
    OpenRecord,
    PendingRecord,
    Record,
    build,
    memory_cost,
)

if TYPE_CHECKING:
    from .formats.flows import ReadOptions

__all__ = ["Capture", "DEFAULT_MAX_RECORDS", "DEFAULT_MAX_BYTES"]

log = logging.getLogger("wsexplore.capture")

DEFAULT_MAX_RECORDS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

Subscriber = Callable[[Record], object]

# The kind tags of pending records (see ``PendingRecord``).
_FRAME = FrameRecord.kind
_MESSAGE = MessageRecord.kind


class Capture(Query):
    """A bounded, ordered store of records that a live server appends to.

    ``max_records`` and ``max_bytes`` bound it; when either is exceeded the
    oldest records are evicted (the newest record is always kept) and counted
    in ``dropped`` and ``dropped_bytes``. ``max_bytes`` bounds ``memory``, the
    bytes the records take in memory (data and Python objects); ``nbytes`` is
    their data alone (wire bytes, message data, texts). Subscribers are called synchronously
    with each new record; one that raises is logged, detached, kept in
    ``subscriber_errors`` and reported as an error record, and never disturbs
    the caller.
    """

    def __init__(self, *, max_records: int = DEFAULT_MAX_RECORDS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._records: deque[Record | PendingRecord] = deque()
        self._costs: deque[int] = deque()  # memory_cost of each record, in order
        self._sizes: deque[int] = deque()  # the data bytes of each record (its nbytes), in order
        self._nbytes = 0
        self._memory = 0
        self._seq = 0
        # How many of the newest entries may still be pending records (see ``_materialize``).
        self._pending = 0
        self._conns: dict[int, None] = {}
        self._subscribers: tuple[Subscriber, ...] = ()
        #: Records evicted so far, and the bytes they held.
        self.dropped = 0
        self.dropped_bytes = 0
        #: ``(callback, exception)`` for each subscriber that raised and was detached.
        self.subscriber_errors: list[tuple[Subscriber, Exception]] = []

    def _items(self) -> deque[Record]:
        if self._pending:
            self._materialize()
        return self._records  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._records)

    def _materialize(self) -> None:
        """Build the pending records (always among the newest entries), in place."""
        records = self._records
        k = min(self._pending, len(records))  # evictions may have taken some already
        self._pending = 0
        if not k:
            return
        tail = [records.pop() for _ in range(k)]
        tail.reverse()
        records.extend(map(build, tail))

    @property
    def connections(self) -> tuple[int, ...]:
        """Every connection id seen, in order, including those whose records were evicted."""
        return tuple(self._conns)

    @property
    def nbytes(self) -> int:
        """Bytes of data the records hold: raw frames and handshakes, message data, texts."""
        return self._nbytes

    @property
    def memory(self) -> int:
        """Bytes of memory the records take, data and Python objects: what ``max_bytes`` bounds."""
        return self._memory

    @property
    def last_seq(self) -> int:
        """The number of the newest record appended so far (0 before the first), evicted or not."""
        return self._seq

    def entries_after(self, seq: int) -> list[Record | PendingRecord]:
        """The entries appended after record number ``seq`` that the capture still holds, oldest first.

        For a reader that follows a live capture in batches, off its hot path (the
        console): the entries are taken as they are, records or ``PendingRecord``
        tuples (``records.build`` makes the record), and nothing is built or
        materialised here. ``last_seq - seq`` minus their number is how many the
        bounds evicted before the reader came.
        """
        records = self._records
        n = min(self._seq - seq, len(records))
        if n <= 0:
            return []
        out = list(islice(reversed(records), n))
        out.reverse()
        first = out[0]
        if (first[1] if type(first) is tuple else first.seq) != self._seq - n + 1:  # type: ignore[union-attr]
            # Numbers with gaps (a loaded capture): look for where the newer ones start.
            out = [e for e in out if (e[1] if type(e) is tuple else e.seq) > seq]  # type: ignore[union-attr]
        return out

    def _header(self) -> str:
        dropped = f"{self.dropped} dropped"
        if self.dropped:
            dropped += f" ({format_size(self.dropped_bytes)})"
        return (f"<Capture {plural(len(self._records), 'record')}, {plural(len(self._conns), 'connection')}, "
                f"{format_size(self._nbytes)}, {dropped}>")

    def __repr__(self) -> str:
        return self._header()

    # -- the one way in ----------------------------------------------------------
    def _append(self, entry: Record | PendingRecord, conn: int | None, size: int, cost: int) -> None:
        """Store ``entry`` (``size`` bytes of data, ``cost`` bytes of memory), evict what the bounds
        no longer hold, hand the record to the subscribers.

        While nobody subscribes, a pending record stays pending; a subscriber
        gets a record, so it is built here first.
        """
        records = self._records
        subscribers = self._subscribers
        if subscribers:
            if type(entry) is tuple:
                entry = build(entry)
            records.append(entry)
            if self._pending:
                self._pending += 1
        else:
            records.append(entry)
            self._pending += 1  # one more entry that reading may have to build (records pass through)
        self._costs.append(cost)
        self._sizes.append(size)
        self._nbytes += size
        self._memory += cost
        conns = self._conns
        if conn not in conns and conn is not None:
            conns[conn] = None
        if len(records) > self.max_records or self._memory > self.max_bytes:
            self._evict()
        if subscribers:
            self._notify(entry)  # type: ignore[arg-type]

    def _evict(self) -> None:
        records, costs, sizes = self._records, self._costs, self._sizes
        while len(records) > 1 and (len(records) > self.max_records or self._memory > self.max_bytes):
            records.popleft()
            size = sizes.popleft()
            self._memory -= costs.popleft()
            self._nbytes -= size
            self.dropped += 1
            self.dropped_bytes += size

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def record_events(self, conn: int, events: Iterable[Event], *, time: float | None = None,
                      wall: float | None = None, received: Direction = "in", injected: bool = False) -> None:
        """Record what a ``Connection`` reported: frames both ways, messages, violations, the close.

        The events of one read (or one send) arrived together and share one
        ``time`` and ``wall`` clock reading (read now unless given: a file
        reader gives the capture's). ``received`` is the direction of what the
        connection received: "in" for a server's connection, "out" for a
        client's (a tap's observer of the server's bytes, or a file reader's);
        what it sent goes the other way. ``injected`` marks the frames as
        inserted by a tap. Ping,
        pong and close-received events are not recorded on their own: the
        frames that carried them are. A frame's ``Frame`` is decoded from its
        raw bytes when first asked for. This runs for every frame the server
        sees, so the common events are handled inline.
        """
        if time is None:
            time = monotonic()
        if wall is None:
            wall = wall_clock()
        if received not in DIRECTIONS:
            raise ValueError(f"received must be 'in' or 'out', got {received!r}")
        sent = "out" if received == "in" else "in"
        if type(events) is list and len(events) <= 2 and events and not self._subscribers \
                and self._store_quick(conn, events, time, wall, received, sent, injected):
            return
        append = self._append
        # The frames and messages of the call are gathered and stored together (``_extend``).
        entries: list[PendingRecord] = []
        costs: list[int] = []
        sizes: list[int] = []
        split_from = SPLIT_FROM
        shared: tuple[bytes, bytes] | None = None  # the last frame kept as header and payload
        for event in events:
            kind = type(event)
            if kind is FrameReceived or kind is FrameSent:
                header = event._header
                if header is not None:
                    # Sent as header and payload (``Connection.send_message``), or received so (unmasked as
                    # it arrived, see ``unmasking``): kept so, never joined.
                    if kind is FrameSent:
                        payload = event.frame.payload
                        self._take_charge(payload)
                        raw = (header, payload)
                    else:
                        payload = event._payload
                        raw = shared = (header, payload)
                    n = len(header) + len(payload)
                    cost = n + FRAME_COST + SPLIT_COST
                else:
                    raw = event.raw
                    n = len(raw)
                    cost = n + (n + SMALL_FRAME_COST if n <= FRAME_CACHE_LIMIT else FRAME_COST)
                    if n >= split_from:
                        # Kept as header and unmasked payload: the payload is the object handed on as the
                        # message (and echoed), so the masked and the encoded copies can go.
                        payload = event._payload if kind is FrameReceived else event.frame.payload
                        if payload is not None:
                            raw = (raw[:n - len(payload)], payload)
                            cost += SPLIT_COST
                            if kind is FrameReceived:
                                shared = raw
                            else:
                                self._take_charge(payload)
                self._seq = seq = self._seq + 1
                entry = (_FRAME, seq, conn, time, wall, received if kind is FrameReceived else sent, event.offset,
                         raw, None, None)
                if injected:
                    entry += (True,)
                size = n
            elif kind is MessageReceived:
                data = event.data
                self._seq = seq = self._seq + 1
                size, cost = _message_charge(data)
                if shared is not None and shared[1] is data:
                    # The frame just gathered holds the same object; it is evicted first, so the
                    # message is charged for the bytes and the frame no longer is.
                    costs[-1] -= size
                entry = (_MESSAGE, seq, conn, time, wall, received, int(event.opcode), data, event.frames,
                         event.compressed_size)
            elif kind is ProtocolViolation or kind is ConnectionClosed:
                if entries:  # stored first: records keep the order of the events
                    self._extend(entries, costs, sizes, conn)
                    entries, costs, sizes, shared = [], [], [], None
                if kind is ProtocolViolation:
                    raw = bytes(event.raw)
                    rec = FrameRecord(self._next(), conn, time, wall, received, event.offset, raw, None,
                                      event.error, injected)
                    append(rec, conn, len(raw), memory_cost(rec))
                else:
                    self._add_close(conn, event.code, event.reason, event.initiator, event.clean, time, wall)
                continue
            else:
                continue  # pings, pongs and a close received: the frames that carried them are recorded
            entries.append(entry)
            costs.append(cost)
            sizes.append(size)
        if entries:
            self._extend(entries, costs, sizes, conn)

    def _store_quick(self, conn: int, events: list[Event], time: float, wall: float, received: Direction,
                     sent: Direction, injected: bool) -> bool:
        """``record_events`` for its two most common calls, stored as ``_extend`` stores the loop's
        entries, without the loop: a small frame sent (a handler's send), or a small frame received
        with the message it finished (a read of one message). False for any other call."""
        first = events[0]
        kind = type(first)
        if len(events) == 1:
            if kind is not FrameSent or first._header is not None:  # type: ignore[union-attr]
                return False
            direction, message_cost, message = sent, 0, None
        else:
            message = events[1]
            if kind is not FrameReceived or type(message) is not MessageReceived or first._header is not None:
                return False
            data = message.data  # type: ignore[union-attr]
            if type(data) is bytes:
                message_cost = len(data) + _BYTES_COST
            elif data.isascii():  # a compact ASCII str: one byte a character after its header
                message_cost = len(data) + _ASCII_COST
            else:
                return False
            direction = received
        raw = first.raw  # type: ignore[union-attr]
        n = len(raw)
        if n >= SPLIT_FROM:
            return False
        size = n if message is None else n + len(data)
        cost = n + (n + SMALL_FRAME_COST if n <= FRAME_CACHE_LIMIT else FRAME_COST)
        records, costs, sizes = self._records, self._costs, self._sizes
        self._seq = seq = self._seq + 1
        entry = (_FRAME, seq, conn, time, wall, direction, first.offset, raw, None, None)
        records.append(entry + (True,) if injected else entry)
        costs.append(cost)
        sizes.append(n)
        if message is not None:
            self._seq = seq = seq + 1
            records.append((_MESSAGE, seq, conn, time, wall, received, int(message.opcode), data,  # type: ignore
                            message.frames, message.compressed_size))  # type: ignore[union-attr]
            costs.append(message_cost)
            sizes.append(len(data))
        self._stored(conn, 1 if message is None else 2, size, cost + message_cost)
        return True

    def record_message(self, conn: int, direction: Direction, opcode: Opcode | int, data: str | bytes,
                       frames: int = 1, compressed_size: int | None = None) -> None:
        """``message()`` as the live path records one: the record is built when first read.

        A server sending on a deflate connection records what its frames inflate to this way,
        as ``record_events`` records a received message: no record object, no dissection.
        """
        _check_direction(direction)
        if not isinstance(data, str) and type(data) is not bytes:
            data = bytes(data)
        size, cost = _message_charge(data)
        self._seq = seq = self._seq + 1
        entry = (_MESSAGE, seq, conn, monotonic(), wall_clock(), direction, int(opcode), data, frames,
                 None if compressed_size is None else int(compressed_size))
        self._append(entry, conn, size, cost)  # type: ignore[arg-type]

    def _take_charge(self, payload: bytes) -> None:
        """A sent frame about to be stored holds ``payload``, the data of a message stored a moment
        ago (an echo): the frame is evicted after the message, so the bytes are counted on the frame
        from now on and no longer on the message. Only the last few entries are looked at; a message
        further back, or one that gave its bytes to a frame already, keeps them counted twice."""
        records, costs = self._records, self._costs
        size = len(payload)
        for back in range(1, min(len(records), _LOOK_BACK) + 1):
            entry = records[-back]
            if type(entry) is tuple:
                held = entry[7] if entry[0] == _MESSAGE else None
            else:
                held = entry.data if type(entry) is MessageRecord else None  # type: ignore[union-attr]
            if held is payload:
                if costs[-back] > size:
                    costs[-back] -= size
                    self._memory -= size
                return

    def _extend(self, entries: list[PendingRecord], costs: list[int], sizes: list[int], conn: int) -> None:
        """``_append`` for the pending records of one call (``sizes``: their data, ``costs``: their memory):
        while nobody subscribes, with one update of each deque and counter and one look at the bounds."""
        if self._subscribers:
            for entry, size, cost in zip(entries, sizes, costs):
                self._append(entry, conn, size, cost)
            return
        self._records.extend(entries)
        self._costs.extend(costs)
        self._sizes.extend(sizes)
        self._stored(conn, len(entries), sum(sizes), sum(costs))

    def _stored(self, conn: int, count: int, size: int, cost: int) -> None:
        """The counters after ``count`` pending entries (``size`` bytes of data, ``cost`` of memory) were
        added to the deques without subscribers; then what the bounds no longer hold is evicted."""
        self._pending += count
        self._nbytes += size
        self._memory += cost
        conns = self._conns
        if conn not in conns and conn is not None:
            conns[conn] = None
        if len(self._records) > self.max_records or self._memory > self.max_bytes:
            self._evict()

    def _add_close(self, conn: int, code: int | None, reason: str, initiator: Initiator, clean: bool,
                   time: float, wall: float) -> CloseRecord:
        if initiator not in INITIATORS:
            raise ValueError(f"initiator must be 'local' (the server) or 'remote' (the client), got {initiator!r}")
        rec = CloseRecord(self._next(), conn, time, wall, None if code is None else int(code), reason, initiator,
                          bool(clean))
        self._append(rec, conn, rec.nbytes, memory_cost(rec))
        return rec

    # -- appenders -----------------------------------------------------------------
    def opened(self, conn: int, peer: tuple | str | None, request_raw: bytes, response_raw: bytes,
               status: int, *, via: str | None = None, note: str = "",
               forwarded_request: bytes | None = None, time: float | None = None,
               wall: float | None = None) -> OpenRecord:
        """An opening handshake, accepted (101) or refused (any other status; 0: not captured).

        ``via``, ``note`` and ``forwarded_request`` say how the bytes reached this capture point
        (see ``OpenRecord``). ``time`` and ``wall`` are read now unless given (a file's times).
        """
        if via not in VIA:
            raise ValueError(f"via must be one of {sorted(map(str, VIA))}, got {via!r}")
        address = peer if peer is None or isinstance(peer, str) else tuple(peer)
        rec = OpenRecord(self._next(), conn, monotonic() if time is None else time,
                         wall_clock() if wall is None else wall, address, bytes(request_raw),
                         bytes(response_raw), int(status), via, str(note),
                         None if forwarded_request is None else bytes(forwarded_request))
        self._append(rec, conn, rec.nbytes, memory_cost(rec))
        return rec

    def frame(self, conn: int, direction: Direction, offset: int, raw: bytes, frame: Frame | None = None,
              error: ProtocolError | None = None, *, injected: bool = False) -> FrameRecord:
        """A frame's exact bytes at ``offset`` of the ``direction`` stream; O(1), no dissection."""
        _check_direction(direction)
        rec = FrameRecord(self._next(), conn, monotonic(), wall_clock(), direction, offset,
                          raw if type(raw) is bytes else bytes(raw), frame, error, bool(injected))
        self._append(rec, conn, rec.nbytes, memory_cost(rec))
        return rec

    def message(self, conn: int, direction: Direction, opcode: Opcode | int, data: str | bytes,
                frames: int = 1, *, compressed_size: int | None = None) -> MessageRecord:
        """A reassembled message (text as str, binary as bytes) and how many frames carried it.

        ``compressed_size``: the message was compressed (permessage-deflate) into that many payload bytes.
        """
        _check_direction(direction)
        if not isinstance(data, str) and type(data) is not bytes:
            data = bytes(data)
        rec = MessageRecord(self._next(), conn, monotonic(), wall_clock(), direction, opcode, data, frames,
                            None if compressed_size is None else int(compressed_size))
        self._append(rec, conn, rec.nbytes, memory_cost(rec))
        return rec

    def closed(self, conn: int, code: int | None, reason: str, initiator: Initiator, clean: bool) -> CloseRecord:
        """The connection ended; ``initiator`` "local" is the server, "remote" the client."""
        return self._add_close(conn, code, reason, initiator, clean, monotonic(), wall_clock())

    def error(self, conn: int | None, message: str | BaseException, *, time: float | None = None,
              wall: float | None = None) -> ErrorRecord:
        """An error; a ``ProtocolError`` is kept whole, any other exception as its text.
        ``time`` and ``wall`` are read now unless given (a file's times)."""
        error = message if isinstance(message, ProtocolError) else None
        if isinstance(message, BaseException):
            text = f"{type(message).__name__}: {message}"
        else:
            text = str(message)
        rec = ErrorRecord(self._next(), conn, monotonic() if time is None else time,
                          wall_clock() if wall is None else wall, text, error)
        self._append(rec, conn, rec.nbytes, memory_cost(rec))
        return rec

    # -- subscribers -----------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(record)`` for each new record; returns a function that unsubscribes."""
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._detach(callback)

        return unsubscribe

    def _detach(self, callback: Subscriber) -> None:
        subs = list(self._subscribers)
        for i, cb in enumerate(subs):
            if cb is callback:
                del subs[i]
                self._subscribers = tuple(subs)
                return

    def _notify(self, record: Record) -> None:
        failed = None
        for callback in self._subscribers:
            try:
                callback(record)
            except Exception as exc:  # a broken view must never break the server
                if failed is None:
                    failed = []
                failed.append((callback, exc))
        if failed:
            # Detached first, so that none of them sees its own report; reported only
            # once every subscriber has seen this record, so that order holds.
            for callback, _ in failed:
                self._detach(callback)
            for callback, exc in failed:
                self.subscriber_errors.append((callback, exc))
                name = getattr(callback, "__qualname__", type(callback).__qualname__)
                log.error("capture subscriber %s raised on record #%d and was detached", name, record.seq,
                          exc_info=exc)
                self.error(None, f"subscriber {name} raised {type(exc).__name__}: {exc} "
                                 f"on record #{record.seq} and was detached")

    # -- files -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike | IO, *, include_secrets: bool = False, format: str | None = None) -> None:
        """Write the capture: JSON Lines (:mod:`~wsexplore.capture.formats.jsonl`, lossless), or pcapng for a
        name ending in ``.pcapng`` and pcap for ``.pcap`` (:mod:`~wsexplore.capture.formats.pcap_out`: TCP/IP
        flows that Wireshark reads). ``format`` ("jsonl", "pcapng", "pcap") overrides the name. Credential
        header values are replaced unless ``include_secrets``."""
        from . import files

        files.save(self, path, format=format, include_secrets=include_secrets)

    @classmethod
    def load(cls, path: str | os.PathLike | IO, *, max_records: int | None = None,
             max_bytes: int | None = None, options: ReadOptions | None = None) -> Capture:
        """A capture from a file, for offline exploration: JSON Lines written by ``save``, a pcap or pcapng
        packet capture (tcpdump, Wireshark), or a HAR file (browser developer tools), told apart by content.

        JSON Lines keep the bounds they were saved with unless given; the other formats use the
        defaults. ``options`` are limits for reading packet captures (``ReadOptions``). Parsing only:
        nothing named in a file is imported or run, every field is type-checked, and a file that
        cannot be read raises one ValueError naming the file and the place (for JSON Lines a
        ``CaptureFileError`` with its line and field); a capture that loads is safe for every view.
        """
        from . import files

        return files.load(path, max_records=max_records, max_bytes=max_bytes, options=options)

    def _saved(self, *, pending: bool = False) -> jsonl.Saved:
        """The state ``jsonl.dumps`` writes. ``pending=True`` takes the entries as they are, pending
        records still tuples (``jsonl.record_lines`` writes them as they are, ``records.build``
        makes the records): for a writer in another thread, so that the event loop builds nothing."""
        return jsonl.Saved(records=list(self._records if pending else self._items()), last_seq=self._seq,
                           dropped=self.dropped, dropped_bytes=self.dropped_bytes, max_records=self.max_records,
                           max_bytes=self.max_bytes, connections=list(self._conns))

    def _adopt(self, saved: jsonl.Saved) -> None:
        """Take the records and counters of a saved capture (subscribers see each record)."""
        self.dropped += saved.dropped
        self.dropped_bytes += saved.dropped_bytes
        for conn in saved.connections:
            self._conns[conn] = None
        for record in saved.records:
            self._append(record, record.conn, record.nbytes, memory_cost(record))
        self._seq = max(self._seq, saved.last_seq, saved.records[-1].seq if saved.records else 0)


getsizeof = sys.getsizeof
_LOOK_BACK = 8  # entries a sent frame's payload is looked for among (``_take_charge``)
_BYTES_COST = MESSAGE_COST + sys.getsizeof(b"")
_ASCII_COST = MESSAGE_COST + sys.getsizeof("")


def _message_charge(data: str | bytes) -> tuple[int, int]:
    """A message's data bytes and what holding it costs (``records.memory_cost`` of its record)."""
    if type(data) is bytes:
        size = len(data)
        return size, size + _BYTES_COST
    if data.isascii():  # a compact ASCII str: one byte a character after its header
        size = len(data)
        return size, size + _ASCII_COST
    return data_size(data), getsizeof(data) + MESSAGE_COST


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
