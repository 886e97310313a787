"""New ``bytes`` objects for large payloads and frames, filled in place, their fresh memory mapped in at once.

A payload that a capture keeps grows the process by its size, so one of the large
objects each large frame needs (the frame gathered from its reads, its unmasked
payload, a frame built to send) lands on memory the process never touched, and
which of them does depends on the allocator's free blocks. Writing fresh memory
takes a page fault per 4 KiB page; every large object made here is prefaulted
first (:mod:`.prefault`), so that the one that lands there pays one system call
instead. Below ``LARGE_FROM`` bytes objects are made as Python makes them.
"""

from __future__ import annotations

import ctypes
from typing import Callable

import numpy as np

from .prefault import prefault

__all__ = ["LARGE_FROM", "new_bytes", "join_bytes", "copy_payload"]

#: From this size on, the objects made here are prefaulted. Checking costs a system call (2-3 µs on a
#: virtual machine), a few percent of filling 256 KiB; a fresh 1 MiB saves 200 µs (see ``prefault``).
LARGE_FROM = 256 * 1024


class _Filling:
    """The memory of a new ``bytes`` object as a NumPy array (``__array_interface__``), owning the object."""

    __slots__ = ("__array_interface__", "owner")


def _c_api() -> tuple[Callable[[None, int], bytes], Callable[[bytes], int]] | None:
    """CPython's ``PyBytes_FromStringAndSize`` and ``PyBytes_AsString``, or None (not CPython)."""
    try:
        api = ctypes.pythonapi
        # Prototypes of our own (the ones on ctypes.pythonapi are shared by every user in the process).
        # A py_object result is a new reference, which ctypes takes over.
        new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)(
            ("PyBytes_FromStringAndSize", api))
        address = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(("PyBytes_AsString", api))
    except (AttributeError, OSError):
        return None
    return new, address


_api = _c_api()
_memmove = ctypes.memmove


def _allocate(n: int) -> tuple[bytes, int]:
    """A new bytes object of ``n`` bytes that the caller fills before anyone else sees it, and its address.

    ``PyBytes_FromStringAndSize(NULL, n)``: the contract every C extension builds its results with.
    """
    new, address = _api  # type: ignore[misc]
    out = new(None, n)
    start = address(out)
    if n >= LARGE_FROM:
        prefault(start, n)
    return out, start


def _new_bytes(n: int) -> tuple[bytes, np.ndarray]:
    out, start = _allocate(n)
    holder = _Filling()
    holder.owner = out  # the array's base keeps the object alive
    holder.__array_interface__ = {"data": (start, False), "shape": (n,), "typestr": "|u1", "version": 3}
    return out, np.asarray(holder)


#: ``new_bytes(n)``: a new bytes object of ``n`` bytes and a writable uint8 array over its memory, to be
#: filled before the object is handed to anyone; None where there is no C API to make one (not CPython).
new_bytes: Callable[[int], tuple[bytes, np.ndarray]] | None = _new_bytes if _api is not None else None


def join_bytes(parts: list[bytes | bytearray | memoryview], size: int) -> bytes:
    """The first ``size`` bytes of ``parts`` end to end: ``b"".join(parts)``, the last part cut at ``size``."""
    if size < LARGE_FROM or _api is None:
        over = sum(map(len, parts)) - size
        if over:
            parts = parts[:-1] + [memoryview(parts[-1])[: len(parts[-1]) - over]]  # type: ignore[list-item]
        return b"".join(parts)
    out, at = _allocate(size)
    left = size
    for part in parts:
        n = min(len(part), left)
        _memmove(at, part if type(part) is bytes else bytes(part[:n]), n)
        at += n
        left -= n
    if left:
        raise ValueError(f"join_bytes: the parts hold {size - left} bytes, not {size}")
    return out


def copy_payload(frame: bytes, header_length: int) -> bytes:
    """``frame[header_length:]``, the payload of a whole frame that is not masked, as a new object."""
    n = len(frame) - header_length
    if n < LARGE_FROM or _api is None or type(frame) is not bytes:
        return frame[header_length:]
    out, at = _allocate(n)
    _memmove(at, _api[1](frame) + header_length, n)
    return out
