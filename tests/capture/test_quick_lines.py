"""``quick_frame_line``, the console's way to a frame's line straight from its bytes, says exactly what
``format_record`` says for the same record, whatever the bytes; it only declines frames it does not read."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from wsexplore.capture.lines import format_body, format_record, frame_line, quick_frame_line
from wsexplore.capture.records import FrameRecord
from wsexplore.protocol.frames import Frame, frame_payload
from wsexplore.protocol.header import parse_header
from wsexplore.protocol.opcodes import Opcode

WALL = 1_700_000_000.25


def record(raw: bytes, direction: str = "in", conn: int | None = 3) -> FrameRecord:
    return FrameRecord(7, conn, 1.0, WALL, direction, 0, raw)  # type: ignore[arg-type]


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Frames of any header bits, opcode and length encoding, masked or not, with text, binary or
    broken UTF-8, sometimes cut short or followed by more bytes."""
    payload = draw(st.one_of(st.text(max_size=80).map(str.encode), st.binary(max_size=300),
                             st.integers(126, 70_000).map(lambda n: b"a\xe2\x82" * (n // 3))))
    key = draw(st.one_of(st.none(), st.binary(min_size=4, max_size=4)))
    raw = Frame(draw(st.sampled_from(list(range(16)))), payload, fin=draw(st.booleans()), rsv1=draw(st.booleans()),
                rsv2=draw(st.booleans()), rsv3=draw(st.booleans()), mask_key=key).encode()
    cut = draw(st.one_of(st.none(), st.integers(0, len(raw)), st.binary(min_size=1, max_size=3)))
    if isinstance(cut, int):
        return raw[:cut]
    return raw if cut is None else raw + cut


@given(frames(), st.sampled_from(["in", "out"]), st.one_of(st.none(), st.integers(1, 10_000)))
@example(Frame(Opcode.TEXT, "发送数据".encode(), mask_key=b"\x01\x02\x03\x04").encode(), "in", 1)
@example(Frame(Opcode.TEXT, b"\x1b[2J\"\\", mask_key=b"\x01\x02\x03\x04").encode(), "in", 1)
@example(Frame(Opcode.BINARY, b"").encode(), "out", 1)
@example(Frame(Opcode.TEXT, b"x" * 300).encode(), "out", None)
def test_the_quick_line_is_the_line(raw: bytes, direction: str, conn: int | None) -> None:
    line = quick_frame_line(conn, WALL, direction, raw)
    if line is not None:
        assert line == format_record(record(raw, direction, conn))


def test_it_reads_the_frames_a_server_sees_most() -> None:
    masked_text = Frame(Opcode.TEXT, b"hello", mask_key=b"\x01\x02\x03\x04").encode()
    binary = Frame(Opcode.BINARY, bytes(1000)).encode()  # a 16-bit length
    for raw in (masked_text, binary):
        assert quick_frame_line(1, WALL, "in", raw) == format_record(record(raw, "in", 1))
    # What it leaves to format_record: control frames, 64-bit lengths, broken UTF-8, incomplete frames.
    for raw in (Frame(Opcode.PING, b"").encode(), Frame(Opcode.BINARY, bytes(70_000)).encode(),
                Frame(Opcode.TEXT, b"\xff").encode(), masked_text[:-1]):
        assert quick_frame_line(1, WALL, "in", raw) is None


@given(frames(), st.sampled_from(["in", "out"]), st.booleans())
@example(Frame(Opcode.BINARY, bytes(range(256)) * 300, mask_key=b"\x01\x02\x03\x04").encode(), "in", False)
@example(Frame(Opcode.BINARY, bytes(25), mask_key=b"\x01\x02\x03\x04").encode(), "in", True)
def test_a_line_shows_what_the_whole_payload_would_show(raw: bytes, direction: str, compressed: bool) -> None:
    """Binary and compressed payloads are shown in hex, so only the bytes shown are unmasked: the line
    is the one the whole unmasked payload gives."""
    header = parse_header(raw)
    body = format_body(record(raw, direction), compressed=compressed)
    if header is not None:
        arrow = "in  →" if direction == "in" else "out ←"
        assert body == f"{arrow} " + frame_line(header.b0, header.masked, header.opcode, header.length,
                                                 header.mask_key, frame_payload(raw, header), None,
                                                 compressed=compressed)
