"""Client-to-server masking (RFC 6455 section 5.3): payload byte i XOR key byte i % 4.

Two strategies, picked by size: a single big-integer XOR wins below a few hundred
bytes (NumPy's per-call overhead dominates there), NumPy's vectorised XOR on
64-bit words wins above it (memory bandwidth).
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_mask"]

_NUMPY_FROM = 512  # bytes; measured crossover of the two strategies (make bench)
_from_bytes = int.from_bytes


def apply_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key`` (the operation is its own inverse)."""
    if len(key) != 4:
        raise ValueError(f"masking key must be 4 bytes, got {len(key)}")
    n = len(data)
    if n < _NUMPY_FROM:
        if not n:
            return b""
        return (
            _from_bytes(data, "little") ^ _from_bytes((key * ((n >> 2) + 1))[:n], "little")
        ).to_bytes(n, "little")
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
