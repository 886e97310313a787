"""A large masked frame's payload, unmasked read by read as the frame arrives.

A server echoing 1 MiB messages spends most of its time on each payload's bytes:
a new object for it (fresh memory, when a capture keeps payloads), then one XOR
pass. Waiting for the whole frame puts all of that after its last byte, while the
peer waits; done as each read arrives, it overlaps the peer's sending, and what is
left after the last read is that read's share. The reads are not joined either: each
is XORed straight into the payload, one pass over the bytes instead of two.

Fresh memory is what is left on the peer's path: a capture keeps each payload, so
the next one is memory the process never had, mapped in page by page (300-500 µs a
MiB on a virtual machine) while the peer waits. So when the connection has nothing
else to do (``prepare``, called by the I/O layer after the reply went out) the next
payload is made at the size of the last one: its fresh memory is mapped in while
the peer is busy with the reply. A frame's reads are kept until then, and go only
after, so that the next frame's reads take their memory, mapped in already. (They
are kept only once ``prepare`` was called: without an I/O layer that calls it,
nothing is held between frames.) A frame of another size lets go of what was made
ahead before making its own, so that its memory is taken again.

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
    """A connection's large masked frames, unmasked as they arrive, one at a time.

    ``start`` at the frame's second read (its whole header in ``head``, ``size`` bytes long with it),
    ``add`` each read that follows; ``payload`` is whole once ``filled`` reaches its length (the
    connection knows when: it counts the frame's bytes), and ``finish`` hands it over. ``payload``
    is None between frames. ``prepare`` is work for idle time in between.
    """

    __slots__ = ("header", "payload", "filled", "_key", "spent", "_ahead", "_size", "_keeps")

    def __init__(self) -> None:
        self.payload: bytes | None = None
        #: The last frame's reads, kept until ``prepare`` made the next payload (None: nothing to do; an empty
        #: list: ``prepare`` has work, no reads kept).
        self.spent: list[bytes] | None = None
        self._ahead: bytes | None = None  # the next payload, made by ``prepare``
        self._size = 0
        # Reads are kept only once ``prepare`` was called: a connection whose I/O layer never calls it
        # does not hold a frame's reads until the next one.
        self._keeps = False

    def start(self, head: bytes | bytearray, size: int) -> None:
        """A new frame: its payload is the one made ahead if it is the right size, else a new one."""
        header_length = HEADER_LENGTHS[head[1]]
        self.header = bytes(head[:header_length])
        self._key = self.header[-MASK_KEY_BYTES:]
        self.spent = None
        payload, self._ahead = self._ahead, None
        if payload is None or len(payload) != size - header_length:
            payload = None  # let go first: a smaller payload takes its memory again
            payload, _ = new_bytes(size - header_length)  # type: ignore[misc]
        self.payload = payload
        self.filled = 0
        self.add(head, header_length)

    def add(self, data: bytes | bytearray | memoryview, skip: int = 0) -> None:
        """Unmask ``data[skip:]``, the frame's next bytes, as far as the payload goes."""
        self.filled += c_unmask_into(self.payload, self.filled, data, skip, self._key)  # type: ignore[misc]

    def finish(self, reads: list[bytes]) -> bytes:
        """The whole payload, handed over; ``reads``, the frame's reads, are kept for ``prepare``."""
        payload = self.payload
        assert payload is not None
        self.payload = None
        self._size = len(payload)
        self.spent = reads if self._keeps else []
        return payload

    def prepare(self) -> None:
        """Make the next payload, the size of the last, while nothing arrives; then let the last reads go."""
        if self.spent is None:
            return
        self._keeps = True
        self._ahead, _ = new_bytes(self._size)  # type: ignore[misc]
        self.spent = None

    def release(self) -> None:
        """Let go of the reads kept and the payload made ahead: no frame came for it."""
        self.spent = self._ahead = None
