"""A large masked frame's payload, unmasked read by read as the frame arrives.

A server echoing 1 MiB messages spends most of its time on each payload's bytes:
a new object for it (fresh memory, when a capture keeps payloads), then one XOR
pass. Waiting for the whole frame puts all of that after its last byte, while the
peer waits; done as each read arrives, it overlaps the peer's sending, and what is
left after the last read is that read's share. The reads are not joined either: each
is XORed straight into the payload, one pass over the bytes instead of two.

Only with the C extension (``masking.c_unmask_into``): a payload is a new ``bytes``
object written in place before anyone else sees it.
"""

from __future__ import annotations

from .buffers import new_bytes
from .header import HEADER_LENGTHS, MASK_KEY_BYTES
from .masking import c_unmask_into

__all__ = ["AVAILABLE", "Unmasking"]

#: Whether payloads can be unmasked as they arrive (the C extension was built).
AVAILABLE = c_unmask_into is not None and new_bytes is not None


class Unmasking:
    """The payload of the masked frame starting at ``head[0]`` (its whole header in ``head``), ``size``
    bytes long with its header: ``add`` each read that follows; ``payload`` is whole once ``filled``
    reaches its length (the connection knows when: it counts the frame's bytes)."""

    __slots__ = ("header", "payload", "filled", "_key")

    def __init__(self, head: bytes | bytearray, size: int) -> None:
        header_length = HEADER_LENGTHS[head[1]]
        self.header = bytes(head[:header_length])
        self._key = self.header[-MASK_KEY_BYTES:]
        self.payload, _ = new_bytes(size - header_length)  # type: ignore[misc]
        self.filled = 0
        self.add(head, header_length)

    def add(self, data: bytes | bytearray | memoryview, skip: int = 0) -> None:
        """Unmask ``data[skip:]``, the frame's next bytes, as far as the payload goes."""
        self.filled += c_unmask_into(self.payload, self.filled, data, skip, self._key)  # type: ignore[misc]
