"""permessage-deflate (RFC 7692): parameters, negotiation, compression, limits, rules, dissection.

Interoperability runs our code against websockets' own permessage-deflate
(its sans-I/O ``ServerProtocol`` / ``ClientProtocol`` with its extension
factories): handshake bytes and frames cross between the two implementations,
for every combination of parameters.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Opcode as WSOpcode
from websockets.protocol import State as WSState
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsexplore.display.html import render_html
from wsexplore.protocol import handshake
from wsexplore.protocol.buffers import LARGE_FROM
from wsexplore.protocol import deflate
from wsexplore.protocol.connection import Connection, InvalidState, State
from wsexplore.protocol.deflate import (
    NAME,
    CompressionError,
    DeflateConfig,
    DeflateOffer,
    DeflateParams,
    PerMessageDeflate,
    deflate_message,
    find_params,
    inflate_message,
)
from wsexplore.protocol.dissector import dissect, dissect_stream
from wsexplore.protocol.errors import FramingError, HandshakeError, InvalidUTF8, MessageTooBig
from wsexplore.protocol.events import FrameReceived, FrameSent, MessageReceived, ProtocolViolation
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.handshake import Extension
from wsexplore.protocol.opcodes import Opcode
from wsexplore.protocol.rules import compressed_bit_violation, header_violation

HELLO = bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")  # RFC 7692 section 7.2.3.1
HELLO_AGAIN = bytes.fromhex("c1 05 f2 00 11 00 00")  # section 7.2.3.2, with the window of the first
HELLO_FRAGMENTS = (bytes.fromhex("41 03 f2 48 cd"), bytes.fromhex("80 04 c9 c9 07 00"))  # section 7.2.3.1
HELLO_STORED = bytes.fromhex("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00")  # section 7.2.3.3
HELLO_BFINAL = bytes.fromhex("c1 08 f3 48 cd c9 c9 07 00 00")  # section 7.2.3.4
HELLO_TWO_BLOCKS = bytes.fromhex("c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00")  # section 7.2.3.5
KEY = b"\x37\xfa\x21\x3d"


def pair(params: DeflateParams | None = None) -> tuple[Connection, Connection]:
    params = params or DeflateParams()
    return (Connection("server", deflate=PerMessageDeflate(params, "server")),
            Connection("client", deflate=PerMessageDeflate(params, "client")))


def events_of(conn: Connection, data: bytes) -> list:
    return conn.receive_data(data)


def messages(events: list) -> list[MessageReceived]:
    return [e for e in events if type(e) is MessageReceived]


def violation(events: list) -> ProtocolViolation:
    found = [e for e in events if type(e) is ProtocolViolation]
    assert len(found) == 1, events
    return found[0]


def masked(frame: bytes, key: bytes = KEY) -> bytes:
    """A server-to-client frame re-encoded as a client sends it (same bits, masked)."""
    f = Frame.decode(frame)
    return Frame(f.opcode, f.payload, fin=f.fin, rsv1=f.rsv1, rsv2=f.rsv2, rsv3=f.rsv3, mask_key=key).encode()


# ============================================================================ RFC 7692 section 7.2.3
def test_rfc_hello_one_frame_sent_and_received() -> None:
    # The RFC's examples compress "Hello" to 7 bytes: only on request (compress=True), as that is larger.
    server, client = pair()
    assert server.send_text("Hello", compress=True) == HELLO
    assert server.last_sent == [FrameSent(Frame(Opcode.TEXT, HELLO[2:], rsv1=True), HELLO, 0)]
    ev = client.receive_data(HELLO)
    assert [type(e) for e in ev] == [FrameReceived, MessageReceived]
    assert ev[0].raw == HELLO and ev[0].frame.rsv1 and ev[0].frame.payload == HELLO[2:]  # compressed, raw
    assert ev[1] == MessageReceived(Opcode.TEXT, "Hello", 1, 7)
    assert ev[1].compressed and ev[1].is_text


def test_rfc_context_takeover_shrinks_the_second_hello() -> None:
    server, client = pair()
    assert server.send_text("Hello", compress=True) == HELLO
    assert server.send_text("Hello", compress=True) == HELLO_AGAIN
    got = messages(client.receive_data(HELLO + HELLO_AGAIN))
    assert [(m.data, m.compressed_size) for m in got] == [("Hello", 7), ("Hello", 5)]


def test_rfc_no_context_takeover_sends_the_same_bytes_twice() -> None:
    server, client = pair(DeflateParams(server_no_context_takeover=True))
    assert server.send_text("Hello", compress=True) == HELLO
    assert server.send_text("Hello", compress=True) == HELLO
    assert [m.data for m in messages(client.receive_data(HELLO + HELLO))] == ["Hello", "Hello"]
    # Without takeover the peer's decompressor is reset: the context-takeover frame no longer inflates.
    err = violation(client.receive_data(HELLO_AGAIN)).error
    assert isinstance(err, CompressionError) and err.close_code == 1002
    assert err.field == "Payload" and err.bit_offset == 16


def test_rfc_fragmented_hello() -> None:
    _, client = pair()
    first, second = HELLO_FRAGMENTS
    ev = client.receive_data(first)
    assert [type(e) for e in ev] == [FrameReceived] and ev[0].frame.rsv1 and not ev[0].frame.fin
    ev = client.receive_data(second)
    assert [type(e) for e in ev] == [FrameReceived, MessageReceived]
    assert not ev[0].frame.rsv1  # continuation frames never carry RSV1
    assert ev[1] == MessageReceived(Opcode.TEXT, "Hello", 2, 7)


def test_rfc_fragmented_hello_one_byte_at_a_time() -> None:
    _, client = pair()
    stream = b"".join(HELLO_FRAGMENTS) + HELLO_AGAIN
    got = []
    for i in range(len(stream)):
        got += client.receive_data(stream[i:i + 1])
    assert [(m.data, m.frames, m.compressed_size) for m in messages(got)] == [("Hello", 2, 7), ("Hello", 1, 5)]
    assert b"".join(e.raw for e in got if type(e) is FrameReceived) == stream


@pytest.mark.parametrize("frame", [HELLO_STORED, HELLO_BFINAL, HELLO_TWO_BLOCKS],
                         ids=["stored-block", "bfinal", "two-blocks"])
def test_rfc_other_encodings_of_hello(frame: bytes) -> None:
    _, client = pair()
    (m,) = messages(client.receive_data(frame))
    assert m.data == "Hello" and m.compressed_size == len(frame) - 2


def test_after_a_final_block_the_next_message_starts_a_fresh_window() -> None:
    _, client = pair()
    got = messages(client.receive_data(HELLO_BFINAL + HELLO))
    assert [m.data for m in got] == ["Hello", "Hello"]


def test_data_after_a_final_block_fails() -> None:
    _, client = pair()
    frame = Frame(Opcode.TEXT, HELLO_BFINAL[2:] + b"\x41", rsv1=True).encode()
    err = violation(client.receive_data(frame)).error
    assert isinstance(err, CompressionError) and "final deflate block" in err.message


def test_empty_message_is_one_zero_byte() -> None:
    server, client = pair()
    assert server.send_binary(b"", compress=True) == bytes.fromhex("c2 01 00")
    assert server.send_binary(b"") == bytes.fromhex("82 00")  # by default: never compressed, nothing to gain
    assert messages(client.receive_data(bytes.fromhex("c2 01 00"))) == [MessageReceived(Opcode.BINARY, b"", 1, 1)]
    # An empty compressed payload (the sync flush's tail alone, stripped) is an empty message too.
    assert messages(client.receive_data(bytes.fromhex("c2 00"))) == [MessageReceived(Opcode.BINARY, b"", 1, 0)]


def test_client_frames_are_masked_and_compressed() -> None:
    server, client = pair()
    data = client.send_text("Hello", compress=True)
    f = client.last_sent[0].frame
    assert f.rsv1 and f.mask_key is not None and f.payload == HELLO[2:]
    assert data[0] == 0xC1 and data[1] == 0x80 | 7
    assert messages(server.receive_data(data)) == [MessageReceived(Opcode.TEXT, "Hello", 1, 7)]


def test_fragmented_send_sets_rsv1_on_the_first_frame_only() -> None:
    server, client = pair()
    text = "the quick brown fox jumps over the lazy dog " * 40
    server.send_text(text, fragment_size=20)
    frames = [s.frame for s in server.last_sent]
    assert len(frames) > 2
    assert frames[0].rsv1 and frames[0].opcode == Opcode.TEXT
    assert all(not f.rsv1 and f.opcode == Opcode.CONTINUATION for f in frames[1:])
    assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
    assert b"".join(f.payload for f in frames) == deflate_message(text.encode())
    (m,) = messages(client.receive_data(b"".join(s.raw for s in server.last_sent)))
    assert m.data == text and m.frames == len(frames) and m.compressed_size < len(text) // 10


def test_uncompressed_messages_are_allowed_and_controls_never_compressed() -> None:
    server, client = pair()
    plain = server.send_text("Hello", compress=False)
    assert plain == b"\x81\x05Hello"
    ping = server.send_ping(b"p")
    assert ping == b"\x89\x01p"
    close = server.send_close(1000, "bye")
    assert close[0] == 0x88
    got = client.receive_data(plain + ping)
    assert messages(got) == [MessageReceived(Opcode.TEXT, "Hello", 1, None)]
    assert not messages(got)[0].compressed


def test_compress_true_without_deflate_is_an_error() -> None:
    with pytest.raises(ValueError, match="permessage-deflate"):
        Connection("server").send_text("x", compress=True)
    with pytest.raises(ValueError, match="role"):
        Connection("server", deflate=PerMessageDeflate(None, "client"))


def test_a_refused_send_does_not_advance_the_window() -> None:
    server, client = pair()
    server.send_close()
    with pytest.raises(InvalidState, match="^cannot send: connection is CLOSING$"):
        server.send_text("Hello")
    assert server.state is State.CLOSING and server.last_sent[0].frame.opcode == Opcode.CLOSE
    # A fresh compressor would still produce the first-message bytes.
    assert server.deflate is not None and server.deflate.compress(b"Hello") == HELLO[2:]


# ============================================================================ frame rules
def test_rsv1_without_the_extension_stays_a_violation() -> None:
    client = Connection("client")
    err = violation(client.receive_data(HELLO)).error
    assert isinstance(err, FramingError) and err.close_code == 1002
    assert (err.field, err.bit_offset) == ("RSV1", 1) and "no extension" in err.message
    d = dissect(HELLO, role="client")
    assert d.error == err


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_compressed_control_frame_fails(opcode: Opcode) -> None:
    _, client = pair()
    frame = Frame(opcode, b"", rsv1=True).encode()
    ev = client.receive_data(frame)
    err = violation(ev).error
    assert isinstance(err, FramingError) and err.close_code == 1002
    assert (err.field, err.bit_offset) == ("RSV1", 1) and "control frame" in err.message
    assert dissect(frame, role="client", deflate=True).error == err
    assert ev[-1].code == 1002


def test_rsv1_on_a_continuation_fails() -> None:
    _, client = pair()
    first, second = HELLO_FRAGMENTS
    bad = bytes([second[0] | 0x40]) + second[1:]
    ev = client.receive_data(first + bad)
    err = violation(ev).error
    assert isinstance(err, FramingError) and err.close_code == 1002
    assert (err.field, err.bit_offset) == ("RSV1", 1) and "continuation" in err.message
    assert dissect(bad, role="client", deflate=True).error == err


def test_rule_function_in_bit_order() -> None:
    assert compressed_bit_violation(0xC1) is None and compressed_bit_violation(0x81) is None
    assert compressed_bit_violation(0x40).field == "RSV1"  # type: ignore[union-attr]
    assert "a compressed message" in compressed_bit_violation(0x40, compressed_message_in_progress=True).message  # type: ignore[union-attr]
    # FIN=0 on a control frame is bit 0: it comes before the RSV1 rule.
    assert header_violation(0x49, 0x00, 0, role="client", permessage_deflate=True).field == "FIN"  # type: ignore[union-attr]
    # RSV2 stays forbidden under permessage-deflate.
    assert header_violation(0xE1, 0x00, 0, role="client", permessage_deflate=True).field == "RSV2"  # type: ignore[union-attr]
    assert header_violation(0xC1, 0x00, 0, role="client", permessage_deflate=True) is None


def test_inflated_text_must_be_utf8() -> None:
    _, client = pair()
    frame = Frame(Opcode.TEXT, deflate_message(b"ok \xff\xfe"), rsv1=True).encode()
    err = violation(client.receive_data(frame)).error
    assert isinstance(err, InvalidUTF8) and err.close_code == 1007
    assert "byte 3" in err.message and err.bit_offset == 16


def test_invalid_utf8_across_compressed_fragments_points_at_the_message_byte() -> None:
    _, client = pair()
    payload = deflate_message(("é" * 40).encode() + b"\xc3(")
    frames = [Frame(Opcode.TEXT, payload[:5], fin=False, rsv1=True), Frame(Opcode.CONTINUATION, payload[5:])]
    err = violation(client.receive_data(b"".join(f.encode() for f in frames))).error
    assert isinstance(err, InvalidUTF8) and "byte 80" in err.message


def test_corrupt_deflate_data_fails_with_1002() -> None:
    _, client = pair()
    frame = Frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv1=True).encode()
    err = violation(client.receive_data(frame)).error
    assert isinstance(err, CompressionError) and err.close_code == 1002
    assert "does not inflate" in err.message and err.field == "Payload"


# ============================================================================ limits: the deflate bomb
def _bomb(total: int, chunk: int = 1 << 20) -> bytes:
    """``total`` zero bytes deflated, built without holding them all."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    out = [c.compress(zeros) for _ in range(total // chunk)]
    return b"".join(out) + c.flush(zlib.Z_SYNC_FLUSH)[:-4]


BOMB = _bomb(100 << 20)


def test_bomb_is_stopped_by_inflate_message() -> None:
    # The fixture is a real bomb: under 200 KB on the wire, 100 MiB once zlib itself inflates it.
    assert len(BOMB) < 200_000
    d = zlib.decompressobj(-15)
    inflated, rest = 0, BOMB
    while rest:
        inflated += len(d.decompress(rest, 1 << 22))
        rest = d.unconsumed_tail
    assert inflated == 100 << 20
    with pytest.raises(MessageTooBig) as info:
        inflate_message(BOMB, max_size=1 << 20)
    err = info.value
    assert err.message == "the compressed message inflates to more than 1048576 bytes"
    assert (err.close_code, err.field, err.rfc) == (1009, "Payload", "RFC 7692 section 8")


@pytest.mark.parametrize("fragment_size", [None, 300_000])
def test_a_large_compressed_frame_in_reads_is_unmasked_as_it_arrives_then_inflated(fragment_size) -> None:
    # Compressed frames of 256 KiB or more take the path that unmasks each read as it arrives.
    rng = random.Random(5)
    data = rng.randbytes(600_000) + b"log line\n" * 50_000  # a compressed frame larger than LARGE_FROM
    server, client = pair()
    wire = client.send_binary(data, fragment_size=fragment_size, compress=True)
    assert len(wire) > 2 * 256 * 1024
    events = []
    for start in range(0, len(wire), 65536):
        events += server.receive_data(wire[start:start + 65536])
    frames = [e for e in events if isinstance(e, FrameReceived)]
    large = [e for e in frames if e.size >= LARGE_FROM]
    assert large and all(e._header is not None for e in large)  # each kept as header and payload
    (message,) = messages(events)
    assert message.data == data and message.compressed_size == len(wire) - sum(
        len(e.raw) - len(e.frame.payload) for e in frames)
    assert b"".join(e.raw for e in frames) == wire
    assert server.receive_data(client.send_binary(data[:1000], compress=True))[-1].data == data[:1000]


def test_deflate_bomb_is_stopped_while_inflating() -> None:
    server = Connection("server", max_message_size=1 << 20, deflate=PerMessageDeflate(None, "server"))
    frame = Frame(Opcode.BINARY, BOMB, rsv1=True, mask_key=KEY).encode()
    tracemalloc.start()
    try:
        ev = server.receive_data(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = violation(ev).error
    assert isinstance(err, MessageTooBig) and err.close_code == 1009
    assert "max_message_size=1048576" in err.message and "while inflating" in err.message
    assert ev[-1].code == 1009 and not messages(ev)
    # The frame itself is ~100 KB and the limit 1 MiB: nothing near the 100 MiB it would inflate to.
    assert peak < 6 * (1 << 20), f"peak {peak} bytes"


def test_fragmented_bomb_is_stopped_at_the_frame_that_passes_the_limit() -> None:
    limit = 1 << 20
    server = Connection("server", max_message_size=limit, deflate=PerMessageDeflate(None, "server"))
    size = 4096
    chunks = [BOMB[i:i + size] for i in range(0, len(BOMB), size)]
    frames = [Frame(Opcode.TEXT if i == 0 else Opcode.CONTINUATION, c, fin=i == len(chunks) - 1, rsv1=i == 0,
                    mask_key=KEY).encode() for i, c in enumerate(chunks)]
    tracemalloc.start()
    try:
        got: list = []
        for f in frames:
            got += server.receive_data(f)
            if any(type(e) is ProtocolViolation for e in got):
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = violation(got).error
    assert isinstance(err, MessageTooBig)
    accepted = sum(type(e) is FrameReceived for e in got)
    assert accepted < len(frames) // 20  # ~1 MiB of zeros is a few KB of deflate: stopped early
    assert peak < 6 * (1 << 20)


def test_message_exactly_at_the_limit_passes() -> None:
    limit = 5000
    server = Connection("server", max_message_size=limit, deflate=PerMessageDeflate(None, "server"))
    for size, ok in ((limit, True), (limit + 1, False)):
        frame = Frame(Opcode.BINARY, deflate_message(b"a" * size), rsv1=True, mask_key=KEY).encode()
        conn = Connection("server", max_message_size=limit, deflate=PerMessageDeflate(None, "server"))
        ev = conn.receive_data(frame)
        assert bool(messages(ev)) is ok
    assert server.state.name == "OPEN"


def test_inflate_message_limit() -> None:
    with pytest.raises(MessageTooBig):
        inflate_message(BOMB, max_size=1 << 20)
    assert inflate_message(deflate_message(b"x" * 100), max_size=100) == b"x" * 100


# ============================================================================ parameters
def test_chromium_offer() -> None:
    (ext,) = handshake.parse_extensions("permessage-deflate; client_max_window_bits")
    offer = DeflateOffer.from_extension(ext)
    assert offer == DeflateOffer(client_max_window_bits=True)
    assert str(offer) == "permessage-deflate; client_max_window_bits"
    n = DeflateConfig().negotiate([ext])
    assert n.accepted and n.params == DeflateParams() and str(n.params) == "permessage-deflate"


def test_quoted_values_and_full_offer() -> None:
    text = ('permessage-deflate; server_no_context_takeover; client_no_context_takeover; '
            'server_max_window_bits="10"; client_max_window_bits=9')
    offer = DeflateOffer.from_extension(text)
    assert offer == DeflateOffer(True, True, 10, 9)
    assert DeflateOffer.from_extension(str(offer)) == offer


BAD_OFFERS = [
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     "server_no_context_takeover appears more than once"),
    ("permessage-deflate; client_max_window_bits=10; client_max_window_bits", "client_max_window_bits appears more"),
    ("permessage-deflate; foo", "unknown permessage-deflate parameter 'foo'"),
    ("permessage-deflate; client_no_context_takeover=1", "client_no_context_takeover takes no value"),
    ("permessage-deflate; server_max_window_bits", "server_max_window_bits needs a value"),
    ("permessage-deflate; server_max_window_bits=7", "server_max_window_bits=7"),
    ("permessage-deflate; server_max_window_bits=16", "server_max_window_bits=16"),
    ("permessage-deflate; client_max_window_bits=08", "client_max_window_bits=08"),
    ("permessage-deflate; client_max_window_bits=ten", "client_max_window_bits=ten"),
]


@pytest.mark.parametrize("text, reason", BAD_OFFERS)
def test_bad_offers_name_the_parameter(text: str, reason: str) -> None:
    with pytest.raises(HandshakeError, match=reason) as info:
        DeflateOffer.from_extension(text)
    assert info.value.header == "Sec-WebSocket-Extensions" and info.value.rfc.startswith("RFC 7692")
    # A server declines such an offer (with the reason) and takes the next one.
    n = DeflateConfig().negotiate(f"{text}, permessage-deflate")
    assert n.accepted and n.params == DeflateParams()
    assert len(n.declined) == 1 and reason in n.declined[0][1]


def test_response_syntax_is_stricter() -> None:
    with pytest.raises(HandshakeError, match="client_max_window_bits needs a value from 8 to 15 \\(in a response\\)"):
        DeflateParams.from_extension("permessage-deflate; client_max_window_bits")
    with pytest.raises(HandshakeError, match="unknown permessage-deflate parameter 'x' in the response"):
        DeflateParams.from_extension("permessage-deflate; x=1")
    with pytest.raises(ValueError):
        DeflateParams.from_extension("x-webkit-deflate-frame")


@pytest.mark.parametrize("kwargs", [
    {"server_max_window_bits": 7}, {"server_max_window_bits": 16}, {"client_max_window_bits": 16},
    {"server_max_window_bits": True}, {"level": 10}, {"mem_level": 0},
])
def test_config_values_are_checked(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DeflateConfig(**kwargs)


def test_window_8_is_never_used_to_compress() -> None:
    with pytest.raises(ValueError, match="8-bit window"):
        DeflateConfig(client_max_window_bits=8).offer()
    with pytest.raises(ValueError, match="8-bit window"):
        DeflateConfig(server_max_window_bits=8).negotiate("permessage-deflate")
    with pytest.raises(ValueError, match="8-bit window"):
        PerMessageDeflate(DeflateParams(server_max_window_bits=8), "server")
    # ... but a peer limited to 8 is inflated fine.
    n = DeflateConfig(client_max_window_bits=8).negotiate("permessage-deflate; client_max_window_bits")
    assert n.params == DeflateParams(client_max_window_bits=8)
    server = PerMessageDeflate(n.params, "server")
    assert server.inflate_bits == 8 and server.compress_bits == 15


# ============================================================================ negotiation tables
NEGOTIATIONS = [
    # (config, offer, expected response or None for declined)
    (DeflateConfig(), "permessage-deflate", "permessage-deflate"),
    (DeflateConfig(), "permessage-deflate; client_max_window_bits", "permessage-deflate"),
    (DeflateConfig(client_max_window_bits=12), "permessage-deflate; client_max_window_bits",
     "permessage-deflate; client_max_window_bits=12"),
    (DeflateConfig(client_max_window_bits=12), "permessage-deflate; client_max_window_bits=10",
     "permessage-deflate; client_max_window_bits=10"),
    (DeflateConfig(client_max_window_bits=12), "permessage-deflate", "permessage-deflate"),
    (DeflateConfig(), "permessage-deflate; client_max_window_bits=11", "permessage-deflate; client_max_window_bits=11"),
    (DeflateConfig(server_max_window_bits=12), "permessage-deflate", "permessage-deflate; server_max_window_bits=12"),
    (DeflateConfig(server_max_window_bits=12), "permessage-deflate; server_max_window_bits=10",
     "permessage-deflate; server_max_window_bits=10"),
    (DeflateConfig(server_max_window_bits=9), "permessage-deflate; server_max_window_bits=10",
     "permessage-deflate; server_max_window_bits=9"),
    (DeflateConfig(), "permessage-deflate; server_max_window_bits=8", None),
    (DeflateConfig(), "permessage-deflate; server_no_context_takeover",
     "permessage-deflate; server_no_context_takeover"),
    (DeflateConfig(server_no_context_takeover=True, client_no_context_takeover=True), "permessage-deflate",
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (DeflateConfig(), "permessage-deflate; client_no_context_takeover",
     "permessage-deflate; client_no_context_takeover"),
    (DeflateConfig(), "x-webkit-deflate-frame", None),
    (DeflateConfig(), "", None),
]


@pytest.mark.parametrize("config, offer, expected", NEGOTIATIONS)
def test_server_negotiation(config: DeflateConfig, offer: str, expected: str | None) -> None:
    n = config.negotiate(offer)
    if expected is None:
        assert not n.accepted and n.response is None
        if "permessage-deflate" in offer:
            assert n.declined and "8-bit window" in n.declined[0][1]
        return
    assert n.accepted and handshake.format_extensions([n.response]) == expected
    # Our own client accepts what our server answered.
    client = DeflateConfig(*DeflateOffer.from_extension(offer).__dict__.values()) if offer else None
    if client is not None and client.client_max_window_bits != 8:
        assert client.accept_response(expected) is not None


def test_first_acceptable_offer_wins() -> None:
    n = DeflateConfig().negotiate("foo, permessage-deflate; server_max_window_bits=8, "
                                  "permessage-deflate; client_max_window_bits=9, permessage-deflate")
    assert n.params == DeflateParams(client_max_window_bits=9)
    assert len(n.offers) == 3 and len(n.declined) == 1
    assert "accepted" in repr(n)


CLIENT_CHECKS = [
    # (offer config, response, expected params or error text)
    (DeflateConfig(), "permessage-deflate", DeflateParams()),
    (DeflateConfig(server_no_context_takeover=True), "permessage-deflate",
     "asked for server_no_context_takeover"),
    (DeflateConfig(server_max_window_bits=10), "permessage-deflate", "does not include server_max_window_bits"),
    (DeflateConfig(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=12", "larger than the 10"),
    (DeflateConfig(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=9",
     DeflateParams(server_max_window_bits=9)),
    (DeflateConfig(), "permessage-deflate; server_max_window_bits=9", DeflateParams(server_max_window_bits=9)),
    (DeflateConfig(), "permessage-deflate; client_max_window_bits=10", "the offer did not include"),
    (DeflateConfig(client_max_window_bits=True), "permessage-deflate; client_max_window_bits=10",
     DeflateParams(client_max_window_bits=10)),
    (DeflateConfig(client_max_window_bits=True), "permessage-deflate; client_max_window_bits=8", "cannot comply"),
    (DeflateConfig(client_max_window_bits=11), "permessage-deflate", DeflateParams(client_max_window_bits=11)),
    (DeflateConfig(client_max_window_bits=11), "permessage-deflate; client_max_window_bits=12",
     "larger than the 11"),
    (DeflateConfig(client_no_context_takeover=True), "permessage-deflate",
     DeflateParams(client_no_context_takeover=True)),
    (DeflateConfig(), "permessage-deflate; client_no_context_takeover",
     DeflateParams(client_no_context_takeover=True)),
    (DeflateConfig(), "permessage-deflate; server_no_context_takeover",
     DeflateParams(server_no_context_takeover=True)),
    (DeflateConfig(), "permessage-deflate; foo", "unknown permessage-deflate parameter 'foo'"),
    (DeflateConfig(), "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
     "appears more than once"),
    (DeflateConfig(), "permessage-deflate, permessage-deflate", "2 times"),
    (DeflateConfig(), "", None),
]


@pytest.mark.parametrize("config, response, expected", CLIENT_CHECKS)
def test_client_checks_the_response(config: DeflateConfig, response: str, expected: object) -> None:
    if isinstance(expected, str):
        with pytest.raises(HandshakeError, match=expected):
            config.accept_response(response)
    else:
        assert config.accept_response(response) == expected


def test_client_validates_through_the_handshake_module() -> None:
    config = DeflateConfig(client_max_window_bits=True)
    request, key = handshake.client_request("example.com", 80, extensions=[config.offer().extension()])
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in request
    parsed = handshake.parse_request(request)
    assert parsed is not None
    accepted = handshake.validate_request(parsed[0])
    n = DeflateConfig(client_max_window_bits=10).negotiate(accepted.extensions_offered)
    response = accepted.accept_response(extensions=[n.response])
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n" in response
    resp = handshake.parse_response(response)
    assert resp is not None
    agreed = handshake.validate_response(resp[0], key, extensions=[config.offer().extension()])
    assert config.accept_response(agreed.extensions) == DeflateParams(client_max_window_bits=10)
    assert find_params(resp[0].headers) == DeflateParams(client_max_window_bits=10)


# ============================================================================ compressed only when smaller
def test_a_message_compression_would_grow_goes_uncompressed() -> None:
    """RFC 7692 section 6: an endpoint may send a message uncompressed; ours does when deflate would grow it."""
    for params in (DeflateParams(), DeflateParams(server_no_context_takeover=True)):
        server, client = pair(params)
        noise = random.Random(1).randbytes(5000)
        text = "the quick brown fox " * 50
        wire = server.send_binary(noise)
        assert not server.last_sent[0].frame.rsv1 and server.last_sent[0].frame.payload == noise
        wire += server.send_text(text)
        assert server.last_sent[0].frame.rsv1 and len(server.last_sent[0].frame.payload) < len(text) // 5
        wire += server.send_text("Hi")  # a few bytes: never smaller, never compressed
        assert not server.last_sent[0].frame.rsv1
        wire += server.send_text(text)  # with context takeover: refers back to the text before
        got = messages(client.receive_data(wire))
        assert [m.data for m in got] == [noise, text, "Hi", text]
        assert [m.compressed for m in got] == [False, True, False, True]


def test_after_an_uncompressed_message_the_stream_goes_on_with_the_window_before_it() -> None:
    """With context takeover the compressor saw the message it then did not send: the next one is
    deflated by a compressor primed with the window the peer holds, which never held that message,
    so it still refers back to the text before, and the peer inflates it."""
    server, client = pair()
    text = "the quick brown fox jumps over the lazy dog " * 30
    wire = server.send_text(text)
    second = server.send_text(text)  # refers to the first: a few bytes
    wire += second
    wire += server.send_binary(random.Random(2).randbytes(3000))  # compressed, then sent as it is
    assert not server.last_sent[0].frame.rsv1
    after = server.send_text(text)
    assert server.last_sent[0].frame.rsv1 and len(after) == len(second)
    got = messages(client.receive_data(wire + after))
    assert [m.data for m in got] == [text, text, random.Random(2).randbytes(3000), text]


def test_a_large_message_whose_start_does_not_compress_is_not_compressed_and_the_context_stays() -> None:
    """From 32 KiB on the first KiB is looked at first: random bytes go uncompressed without the
    compressor seeing them, so the next message still refers back to the one before."""
    from wsexplore.protocol.deflate import _LOOK_FROM

    server, client = pair()
    text = "the quick brown fox jumps over the lazy dog " * 30
    wire = server.send_text(text)
    second = server.send_text(text)  # refers to the first: a few bytes
    wire += second
    noise = random.Random(4).randbytes(_LOOK_FROM)
    wire += server.send_binary(noise)
    assert not server.last_sent[0].frame.rsv1 and server.last_sent[0].frame.payload == noise
    after = server.send_text(text)  # the context is intact: as small as the second time
    assert len(after) == len(second)
    # Random bytes first, then text that would compress: the look sees the start only.
    mixed = random.Random(5).randbytes(1024) + b"x" * _LOOK_FROM
    wire += after + server.send_binary(mixed)
    assert not server.last_sent[0].frame.rsv1
    wire += server.send_binary(mixed, compress=True)  # compress=True compresses all the same
    assert server.last_sent[0].frame.rsv1 and len(server.last_sent[0].frame.payload) < 2 * 1024
    # Below 32 KiB the whole message is deflated to find out (then the window before it is primed).
    wire += server.send_binary(noise[:_LOOK_FROM - 1])
    assert not server.last_sent[0].frame.rsv1
    got = messages(client.receive_data(wire))
    assert [m.data for m in got] == [text, text, noise, text, mixed, mixed, noise[:_LOOK_FROM - 1]]
    assert [m.compressed for m in got] == [True, True, False, True, False, True, False]


def test_compress_true_compresses_even_what_grows() -> None:
    server, client = pair()
    noise = random.Random(3).randbytes(1000)
    server.send_binary(noise, compress=True)
    frame = server.last_sent[0].frame
    assert frame.rsv1 and len(frame.payload) > len(noise)
    assert messages(client.receive_data(server.last_sent[0].raw))[0].data == noise


# ============================================================================ interop with websockets
TEXTS = ["Hello", "Hello", "", "é" * 300, "the quick brown fox " * 200, "Hello", "x" * 70_000]
NOISE = random.Random(7692).randbytes(20_000)  # incompressible: sent uncompressed, then text again


def _ws_messages(frames: list) -> list[str | bytes]:
    out: list[str | bytes] = []
    parts: list[bytes] = []
    opcode = None
    for f in frames:
        if f.opcode in (WSOpcode.TEXT, WSOpcode.BINARY):
            opcode, parts = f.opcode, [bytes(f.data)]
        elif f.opcode is WSOpcode.CONT:
            parts.append(bytes(f.data))
        else:
            continue
        if f.fin:
            data = b"".join(parts)
            out.append(data.decode() if opcode is WSOpcode.TEXT else data)
    return out


def _exchange(ours: Connection, theirs: ClientProtocol | ServerProtocol) -> None:
    """Messages both ways, some fragmented, some binary; every one must arrive intact and compressed."""
    sent: list[str | bytes] = []
    wire = b""
    for i, text in enumerate([*TEXTS, NOISE, TEXTS[4]]):
        message: str | bytes = text if isinstance(text, bytes) or i % 2 == 0 else text.encode()
        sent.append(message)
        if isinstance(message, str):
            wire += ours.send_text(message, fragment_size=1000 if i == 4 else None)
        else:
            wire += ours.send_binary(message)
        # Compressed when that is smaller: the long ones; the few bytes of "Hello" and the noise go as they are.
        size = len(message.encode() if isinstance(message, str) else message)
        assert ours.last_sent[0].frame.rsv1 == (message is not NOISE and size > 100), (i, size)
    theirs.receive_data(wire)
    got = _ws_messages(theirs.events_received())
    assert got == sent
    # And back: websockets compresses, we inflate.
    for i, message in enumerate(sent):
        if isinstance(message, str):
            theirs.send_text(message.encode(), fin=True)
        else:
            theirs.send_binary(message, fin=True)
    back = b"".join(theirs.data_to_send())
    ev = ours.receive_data(back)
    assert not [e for e in ev if type(e) is ProtocolViolation], ev
    msgs = messages(ev)
    assert [m.data for m in msgs] == sent
    assert all(m.compressed for m in msgs)  # websockets compresses every message, the noise too
    first = [e for e in ev if type(e) is FrameReceived][0]
    assert first.frame.rsv1


SERVER_GRID = list(itertools.product([False, True], [False, True], [None, 9, 12, 15], [None, 8, 10, 15]))


@pytest.mark.parametrize("snct, cnct, smwb, cmwb", SERVER_GRID)
def test_interop_our_client_websockets_server(snct: bool, cnct: bool, smwb: int | None, cmwb: int | None) -> None:
    """Our client offers; websockets' ServerPerMessageDeflateFactory answers; messages cross both ways."""
    factory = ServerPerMessageDeflateFactory(server_no_context_takeover=snct, client_no_context_takeover=cnct,
                                             server_max_window_bits=smwb,
                                             client_max_window_bits=cmwb)
    config = DeflateConfig(client_max_window_bits=True)
    theirs = ServerProtocol(extensions=[factory], max_size=None)
    request, key = handshake.client_request("localhost", 80, extensions=[config.offer().extension()])
    theirs.receive_data(request)
    (req,) = theirs.events_received()
    theirs.send_response(theirs.accept(req))
    (response_bytes,) = theirs.data_to_send()
    parsed = handshake.parse_response(response_bytes)
    assert parsed is not None
    agreed = handshake.validate_response(parsed[0], key, extensions=[config.offer().extension()])
    if cmwb == 8:  # websockets' server may limit the client to 8, which zlib cannot compress with
        with pytest.raises(HandshakeError, match="cannot comply"):
            config.accept_response(agreed.extensions)
        return
    params = config.accept_response(agreed.extensions)
    assert params is not None and params.client_max_window_bits == cmwb
    assert params.server_no_context_takeover == snct and params.client_no_context_takeover == cnct
    assert params.server_max_window_bits == smwb
    ours = Connection("client", deflate=config.connection(params, "client"))
    _exchange(ours, theirs)


CLIENT_GRID = list(itertools.product([False, True], [False, True], [None, 8, 10, 15], [None, True, 9, 15]))


@pytest.mark.parametrize("snct, cnct, smwb, cmwb", CLIENT_GRID)
def test_interop_websockets_client_our_server(snct: bool, cnct: bool, smwb: int | None,
                                              cmwb: int | bool | None) -> None:
    """websockets' ClientPerMessageDeflateFactory offers; our server negotiates; messages cross both ways."""
    factory = ClientPerMessageDeflateFactory(server_no_context_takeover=snct, client_no_context_takeover=cnct,
                                             server_max_window_bits=smwb, client_max_window_bits=cmwb)
    theirs = ClientProtocol(parse_uri("ws://localhost/"), extensions=[factory], max_size=None)
    theirs.send_request(theirs.connect())
    (request_bytes,) = theirs.data_to_send()
    parsed = handshake.parse_request(request_bytes)
    assert parsed is not None
    accepted = handshake.validate_request(parsed[0])
    config = DeflateConfig(client_max_window_bits=12)
    n = config.negotiate(accepted.extensions_offered)
    theirs.receive_data(accepted.accept_response(extensions=[n.response] if n.accepted else None))
    theirs.events_received()
    assert theirs.state is WSState.OPEN and theirs.handshake_exc is None
    if smwb == 8:  # zlib cannot compress with 8 bits: declined, as websockets' own server does
        assert not n.accepted and "8-bit window" in n.declined[0][1]
        return
    assert n.accepted and n.params is not None
    assert n.params.server_no_context_takeover == snct and n.params.client_no_context_takeover == cnct
    assert n.params.server_max_window_bits == smwb
    if cmwb is True:
        assert n.params.client_max_window_bits == 12
    elif cmwb is not None:
        assert n.params.client_max_window_bits == min(cmwb, 12)
    ours = Connection("server", deflate=config.connection(n.params, "server"))
    _exchange(ours, theirs)


# ============================================================================ properties
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=30),
       fragment=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
       reset=st.booleans())
def test_any_split_gives_the_same_messages(texts: list[str], cuts: list[int], fragment: int | None,
                                           reset: bool) -> None:
    params = DeflateParams(client_no_context_takeover=reset)
    server, client = pair(params)
    wire = b"".join(client.send_text(t, fragment_size=fragment) for t in texts)
    got = []
    pos = 0
    for n in cuts:
        got += server.receive_data(wire[pos:pos + n])
        pos += n
    got += server.receive_data(wire[pos:])
    assert [m.data for m in messages(got)] == texts
    assert not [e for e in got if type(e) is ProtocolViolation]


_WORDS = [b"alpha ", b"bravo ", b"charlie ", b"delta ", b"echo ", b"foxtrot ", b"golf ", b"hotel\n"]


def _wordy(seed: int, size: int) -> bytes:
    """``size`` bytes of repetitive text: it compresses, and refers back into earlier messages."""
    rng = random.Random(seed)
    return b"".join(rng.choices(_WORDS, k=size // 4 + 1))[:size]


_MESSAGE = st.one_of(
    st.binary(max_size=64),  # a few bytes: sent as they are, or compressed with compress=True
    st.builds(_wordy, st.integers(0, 3), st.integers(0, 3000)),  # below FAST_FROM: the connection's zlib
    st.builds(_wordy, st.integers(0, 3), st.integers(deflate.FAST_FROM - 2, 3 * deflate.FAST_FROM)),  # zlib-ng
    st.builds(lambda seed, n: random.Random(seed).randbytes(n), st.integers(0, 3), st.integers(100, 6000)),
)


@settings(max_examples=150, deadline=None)
@given(sends=st.lists(st.tuples(_MESSAGE, st.booleans()), min_size=1, max_size=10),
       bits=st.integers(min_value=9, max_value=15), reset=st.booleans(), fast=st.booleans())
def test_any_mix_of_sizes_inflates_as_one_stream(sends: list[tuple[bytes, bool]], bits: int, reset: bool,
                                                 fast: bool) -> None:
    """Messages of any size in any order, compressed when smaller or always: the peer's one inflater
    (zlib, the window it agreed to, the tail appended) gets every compressed message back, whichever
    compressor made it (the connection's zlib one, or zlib-ng's made for a large message and primed
    with the window), and whatever went uncompressed in between."""
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(deflate, "_zlib_ng", None)  # a platform without zlib-ng's wheel
        ours = PerMessageDeflate(DeflateParams(server_no_context_takeover=reset, server_max_window_bits=bits))
        peer = zlib.decompressobj(-bits)
        for data, always in sends:
            out = ours.compress(data) if always else ours.compress_if_smaller(data)
            if out is None:
                assert not always
                continue
            if reset:
                peer = zlib.decompressobj(-bits)
            assert peer.decompress(out + deflate.TAIL) == data


def _outcome(events: list) -> tuple:
    """What a reader makes of a message: its data and compressed size, or the rule broken and where."""
    found = [e for e in events if type(e) is ProtocolViolation]
    if found:
        err = found[0].error
        return type(err), err.close_code, err.bit_offset, err.field
    return tuple((m.opcode, m.data, m.compressed_size) for m in messages(events))


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), st.builds(_wordy, st.integers(0, 3), st.integers(0, 2000)),
                      st.builds(lambda t: t.encode(), st.text(max_size=200))),
       text=st.booleans(), damage=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=2),
       limit=st.integers(2, 3000), before=st.booleans())
def test_a_compressed_message_in_one_frame(data: bytes, text: bool, damage: list, limit: int, before: bool) -> None:
    """A compressed message in one frame (the receive loop's fast path, at the start of a read or after
    another message): inflated whole under the limit, then its text checked, as RFC 7692 and RFC 6455
    say, whatever its bytes: the message, or the first rule broken (1009 for a payload longer than the
    limit, at the length; 1002 for bad deflate data, 1009 past the limit once inflated, 1007 for text
    that is not UTF-8 once inflated, at the payload's first bit)."""
    payload = bytearray(deflate_message(data))
    for at, value in damage:
        if payload:
            payload[at % len(payload)] = value
    opcode = Opcode.TEXT if text else Opcode.BINARY
    frame = Frame(opcode, bytes(payload), rsv1=True, mask_key=KEY).encode()
    first = Frame(Opcode.TEXT, b"hi", mask_key=KEY).encode() if before else b""
    server = Connection("server", deflate=PerMessageDeflate(DeflateParams(), "server"), max_message_size=limit)
    events = server.receive_data(first + frame)
    # What the rules give, worked out from the payload alone.
    hl = len(frame) - len(payload)
    expected: tuple
    try:
        if len(payload) > limit:  # judged from the header, before inflating (fail fast)
            raise MessageTooBig("", field="Payload length", bit_offset=9)
        inflated = inflate_message(bytes(payload), max_size=limit)
        message = inflated.decode() if text else inflated
        expected = (*(((Opcode.TEXT, "hi", None),) if before else ()), (opcode, message, len(payload)))
    except (CompressionError, MessageTooBig) as exc:
        expected = (type(exc), exc.close_code, exc.bit_offset if exc.bit_offset == 9 else hl * 8, exc.field)
    except UnicodeDecodeError:
        expected = (InvalidUTF8, 1007, hl * 8, "Payload")
    if before and len(expected) == 4:
        assert messages(events)[0].data == "hi"  # the message before the bad frame is reported
    assert _outcome(events) == expected
    if len(expected) == 4:
        assert server.state in (State.CLOSING, State.CLOSED)


def test_large_messages_are_deflated_by_zlib_ng_primed_with_the_window() -> None:
    """From FAST_FROM bytes on the output is zlib-ng's, with the connection's settings, primed with the
    window the peer holds: a message that repeats the end of the one before refers back to it."""
    assert deflate._zlib_ng is not None, "zlib-ng is a dependency: large messages deflate with it"
    from zlib_ng import zlib_ng

    first = _wordy(1, 3 * deflate.FAST_FROM)
    ours = PerMessageDeflate(DeflateParams(server_max_window_bits=12), mem_level=5)
    out = ours.compress(first)
    c = zlib_ng.compressobj(-1, zlib.DEFLATED, -12, 5)
    assert out == (c.compress(first) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    c = zlib.compressobj(-1, zlib.DEFLATED, -12, 5)
    assert out != (c.compress(first) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]  # so the line above says which
    # The next messages, small (zlib) and large (zlib-ng), repeat the end of the one before: a few bytes.
    small = first[-1000:]
    again = ours.compress(small)
    assert len(again) < 20
    large = (first[-1500:] * 3)[: deflate.FAST_FROM]
    alone = PerMessageDeflate(DeflateParams(server_max_window_bits=12), mem_level=5).compress(large)
    primed = ours.compress(large)
    assert len(primed) < len(alone) / 2
    peer = zlib.decompressobj(-12)
    wire = [out, again, primed, ours.compress(first[-2000:])]
    assert [peer.decompress(x + deflate.TAIL) for x in wire] == [first, small, large, first[-2000:]]


def test_the_window_kept_between_messages_is_bounded() -> None:
    """What a connection keeps to prime the next compressor: the last bytes sent, not whole messages."""
    ours = PerMessageDeflate(DeflateParams(server_max_window_bits=10))
    big = _wordy(2, 100_000)
    ours.compress(big)
    assert ours._recent == [big[-1024:]] and ours._recent[0] is not big
    for i in range(50):
        ours.compress(_wordy(i, 300))
    assert sum(map(len, ours._recent)) < 2 * 1024 and ours._window() == b"".join(ours._recent)[-1024:]
    # A buffer given to compress and changed afterwards does not change what the next message refers to.
    ours, peer = PerMessageDeflate(DeflateParams(server_max_window_bits=10)), zlib.decompressobj(-10)
    buffer = bytearray(_wordy(7, 300))
    wire = [ours.compress(buffer)]
    sent = bytes(buffer)
    buffer[:] = _wordy(8, 300)
    large = (bytes(buffer) * 20)[: deflate.FAST_FROM]  # deflated by a compressor primed with the window
    wire.append(ours.compress(large))
    assert [peer.decompress(w + deflate.TAIL) for w in wire] == [sent, large]


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=2000), bits=st.integers(min_value=9, max_value=15))
def test_deflate_round_trip(data: bytes, bits: int) -> None:
    assert inflate_message(deflate_message(data, window_bits=bits), window_bits=bits) == data


# ============================================================================ dissector
def test_dissect_hello() -> None:
    d = dissect(HELLO, role="client", deflate=True)
    assert d.ok and d.compressed
    assert d.field("RSV1").value == 1 and "per-message compressed" in d.field("RSV1").meaning
    payload = d.field("Payload")
    assert payload.value == HELLO[2:] and payload.display == "f2 48 cd c9 c9 07 00"
    assert 'inflates to 5 B text "Hello"' in payload.meaning and "140%" in payload.meaning
    assert d.inflated == b"Hello" and d.text == "Hello" and d.compression_ratio == pytest.approx(1.4)
    text = str(d)
    assert text == str(dissect(HELLO, role="client", deflate=True))  # deterministic
    assert "permessage-deflate (RFC 7692)" in text and "00 00 ff ff appended" in text
    assert '"Hello"' in text and "140%" in text
    assert "inflated" in render_html(d) and "&quot;Hello&quot;" in render_html(d)


def test_dissect_without_the_extension_flags_rsv1() -> None:
    d = dissect(HELLO, role="client")
    assert not d.compressed and d.error is not None and d.error.field == "RSV1"
    assert "permessage-deflate (RFC 7692)" not in str(d)


def test_dissect_masked_client_frame() -> None:
    d = dissect(masked(HELLO), role="server", deflate=DeflateParams())
    assert d.ok and d.text == "Hello" and d.payload == HELLO[2:] and d.masked_payload != HELLO[2:]


def test_dissect_context_takeover_needs_the_message() -> None:
    alone = dissect(HELLO_AGAIN, role="client", deflate=True)
    assert alone.ok and alone.compressed and alone.inflated is None and alone.text is None
    assert "context takeover" in alone.inflate_note and "context takeover" in str(alone)
    given_ = dissect(HELLO_AGAIN, role="client", deflate=True, inflated="Hello")
    assert given_.ok and given_.text == "Hello" and given_.compression_ratio == 1.0
    # When the sender resets its window for every message, a frame that does not inflate is a violation.
    strict = dissect(HELLO_AGAIN, role="client", deflate=DeflateParams(server_no_context_takeover=True))
    assert isinstance(strict.error, CompressionError) and strict.error.bit_offset == 16


def test_dissect_stream_inflates_in_order() -> None:
    stream = HELLO + HELLO_AGAIN + b"".join(HELLO_FRAGMENTS) + b"\x89\x00" + HELLO_STORED
    ds = dissect_stream(stream, role="client", deflate=True)
    assert all(d.ok for d in ds)
    assert [(d.opcode, d.text, d.compressed) for d in ds] == [
        (Opcode.TEXT, "Hello", True), (Opcode.TEXT, "Hello", True), (Opcode.TEXT, "Hello", True),
        (Opcode.CONTINUATION, "Hello", True), (Opcode.PING, None, False), (Opcode.TEXT, "Hello", True)]
    assert ds[1].inflate_note.startswith("inflated message supplied")
    cont = ds[3]
    assert "continuation of a compressed message" in cont.field("Payload").meaning
    assert "0: only a message's first frame" in cont.field("RSV1").meaning
    # Without the extension, the same stream fails at the first frame.
    assert dissect_stream(stream, role="client")[0].error.field == "RSV1"  # type: ignore[union-attr]


def test_dissect_first_fragment_inflates_so_far() -> None:
    d = dissect(HELLO_FRAGMENTS[0], role="client", deflate=True)
    # f2 48 cd is the first fragment of RFC 7692's "Hello" (section 7.2.3.1): it holds "He".
    assert d.ok and d.inflated == b"He" and d.text == "He"
    assert 'inflates so far to 2 B text "He"' in d.field("Payload").meaning
    whole = dissect_stream(b"".join(HELLO_FRAGMENTS), role="client", deflate=True)
    assert [(x.inflated, x.text) for x in whole] == [(b"Hello", "Hello"), (b"Hello", "Hello")]


def test_dissect_bomb_preview_is_bounded() -> None:
    frame = Frame(Opcode.BINARY, BOMB, rsv1=True).encode()
    d = dissect(frame, role="client", deflate=True)
    assert d.ok and d.inflated is None and "more than" in d.inflate_note


def test_dissect_invalid_inflated_text() -> None:
    frame = Frame(Opcode.TEXT, deflate_message(b"ok \xff"), rsv1=True).encode()
    d = dissect(frame, role="client", deflate=True)
    assert isinstance(d.error, InvalidUTF8) and d.error.field == "Payload" and d.error.bit_offset == 16


def test_name_and_offer_helpers() -> None:
    assert NAME == ServerPerMessageDeflateFactory.name == ClientPerMessageDeflateFactory.name  # websockets' name
    assert DeflateOffer(server_max_window_bits=10).extension() == Extension(NAME, (("server_max_window_bits", "10"),))
    assert repr(PerMessageDeflate()) == "PerMessageDeflate('permessage-deflate', role='server')"


def test_reprs_and_arguments() -> None:
    assert repr(DeflateConfig().negotiate("x-webkit-deflate-frame")) == "Negotiation(no permessage-deflate offer)"
    declined = DeflateConfig().negotiate("permessage-deflate; server_max_window_bits=8")
    assert repr(declined).startswith("Negotiation(declined 1 offer(s): 'permessage-deflate; server_max_window_bits=8'")
    # A connection's own state may be passed to the dissector.
    d = dissect(HELLO, role="client", deflate=PerMessageDeflate(DeflateParams(), "client"))
    assert d.ok and d.text == "Hello" and d.deflate == DeflateParams()
    m = MessageReceived(Opcode.TEXT, "x")
    assert repr(m) == "MessageReceived(opcode=Opcode.TEXT, data='x', frames=1)"
    assert repr(MessageReceived(Opcode.TEXT, "x", 1, 3)).endswith("frames=1, compressed_size=3)")
