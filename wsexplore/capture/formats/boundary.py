"""Where does a WebSocket frame start, in bytes picked up in the middle of a stream?

A capture that began after the handshake, or lost a segment, leaves a reader
inside some frame. Any byte could be the first of a header; what proves one
is a chain: from that byte, header after header breaks no rule of RFC 6455
section 5.2 (the masking a sender must use, RSV bits, known opcodes, short
unfragmented control frames, the fewest length bytes), each frame ending
exactly where the next valid header begins. A candidate is *proved* when its
chain

* holds ``CHAIN_ON_SEGMENT`` frames and the last one ends exactly where a TCP
  segment ended (senders write whole frames, so segment ends fall on frame
  ends), or
* holds ``CHAIN_ANYWHERE`` frames, wherever it ends, or
* tiles the bytes exactly up to the end of a stream that is over.

Candidates are judged from the first byte on and the first one proved wins;
a candidate that needs more bytes to be judged holds the later ones back, so
that a frame still arriving is not skipped for a lucky match in its payload.
A chain in random bytes is unlikely: a header passes the rules about one time
in thirty, and the chain must also land on the next header exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ...protocol.header import LENGTH_MASK, MASK_MASK, MAX_7BIT, header_length, payload_length
from ...protocol.rules import header_violation

__all__ = ["Proof", "find_boundary", "CHAIN_ON_SEGMENT", "CHAIN_ANYWHERE"]

#: Frames a chain needs when its last frame ends on a segment boundary.
CHAIN_ON_SEGMENT = 3
#: Frames a chain needs wherever it ends.
CHAIN_ANYWHERE = 6

Masking = Literal["masked", "unmasked", "either"]


@dataclass(frozen=True, slots=True)
class Proof:
    """A proved frame boundary at ``offset`` (into the bytes searched), by ``frames`` frames.

    ``masked`` says how the chain's frames were sent: masked frames come from a client.
    ``rsv1`` is True when a frame of the chain had RSV1 set (compressed, RFC 7692).
    """

    offset: int
    frames: int
    masked: bool
    rsv1: bool


def find_boundary(data: bytes | bytearray, start: int = 0, *, segment_ends: Sequence[int] = (),
                  ended: bool = False, masking: Masking = "either", rsv_allowed: int = 0,
                  max_frame: int = 16 * 1024 * 1024) -> tuple[Proof | None, int]:
    """The first proved boundary at or after ``start``, and where a later search must resume.

    Returns ``(proof, resume)``: ``proof`` is None while no candidate is proved;
    ``resume`` is the first candidate not yet rejected (every candidate before
    it can never be proved, whatever bytes come later). ``segment_ends`` are
    the offsets in ``data`` where captured segments ended; ``ended`` says no
    more bytes will come. A candidate whose chain would need a frame larger
    than ``max_frame`` is rejected (the reader could not hold it).
    """
    ends = frozenset(segment_ends)
    n = len(data)
    pos = start
    while pos < n - 1:
        verdict, proof = _judge(data, pos, n, ends, ended, masking, rsv_allowed, max_frame)
        if verdict == _PROVED:
            return proof, pos
        if verdict == _UNDECIDED:
            return None, pos
        pos += 1
    if ended:
        return None, n
    return None, pos


_REJECTED, _UNDECIDED, _PROVED = 0, 1, 2


def _judge(data: bytes | bytearray, pos: int, n: int, ends: frozenset[int], ended: bool, masking: Masking,
           rsv_allowed: int, max_frame: int) -> tuple[int, Proof | None]:
    """Walk the chain of headers from ``pos``: rejected, undecided (needs more bytes) or proved."""
    frames = 0
    masked: bool | None = None if masking == "either" else masking == "masked"
    rsv1 = False
    first = pos
    while True:
        if n - pos < 2:
            if pos == n and frames and ended:
                return _PROVED, Proof(first, frames, bool(masked), rsv1)
            return (_REJECTED if ended else _UNDECIDED), None
        b0, b1 = data[pos], data[pos + 1]
        frame_masked = bool(b1 & MASK_MASK)
        if masked is None:
            masked = frame_masked
        elif frame_masked != masked:
            return _REJECTED, None
        role = "server" if masked else "client"  # the side that reads such frames
        len7 = b1 & LENGTH_MASK
        length: int | None = len7
        if len7 > MAX_7BIT:
            length = payload_length(data, pos)
            if length is None:
                return (_REJECTED if ended else _UNDECIDED), None
        if header_violation(b0, b1, length, role=role, rsv_allowed=rsv_allowed) is not None:
            return _REJECTED, None
        size = header_length(b1) + length  # type: ignore[operator]
        if size > max_frame:
            return _REJECTED, None
        rsv1 = rsv1 or bool(b0 & 0x40)
        pos += size
        frames += 1
        if pos > n:
            return (_REJECTED if ended else _UNDECIDED), None
        if frames >= CHAIN_ANYWHERE or (frames >= CHAIN_ON_SEGMENT and pos in ends):
            return _PROVED, Proof(first, frames, masked, rsv1)
        if pos == n and ended:
            return _PROVED, Proof(first, frames, masked, rsv1)
