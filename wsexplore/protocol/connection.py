"""A sans-I/O WebSocket connection (RFC 6455 sections 5-7), for either role.

Bytes in, events and bytes out; no sockets, no asyncio. ``receive_data`` accepts
any chunking (one byte at a time, frames split anywhere, many frames in one
read) and reports each frame with its exact raw bytes and stream offset, so
that a capture can show what really crossed the wire.

Rules are not written here: header and payload rules come from ``rules``, so
the connection and the dissector always judge a frame the same way. The one
shortcut is the fast path of the receive loop: a whole, small text or binary
message in one frame is recognised from its first two bytes, and only headers
that ``rules.header_violation`` accepts can take it (a property test checks
this on every header). Every other frame goes through the general path
(``_read_frame``) and the rules. The states and every move between them are in ``states``.
"""

from __future__ import annotations

import codecs
import functools
import secrets
from typing import Callable

from .buffers import LARGE_FROM, copy_payload, join_bytes
from .deflate import PerMessageDeflate
from .errors import FramingError, MessageTooBig, ProtocolError, TruncatedFrame
from .events import (
    CloseReceived,
    ConnectionClosed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    PingReceived,
    PongReceived,
    ProtocolViolation,
)
from .frames import Frame, encode_close_payload, frame_header
from .header import (
    CONTROL_MASK,
    FIN_MASK,
    HEADER_LENGTHS,
    LENGTH_16,
    LENGTH_MASK,
    MASK_KEY_BYTES,
    MASK_MASK,
    MAX_7BIT,
    MAX_HEADER_BYTES,
    OPCODE_MASK,
    RSV1_MASK,
    RSV_MASK,
    extended_length_bytes,
    payload_length,
)
from .masking import _BITS_FROM, _LOW, _REPEAT, apply_mask, c_unmask_frame, unmask_frame
from .opcodes import CloseCode, Opcode, close_code_allowed
from .rules import Role, close_payload_violation, header_violation, length_violation, utf8_error
from .states import InvalidState, State, Trigger, allows, next_state
from .unmasking import AVAILABLE as _UNMASK_AS_READ
from .unmasking import Unmasking

__all__ = ["Connection", "State", "InvalidState", "DEFAULT_MAX_SIZE"]

DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_OPEN = State.OPEN
_CONT = Opcode.CONTINUATION
_CLOSE = Opcode.CLOSE
_PING = Opcode.PING
_PONG = Opcode.PONG
_FIN_TEXT = FIN_MASK | Opcode.TEXT
_FIN_BINARY = FIN_MASK | Opcode.BINARY

# What the receive loop makes of a frame's first two bytes (see _header_kinds).
_BREAKS_RULE = 0  # a header rule is broken: rules.header_violation says which
_RULES_PASS = 1  # no rule is broken (a 16/64-bit length is still judged by rules.length_violation)
_WHOLE_MESSAGE = 2  # no rule is broken, and it is a final text or binary frame without RSV bits, 7-bit length


@functools.cache
def _header_kinds(role: Role, rsv_allowed: int, permessage_deflate: bool) -> bytes:
    """The kind of every pair of first header bytes, at index ``b0 << 8 | b1``.

    Worked out once per set of options by ``rules.header_violation`` itself, so the
    receive loop looks a header up instead of asking the rules for every frame,
    and cannot judge it otherwise. The rules read the 7-bit length only as "more
    than 125 or not" (section 5.5), so one verdict stands for 0-125 and one for 126-127.
    """
    kinds = bytearray(1 << 16)  # _BREAKS_RULE everywhere to start with
    for b0 in range(256):
        for mask in (0, MASK_MASK):
            row = (b0 << 8) | mask
            if header_violation(b0, mask, None, role=role, rsv_allowed=rsv_allowed,
                                permessage_deflate=permessage_deflate) is None:
                kind = _WHOLE_MESSAGE if b0 in (_FIN_TEXT, _FIN_BINARY) else _RULES_PASS
                kinds[row : row + MAX_7BIT + 1] = bytes((kind,)) * (MAX_7BIT + 1)
            if header_violation(b0, mask | LENGTH_16, None, role=role, rsv_allowed=rsv_allowed,
                                permessage_deflate=permessage_deflate) is None:
                kinds[row + LENGTH_16 : row + LENGTH_MASK + 1] = bytes((_RULES_PASS,)) * 2
    return bytes(kinds)


# The states in which we may still send, and read, as the transition table says.
# Tuples, not sets: ``in`` then compares by identity, where a set would call the Enum's Python-level __hash__.
_SENDING = tuple(state for state in State if allows(state, Trigger.SEND))
_RECEIVING = tuple(state for state in State if allows(state, Trigger.RECEIVE))

# A frame still arriving whose size is at least this is gathered as a list of reads and joined once
# it is whole (one copy), rather than grown in a bytearray and copied out (three). Above the largest
# need of a header still arriving, so that a frame gathered has its whole header in ``_buf``. From
# ``LARGE_FROM`` bytes on, a masked frame's payload is also unmasked read by read as they arrive
# (``unmasking``), and the reads are never joined (kept only for ``prepare``, then let go).
_GATHER_FROM = 1024

# The fast path's unmasking (payloads of at most 64 KiB): the C function called straight, where it was
# built; otherwise the big-integer XOR inlined below _BITS_FROM bytes and ``unmask_frame`` above.
_FAST_UNMASK = c_unmask_frame if c_unmask_frame is not None else unmask_frame
_FAST_INLINE_BELOW = 0 if c_unmask_frame is not None else _BITS_FROM

# A close body is a 2-byte code and a reason, within a control frame's payload (section 5.5).
_MAX_CLOSE_REASON = MAX_7BIT - 2


def _read_nothing(data: bytes) -> list[Event]:
    """``receive_data`` while a failure waits for ``finish_failure``: nothing after the bad frame is read."""
    return []


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode()[:limit]
    return data.decode(errors="ignore")


class Connection:
    """One side of a WebSocket connection after the opening handshake.

    ``role`` is this side: a ``"server"`` requires masked frames and sends
    unmasked ones; a ``"client"`` the reverse, masking every frame with a fresh
    key from ``secrets``. ``rsv_allowed`` holds the RSV bits a negotiated
    extension defines (none by default: any RSV bit is a violation).

    ``deflate`` turns on permessage-deflate (RFC 7692) once the handshake
    agreed on it: RSV1 then marks the first frame of a compressed message
    (anywhere else it fails the connection, 1002), received compressed
    messages are inflated frame by frame under ``max_message_size`` (1009 as
    soon as the output passes it), and ``send_text`` / ``send_binary``
    compress every message that compression makes smaller. ``FrameReceived``
    keeps the compressed wire bytes; ``MessageReceived`` carries the inflated
    data and its ``compressed_size``.

    ``answer_before_failing``: when a read holds whole messages and then a
    frame that breaks a rule, the messages and the ``ProtocolViolation`` are
    reported as usual and nothing after the bad frame is read (section 7.1.7),
    but the close frame waits until ``finish_failure()``: the application may
    first answer the messages that were valid (an echo server its echoes).
    ``failure_pending`` says it is waiting. Off by default: the close then goes
    out in the same call that found the violation.
    """

    # Attributes set on few instances, or late, are class-level defaults: with 30 or more attributes
    # in its __dict__, CPython 3.11 gives an instance a slower layout, and every read pays for it.
    #: Close codes as exchanged (None until a close frame was sent / received).
    close_sent: tuple[int | None, str] | None = None
    close_received: tuple[int | None, str] | None = None
    #: RSV bits of extensions this side does not know: their frames carry extension data.
    opaque_rsv = 0
    #: Reads without ever answering (see the class docstring).
    observer = False
    #: See the class docstring.
    answer_before_failing = False
    #: The violation whose close frame waits for ``finish_failure``; an instance attribute only then.
    _failure: ProtocolError | None = None
    #: The payload of the large masked frame arriving, unmasked read by read (see ``unmasking``).
    _unmasking: Unmasking | None = None

    def __init__(
        self,
        role: Role = "server",
        *,
        max_frame_size: int = DEFAULT_MAX_SIZE,
        max_message_size: int = DEFAULT_MAX_SIZE,
        rsv_allowed: int = 0,
        deflate: PerMessageDeflate | None = None,
        opaque_rsv: int = 0,
        observer: bool = False,
        answer_before_failing: bool = False,
    ) -> None:
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', got {role!r}")
        if deflate is not None:
            if deflate.role != role:
                raise ValueError(f"deflate was made for the {deflate.role} role, this connection is the {role}")
            rsv_allowed |= RSV1_MASK
        if opaque_rsv & ~RSV_MASK or (deflate is not None and opaque_rsv & RSV1_MASK):
            raise ValueError(f"opaque_rsv must hold RSV bits (0x{RSV_MASK:02x}) that permessage-deflate does not use,"
                             f" got 0x{opaque_rsv:02x}")
        rsv_allowed |= opaque_rsv
        # Set on the instance only when not the default (see the class attributes).
        if opaque_rsv:
            self.opaque_rsv = opaque_rsv
        if observer:
            self.observer = True
        if answer_before_failing:
            self.answer_before_failing = True
        #: permessage-deflate state, when negotiated (RFC 7692).
        self.deflate = deflate
        self.role: Role = role
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.rsv_allowed = rsv_allowed
        self.state = State.OPEN
        #: The frames produced by the latest ``send_*`` call (for captures).
        self.last_sent: list[FrameSent] = []
        # The MASK bit every frame from the peer has (section 5.1), and the header kinds for these options.
        self._expect_mask = MASK_MASK if role == "server" else 0
        self._header_kinds = _header_kinds(role, rsv_allowed, deflate is not None)
        self._buf: bytes | bytearray = b""
        # The reads after ``_buf`` of a large frame still arriving (see _GATHER_FROM), and their size.
        self._tail: list[bytes] = []
        self._tail_size = 0
        self._need = 0
        self._in_offset = 0  # stream offset of self._buf[0]
        self._out_offset = 0
        # Message being reassembled.
        self._msg_opcode: Opcode | None = None
        self._msg_parts: list = []
        self._msg_size = 0
        self._msg_frames = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # The message in progress is compressed (RFC 7692): its inflated size so far.
        self._msg_compressed = False
        self._inflated = 0
        # RSV1 means "compressed" and is judged as such (RSV1_MASK), or is no rule of ours (0).
        self._rsv1_compressed = RSV1_MASK if deflate is not None else 0
        # The message in progress is extension data of an unknown extension: bytes, not text.
        self._msg_opaque = False
        # Payload bytes of the incomplete frame at self._buf[0] already checked as UTF-8,
        # and, when that frame starts a text message, the decoder and text so far.
        self._partial_fed = 0
        self._partial_decoder: codecs.IncrementalDecoder | None = None
        self._partial_parts: list[str] = []

    def __repr__(self) -> str:
        return f"<Connection role={self.role} state={self.state.name} received={self._in_offset} sent={self._out_offset}>"

    @property
    def bytes_received(self) -> int:
        return self._in_offset + len(self._buf) + self._tail_size

    @property
    def bytes_sent(self) -> int:
        return self._out_offset

    @property
    def buffered(self) -> int:
        """Bytes held for what has not been reported yet: the frame still arriving (and the text
        already decoded from it) and the message in progress (its inflated size when compressed).

        A server adds this up across connections to bound the memory that peers can pin by
        starting frames and messages they do not finish.
        """
        held = len(self._buf) + self._tail_size + self._partial_fed
        return held + (self._inflated if self._msg_compressed else self._msg_size)

    @property
    def incomplete(self) -> bool:
        """True while a frame has partly arrived or a fragmented message is in progress (section 5.4)."""
        return bool(self._buf) or self._msg_opcode is not None

    @property
    def bytes_needed(self) -> int:
        """Bytes still to come before the reader knows more: 0 at a frame boundary.

        Otherwise the bytes that complete the frame in progress (once its
        header is whole) or the part of its header still missing. Feeding at
        most this many bytes never goes past the end of the frame in progress,
        which is how a tap finds the boundary to insert a frame at.
        """
        if not self._buf or self.state not in _RECEIVING:
            return 0
        return max(self._need - len(self._buf) - self._tail_size, 1)

    def frame_end(self, data: bytes | memoryview) -> int:
        """How many bytes of ``data``, fed next, take the reader to the end of a frame.

        The rest of the frame in progress, or at a frame boundary the size of
        the frame ``data`` starts with, header included, once the bytes that
        give its length have arrived (with ``data``); until then
        ``bytes_needed`` (0 at a boundary). A reader that feeds a read in slices
        stretches a slice to this instead of cutting a large frame in two,
        which would copy the frame once more to put it back together.
        """
        buf = self._buf
        if buf and (len(buf) >= MAX_HEADER_BYTES or self._tail or self.state not in _RECEIVING):
            return self.bytes_needed  # the header is whole in ``buf``
        start = bytes(buf) + bytes(data[:MAX_HEADER_BYTES]) if buf else data  # the frame's first bytes
        length = payload_length(start)
        if length is None:
            return self.bytes_needed
        return HEADER_LENGTHS[start[1]] + length - len(buf)

    # ------------------------------------------------------------------ idle time
    def prepare(self) -> None:
        """Work for a moment when nothing is left to read or send (an I/O layer's call, not needed).

        After a large masked frame (``LARGE_FROM`` bytes on), the next one's payload is made now, the
        size of the last, so that its fresh memory is mapped in while the peer reads the reply rather
        than while it waits for ours (see ``unmasking``). Once this was called, a large frame's reads
        are kept until the next call or the next frame; ``release_prepared`` lets both go.
        """
        unmasking = self._unmasking
        if unmasking is not None:
            unmasking.prepare()

    def release_prepared(self) -> None:
        """Let go of the payload ``prepare`` made and the reads it kept: no large frame came for a while."""
        unmasking = self._unmasking
        if unmasking is not None:
            unmasking.release()

    # ------------------------------------------------------------------ receiving
    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return what happened, in order."""
        if not data or self.state not in _RECEIVING:
            return []
        events: list[Event] = []
        while True:
            rest = None  # the bytes of this read after a large frame it completes, read next
            head = self._buf
            if head and self._need >= _GATHER_FROM and len(head) >= MAX_HEADER_BYTES:
                # A large frame, its header whole in ``head``: its reads are kept as they are until it is whole.
                tail = self._tail
                tail.append(data)
                self._tail_size += len(data)
                over = len(head) + self._tail_size - self._need  # bytes of this read past the frame's end
                unmasking = self._unmasking
                if unmasking is None or unmasking.payload is None:  # not this frame's (yet)
                    if self._need >= LARGE_FROM and head[1] & MASK_MASK and _UNMASK_AS_READ \
                            and not self.observer:  # an observer keeps the bytes as they came (a tap, a file)
                        if unmasking is None:
                            unmasking = self._unmasking = Unmasking()
                        unmasking.start(head, self._need)
                    else:
                        unmasking = None
                if unmasking is not None:
                    unmasking.add(data)
                if over < 0:
                    self._check_partial(head, events)
                    return events
                # Only the frame is joined, so that it is taken whole below, not copied out of the join
                # once more; what follows it in this read is read next.
                if over:
                    rest = data[len(data) - over :]
                if unmasking is not None:  # unmasked already: the frame is header and payload
                    tail.append(head)
                    payload = unmasking.finish(tail)  # the reads are kept for ``prepare``
                    self._tail = []
                    self._buf = b""
                    self._tail_size = 0
                    header = unmasking.header
                    b0, b1 = header[0], header[1]
                    pos = self._read_frame(header, 0, b0, b1, self._header_kinds[(b0 << 8) | b1], events,
                                           payload)
                    if pos < 0:
                        return events  # the connection ended with this frame
                    self._consume(pos, header)
                    if rest is None or self.state not in _RECEIVING:
                        break
                    data = rest
                    continue
                tail.insert(0, head)
                if self._need >= LARGE_FROM:
                    buf = join_bytes(tail, self._need)  # into memory mapped in at once (see buffers)
                else:
                    if over:
                        tail[-1] = memoryview(data)[: len(data) - over]
                    buf = b"".join(tail)
                tail.clear()  # the reads go now: the frame is held once, not twice, while it is unmasked
                head = self._buf = b""
                self._tail_size = 0
            elif head:
                if type(head) is not bytearray:
                    head = bytearray(head)
                head += data
                buf = head
            else:
                buf = data
            if len(buf) < self._need:
                self._buf = buf
                self._check_partial(buf, events)
                return events
            if type(buf) is not bytes:
                # One copy of the reassembly buffer, so that every frame below is a plain bytes slice
                # (a large frame that filled the buffer is then taken whole, without a second copy).
                buf = bytes(buf)
                self._buf = b""  # let the bytearray go; _consume() keeps what is left
            pos = self._read_frames(buf, events)
            if pos < 0:
                return events  # the connection ended in this read
            self._consume(pos, buf)
            if rest is None or self.state not in _RECEIVING:
                break
            data = rest
        if self._buf:
            self._check_partial(self._buf, events)
        return events

    def _read_frames(self, buf: bytes, events: list[Event], *, whole_message: int = _WHOLE_MESSAGE,
                     rules_pass: int = _RULES_PASS, fin_text: int = _FIN_TEXT, fin_binary: int = _FIN_BINARY,
                     length_bits: int = LENGTH_MASK, from_bytes: Callable[..., int] = int.from_bytes,
                     key_repeat: list[int] = _REPEAT, low_bytes: list[int] = _LOW,
                     bits_from: int = _FAST_INLINE_BELOW, unmask: Callable[[bytes, int, int], bytes] = _FAST_UNMASK,
                     ) -> int:
        """Read the frames of ``buf``: where the first one still arriving starts, or -1 once the connection ended.

        The fast path takes a frame that is a whole text or binary message with a
        7-bit or 16-bit length, masked as this side requires, while no message is in
        progress: its first two bytes show it breaks no header rule (a 16-bit length
        must also be minimal, 126 or more, section 5.2, and within the limits), so it
        is unmasked and reported right here. Under permessage-deflate the same goes for
        a whole compressed message (RSV1), inflated by ``_whole_compressed``. Any other
        frame goes through ``_read_frame``.

        The keyword arguments are constants, never passed: defaults are bound once, where names
        assigned here would cost a look-up at every call (most calls read one frame or two).
        """
        n = len(buf)
        pos = 0
        append = events.append
        base = self._in_offset
        kinds = self._header_kinds
        expect_mask = self._expect_mask
        hl = 2 + MASK_KEY_BYTES if expect_mask else 2  # the fast path's header length
        hl16 = hl + 2  # with a 16-bit length
        frame_limit, message_limit = self.max_frame_size, self.max_message_size
        if frame_limit >= 0xFFFF and message_limit >= 0xFFFF:
            fast_limit, fast16_limit = MAX_7BIT + 1, 0xFFFF
        else:
            # 7-bit lengths below fast_limit are within every limit; larger ones take the general path.
            fast_limit = min(MAX_7BIT + 1, frame_limit + 1, message_limit + 1)
            # The same for 16-bit lengths (126-65535).
            fast16_limit = min(0xFFFF, frame_limit, message_limit)
        in_message = self._msg_opcode is not None  # refreshed after every frame of the general path
        rsv1 = self._rsv1_compressed  # RSV1 under permessage-deflate: a compressed message; else 0
        plain = ~rsv1  # a first byte without it
        # Only the frame at position 0 can have been partly validated as it arrived
        # (see _check_partial); it takes the general path.
        partly_fed = self._partial_fed
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & length_bits
            kind = kinds[(b0 << 8) | b1]
            if kind == whole_message and length < fast_limit:
                h = hl
            elif kind == rules_pass and ((b0 & plain) == fin_text or (b0 & plain) == fin_binary):
                # A whole message with a 16-bit length, or a compressed one (RSV1, inflated in
                # ``_whole_compressed``) with either length: an uncompressed 7-bit one is whole_message.
                if length < fast_limit:
                    h = hl
                elif length == 126 and n - pos >= 4:
                    length = (buf[pos + 2] << 8) | buf[pos + 3]
                    h = hl16 if 126 <= length <= fast16_limit else 0  # else the general path says what is wrong
                else:
                    h = 0
            else:
                h = 0
            if h and not in_message and (pos or not partly_fed):
                end = pos + h + length
                if end > n:
                    self._need = h + length
                    return pos
                raw = buf[pos:end]
                if not (expect_mask and length):
                    payload = raw[h:]
                elif length < bits_from:  # unmask_frame's integer path, inlined: most frames here are small
                    whole = from_bytes(raw, "little")
                    shift = h << 3
                    payload = ((whole >> shift) ^ ((whole >> (shift - 32) & 0xFFFFFFFF) * key_repeat[(length + 3) >> 2]
                                                   & low_bytes[length])).to_bytes(length, "little")
                else:
                    payload = unmask(raw, h, length)
                offset = base + pos
                pos = end
                if b0 & rsv1:
                    if not self._whole_compressed(raw, payload, offset, h, b0 & OPCODE_MASK, events, buf, pos):
                        return -1
                elif b0 == fin_text:
                    try:
                        text = payload.decode()
                    except UnicodeDecodeError as exc:
                        self._consume(pos, buf)
                        self._fail(utf8_error(exc, h * 8), raw, offset, events)
                        return -1
                    append(FrameReceived(raw, offset, payload))
                    append(MessageReceived(_TEXT, text, 1))
                else:
                    append(FrameReceived(raw, offset, payload))
                    append(MessageReceived(_BINARY, payload, 1))
                continue
            after = self._read_frame(buf, pos, b0, b1, kind, events)
            if after == pos or after < 0:
                return after
            pos = after
            in_message = self._msg_opcode is not None
        self._need = 2
        return pos

    def _read_frame(self, buf: bytes, pos: int, b0: int, b1: int, kind: int, events: list[Event],
                    unmasked: bytes | None = None) -> int:
        """The frame at ``buf[pos]``, which starts with ``b0 b1`` of the ``kind`` they give, judged by the rules.

        Returns where the next frame starts; ``pos`` when this one is still
        arriving (``_need`` then says how many bytes it takes); -1 once the
        connection ended. Header, fragmentation and size rules are judged as soon
        as the length is known, before the payload arrives (fail fast).
        ``unmasked``: the payload, unmasked as it arrived; ``buf`` then holds the header alone.
        """
        len7 = b1 & LENGTH_MASK
        length: int | None = len7
        if len7 > MAX_7BIT:
            length = payload_length(buf, pos)
            if length is None:  # the extended length is still arriving
                self._need = 2 + extended_length_bytes(len7)
                return pos
        hl = HEADER_LENGTHS[b1]
        opcode = b0 & OPCODE_MASK
        err: ProtocolError | None = None
        if kind == _BREAKS_RULE:
            err = header_violation(b0, b1, length, role=self.role, rsv_allowed=self.rsv_allowed,
                                   permessage_deflate=self.deflate is not None)
        elif len7 > MAX_7BIT:
            err = length_violation(len7, length)
        if err is None:
            err = self._sequence_violation(opcode, length)
        if err is not None:
            self._fail_at(err, buf, pos, hl + length, events)
            return -1
        end = pos + hl + length
        if unmasked is not None:
            raw = None
            payload = unmasked
        elif end > len(buf):
            self._need = hl + length
            return pos
        else:
            raw = buf[pos:end]  # bytes: the whole buffer is taken as is, without a copy
            payload = unmask_frame(raw, hl, length) if b1 & MASK_MASK and length else copy_payload(raw, hl)
        offset = self._in_offset + pos
        control = opcode & CONTROL_MASK
        fin = bool(b0 & FIN_MASK)
        if not control:
            err = self._data_frame(opcode, payload, fin, hl, b0 & RSV_MASK)
        elif opcode == _CLOSE:
            err = close_payload_violation(payload, hl * 8)
        if raw is None:
            received = FrameReceived.split(buf, offset, payload)
        else:
            received = FrameReceived(raw, offset, payload)
        if err is not None:
            self._consume(end, buf)
            self._fail(err, received.raw, offset, events)
            return -1
        events.append(received)
        if not control:
            if fin:
                events.append(self._finish_message())
        elif opcode == _PING:
            events.append(PingReceived(payload))
            if self.state in _SENDING and not self.observer:
                self._emit(Frame(_PONG, payload), events)
        elif opcode == _PONG:
            events.append(PongReceived(payload))
        else:
            self._close_frame(received.frame, events)
            self._buf = b""
            self._in_offset += end
            return -1
        return end

    def _consume(self, pos: int, buf: bytes | bytearray) -> None:
        self._in_offset += pos
        if pos >= len(buf):  # beyond: ``buf`` was the header of a frame unmasked as it arrived
            self._buf = b""
            self._need = 0
        elif pos:
            self._buf = buf[pos:]
        else:
            self._buf = buf

    def _sequence_violation(self, opcode: int, length: int) -> ProtocolError | None:
        """Fragmentation and size rules, judged from the header alone (fail fast)."""
        if length > self.max_frame_size:
            return MessageTooBig(
                f"frame payload of {length} bytes exceeds max_frame_size={self.max_frame_size}",
                field="Payload length", bit_offset=9, rfc="10.4",
            )
        if opcode & CONTROL_MASK:
            return None
        if opcode == _CONT:
            if self._msg_opcode is None:
                return FramingError(
                    "continuation frame without a message to continue",
                    field="Opcode", bit_offset=4, rfc="5.4",
                )
        elif self._msg_opcode is not None:
            return FramingError(
                f"new {'text' if opcode == _TEXT else 'binary'} message started before the fragmented"
                " message in progress was finished (expected a continuation frame)",
                field="Opcode", bit_offset=4, rfc="5.4",
            )
        if self._msg_size + length > self.max_message_size:
            return MessageTooBig(
                f"message of at least {self._msg_size + length} bytes exceeds max_message_size={self.max_message_size}",
                field="Payload length", bit_offset=9, rfc="10.4",
            )
        return None

    # Reassembly: a message starts, takes the payload of each of its frames, and is finished once.
    def _data_frame(self, opcode: int, payload: bytes, fin: bool, hl: int, rsv: int) -> ProtocolError | None:
        """Add a data frame to the message it belongs to; the rule it breaks, if any.

        Text is validated as it arrives, so bad text fails at its first bad byte.
        ``rsv`` holds the frame's RSV bits: RSV1 under permessage-deflate marks
        the first frame of a compressed message, an ``opaque_rsv`` bit one of
        extension data. The caller finishes the message after a ``fin`` frame.
        """
        fed = self._partial_fed
        self._partial_fed = 0
        if opcode != _CONT:
            self._start_message(opcode, bool(rsv & self._rsv1_compressed), fed, bool(rsv & self.opaque_rsv))
        self._msg_frames += 1
        self._msg_size += len(payload)
        if self._msg_compressed:
            return self._add_inflated(payload, opcode != _CONT, fin, hl)
        decoder = self._decoder
        if decoder is None:
            self._msg_parts.append(payload)
            return None
        try:  # the first ``fed`` bytes were checked as they arrived
            self._msg_parts.append(decoder.decode(payload[fed:], final=fin))
        except UnicodeDecodeError as exc:
            pending = len(decoder.getstate()[0])
            return utf8_error(exc, hl * 8, skip=pending, at=fed)
        return None

    def _start_message(self, opcode: int, compressed: bool, fed: int, opaque: bool = False) -> None:
        self._msg_opcode = _TEXT if opcode == _TEXT else _BINARY
        self._msg_size = 0
        self._msg_frames = 0
        self._msg_compressed = compressed
        self._msg_opaque = opaque
        self._inflated = 0
        if opaque:  # extension data: its bytes are whatever the extension made of the message
            self._msg_parts = []
            self._decoder = None
        elif fed:  # this text frame was already partly checked as it arrived
            self._decoder, self._msg_parts = self._partial_decoder, self._partial_parts
            self._partial_decoder, self._partial_parts = None, []
        else:
            self._msg_parts = []
            self._decoder = _Utf8Decoder() if opcode == _TEXT else None

    def _whole_compressed(self, raw: bytes, payload: bytes, offset: int, hl: int, opcode: int,
                          events: list[Event], buf: bytes, end: int) -> bool:
        """A compressed message in one frame, from ``_read_frames``' fast path: the events ``_read_frame``
        would give, inflated under the size limit and its text checked whole. False once it failed the
        connection (the violation reported, the message left in progress as the general path leaves it)."""
        err: ProtocolError | None = None
        data: bytes | str
        try:
            data = self.deflate.inflate(payload, max_size=self.max_message_size)  # type: ignore[union-attr]
            if opcode == _TEXT:
                data = data.decode()
        except ProtocolError as exc:
            err = self._inflate_error(exc, hl)
        except UnicodeDecodeError as exc:
            err = utf8_error(exc, 0, what="text (once inflated)")
            err.bit_offset = hl * 8  # the bad byte is in the inflated data, not on the wire
        if err is None:
            events.append(FrameReceived(raw, offset, payload))
            events.append(MessageReceived(_TEXT if opcode == _TEXT else _BINARY, data, 1, len(payload)))
            return True
        self._start_message(opcode, True, 0)
        self._msg_frames, self._msg_size = 1, len(payload)
        self._consume(end, buf)
        self._fail(err, raw, offset, events)
        return False

    def _inflate_error(self, exc: ProtocolError, hl: int) -> ProtocolError:
        """What a frame whose payload does not inflate, or inflates past the limit, breaks."""
        if isinstance(exc, MessageTooBig):
            return MessageTooBig(
                f"compressed message inflates past max_message_size={self.max_message_size}"
                " (stopped while inflating)",
                field="Payload", bit_offset=hl * 8, rfc="RFC 7692 section 8",
            )
        if exc.bit_offset is None:
            exc.bit_offset = hl * 8
        return exc

    def _add_inflated(self, payload: bytes, first: bool, fin: bool, hl: int) -> ProtocolError | None:
        """A frame of a compressed message: inflate it under the size limit, then check its text."""
        assert self.deflate is not None
        before = self._inflated
        try:
            data = self.deflate.inflate(payload, first=first, fin=fin, max_size=self.max_message_size - before)
        except ProtocolError as exc:
            return self._inflate_error(exc, hl)
        self._inflated = before + len(data)
        decoder = self._decoder
        if decoder is None:
            self._msg_parts.append(data)
            return None
        try:
            self._msg_parts.append(decoder.decode(data, final=fin))
        except UnicodeDecodeError as exc:
            pending = len(decoder.getstate()[0])
            err = utf8_error(exc, 0, skip=pending - before, what="text (once inflated)")
            err.bit_offset = hl * 8  # the bad byte is in the inflated data, not on the wire
            return err
        return None

    def _finish_message(self) -> MessageReceived:
        """The message in progress, whole: reported once its final frame was read."""
        assert self._msg_opcode is not None
        data = ("" if self._decoder is not None else b"").join(self._msg_parts)
        compressed_size = self._msg_size if self._msg_compressed else None
        message = MessageReceived(self._msg_opcode, data, self._msg_frames, compressed_size)
        self._drop_message()
        return message

    def _drop_message(self) -> None:
        self._msg_opcode = None
        self._msg_parts = []
        self._msg_size = 0
        self._decoder = None
        self._msg_compressed = False
        self._msg_opaque = False

    def _check_partial(self, buf: bytes | bytearray, events: list[Event]) -> None:
        """Fail fast on invalid UTF-8 inside a text frame that has not fully arrived yet."""
        if self.state not in _RECEIVING:
            return
        b0 = buf[0]  # the buffer holds the start of a frame: at least one byte
        opcode = b0 & OPCODE_MASK
        if not (opcode == _TEXT or (opcode == _CONT and self._decoder is not None)):
            return  # only text is checked as it arrives: nothing to parse for any other frame
        if self._msg_compressed or b0 & self._rsv1_compressed:
            return  # compressed bytes: the text is checked once the frame is inflated
        if self._msg_opaque or b0 & self.opaque_rsv:
            return  # extension data: not read as text
        # The header, read from its bytes here (this runs at every read of a frame arriving in pieces).
        if len(buf) < 2:
            return
        b1 = buf[1]
        size = HEADER_LENGTHS[b1]  # masking key included
        if len(buf) < size:
            return  # the header is still arriving
        start = size + self._partial_fed
        if len(buf) + self._tail_size <= start:
            return
        unmasking = self._unmasking
        if unmasking is not None and unmasking.payload is not None:  # unmasked already, as the reads came
            chunk = unmasking.payload[self._partial_fed : unmasking.filled]
        else:
            chunk = self._pending_from(start)
            key = buf[size - MASK_KEY_BYTES : size] if b1 & MASK_MASK else None
            if key is not None:
                phase = self._partial_fed % MASK_KEY_BYTES  # the key byte that the chunk's first byte takes
                chunk = apply_mask(chunk, key[phase:] + key[:phase])
        if opcode == _TEXT:
            # The first frame of a text message, arriving in pieces.
            if self._partial_decoder is None:
                self._partial_decoder, self._partial_parts = _Utf8Decoder(), []
            decoder, parts = self._partial_decoder, self._partial_parts
        else:
            assert self._decoder is not None
            decoder, parts = self._decoder, self._msg_parts
        try:
            parts.append(decoder.decode(chunk))
        except UnicodeDecodeError as exc:
            pending = len(decoder.getstate()[0])
            err = utf8_error(exc, size * 8, skip=pending, at=self._partial_fed)
            self._fail(err, self._pending_from(0), self._in_offset, events)
            return
        self._partial_fed += len(chunk)

    def _pending_from(self, start: int) -> bytes:
        """The bytes of the frame still arriving (``_buf`` and its tail) from ``start`` on.

        Text is checked as each read arrives, so what is not checked yet is the latest
        read: that is taken as it is, without joining the frame so far.
        """
        head, tail = self._buf, self._tail
        if not tail:
            return bytes(head[start:])
        last = tail[-1]
        skip = start - (len(head) + self._tail_size - len(last))
        if skip >= 0:
            return bytes(last[skip:])
        return b"".join([head, *tail])[start:]

    def _close_frame(self, frame: Frame, events: list[Event]) -> None:
        code = frame.close_code
        reason = frame.payload[2:].decode() if code is not None else ""
        self.close_received = (code, reason)
        events.append(CloseReceived(code, reason))
        if self.observer:
            self.state = next_state(self.state, Trigger.RECEIVE_CLOSE)  # nothing more is read, nothing said
        elif self.state in _SENDING:
            # The peer started the closing handshake: echo the status code, as section 5.5.1 suggests.
            self._emit(Frame(Opcode.CLOSE, frame.payload[:2]), events)
            self.close_sent = (code, "")
            self.state = next_state(self.state, Trigger.RECEIVE_CLOSE)
            events.append(ConnectionClosed(code if code is not None else CloseCode.NO_STATUS_RCVD, reason, "remote", True))
        else:
            # The answer to our close.
            self.state = next_state(self.state, Trigger.RECEIVE_CLOSE)
            sent_code, sent_reason = self.close_sent or (None, "")
            events.append(ConnectionClosed(
                sent_code if sent_code is not None else CloseCode.NO_STATUS_RCVD, sent_reason, "local", True,
            ))

    def _fail_at(self, err: ProtocolError, buf: bytes | bytearray, pos: int, size: int,
                 events: list[Event]) -> list[Event]:
        raw = bytes(buf[pos : pos + size])
        offset = self._in_offset + pos
        self._consume(len(buf), buf)
        return self._fail(err, raw, offset, events)

    def _fail(self, err: ProtocolError, raw: bytes, offset: int, events: list[Event]) -> list[Event]:
        """Fail the WebSocket connection (section 7.1.7): say why, send a close, accept nothing more."""
        events.append(ProtocolViolation(err, raw, offset))
        if (self.answer_before_failing and not self.observer and self.state in _SENDING
                and any(type(e) is MessageReceived for e in events)):
            # Messages came whole before the bad frame, in this read: let them be answered first.
            # Nothing more is read meanwhile: receive_data is shadowed on this instance, so that
            # the path every read takes pays nothing for this rare case.
            self._failure = err
            self.receive_data = _read_nothing  # type: ignore[method-assign]
            self._drop_input()
            return events
        return self._close_for(err, events)

    @property
    def failure_pending(self) -> bool:
        """A violation was found and its close frame waits for ``finish_failure`` (``answer_before_failing``)."""
        return self._failure is not None

    def finish_failure(self) -> list[Event]:
        """Send the close frame of the violation ``failure_pending`` holds, and close: ``FrameSent``, then
        ``ConnectionClosed`` (not clean). Nothing when no failure waits (or the application closed meanwhile)."""
        err = self._failure
        self.__dict__.pop("_failure", None)
        self.__dict__.pop("receive_data", None)  # the class's method again (it reads nothing once closed)
        if err is None or not allows(self.state, Trigger.FAIL):
            return []
        return self._close_for(err, [])

    def _close_for(self, err: ProtocolError, events: list[Event]) -> list[Event]:
        reason = _truncate_utf8(err.message, _MAX_CLOSE_REASON)
        if self.state in _SENDING and not self.observer:
            self._emit(Frame(Opcode.CLOSE, encode_close_payload(err.close_code, reason)), events)
            self.close_sent = (err.close_code, reason)
        self.state = next_state(self.state, Trigger.FAIL)
        self._drop_input()
        if not self.observer:
            events.append(ConnectionClosed(err.close_code, reason, "local", False))
        return events

    def _drop_input(self) -> None:
        """Forget the frame and message in progress: nothing more is read (section 7.1.7)."""
        self._buf, self._tail, self._tail_size = b"", [], 0
        self._need = 0
        if self._unmasking is not None:
            self._unmasking = None
        self._drop_message()
        self._partial_fed = 0
        self._partial_decoder, self._partial_parts = None, []

    def fail(self, code: int, reason: str = "") -> list[Event]:
        """Fail the connection for a reason of this side's own, not a rule the peer broke (section 7.1.7).

        For a limit of the endpoint's (1013 when it is short of memory for now) or a peer that
        stalls inside a frame: the close frame goes out while we may still send, what was held
        for the frame and message in progress is dropped, and nothing more is read. Returns the
        events: ``FrameSent`` for the close frame, then ``ConnectionClosed`` (not clean).
        """
        if not close_code_allowed(code):
            raise ValueError(f"close code {code} may not be sent (section 7.4)")
        if not allows(self.state, Trigger.FAIL):
            return []
        events: list[Event] = []
        reason = _truncate_utf8(reason, _MAX_CLOSE_REASON)
        if self.state in _SENDING and not self.observer:
            self._emit(Frame(Opcode.CLOSE, encode_close_payload(code, reason)), events)
            self.close_sent = (code, reason)
        self.state = next_state(self.state, Trigger.FAIL)
        self._drop_input()
        events.append(ConnectionClosed(code, reason, "local", False))
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed the transport; without a close handshake that is abnormal (1006)."""
        if self._failure is not None:
            return self.finish_failure()  # the failure we found comes first; nothing after it is read
        if not allows(self.state, Trigger.EOF):
            return []
        events: list[Event] = []
        if self._buf:
            buf = self._pending_from(0)
            missing = max(self._need - len(buf), 1)
            events.append(ProtocolViolation(
                TruncatedFrame(f"stream ended {missing} byte(s) before the end of the frame", missing=missing,
                               rfc="7.1.5"),
                buf, self._in_offset,
            ))
        self.state = next_state(self.state, Trigger.EOF)
        self._drop_input()
        if not self.observer:
            events.append(ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "", "remote", False))
        return events

    # ------------------------------------------------------------------ sending
    def _emit(self, frame: Frame, events: list[FrameSent] | list[Event]) -> bytes:
        if self.role == "client" and frame.mask_key is None:
            frame = Frame._trusted(frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3,
                                   secrets.token_bytes(MASK_KEY_BYTES))
        raw = frame.encode()
        events.append(FrameSent(frame, raw, self._out_offset))
        self._out_offset += len(raw)
        return raw

    def _send(self, frames: list[Frame]) -> list[bytes]:
        """The chunks to write for ``frames``, in order: an encoded frame, or a large unmasked payload
        (the caller's object itself) after its header, so that it is never copied to join them."""
        if self.observer:
            raise InvalidState("an observer only reads: it sends nothing")
        next_state(self.state, Trigger.SEND)  # raises InvalidState once a close was sent or received
        sent: list[FrameSent] = []
        chunks: list[bytes] = []
        unjoined = self.role == "server"  # a client's frames are masked: a new object anyway
        for frame in frames:
            if unjoined and frame.mask_key is None and len(frame.payload) >= LARGE_FROM:
                chunks += self._emit_unjoined(frame, sent)
            else:
                chunks.append(self._emit(frame, sent))
        self.last_sent = sent
        return chunks

    def _emit_unjoined(self, frame: Frame, events: list[FrameSent]) -> list[bytes]:
        """A large unmasked frame (a server's) as its header and its payload, unjoined."""
        header = frame.encode_header()
        payload = frame.payload
        events.append(FrameSent(frame, None, self._out_offset, header))
        self._out_offset += len(header) + len(payload)
        return [header, payload]

    def _fragments(self, opcode: Opcode, payload: bytes, fragment_size: int | None,
                   compressed: bool = False) -> list[Frame]:
        """The frames of a message whose ``payload`` is bytes (``Frame``'s checks would find nothing to say)."""
        if not fragment_size or len(payload) <= fragment_size:
            key = secrets.token_bytes(MASK_KEY_BYTES) if self._expect_mask == 0 else None  # a client masks
            return [Frame._trusted(opcode, payload, True, compressed, False, False, key)]
        if fragment_size < 1:
            raise ValueError("fragment_size must be positive")
        chunks = [payload[i : i + fragment_size] for i in range(0, len(payload), fragment_size)]
        last = len(chunks) - 1
        # RFC 7692 section 6: RSV1 on the first frame only.
        return [Frame(opcode if i == 0 else _CONT, c, fin=i == last, rsv1=compressed and i == 0)
                for i, c in enumerate(chunks)]

    def _send_payload(self, opcode: Opcode, payload: bytes, fragment_size: int | None,
                      compress: bool | None) -> list[bytes]:
        """The chunks of a message whose bytes are ``payload``, compressed as ``send_text`` says."""
        deflate = self.deflate
        compress_given = compress is not None
        if compress is None:
            compress = deflate is not None
        if not compress or deflate is None:
            if compress:
                raise ValueError("compress=True needs permessage-deflate (Connection(..., deflate=...))")
            return self._send(self._fragments(opcode, payload, fragment_size))
        # Judged before compressing: a message that is not sent must not advance the shared window.
        if self.observer:
            raise InvalidState("an observer only reads: it sends nothing")
        next_state(self.state, Trigger.SEND)
        if fragment_size is not None and fragment_size < 1:
            raise ValueError("fragment_size must be positive")
        if compress_given:
            return self._send(self._fragments(opcode, deflate.compress(payload), fragment_size, True))
        compressed = deflate.compress_if_smaller(payload)
        if compressed is None:  # compressing would not make it smaller: it goes as it is (RFC 7692 section 6)
            return self._send(self._fragments(opcode, payload, fragment_size))
        return self._send(self._fragments(opcode, compressed, fragment_size, True))

    def send_message(self, message: str | bytes | bytearray | memoryview, *, fragment_size: int | None = None,
                     compress: bool | None = None) -> list[bytes]:
        """A text (``str``) or binary message, as the chunks to write in order.

        ``send_text`` and ``send_binary`` return these chunks joined. Unjoined, a
        server's large payload (256 KiB on) is a chunk of its own, the very bytes
        object given: written after its header, never copied behind it.
        """
        if isinstance(message, str):
            payload, opcode = message.encode(), _TEXT
        else:
            payload, opcode = bytes(message), _BINARY
        n = len(payload)
        if n < LARGE_FROM and fragment_size is None and compress is None and self._expect_mask \
                and self.state is _OPEN and not self.observer:
            # The most common send, a server's message in one frame: what ``_send_payload`` would do,
            # without the general path's calls.
            b0 = FIN_MASK | opcode
            frame = None  # made from ``raw`` when asked for
            deflate = self.deflate
            if deflate is not None:
                compressed = deflate.compress_if_smaller(payload)
                if compressed is not None:
                    payload, b0, n = compressed, b0 | RSV1_MASK, len(compressed)
                # Made now: the server records the message sent from it.
                frame = Frame._trusted(opcode, payload, True, compressed is not None, False, False, None)
            raw = (bytes((b0, n)) if n <= MAX_7BIT else frame_header(b0, 0, n)) + payload
            offset = self._out_offset
            self._out_offset = offset + len(raw)
            self.last_sent = [FrameSent(frame, raw, offset, None, payload)]
            return [raw]
        return self._send_payload(opcode, payload, fragment_size, compress)

    def send_text(self, text: str, *, fragment_size: int | None = None, compress: bool | None = None) -> bytes:
        """A text message, optionally in frames of ``fragment_size`` payload bytes.

        Under permessage-deflate it is compressed when that makes it smaller, and
        sent as it is otherwise (a message may go uncompressed, RFC 7692 section 6);
        ``compress=True`` compresses it whatever the outcome, ``compress=False``
        never does. ``fragment_size`` then cuts the bytes sent.
        """
        return _joined(self._send_payload(_TEXT, text.encode(), fragment_size, compress))

    def send_binary(self, data: bytes, *, fragment_size: int | None = None, compress: bool | None = None) -> bytes:
        """A binary message; see ``send_text`` for ``fragment_size`` and ``compress``."""
        return _joined(self._send_payload(_BINARY, bytes(data), fragment_size, compress))

    def send_ping(self, payload: bytes = b"") -> bytes:
        if len(payload) > MAX_7BIT:
            raise ValueError("ping payload must be 125 bytes or less (section 5.5)")
        return _joined(self._send([Frame(Opcode.PING, payload)]))

    def send_pong(self, payload: bytes = b"") -> bytes:
        if len(payload) > MAX_7BIT:
            raise ValueError("pong payload must be 125 bytes or less (section 5.5)")
        return _joined(self._send([Frame(Opcode.PONG, payload)]))

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
        """Start the close handshake; the state becomes CLOSING until the peer answers."""
        if code is not None and not close_code_allowed(code):
            raise ValueError(f"close code {code} may not be sent (section 7.4)")
        if len(reason.encode()) > _MAX_CLOSE_REASON:
            raise ValueError("close reason must be 123 bytes or less in UTF-8 (section 5.5)")
        data = _joined(self._send([Frame(Opcode.CLOSE, encode_close_payload(code, reason))]))
        self.close_sent = (code, reason)
        self.state = next_state(self.state, Trigger.SEND_CLOSE)
        return data

    def send_frame(self, frame: Frame) -> bytes:
        """Send ``frame`` exactly as built, even an invalid one (to see how a peer reacts).

        A client frame without a key is still masked with a fresh one; a close
        frame moves the state to CLOSING.
        """
        data = _joined(self._send([frame]))
        if frame.opcode == Opcode.CLOSE:
            self.close_sent = (frame.close_code, frame.close_reason)
            self.state = next_state(self.state, Trigger.SEND_CLOSE)
        return data


def _joined(chunks: list[bytes]) -> bytes:
    """The chunks of one send as one bytes object (``send_message`` leaves them apart)."""
    if len(chunks) == 1:
        return chunks[0]
    return join_bytes(chunks, sum(map(len, chunks)))
