"""The example frames of RFC 6455 section 5.7, byte for byte: dissected field by field, encoded, received."""

from __future__ import annotations

import pytest

from wsexplore.protocol.connection import Connection
from wsexplore.protocol.dissector import Dissection, dissect, dissect_stream
from wsexplore.protocol.events import FrameSent, MessageReceived, PingReceived, PongReceived
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

# Section 5.7, as printed there.
UNMASKED_HELLO = bytes.fromhex("81 05 48 65 6c 6c 6f")
MASKED_HELLO = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
FRAGMENTED_HELLO = (bytes.fromhex("01 03 48 65 6c"), bytes.fromhex("80 02 6c 6f"))
UNMASKED_PING = bytes.fromhex("89 05 48 65 6c 6c 6f")
MASKED_PONG = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
HEADER_256 = bytes.fromhex("82 7e 01 00")
HEADER_64K = bytes.fromhex("82 7f 00 00 00 00 00 01 00 00")
KEY = bytes.fromhex("37 fa 21 3d")


def table(d: Dissection) -> list[tuple[str, int, int, object]]:
    """(name, start bit, width, value) of every field: the dissection's reading of the bits."""
    return [(f.name, f.start_bit, f.bit_width, f.value) for f in d.fields]


FIRST_BYTE = [("FIN", 0, 1, 1), ("RSV1", 1, 1, 0), ("RSV2", 2, 1, 0), ("RSV3", 3, 1, 0)]


def test_single_frame_unmasked_text() -> None:
    d = dissect(UNMASKED_HELLO, role="client")
    assert d.ok and d.size == 7 and d.text == "Hello"
    assert table(d) == [*FIRST_BYTE, ("Opcode", 4, 4, 0x1), ("MASK", 8, 1, 0), ("Payload length", 9, 7, 5),
                        ("Payload", 16, 40, b"Hello")]
    assert d.field("Payload").display == "48 65 6c 6c 6f" and d.masked_payload is None
    assert Frame(Opcode.TEXT, b"Hello").encode() == UNMASKED_HELLO
    assert Frame.text("Hello").encode() == UNMASKED_HELLO
    assert Connection("client").receive_data(UNMASKED_HELLO)[-1] == MessageReceived(Opcode.TEXT, "Hello", 1)


def test_single_frame_masked_text() -> None:
    d = dissect(MASKED_HELLO, role="server")
    assert d.ok and d.size == 11 and d.text == "Hello"
    assert table(d) == [*FIRST_BYTE, ("Opcode", 4, 4, 0x1), ("MASK", 8, 1, 1), ("Payload length", 9, 7, 5),
                        ("Masking key", 16, 32, KEY), ("Payload", 48, 40, b"Hello")]
    assert d.field("Masking key").display == "37 fa 21 3d"
    assert d.field("Payload").display == "7f 9f 4d 51 58"  # the wire bytes; the value is unmasked
    assert d.masked_payload == bytes.fromhex("7f 9f 4d 51 58") and d.masking_key == KEY
    assert Frame(Opcode.TEXT, b"Hello", mask_key=KEY).encode() == MASKED_HELLO
    events = Connection("server").receive_data(MASKED_HELLO)
    assert events[0].raw == MASKED_HELLO and events[0].frame == Frame(Opcode.TEXT, b"Hello", mask_key=KEY)
    assert events[1] == MessageReceived(Opcode.TEXT, "Hello", 1)


def test_fragmented_unmasked_text() -> None:
    first, second = dissect_stream(b"".join(FRAGMENTED_HELLO), role="client")
    assert first.ok and second.ok and (first.offset, second.offset) == (0, 5)
    assert table(first) == [("FIN", 0, 1, 0), ("RSV1", 1, 1, 0), ("RSV2", 2, 1, 0), ("RSV3", 3, 1, 0),
                            ("Opcode", 4, 4, 0x1), ("MASK", 8, 1, 0), ("Payload length", 9, 7, 3),
                            ("Payload", 16, 24, b"Hel")]
    assert table(second) == [*FIRST_BYTE, ("Opcode", 4, 4, 0x0), ("MASK", 8, 1, 0), ("Payload length", 9, 7, 2),
                             ("Payload", 16, 16, b"lo")]
    assert first.text == "Hel" and second.text is None  # a continuation's type is its message's
    assert Frame(Opcode.TEXT, b"Hel", fin=False).encode() == FRAGMENTED_HELLO[0]
    assert Frame(Opcode.CONTINUATION, b"lo").encode() == FRAGMENTED_HELLO[1]
    assert Connection("server").send_text("Hello", fragment_size=3) == b"".join(FRAGMENTED_HELLO)
    events = Connection("client").receive_data(b"".join(FRAGMENTED_HELLO))
    assert events[-1] == MessageReceived(Opcode.TEXT, "Hello", 2)


def test_unmasked_ping_and_masked_pong() -> None:
    ping = dissect(UNMASKED_PING, role="client")
    assert ping.ok and table(ping) == [*FIRST_BYTE, ("Opcode", 4, 4, 0x9), ("MASK", 8, 1, 0),
                                       ("Payload length", 9, 7, 5), ("Payload", 16, 40, b"Hello")]
    pong = dissect(MASKED_PONG, role="server")
    assert pong.ok and table(pong) == [*FIRST_BYTE, ("Opcode", 4, 4, 0xA), ("MASK", 8, 1, 1),
                                       ("Payload length", 9, 7, 5), ("Masking key", 16, 32, KEY),
                                       ("Payload", 48, 40, b"Hello")]
    assert Frame(Opcode.PING, b"Hello").encode() == UNMASKED_PING
    assert Frame(Opcode.PONG, b"Hello", mask_key=KEY).encode() == MASKED_PONG
    # A client answers the ping with a pong of the same payload, masked with a fresh key.
    events = Connection("client").receive_data(UNMASKED_PING)
    assert events[1] == PingReceived(b"Hello")
    sent = events[2]
    assert isinstance(sent, FrameSent) and sent.raw[:2] == MASKED_PONG[:2]
    assert sent.frame.opcode == Opcode.PONG and sent.frame.payload == b"Hello"
    assert Connection("server").receive_data(MASKED_PONG)[1] == PongReceived(b"Hello")


@pytest.mark.parametrize(("header", "size", "ext_bits"), [(HEADER_256, 256, 16), (HEADER_64K, 65536, 64)],
                         ids=["256 bytes", "64 KiB"])
def test_binary_frame_with_an_extended_length(header: bytes, size: int, ext_bits: int) -> None:
    payload = bytes(range(256)) * (size // 256)
    data = header + payload
    d = dissect(data, role="client")
    start = 16 + ext_bits
    assert d.ok and d.size == len(data) and d.payload_length == size
    assert table(d) == [*FIRST_BYTE, ("Opcode", 4, 4, 0x2), ("MASK", 8, 1, 0),
                        ("Payload length", 9, 7, 126 if ext_bits == 16 else 127),
                        ("Extended payload length", 16, ext_bits, size), ("Payload", start, 8 * size, payload)]
    assert d.field("Extended payload length").meaning == f"{ext_bits}-bit length {size}"
    assert Frame(Opcode.BINARY, payload).encode() == data
    assert Connection("client").receive_data(data)[-1] == MessageReceived(Opcode.BINARY, payload, 1)
