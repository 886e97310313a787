"""Base64 for capture files, at memory speed.

JSON Lines and HAR files hold bytes as base64: a 1 MiB echo saved by
``wsexplore serve --save`` is about 4 MiB of it. The standard library's
``binascii`` encodes at about 1 GB/s and decodes at half that, which made
saving and loading large captures slow; ``pybase64`` (SIMD) does both at
memory speed and writes the very same text.

Decoding stays exactly as strict as ``base64.b64decode(text, validate=True)``:
``pybase64`` also refuses what the standard library lets through (padding
after a whole group of four, for one), so whatever it refuses is decoded again
by the standard library, which accepts it or raises ``binascii.Error`` as
before. Valid files never take that path.
"""

from __future__ import annotations

import base64
import binascii

try:
    from pybase64 import b64decode as _fast_decode
    from pybase64 import b64encode as _fast_encode
except ImportError:  # a platform without its wheel: the standard library, slower, the same text
    _fast_decode = None
    _fast_encode = None

__all__ = ["encode", "decode"]


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """The base64 of ``data`` (standard alphabet, padded, no newline)."""
    if _fast_encode is not None:
        return _fast_encode(data)
    return binascii.b2a_base64(data, newline=False)


def decode(text: bytes) -> bytes:
    """The bytes of ASCII base64 ``text``; ``binascii.Error`` for anything else, as
    ``base64.b64decode(text, validate=True)`` decides."""
    if _fast_decode is not None:
        try:
            return _fast_decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    return base64.b64decode(text, validate=True)
