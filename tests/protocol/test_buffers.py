"""Large bytes objects made in place: the same bytes Python's own operations give, at every size and shape."""

from __future__ import annotations

import random

import pytest

from wsexplore.protocol import buffers
from wsexplore.protocol.buffers import LARGE_FROM, copy_payload, join_bytes

SIZES = [0, 1, 4096, LARGE_FROM - 1, LARGE_FROM, LARGE_FROM + 1, 3 * LARGE_FROM + 5]


def data(n: int, seed: int = 3) -> bytes:
    return random.Random(seed * 1_000_003 + n).randbytes(n)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("header_length", [2, 4, 10, 14])
def test_copy_payload_is_the_slice_after_the_header(n: int, header_length: int) -> None:
    frame = data(header_length + n, seed=header_length)
    out = copy_payload(frame, header_length)
    assert type(out) is bytes and out == frame[header_length:]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("pieces", [1, 2, 5])
@pytest.mark.parametrize("past", [0, 1, 1000])
def test_join_bytes_is_the_join_cut_at_size(size: int, pieces: int, past: int) -> None:
    whole = data(size + past)
    cuts = sorted(random.Random(size + pieces).sample(range(1, max(2, size)), min(pieces - 1, max(0, size - 1))))
    parts = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, size + past])]
    out = join_bytes(parts, size)
    assert type(out) is bytes and out == whole[:size]


def test_join_bytes_takes_a_bytearray_or_a_view_among_its_parts() -> None:
    whole = data(2 * LARGE_FROM + 7)
    parts = [bytearray(whole[:100]), memoryview(whole)[100:LARGE_FROM], whole[LARGE_FROM:]]
    assert join_bytes(parts, len(whole)) == whole
    assert join_bytes(parts, len(whole) - 3) == whole[:-3]


def test_copy_payload_of_a_frame_held_in_a_bytearray() -> None:
    frame = data(LARGE_FROM + 14)
    assert copy_payload(bytearray(frame), 14) == frame[14:]


def test_join_bytes_refuses_parts_shorter_than_size() -> None:
    with pytest.raises(ValueError, match="hold"):
        join_bytes([data(LARGE_FROM)], LARGE_FROM + 1)


def test_without_a_c_api_the_same_bytes_come_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buffers, "_api", None)
    whole = data(LARGE_FROM + 9)
    assert join_bytes([whole[:5], whole[5:]], len(whole) - 2) == whole[:-2]
    assert copy_payload(whole, 9) == whole[9:]
