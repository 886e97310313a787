"""Client-to-server masking (RFC 6455 section 5.3): payload byte i XOR key byte i % 4.

Two strategies, picked by size: a single big-integer XOR wins below a few hundred
bytes (NumPy's per-call overhead dominates there), NumPy's vectorised XOR on
64-bit words wins above it (memory bandwidth). ``unmask_frame`` is the
connection's way in: it takes a whole frame as it came off the wire.
"""

from __future__ import annotations

import numpy as np

from .header import MASK_KEY_BYTES

__all__ = ["apply_mask", "mask_small", "unmask_frame"]

_NUMPY_FROM = 928  # bytes; measured crossover of the two strategies (make bench)
_from_bytes = int.from_bytes
# The key repeated q times is key * _REPEAT[q]; _LOW[n] keeps its low n bytes.
_TABLE = 1024  # bytes covered by the tables (about 0.5 MB of ints)
_REPEAT = [sum(1 << (32 * i) for i in range(q)) for q in range(_TABLE // 4 + 1)]
_LOW = [(1 << (8 * n)) - 1 for n in range(_TABLE + 1)]
_KEY_BITS = 8 * MASK_KEY_BYTES
_KEY_INT = (1 << _KEY_BITS) - 1


def mask_small(data: bytes, key: bytes, n: int) -> bytes:
    """``apply_mask``'s big-integer strategy, without its checks: ``n`` is ``len(data)``, more than 0.

    Beyond ``_TABLE`` bytes (only when the crossover is moved, as ``make bench`` does
    to measure it) the repeated key is built as bytes instead of read from the tables.
    """
    if n > _TABLE:
        return (_from_bytes(data, "little") ^ _from_bytes((key * ((n >> 2) + 1))[:n], "little")).to_bytes(n, "little")
    return (
        _from_bytes(data, "little") ^ (_from_bytes(key, "little") * _REPEAT[(n + 3) >> 2] & _LOW[n])
    ).to_bytes(n, "little")


def unmask_frame(frame: bytes, header_length: int, length: int) -> bytes:
    """The payload of ``frame``, a whole masked frame whose header (masking key included) is ``header_length`` bytes.

    A small frame is read as one little-endian integer, header in its low bytes: the key
    and the payload are shifted out of it rather than sliced, which is what makes the
    connection's receive loop fast. ``length`` is the payload length, more than 0.
    """
    if length < _NUMPY_FROM:
        whole = _from_bytes(frame, "little")
        shift = header_length << 3
        key = (whole >> (shift - _KEY_BITS)) & _KEY_INT
        return ((whole >> shift) ^ (key * _REPEAT[(length + 3) >> 2] & _LOW[length])).to_bytes(length, "little")
    return apply_mask(memoryview(frame)[header_length:], frame[header_length - MASK_KEY_BYTES : header_length])


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key`` (the operation is its own inverse)."""
    if len(key) != MASK_KEY_BYTES:
        raise ValueError(f"masking key must be 4 bytes, got {len(key)}")
    n = len(data)
    if n < _NUMPY_FROM:
        if not n:
            return b""
        return mask_small(data, key, n)
    words = n >> 3
    k64 = np.frombuffer(key * 2, dtype=np.uint64)[0]
    out = (np.frombuffer(data, dtype=np.uint64, count=words) ^ k64).tobytes()
    tail = n & 7
    if tail:
        # The tail starts at a multiple of 8, so the key phase is unchanged.
        start = n - tail
        out += (
            _from_bytes(bytes(data[start:]), "little") ^ _from_bytes(key[:tail] if tail <= 4 else (key * 2)[:tail], "little")
        ).to_bytes(tail, "little")
    return out
