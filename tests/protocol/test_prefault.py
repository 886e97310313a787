"""Prefaulting a large new buffer: its pages are mapped in at once, its bytes untouched."""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from wsexplore.protocol import buffers, prefault

PAGE = mmap.PAGESIZE
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise and mincore as Linux has them")


@contextmanager
def fresh(pages: int) -> Iterator[tuple[mmap.mmap, int]]:
    """Private anonymous memory that nothing has touched yet, and its address; unmapped afterwards."""
    m = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = ctypes.c_char.from_buffer(m)
    try:
        yield m, ctypes.addressof(view)
    finally:
        del view  # the buffer export ends before the map closes
        m.close()


def mapped(address: int, pages: int) -> list[bool | None]:
    return [prefault.resident(address + i * PAGE) for i in range(pages)]


@linux
def test_fresh_memory_is_mapped_in_whole_pages_only() -> None:
    with fresh(8) as (m, address):
        assert mapped(address, 8) == [False] * 8  # nothing touched yet (taking the address maps nothing)
        # From the middle of page 1 to the middle of page 6: pages 2-5 are wholly inside.
        prefault.prefault(address + PAGE + 100, 5 * PAGE)
        assert mapped(address, 8) == [False, False, True, True, True, True, False, False]
        assert m[:] == bytes(8 * PAGE)  # mapped in, not written


@linux
def test_memory_in_use_keeps_its_bytes() -> None:
    with fresh(4) as (m, address):
        m[PAGE : 2 * PAGE] = b"\xa5" * PAGE  # page 1 in use, the others not
        prefault.prefault(address, 4 * PAGE)
        assert mapped(address, 4) == [True] * 4
        assert m[PAGE : 2 * PAGE] == b"\xa5" * PAGE and m[:PAGE] == bytes(PAGE) and m[2 * PAGE :] == bytes(2 * PAGE)


@linux
def test_a_range_without_a_whole_page_is_left_alone() -> None:
    with fresh(2) as (_, address):
        prefault.prefault(address + 10, PAGE)  # crosses into page 1 but covers neither page whole
        assert mapped(address, 2) == [False, False]


@linux
@pytest.mark.skipif(buffers.new_bytes is None, reason="needs CPython's C API")
def test_a_new_large_bytes_object_is_mapped_in_before_it_is_filled() -> None:
    # Above glibc's largest mmap threshold (32 MiB), so its memory is a new mapping nobody touched.
    n = 64 * 1024 * 1024
    out, view = buffers.new_bytes(n)
    address = view.ctypes.data
    first = (address + PAGE - 1) & -PAGE
    assert all(prefault.resident(first + k * PAGE) for k in range(0, n // PAGE - 1, 997))
    del out, view
