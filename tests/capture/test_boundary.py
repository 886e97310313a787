"""``find_boundary``: the first frame boundary a chain of valid headers proves, nothing earlier."""

from __future__ import annotations

import random

from wsexplore.capture.formats.boundary import CHAIN_ANYWHERE, find_boundary
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.frames import Frame

#: A fixed masking key, so that the bytes inside each frame (and what they happen to look like) are the same
#: in every run. A random key makes some of them look like the start of a header.
KEY = b"\x37\xfa\x21\x3d"


def client_frames(*texts: str, key: bytes = KEY) -> bytes:
    return b"".join(Frame(1, t.encode(), mask_key=key).encode() for t in texts)


def server_frames(*texts: str) -> bytes:
    conn = Connection("server")
    return b"".join(conn.send_text(t) for t in texts)


def test_after_junk_on_a_segment_end() -> None:
    frames = client_frames("one", "two", "three")
    junk = b"\x00\xffxyz\x81"  # the tail of a frame whose start was lost
    data = junk + frames
    proof, _ = find_boundary(data, segment_ends=[len(data)])
    assert proof is not None and proof.offset == len(junk) and proof.frames == 3 and proof.masked


def test_a_candidate_waiting_for_bytes_holds_the_later_ones_back() -> None:
    # The junk's last byte, 0x81, reads as a header with the first frame's 0x81 0x83 as its second byte: masked,
    # length 1, so its chain goes on at the first frame's masked payload. With this key those bytes (0x00 0xb9)
    # read as a continuation header announcing 57 bytes, more than have arrived: that candidate is undecided.
    frames = client_frames("one", "two", "three", key=b"o\xd7\xc4\xec")
    junk = b"\x00\xffxyz\x81"
    data = junk + frames
    proof, resume = find_boundary(data, segment_ends=[len(data)])
    assert proof is None and resume == len(junk) - 1  # the later, real boundary waits its turn
    proof, _ = find_boundary(data, segment_ends=[len(data)], ended=True)
    assert proof is not None and proof.offset == len(junk)  # once no more bytes come, the candidate is rejected


def test_needs_more_bytes_before_deciding() -> None:
    frames = client_frames("one", "two")
    proof, resume = find_boundary(frames, segment_ends=[len(frames)])
    assert proof is None and resume == 0  # two frames prove nothing yet; the candidate waits


def test_the_end_of_a_stream_proves_an_exact_tiling() -> None:
    frames = server_frames("last")
    proof, _ = find_boundary(b"\x17" + frames, ended=True)
    assert proof is not None and proof.offset == 1 and not proof.masked


def test_masking_is_required_when_known() -> None:
    frames = server_frames("a", "b", "c")
    proof, _ = find_boundary(frames, segment_ends=[len(frames)], masking="masked")
    assert proof is None
    proof, _ = find_boundary(frames, segment_ends=[len(frames)], masking="unmasked")
    assert proof is not None and proof.offset == 0


def test_long_chain_anywhere() -> None:
    frames = client_frames(*["x"] * CHAIN_ANYWHERE)
    proof, _ = find_boundary(b"\x00\x00" + frames + b"\x81")
    assert proof is not None and proof.offset == 2


def test_random_bytes_prove_nothing() -> None:
    rng = random.Random(6455)
    data = rng.randbytes(64 * 1024)
    ends = list(range(1460, len(data), 1460))
    proof, resume = find_boundary(data, segment_ends=ends, ended=True)
    assert proof is None and resume == len(data)
