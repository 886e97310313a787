"""Client-to-server masking (RFC 6455 section 5.3): payload byte i XOR key byte i % 4.

Where the optional C extension was built (``_speedups.c``, compiled on install when
a C compiler is there; ``ACCELERATED`` says), every size takes one pass in C into a
new ``bytes`` object, 16 bytes at a time: a call costs what a C call costs, and
large payloads run at memory speed. Its fresh memory is mapped in at once from
``buffers.LARGE_FROM`` bytes on, as ``prefault`` does. Without it, four strategies,
picked by size, each returning a new ``bytes`` object:

* below ``_BITS_FROM`` bytes a single big-integer XOR (any library call's fixed
  cost dominates there);
* up to ``_NUMPY_FROM`` bitarray's XOR (C, a machine word at a time) against the
  key repeated to the payload's length: at these sizes a call's fixed costs are
  most of its time, and bitarray's are about half of NumPy's;
* up to ``_FILL_FROM`` NumPy's vectorised XOR on 64-bit words, copied out with
  ``tobytes()``: two small allocations that the allocator serves from memory it
  already holds;
* from ``_FILL_FROM`` on, NumPy XORs straight into the new ``bytes`` object
  (:func:`.buffers.new_bytes`): one allocation and one pass over the data, as
  a C extension does. A second, transient copy of a large payload is what made the
  ``tobytes()`` path slow: the C library hands large blocks back to the system
  when they are freed, so every call paid page faults for fresh memory.

The thresholds are measured by ``make bench`` (group "mask", with a new payload
for every call). ``unmask_frame`` is the connection's way in: it takes a whole
frame as it came off the wire. ``mask_frame`` builds a masked frame's bytes in
one piece (the sending side).
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
from bitarray import bitarray as _bitarray

from .buffers import new_bytes as _new_bytes
from .header import MASK_KEY_BYTES

#: Set to 1 to leave the C extension out (before the first import): the strategies below then serve.
NO_SPEEDUPS = "WSEXPLORE_NO_SPEEDUPS"

_c_apply_mask = _c_mask_into = c_unmask_frame = c_unmask_into = None
if os.environ.get(NO_SPEEDUPS, "") in ("", "0"):
    try:
        from ._speedups import apply_mask as _c_apply_mask
        from ._speedups import mask_into as _c_mask_into
        from ._speedups import unmask_frame as c_unmask_frame
        from ._speedups import unmask_into as c_unmask_into
    except ImportError:  # not built (no C compiler at install)
        pass

__all__ = ["ACCELERATED", "NO_SPEEDUPS", "apply_mask", "c_unmask_frame", "c_unmask_into", "mask_frame", "mask_small",
           "unmask_frame"]

#: Whether masking runs in C (the ``_speedups`` extension was built and imported).
ACCELERATED = _c_apply_mask is not None

Buffer = Union[bytes, bytearray, memoryview]

_BITS_FROM = 576  # bytes; measured crossover of the big-integer and bitarray strategies (make bench)
_NUMPY_FROM = 32 * 1024  # bytes; measured crossover of the bitarray and NumPy strategies (make bench)
_FILL_FROM = 96 * 1024  # bytes; from here on NumPy writes into the new bytes object itself (make bench)
_from_bytes = int.from_bytes
# The key repeated q times is key * _REPEAT[q]; _LOW[n] keeps its low n bytes.
_TABLE = 1024  # bytes covered by the tables (about 0.5 MB of ints)
_REPEAT = [sum(1 << (32 * i) for i in range(q)) for q in range(_TABLE // 4 + 1)]
_LOW = [(1 << (8 * n)) - 1 for n in range(_TABLE + 1)]
_KEY_BITS = 8 * MASK_KEY_BYTES
_KEY_INT = (1 << _KEY_BITS) - 1
_U64 = np.uint64
_U8 = np.uint8
_xor = np.bitwise_xor
_frombuffer = np.frombuffer
_BLOCK = 256 * 1024  # bytes copied, then XORed in place, at a time (well inside a core's cache)


def _xor_words(src: np.ndarray, key: bytes, out: np.ndarray) -> None:
    """``out = src XOR key`` over uint8 arrays of the same length, starting at key byte 0.

    Whole 64-bit words go through NumPy's XOR; the 1 to 7 bytes left over take the
    key where the words stop (a multiple of 8 keeps the key's phase). A source that
    does not start on an 8-byte boundary (a payload after a 6- or 14-byte header)
    would send NumPy through its slow unaligned path: it is copied block by block
    into the aligned output instead (a plain copy has no alignment needs) and XORed
    there in place while the block is still in the cache.
    """
    n = src.shape[0]
    words = n & ~7
    key8 = key * 2
    if words:
        k64 = _U64(_from_bytes(key8, "little"))
        src64, out64 = src[:words].view(_U64), out[:words].view(_U64)
        if src64.flags.aligned or not out64.flags.aligned:
            np.bitwise_xor(src64, k64, out=out64)
        else:
            for start in range(0, words, _BLOCK):
                stop = min(start + _BLOCK, words)
                out[start:stop] = src[start:stop]
                block = out64[start >> 3 : stop >> 3]
                np.bitwise_xor(block, k64, out=block)
    if n > words:
        np.bitwise_xor(src[words:], np.frombuffer(key8, _U8, n - words), out=out[words:])


# ---------------------------------------------------------------------------- the strategies
def mask_small(data: Buffer, key: bytes, n: int) -> bytes:
    """``apply_mask``'s big-integer strategy, without its checks: ``n`` is ``len(data)``, more than 0.

    Beyond ``_TABLE`` bytes (only when the crossover is moved, as ``make bench`` does
    to measure it) the repeated key is built as bytes instead of read from the tables.
    """
    if n > _TABLE:
        return (_from_bytes(data, "little") ^ _from_bytes((key * ((n >> 2) + 1))[:n], "little")).to_bytes(n, "little")
    return (
        _from_bytes(data, "little") ^ (_from_bytes(key, "little") * _REPEAT[(n + 3) >> 2] & _LOW[n])
    ).to_bytes(n, "little")


def _mask_bits(data: Buffer, key: bytes, n: int) -> bytes:
    """The bitarray strategy: the key repeated to ``n`` bytes in a new bitarray, ``data`` XORed into it, copied out.

    Both bitarrays take the default bit order, so the XOR is a plain byte-wise one; ``data``
    is read in place (a read-only buffer is fine).
    """
    bits = _bitarray()
    bits.frombytes(key * ((n + 3) >> 2))
    del bits[n << 3 :]
    bits ^= _bitarray(buffer=data)
    return bits.tobytes()


def _mask_numpy(data: Buffer, key: bytes, n: int) -> bytes:
    """The NumPy strategy: XOR into a temporary array, copied out (mid sizes).

    The key goes in as a one-word array, broadcast: NumPy takes that faster than a uint64
    scalar, whose conversion took 10-25% of a call at 1-16 KiB (timed by hand, new payloads).
    """
    words = n >> 3
    key8 = key * 2
    tail = n & 7
    if not tail:
        return _xor(_frombuffer(data, _U64, words), _frombuffer(key8, _U64)).tobytes()
    # The 1 to 7 bytes left over go into one more word (the tail starts at a multiple of 8, so the
    # key phase is unchanged), and the result is copied out once.
    out = np.empty(words + 1, _U64)
    _xor(_frombuffer(data, _U64, words), _frombuffer(key8, _U64), out=out[:words])
    out[words] = _from_bytes(data[n - tail :], "little") ^ (_from_bytes(key8, "little") & _LOW[tail])
    return out.view(_U8)[:n].tobytes()


def _mask_filling(data: Buffer, key: bytes, n: int) -> bytes:
    """The large-size strategy: XOR straight into the new bytes object (one allocation, one pass)."""
    if _new_bytes is None:  # no C API to fill a bytes object: a bytearray, then one copy
        buf = bytearray(n)
        _xor_words(np.frombuffer(data, _U8, n), key, np.frombuffer(buf, _U8))
        return bytes(buf)
    out, view = _new_bytes(n)
    _xor_words(np.frombuffer(data, _U8, n), key, view)
    return out


def apply_mask(data: Buffer, key: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``key`` (the operation is its own inverse)."""
    if _c_apply_mask is not None:
        return _c_apply_mask(data, key)  # checks the key's length as below
    if len(key) != MASK_KEY_BYTES:
        raise ValueError(f"masking key must be 4 bytes, got {len(key)}")
    n = len(data)
    if n < _BITS_FROM:
        if not n:
            return b""
        return mask_small(data, key, n)
    if n < _NUMPY_FROM:
        return _mask_bits(data, key, n)
    if n < _FILL_FROM:
        return _mask_numpy(data, key, n)
    return _mask_filling(data, key, n)


def unmask_frame(frame: bytes, header_length: int, length: int) -> bytes:
    """The payload of ``frame``, a whole masked frame whose header (masking key included) is ``header_length`` bytes.

    A small frame is read as one little-endian integer, header in its low bytes: the key
    and the payload are shifted out of it rather than sliced, which is what makes the
    connection's receive loop fast. ``length`` is the payload length, more than 0.
    """
    if c_unmask_frame is not None:
        return c_unmask_frame(frame, header_length, length)
    if length < _BITS_FROM:
        whole = _from_bytes(frame, "little")
        shift = header_length << 3
        key = (whole >> (shift - _KEY_BITS)) & _KEY_INT
        return ((whole >> shift) ^ (key * _REPEAT[(length + 3) >> 2] & _LOW[length])).to_bytes(length, "little")
    key = frame[header_length - MASK_KEY_BYTES : header_length]
    if length < _NUMPY_FROM:
        return _mask_bits(memoryview(frame)[header_length:], key, length)
    return apply_mask(memoryview(frame)[header_length:], key)


def mask_frame(head: bytes, key: bytes, payload: Buffer) -> bytes:
    """``head + key + apply_mask(payload, key)``: a masked frame's bytes, built without copying a large payload twice.

    ``head`` is the frame's header up to the masking key (section 5.2).
    """
    n = len(payload)
    if n < _FILL_FROM or _new_bytes is None:
        return head + key + apply_mask(payload, key)
    if len(key) != MASK_KEY_BYTES:
        raise ValueError(f"masking key must be 4 bytes, got {len(key)}")
    start = len(head) + MASK_KEY_BYTES
    out, view = _new_bytes(start + n)
    view[:start] = np.frombuffer(head + key, _U8)
    if _c_mask_into is not None:
        _c_mask_into(payload, key, view[start:])
    else:
        _xor_words(np.frombuffer(payload, _U8, n), key, view[start:])
    return out
