"""Cut a byte stream into frames as it arrives, one frame at a time, in bounded memory.

A frame's header says how long it is (RFC 6455 section 5.2): that is all this
module reads. It does not judge anything (``dissect`` and ``judge`` do, on each
piece it yields), so a frame whose header breaks a rule is still cut at the
length it announces, exactly as ``dissect_stream`` advances.

Memory stays bounded by the largest frame kept, not by the input: a frame
whose payload is longer than ``max_payload`` is kept only as far as its header
and its first ``max_payload`` payload bytes; the rest is read and passed over.
"""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

from .header import LENGTH_MASK, extended_length_bytes, header_length, payload_length

__all__ = ["FramePiece", "split_frames"]


class FramePiece(NamedTuple):
    """One frame cut from a stream.

    ``offset`` is where it starts in the stream; ``data`` its bytes: the whole
    frame, or what the stream holds of it when the stream ends inside it, or the
    header and first ``max_payload`` payload bytes of a longer frame. ``size`` is
    the frame's whole size once its header says it (None when the stream ends
    inside the header); ``skipped`` counts the bytes of a long frame passed over.
    """

    offset: int
    data: bytes
    size: int | None
    skipped: int = 0

    @property
    def cut(self) -> bool:
        """Bytes of this frame were passed over: it was longer than ``max_payload``."""
        return self.skipped > 0

    @property
    def ended_early(self) -> int:
        """Bytes the stream ends before the end of this frame (0 when the frame is all there)."""
        if self.size is None:
            return 1  # at least one: the header is not whole
        return self.size - len(self.data) - self.skipped


def split_frames(chunks: Iterable[bytes | bytearray | memoryview], *, max_payload: int) -> Iterator[FramePiece]:
    """The frames of the stream that ``chunks`` make up, in order, each as soon as its bytes are there.

    The last piece may be a frame the stream ends inside (``ended_early``).
    """
    if max_payload < 0:
        raise ValueError(f"max_payload must be 0 or more, got {max_payload}")
    buf = b""  # what is left of the previous chunks
    base = 0  # stream offset of buf[0]
    long_frame: tuple[int, bytes, int] | None = None  # (offset, kept bytes, whole size) of a frame being passed over
    to_skip = 0
    for chunk in chunks:
        if not chunk:
            continue
        if to_skip:  # inside a long frame: pass its bytes over
            if len(chunk) <= to_skip:
                to_skip -= len(chunk)
                base += len(chunk)
                if not to_skip:
                    assert long_frame is not None
                    yield _passed_over(long_frame)
                    long_frame = None
                continue
            chunk = memoryview(chunk)[to_skip:]
            base += to_skip
            to_skip = 0
            assert long_frame is not None
            yield _passed_over(long_frame)
            long_frame = None
        buf = buf + chunk if buf else bytes(chunk)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            len7 = buf[pos + 1] & LENGTH_MASK
            if n - pos < 2 + extended_length_bytes(len7):
                break
            length = payload_length(buf, pos)
            assert length is not None
            size = header_length(buf[pos + 1]) + length
            if length > max_payload:
                keep = size - length + max_payload
                if n - pos < keep:
                    break
                long_frame = (base + pos, buf[pos : pos + keep], size)
                left = n - pos - keep
                if left >= size - keep:  # the whole frame is in this chunk
                    pos += size
                    yield _passed_over(long_frame)
                    long_frame = None
                    continue
                to_skip = size - keep - left
                pos = n
                break
            if n - pos < size:
                break
            yield FramePiece(base + pos, buf[pos : pos + size], size)
            pos += size
        base += pos
        buf = buf[pos:] if pos < n else b""
    if long_frame is not None:  # the stream ended inside a long frame
        offset, kept, size = long_frame
        yield FramePiece(offset, kept, size, base - offset - len(kept))
    elif buf:
        yield FramePiece(base, buf, _size(buf))


def _passed_over(long_frame: tuple[int, bytes, int]) -> FramePiece:
    offset, kept, size = long_frame
    return FramePiece(offset, kept, size, size - len(kept))


def _size(data: bytes) -> int | None:
    """The whole size of the frame at the start of ``data``, once the header says it."""
    length = payload_length(data)
    return None if length is None else header_length(data[1]) + length
