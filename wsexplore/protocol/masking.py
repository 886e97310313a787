"""Client-to-server masking (RFC 6455 section 5.3): payload byte i XOR key byte i % 4.

Two strategies, picked by size: a single big-integer XOR wins below a few hundred
bytes (NumPy's per-call overhead dominates there), NumPy's vectorised XOR on
64-bit words wins above it (memory bandwidth).
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_mask", "mask_small"]

_NUMPY_FROM = 928  # bytes; measured crossover of the two strategies (make bench)
_from_bytes = int.from_bytes
# The key repeated q times is key * _REPEAT[q]; _LOW[n] keeps its low n bytes.
_TABLE = 1024  # bytes covered by the tables (about 0.5 MB of ints)
_REPEAT = [sum(1 << (32 * i) for i in range(q)) for q in range(_TABLE // 4 + 1)]
_LOW = [(1 << (8 * n)) - 1 for n in range(_TABLE + 1)]


def mask_small(data: bytes, key: bytes, n: int) -> bytes:
    """``apply_mask`` for 0 < n <= 1024, without the checks (hot path of the connection)."""
    if n > _TABLE:
        return (_from_bytes(data, "little") ^ _from_bytes((key * ((n >> 2) + 1))[:n], "little")).to_bytes(n, "little")
    return (
        _from_bytes(data, "little") ^ (_from_bytes(key, "little") * _REPEAT[(n + 3) >> 2] & _LOW[n])
    ).to_bytes(n, "little")


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key`` (the operation is its own inverse)."""
    if len(key) != 4:
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
