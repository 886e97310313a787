"""Cutting a stream into frames as it arrives (``split_frames``): the same frames as ``dissect_stream``,
whatever the chunking, with long frames kept only as far as ``max_payload``."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsexplore.protocol.dissector import dissect_stream
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.framing import FramePiece, split_frames
from wsexplore.protocol.opcodes import Opcode

KEY = bytes.fromhex("37 fa 21 3d")


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given positions (taken modulo its length), as a socket would deliver it."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def stream_of(sizes: list[int], seed: int = 1) -> tuple[bytes, list[bytes]]:
    rng = random.Random(seed)
    frames = [Frame(Opcode.BINARY, rng.randbytes(n), mask_key=rng.choice([None, KEY])).encode() for n in sizes]
    return b"".join(frames), frames


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_any_bytes_any_chunking_cut_as_dissect_stream_advances(data: bytes, cuts: list[int]) -> None:
    pieces = list(split_frames(chunked(data, cuts), max_payload=1 << 30))
    expected = dissect_stream(data, role=None)
    assert [(p.offset, p.data) for p in pieces] == [(d.offset, d.data) for d in expected]
    assert all(p.skipped == 0 for p in pieces)
    for p, d in zip(pieces, expected):
        if d.truncated:
            assert p.ended_early >= 1 and (p.size is None or p.ended_early == d.missing)
        else:
            assert p.ended_early == 0 and p.size == d.size


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 125, 4096, 1 << 20])
def test_every_length_form_whatever_the_chunk_size(chunk: int) -> None:
    data, frames = stream_of([0, 1, 125, 126, 127, 65535, 65536, 70000, 3])
    pieces = list(split_frames([data[i:i + chunk] for i in range(0, len(data), chunk)], max_payload=1 << 20))
    assert [p.data for p in pieces] == frames
    assert [p.size for p in pieces] == [len(f) for f in frames]
    assert [p.offset for p in pieces] == [sum(map(len, frames[:i])) for i in range(len(frames))]
    assert not any(p.cut or p.ended_early for p in pieces)


@pytest.mark.parametrize("chunk", [1, 5, 100, 1 << 20])
@pytest.mark.parametrize("max_payload", [0, 10, 125, 126])
def test_a_long_frame_is_kept_as_far_as_max_payload_and_the_rest_passed_over(chunk: int, max_payload: int) -> None:
    data, frames = stream_of([5, 300, 2, 70000, 126])
    pieces = list(split_frames([data[i:i + chunk] for i in range(0, len(data), chunk)], max_payload=max_payload))
    assert len(pieces) == len(frames)
    offset = 0
    for piece, frame in zip(pieces, frames):
        payload = len(Frame.decode(frame).payload)
        head = len(frame) - payload
        kept = head + min(payload, max_payload)
        assert piece == FramePiece(offset, frame[:kept], len(frame), len(frame) - kept)
        assert piece.cut == (payload > max_payload) and piece.ended_early == 0
        offset += len(frame)


@pytest.mark.parametrize("missing", [1, 10, 1000, 69000])
def test_the_stream_ending_inside_a_long_frame(missing: int) -> None:
    data, frames = stream_of([3, 70000])
    *_, last = split_frames([data[:-missing]], max_payload=100)
    assert last.offset == len(frames[0]) and last.size == len(frames[1])
    assert last.ended_early == missing
    assert len(last.data) + last.skipped + missing == len(frames[1])


def test_the_stream_ending_inside_a_header() -> None:
    data, frames = stream_of([70000])
    (piece,) = split_frames([data[:5]], max_payload=100)
    assert piece == FramePiece(0, data[:5], None) and piece.ended_early == 1  # at least one byte


def test_empty_stream_and_empty_chunks() -> None:
    assert list(split_frames([], max_payload=10)) == []
    assert list(split_frames([b"", b"\x81", b"", b"\x00", b""], max_payload=10)) == [FramePiece(0, b"\x81\x00", 2)]


def test_memory_is_bounded_by_max_payload_not_by_the_stream() -> None:
    # A header announcing 2^62 bytes, then 64 MiB of bytes it claims: the piece keeps 1 KiB of them.
    head = bytes((0x82, 0x7F)) + (1 << 62).to_bytes(8, "big")
    junk = bytes(1 << 20)
    (piece,) = split_frames([head, *([junk] * 64)], max_payload=1024)
    assert len(piece.data) == len(head) + 1024 and piece.skipped == 64 * len(junk) - 1024
    assert piece.ended_early == (1 << 62) + len(head) - len(head) - 64 * len(junk)


def test_a_negative_max_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="max_payload must be 0 or more, got -1"):
        list(split_frames([b"\x81\x00"], max_payload=-1))
