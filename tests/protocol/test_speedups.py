"""The C extension itself (``_speedups.c``): its argument checks, and a connection that runs without it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from wsexplore.protocol import masking

from .test_masking import KEY, need_c_masking, xor


def test_the_c_functions_refuse_what_does_not_fit() -> None:
    need_c_masking()
    from wsexplore.protocol import _speedups

    frame = bytes((0x82, 0x85)) + KEY + xor(b"Hello", KEY)
    assert _speedups.unmask_frame(frame, 6, 5) == b"Hello"
    for header_length, length in [(6, 6), (3, 0), (6, -1), (12, 0)]:
        with pytest.raises(ValueError, match="do not fit a 11-byte frame"):
            _speedups.unmask_frame(frame, header_length, length)
    with pytest.raises(ValueError, match="^masking key must be 4 bytes, got 5$"):
        _speedups.apply_mask(b"abc", b"12345")
    out = bytearray(5)
    _speedups.mask_into(b"Hello", KEY, out)
    assert bytes(out) == xor(b"Hello", KEY)
    with pytest.raises(ValueError, match="out holds 4 bytes, data 5"):
        _speedups.mask_into(b"Hello", KEY, bytearray(4))
    with pytest.raises(BufferError):
        _speedups.mask_into(b"Hello", KEY, bytes(5))  # not writable
    with pytest.raises(TypeError, match=r"^apply_mask\(\) takes 2 arguments \(1 given\)$"):
        _speedups.apply_mask(b"Hello")
    with pytest.raises(TypeError, match=r"^mask_into\(\) takes 3 arguments \(2 given\)$"):
        _speedups.mask_into(b"Hello", KEY)
    with pytest.raises(TypeError):
        _speedups.apply_mask("text", KEY)  # str has no buffer


def test_unmask_into_fills_a_payload_read_by_read_from_any_key_phase() -> None:
    need_c_masking()
    from wsexplore.protocol import _speedups

    payload = bytes(range(256)) * 3 + b"tail"
    wire = xor(payload, KEY)
    for cuts in ([1, 2, 3, 5, 8], [len(wire)], [7, 700], [16, 17, 64, 1]):
        out, at, pos = bytes(len(payload)), 0, 0
        for size in cuts + [len(wire)]:
            # Each read, as it comes: one byte of header-like junk in front of it, skipped.
            written = _speedups.unmask_into(out, at, b"\x00" + wire[pos:pos + size], 1, KEY)
            assert written == min(size, len(wire) - pos)
            at, pos = at + written, pos + written
        assert out == payload and at == len(payload)
    # A read going past the payload's end writes up to its end and says so.
    out = bytes(4)
    assert _speedups.unmask_into(out, 2, xor(b"xyZZZZ", KEY), 2, KEY) == 2 and out == b"\x00\x00ZZ"
    for at, skip, key, error in [(5, 0, KEY, ValueError), (-1, 0, KEY, ValueError), (0, 7, KEY, ValueError),
                                 (0, 0, b"123", ValueError)]:
        with pytest.raises(error, match="unmask_into"):
            _speedups.unmask_into(bytes(4), at, b"abcdef", skip, key)
    with pytest.raises(TypeError, match="payload must be a bytes object"):
        _speedups.unmask_into(bytearray(4), 0, b"abcd", 0, KEY)
    with pytest.raises(TypeError, match=r"^unmask_into\(\) takes 5 arguments \(4 given\)$"):
        _speedups.unmask_into(bytes(4), 0, b"abcd", 0)


def test_a_connection_without_the_c_extension() -> None:
    # WSEXPLORE_NO_SPEEDUPS leaves the extension out at import: the receive loop then unmasks small
    # frames with its inlined big-integer XOR and larger ones with the other strategies.
    script = textwrap.dedent("""
        import os, random
        from wsexplore.protocol import masking
        from wsexplore.protocol.connection import Connection
        from wsexplore.protocol.events import MessageReceived
        from wsexplore.protocol.frames import Frame
        from wsexplore.protocol.opcodes import Opcode
        assert not masking.ACCELERATED
        rng = random.Random(7)
        conn = Connection("server", max_frame_size=1 << 20, max_message_size=1 << 20)
        sizes = [0, 1, 125, 126, 575, 576, 577, 5000, 65535, 65536, 300000]
        sent = [rng.randbytes(n) for n in sizes]
        wire = b"".join(Frame(Opcode.BINARY, p, mask_key=rng.randbytes(4)).encode() for p in sent)
        got = [e.data for i in range(0, len(wire), 4096) for e in conn.receive_data(wire[i:i + 4096])
               if type(e) is MessageReceived]
        assert got == sent, [len(g) for g in got]
        print("ok")
    """)
    env = {**os.environ, masking.NO_SPEEDUPS: "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_c_extension_maps_large_objects_in_from_the_same_size() -> None:
    # Its new objects' fresh memory is mapped in from buffers.LARGE_FROM bytes on, as prefault.py's are.
    need_c_masking()
    from wsexplore.protocol import _speedups
    from wsexplore.protocol.buffers import LARGE_FROM

    assert _speedups.PREFAULT_FROM == LARGE_FROM
