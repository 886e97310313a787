"""What a ``Connection`` reports: small frozen values, one per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

from .buffers import join_bytes
from .errors import ProtocolError
from .frames import Frame, join_frame, split_frame
from .opcodes import Opcode

__all__ = [
    "Event",
    "FrameReceived",
    "FrameSent",
    "MessageReceived",
    "PingReceived",
    "PongReceived",
    "CloseReceived",
    "ProtocolViolation",
    "ConnectionClosed",
]

_new = object.__new__


class FrameReceived:
    """A complete, valid frame; ``raw`` is exactly what came off the wire at ``offset``.

    The ``Frame`` is built from ``raw`` on first access: a busy connection
    reports thousands of frames a second and most are never looked at one by
    one. A large masked frame whose payload was unmasked as its reads arrived
    (``Connection``, see ``unmasking``) is kept as ``_header`` and payload, and
    its ``raw`` is made again on first access. Treat instances as read-only.
    """

    __slots__ = ("raw", "offset", "_payload", "_frame", "_header")

    def __init__(self, raw: bytes, offset: int, payload: bytes | None = None) -> None:
        self.raw = raw
        self.offset = offset
        self._payload = payload  # the unmasked payload, when the parser has it already
        self._header = None

    @classmethod
    def split(cls, header: bytes, offset: int, payload: bytes) -> FrameReceived:
        """The frame of a whole ``header`` (masking key included) and its unmasked ``payload``."""
        event = _new(cls)
        event.offset = offset
        event._payload = payload
        event._header = header
        return event

    def __getattr__(self, name: str) -> bytes:
        # Called only for a slot never set: the raw bytes of a frame kept as header and payload.
        if name != "raw":
            raise AttributeError(name)
        header = self._header
        if header is None:
            raise AttributeError(name)
        raw = self.raw = join_frame(header, self._payload)  # type: ignore[arg-type]
        return raw

    @property
    def frame(self) -> Frame:
        try:
            return self._frame
        except AttributeError:  # first access: the slot is still empty
            header = self._header
            if header is None:
                frame = self._frame = Frame.decode(self.raw, payload=self._payload)
            else:
                frame = self._frame = split_frame(header, self._payload)  # type: ignore[arg-type]
            return frame

    @property
    def size(self) -> int:
        """Bytes on the wire, without making a frame kept as header and payload whole again."""
        header = self._header
        return len(self.raw) if header is None else len(header) + len(self._payload)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        return type(other) is FrameReceived and (self.raw, self.offset) == (other.raw, other.offset)

    def __hash__(self) -> int:
        return hash((self.raw, self.offset))

    def __repr__(self) -> str:
        return f"FrameReceived(frame={self.frame!r}, raw={self.raw!r}, offset={self.offset})"


class FrameSent:
    """A frame this side produced (an explicit send or an automatic reply); ``raw`` is exactly what went
    on the wire at ``offset``.

    A large unmasked frame goes out as two chunks, ``_header`` and the payload object itself, so that
    the payload is never copied behind its header (``Connection.send_message``); its ``raw`` is joined
    on first access. A server's uncompressed message of one frame below 256 KiB is sent as its raw
    bytes and payload: its ``frame`` is made from them on first access. Treat instances as read-only.
    """

    __slots__ = ("frame", "raw", "offset", "_header", "_payload")

    def __init__(self, frame: Frame | None, raw: bytes | None, offset: int, header: bytes | None = None,
                 payload: bytes | None = None) -> None:
        if frame is not None:
            self.frame = frame
        elif raw is None or payload is None:
            raise ValueError("a FrameSent without its frame needs its raw bytes and its payload")
        self._payload = payload  # the payload ``frame`` is made with from ``raw`` when first asked for
        self.offset = offset
        self._header = header  # set only when the frame was sent as header and payload
        if raw is not None:
            self.raw = raw
        elif header is None:
            raise ValueError("a FrameSent needs its raw bytes or its header")

    def __getattr__(self, name: str) -> Any:
        # Called only for a slot never set: the raw bytes of a frame sent as header and payload, or
        # the frame of one sent as its raw bytes alone.
        if name == "frame":
            frame = self.frame = Frame.decode(self.raw, payload=self._payload)  # the very payload sent
            return frame
        if name != "raw":
            raise AttributeError(name)  # before any look at a slot, which could be unset as well (a copy)
        header = self._header
        if header is None:
            raise AttributeError(name)
        payload = self.frame.payload
        raw = self.raw = join_bytes([header, payload], len(header) + len(payload))
        return raw

    @property
    def size(self) -> int:
        """Bytes on the wire, without joining a frame sent as header and payload."""
        header = self._header
        return len(self.raw) if header is None else len(header) + len(self.frame.payload)

    def __eq__(self, other: object) -> bool:
        return type(other) is FrameSent and (self.frame, self.offset, self.raw) == (other.frame, other.offset,
                                                                                    other.raw)

    def __hash__(self) -> int:
        return hash((self.frame, self.raw, self.offset))

    def __repr__(self) -> str:
        return f"FrameSent(frame={self.frame!r}, raw={self.raw!r}, offset={self.offset})"


@dataclass(slots=True, repr=False)
class MessageReceived:
    """A whole message, reassembled from ``frames`` frames (text is already validated UTF-8).

    For a message compressed with permessage-deflate (RFC 7692), ``data`` is
    the inflated message and ``compressed_size`` the payload bytes its frames
    carried; it is None for a message sent uncompressed.

    Not frozen only because a frozen dataclass costs a third more to build on
    the hot path; treat instances as read-only.
    """

    opcode: Opcode
    data: str | bytes
    frames: int = 1
    compressed_size: int | None = None

    @property
    def is_text(self) -> bool:
        return self.opcode == Opcode.TEXT

    @property
    def compressed(self) -> bool:
        return self.compressed_size is not None

    def __repr__(self) -> str:
        deflated = "" if self.compressed_size is None else f", compressed_size={self.compressed_size}"
        return f"MessageReceived(opcode={self.opcode!r}, data={self.data!r}, frames={self.frames!r}{deflated})"


@dataclass(frozen=True, slots=True)
class PingReceived:
    payload: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame; ``code`` is None for an empty close body (1005 on the API side)."""

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke a rule; the connection fails with ``error.close_code``.

    ``raw`` holds the bytes of the offending frame as far as they had arrived.
    """

    error: ProtocolError
    raw: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The WebSocket connection is closed: the transport may be closed now.

    ``initiator`` is the side that sent the first close frame (or failed the
    connection); ``clean`` is True when both close frames were exchanged.
    """

    code: int
    reason: str
    initiator: Literal["local", "remote"]
    clean: bool


Event = Union[
    FrameReceived, FrameSent, MessageReceived, PingReceived, PongReceived,
    CloseReceived, ProtocolViolation, ConnectionClosed,
]
