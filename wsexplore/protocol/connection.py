"""A sans-I/O WebSocket connection (RFC 6455 sections 5-7), for either role.

Bytes in, events and bytes out; no sockets, no asyncio. ``receive_data`` accepts
any chunking (one byte at a time, frames split anywhere, many frames in one
read) and reports each frame with its exact raw bytes and stream offset, so
that a capture can show what really crossed the wire.

Rules are not written here: header and payload rules come from ``rules``, so
the connection and the dissector always judge a frame the same way.
"""

from __future__ import annotations

import codecs
import secrets
from enum import Enum

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
from .frames import Frame, encode_close_payload
from .masking import _LOW, _NUMPY_FROM, _REPEAT, apply_mask
from .opcodes import CloseCode, Opcode, close_code_allowed
from .rules import KNOWN_OPCODES, Role, close_payload_violation, header_violation, utf8_error

__all__ = ["Connection", "State", "InvalidState", "DEFAULT_MAX_SIZE"]

DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONTINUATION
_OPCODE = {op.value: op for op in Opcode}
# First header bytes of a final text or binary frame without RSV bits: the fast path.
_FAST_B0 = tuple(b0 in (0x81, 0x82) for b0 in range(256))
_from_bytes = int.from_bytes


class State(Enum):
    """OPEN: data flows. CLOSING: we sent a close and wait for the peer's. CLOSED: done."""

    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class InvalidState(RuntimeError):
    """Sending after the close handshake started (section 5.5.1: nothing follows a close)."""


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
    compress unless told otherwise. ``FrameReceived`` keeps the compressed
    wire bytes; ``MessageReceived`` carries the inflated data and its
    ``compressed_size``.
    """

    def __init__(
        self,
        role: Role = "server",
        *,
        max_frame_size: int = DEFAULT_MAX_SIZE,
        max_message_size: int = DEFAULT_MAX_SIZE,
        rsv_allowed: int = 0,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', got {role!r}")
        if deflate is not None:
            if deflate.role != role:
                raise ValueError(f"deflate was made for the {deflate.role} role, this connection is the {role}")
            rsv_allowed |= 0x40
        #: permessage-deflate state, when negotiated (RFC 7692).
        self.deflate = deflate
        self.role: Role = role
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.rsv_allowed = rsv_allowed
        self.state = State.OPEN
        #: The frames produced by the latest ``send_*`` call (for captures).
        self.last_sent: list[FrameSent] = []
        #: Close codes as exchanged (None until a close frame was sent / received).
        self.close_sent: tuple[int | None, str] | None = None
        self.close_received: tuple[int | None, str] | None = None
        self._expect_mask = 0x80 if role == "server" else 0
        self._rsv_forbidden = 0x70 & ~rsv_allowed
        self._buf: bytes | bytearray = b""
        self._need = 0
        self._in_offset = 0  # stream offset of self._buf[0]
        self._out_offset = 0
        # Message being reassembled.
        self._msg_opcode: int | None = None
        self._msg_parts: list = []
        self._msg_size = 0
        self._msg_frames = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # The message in progress is compressed (RFC 7692): its inflated size so far.
        self._msg_compressed = False
        self._inflated = 0
        # RSV1 means "compressed" and is judged as such (0x40), or is no rule of ours (0).
        self._rsv1_compressed = 0x40 if deflate is not None else 0
        # Payload bytes of the incomplete frame at self._buf[0] already checked as UTF-8,
        # and, when that frame starts a text message, the decoder and text so far.
        self._partial_fed = 0
        self._partial_decoder: codecs.IncrementalDecoder | None = None
        self._partial_parts: list[str] = []

    def __repr__(self) -> str:
        return f"<Connection role={self.role} state={self.state.name} received={self._in_offset} sent={self._out_offset}>"

    @property
    def bytes_received(self) -> int:
        return self._in_offset + len(self._buf)

    @property
    def bytes_sent(self) -> int:
        return self._out_offset

    # ------------------------------------------------------------------ receiving
    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return what happened, in order."""
        if self.state is State.CLOSED or not data:
            return []
        if self._buf:
            if type(self._buf) is not bytearray:
                self._buf = bytearray(self._buf)
            self._buf += data
            buf = self._buf
        else:
            buf = data
        events: list[Event] = []
        if len(buf) < self._need:
            self._buf = buf
            self._check_partial(buf, events)
            return events
        if type(buf) is not bytes:
            # One copy of the reassembly buffer, so that every frame below is a plain bytes slice
            # (a large frame that filled the buffer is then taken whole, without a second copy).
            buf = bytes(buf)
            self._buf = b""  # let the bytearray go; _consume() keeps what is left
        pos = 0
        n = len(buf)
        expect_mask = self._expect_mask
        rsv_forbidden = self._rsv_forbidden
        rsv1_compressed = self._rsv1_compressed
        max_frame = self.max_frame_size
        max_message = self.max_message_size
        append = events.append
        base = self._in_offset
        # Only the frame at position 0 can have been partly validated as it arrived
        # (see _check_partial); it takes the general path.
        partly_fed = self._partial_fed
        in_message = self._msg_opcode is not None  # refreshed after every frame of the general path
        fast_hl = 6 if expect_mask else 2
        # 7-bit lengths below this are within every limit; larger ones take the general path.
        fast_limit = min(126, self.max_frame_size + 1, self.max_message_size + 1)
        while True:
            avail = n - pos
            if avail < 2:
                self._need = 2
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            len7 = b1 & 0x7F
            if (
                _FAST_B0[b0]
                and len7 < fast_limit
                and (b1 & 0x80) == expect_mask
                and not in_message
                and (pos or not partly_fed)
            ):
                # The common case, judged in one go: a whole, small text or binary message in
                # one frame with no RSV bit, masked as it must be, no message in progress.
                end = pos + fast_hl + len7
                if end > n:
                    self._need = fast_hl + len7
                    break
                raw = buf[pos:end]
                if expect_mask and len7:
                    whole = _from_bytes(raw, "little")
                    payload = (
                        (whole >> 48) ^ (((whole >> 16) & 0xFFFFFFFF) * _REPEAT[(len7 + 3) >> 2] & _LOW[len7])
                    ).to_bytes(len7, "little")
                else:
                    payload = raw[fast_hl:]
                offset = base + pos
                pos = end
                if b0 == 0x81:
                    try:
                        text = payload.decode()
                    except UnicodeDecodeError as exc:
                        self._consume(pos, buf)
                        return self._fail(utf8_error(exc, fast_hl * 8), raw, offset, events)
                    append(FrameReceived(raw, offset, payload))
                    append(MessageReceived(_TEXT, text, 1))
                else:
                    append(FrameReceived(raw, offset, payload))
                    append(MessageReceived(_BINARY, payload, 1))
                continue
            if len7 < 126:
                length = len7
                hl = 2
            elif len7 == 126:
                if avail < 4:
                    self._need = 4
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hl = 4
            else:
                if avail < 10:
                    self._need = 10
                    break
                length = _from_bytes(buf[pos + 2 : pos + 10], "big")
                hl = 10
            masked = b1 & 0x80
            if masked:
                hl += 4
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if (
                b0 & rsv_forbidden
                or opcode not in KNOWN_OPCODES
                or masked != expect_mask
                or (opcode >= 8 and (not fin or len7 > 125))
                or (len7 == 126 and length < 126)
                or (len7 == 127 and (length < 0x10000 or length >> 63))
                or (b0 & rsv1_compressed and (opcode == 0 or opcode >= 8))
            ):
                err = header_violation(b0, b1, length, role=self.role, rsv_allowed=self.rsv_allowed,
                                       permessage_deflate=self.deflate is not None)
                assert err is not None
                return self._fail_at(err, buf, pos, hl + length, events)
            # Fragmentation and size rules, judged from the header alone (fail fast).
            if length > max_frame or (
                opcode < 8 and ((opcode == 0) is (self._msg_opcode is None) or self._msg_size + length > max_message)
            ):
                err = self._sequence_violation(opcode, length)
                assert err is not None
                return self._fail_at(err, buf, pos, hl + length, events)
            end = pos + hl + length
            if end > n:
                self._need = hl + length
                break
            raw = buf[pos:end]  # bytes: the whole buffer is taken as is, without a copy
            if masked and length:
                if length < _NUMPY_FROM:
                    # One integer holds the whole frame (little-endian: the header is the low
                    # bytes): shift out the key and the payload instead of slicing bytes.
                    whole = _from_bytes(raw, "little")
                    key_int = (whole >> ((hl - 4) << 3)) & 0xFFFFFFFF
                    payload = (
                        (whole >> (hl << 3)) ^ (key_int * _REPEAT[(length + 3) >> 2] & _LOW[length])
                    ).to_bytes(length, "little")
                else:
                    payload = apply_mask(memoryview(raw)[hl:], raw[hl - 4 : hl])
            else:
                payload = raw[hl:]
            offset = base + pos
            pos = end
            if opcode < 8:
                err = self._data_frame(opcode, payload, fin, hl, events, b0 & rsv1_compressed)
                if err is not None:
                    self._consume(pos, buf)
                    return self._fail(err, raw, offset, events)
                events.insert(len(events) - (1 if fin else 0), FrameReceived(raw, offset, payload))
                in_message = self._msg_opcode is not None
            else:
                err = close_payload_violation(payload, hl * 8) if opcode == 8 else None
                if err is not None:
                    self._consume(pos, buf)
                    return self._fail(err, raw, offset, events)
                append(FrameReceived(raw, offset, payload))
                if opcode == 9:
                    append(PingReceived(payload))
                    if self.state is State.OPEN:
                        self._emit(Frame(Opcode.PONG, payload), events)
                elif opcode == 10:
                    append(PongReceived(payload))
                else:
                    self._close_frame(FrameReceived(raw, offset, payload).frame, events)
                    self._buf = b""
                    self._in_offset += pos
                    return events
        self._consume(pos, buf)
        if self._buf:
            self._check_partial(self._buf, events)
        return events

    def _consume(self, pos: int, buf: bytes | bytearray) -> None:
        self._in_offset += pos
        if pos == len(buf):
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
        if opcode >= 8:
            return None
        if opcode == 0:
            if self._msg_opcode is None:
                return FramingError(
                    "continuation frame without a message to continue",
                    field="Opcode", bit_offset=4, rfc="5.4",
                )
        elif self._msg_opcode is not None:
            return FramingError(
                f"new {'text' if opcode == 1 else 'binary'} message started before the fragmented"
                " message in progress was finished (expected a continuation frame)",
                field="Opcode", bit_offset=4, rfc="5.4",
            )
        if self._msg_size + length > self.max_message_size:
            return MessageTooBig(
                f"message of at least {self._msg_size + length} bytes exceeds max_message_size={self.max_message_size}",
                field="Payload length", bit_offset=9, rfc="10.4",
            )
        return None

    def _data_frame(self, opcode: int, payload: bytes, fin: int, hl: int, events: list[Event],
                    compressed: int = 0) -> ProtocolError | None:
        """Reassemble fragments; validate UTF-8 incrementally so bad text fails at its first bad byte.

        On ``fin`` the ``MessageReceived`` is appended to ``events``. ``compressed``
        (RSV1 under permessage-deflate) marks the first frame of a compressed message.
        """
        fed = self._partial_fed
        self._partial_fed = 0
        if opcode != 0:
            self._msg_opcode = opcode
            self._msg_size = 0
            self._msg_frames = 0
            self._msg_compressed = bool(compressed)
            self._inflated = 0
            if fed:  # this text frame was already partly checked as it arrived
                self._decoder, self._msg_parts = self._partial_decoder, self._partial_parts
                self._partial_decoder, self._partial_parts = None, []
            else:
                self._msg_parts = []
                self._decoder = _Utf8Decoder() if opcode == 1 else None
        self._msg_frames += 1
        self._msg_size += len(payload)
        if self._msg_compressed:
            return self._inflate_frame(payload, opcode != 0, fin, hl, events)
        decoder = self._decoder
        if decoder is not None:
            try:
                self._msg_parts.append(decoder.decode(payload[fed:], final=bool(fin)))
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0])
                return utf8_error(exc, (hl + fed) * 8, skip=pending)
        else:
            self._msg_parts.append(payload)
        if fin:
            data = ("" if decoder is not None else b"").join(self._msg_parts)
            events.append(MessageReceived(_OPCODE[self._msg_opcode], data, self._msg_frames))
            self._msg_opcode = None
            self._msg_parts = []
            self._msg_size = 0
            self._decoder = None
        return None

    def _inflate_frame(self, payload: bytes, first: bool, fin: int, hl: int, events: list[Event]) -> ProtocolError | None:
        """One frame of a compressed message: inflate it under the size limit, then check its text."""
        assert self.deflate is not None
        before = self._inflated
        try:
            data = self.deflate.inflate(payload, first=first, fin=bool(fin), max_size=self.max_message_size - before)
        except MessageTooBig:
            return MessageTooBig(
                f"compressed message inflates past max_message_size={self.max_message_size}"
                " (stopped while inflating)",
                field="Payload", bit_offset=hl * 8, rfc="RFC 7692 section 8",
            )
        except ProtocolError as err:
            if err.bit_offset is None:
                err.bit_offset = hl * 8
            return err
        self._inflated = before + len(data)
        decoder = self._decoder
        if decoder is not None:
            try:
                self._msg_parts.append(decoder.decode(data, final=bool(fin)))
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0])
                err = utf8_error(exc, 0, skip=pending - before, what="text (once inflated)")
                err.bit_offset = hl * 8  # the bad byte is in the inflated data, not on the wire
                return err
        else:
            self._msg_parts.append(data)
        if fin:
            data = ("" if decoder is not None else b"").join(self._msg_parts)
            events.append(MessageReceived(_OPCODE[self._msg_opcode], data, self._msg_frames, self._msg_size))
            self._msg_opcode = None
            self._msg_parts = []
            self._msg_size = 0
            self._decoder = None
            self._msg_compressed = False
        return None

    def _check_partial(self, buf: bytes | bytearray, events: list[Event]) -> None:
        """Fail fast on invalid UTF-8 inside a text frame that has not fully arrived yet."""
        if len(buf) < 2 or self.state is State.CLOSED:
            return
        b0, b1 = buf[0], buf[1]
        opcode = b0 & 0x0F
        if not (opcode == 1 or (opcode == 0 and self._decoder is not None)):
            return
        if self._msg_compressed or b0 & self._rsv1_compressed:
            return  # compressed bytes: the text is checked once the frame is inflated
        len7 = b1 & 0x7F
        hl = 2 if len7 < 126 else (4 if len7 == 126 else 10)
        masked = b1 & 0x80
        if masked:
            hl += 4
        available = len(buf) - hl - self._partial_fed
        if available <= 0:
            return
        start = hl + self._partial_fed
        chunk = bytes(buf[start:])
        if masked:
            key = bytes(buf[hl - 4 : hl])
            r = self._partial_fed & 3
            chunk = apply_mask(chunk, key[r:] + key[:r])
        if opcode == 1:
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
            err = utf8_error(exc, start * 8, skip=pending)
            self._fail(err, bytes(buf), self._in_offset, events)
            return
        self._partial_fed += len(chunk)

    def _close_frame(self, frame: Frame, events: list[Event]) -> None:
        code = frame.close_code
        reason = frame.payload[2:].decode() if code is not None else ""
        self.close_received = (code, reason)
        events.append(CloseReceived(code, reason))
        if self.state is State.OPEN:
            # Echo the status code, as section 5.5.1 suggests.
            self._emit(Frame(Opcode.CLOSE, frame.payload[:2]), events)
            self.close_sent = (code, "")
            self.state = State.CLOSED
            events.append(ConnectionClosed(code if code is not None else CloseCode.NO_STATUS_RCVD, reason, "remote", True))
        else:
            self.state = State.CLOSED
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
        reason = _truncate_utf8(err.message, 123)
        if self.state is State.OPEN:
            self._emit(Frame(Opcode.CLOSE, encode_close_payload(err.close_code, reason)), events)
            self.close_sent = (err.close_code, reason)
        self.state = State.CLOSED
        self._buf = b""
        self._need = 0
        self._decoder = None
        self._msg_opcode = None
        self._msg_parts = []
        self._msg_compressed = False
        events.append(ConnectionClosed(err.close_code, reason, "local", False))
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed the transport; without a close handshake that is abnormal (1006)."""
        if self.state is State.CLOSED:
            return []
        events: list[Event] = []
        if self._buf:
            buf = bytes(self._buf)
            missing = max(self._need - len(buf), 1)
            events.append(ProtocolViolation(
                TruncatedFrame(f"stream ended {missing} byte(s) before the end of the frame", missing=missing,
                               rfc="7.1.5"),
                buf, self._in_offset,
            ))
        self.state = State.CLOSED
        self._buf = b""
        events.append(ConnectionClosed(CloseCode.ABNORMAL_CLOSURE, "", "remote", False))
        return events

    # ------------------------------------------------------------------ sending
    def _emit(self, frame: Frame, events: list) -> bytes:
        if self.role == "client" and frame.mask_key is None:
            frame = Frame._trusted(frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3,
                                   secrets.token_bytes(4))
        raw = frame.encode()
        events.append(FrameSent(frame, raw, self._out_offset))
        self._out_offset += len(raw)
        return raw

    def _send(self, frames: list[Frame]) -> bytes:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send: connection is {self.state.name}")
        sent: list[FrameSent] = []
        data = b"".join([self._emit(frame, sent) for frame in frames])
        self.last_sent = sent
        return data

    def _fragments(self, opcode: Opcode, payload: bytes, fragment_size: int | None,
                   compressed: bool = False) -> list[Frame]:
        if not fragment_size or len(payload) <= fragment_size:
            return [Frame(opcode, payload, rsv1=compressed)]
        if fragment_size < 1:
            raise ValueError("fragment_size must be positive")
        chunks = [payload[i : i + fragment_size] for i in range(0, len(payload), fragment_size)]
        last = len(chunks) - 1
        # RFC 7692 section 6: RSV1 on the first frame only.
        return [Frame(opcode if i == 0 else _CONT, c, fin=i == last, rsv1=compressed and i == 0)
                for i, c in enumerate(chunks)]

    def _send_compressed(self, opcode: Opcode, payload: bytes, fragment_size: int | None,
                         compress: bool | None) -> bytes:
        deflate = self.deflate
        if compress is None:
            compress = deflate is not None
        if not compress or deflate is None:
            if compress:
                raise ValueError("compress=True needs permessage-deflate (Connection(..., deflate=...))")
            return self._send(self._fragments(opcode, payload, fragment_size))
        # Judged before compressing: a message that is not sent must not advance the shared window.
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send: connection is {self.state.name}")
        if fragment_size is not None and fragment_size < 1:
            raise ValueError("fragment_size must be positive")
        return self._send(self._fragments(opcode, deflate.compress(payload), fragment_size, True))

    def send_text(self, text: str, *, fragment_size: int | None = None, compress: bool | None = None) -> bytes:
        """A text message, optionally in frames of ``fragment_size`` payload bytes.

        Under permessage-deflate it is compressed unless ``compress=False`` (a
        message may go uncompressed, RFC 7692 section 6); ``fragment_size`` then
        cuts the compressed bytes.
        """
        if compress is None and self.deflate is None:
            return self._send(self._fragments(_TEXT, text.encode(), fragment_size))
        return self._send_compressed(_TEXT, text.encode(), fragment_size, compress)

    def send_binary(self, data: bytes, *, fragment_size: int | None = None, compress: bool | None = None) -> bytes:
        """A binary message; see ``send_text`` for ``fragment_size`` and ``compress``."""
        if compress is None and self.deflate is None:
            return self._send(self._fragments(_BINARY, bytes(data), fragment_size))
        return self._send_compressed(_BINARY, bytes(data), fragment_size, compress)

    def send_ping(self, payload: bytes = b"") -> bytes:
        if len(payload) > 125:
            raise ValueError("ping payload must be 125 bytes or less (section 5.5)")
        return self._send([Frame(Opcode.PING, payload)])

    def send_pong(self, payload: bytes = b"") -> bytes:
        if len(payload) > 125:
            raise ValueError("pong payload must be 125 bytes or less (section 5.5)")
        return self._send([Frame(Opcode.PONG, payload)])

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> bytes:
        """Start the close handshake; the state becomes CLOSING until the peer answers."""
        if code is not None and not close_code_allowed(code):
            raise ValueError(f"close code {code} may not be sent (section 7.4)")
        if len(reason.encode()) > 123:
            raise ValueError("close reason must be 123 bytes or less in UTF-8 (section 5.5)")
        data = self._send([Frame(Opcode.CLOSE, encode_close_payload(code, reason))])
        self.close_sent = (code, reason)
        self.state = State.CLOSING
        return data

    def send_frame(self, frame: Frame) -> bytes:
        """Send ``frame`` exactly as built, even an invalid one (to see how a peer reacts).

        A client frame without a key is still masked with a fresh one; a close
        frame moves the state to CLOSING.
        """
        data = self._send([frame])
        if frame.opcode == Opcode.CLOSE:
            self.close_sent = (frame.close_code, frame.close_reason)
            self.state = State.CLOSING
        return data
