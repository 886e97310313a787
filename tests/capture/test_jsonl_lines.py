"""``jsonl.lines`` writes most frame and message records out directly: each such line is exactly what
``json.dumps(record_to_json(record))`` writes, and every line of a file loads back."""

from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsexplore.capture import Capture
from wsexplore.capture.formats.jsonl import (
    _BASE64_CHUNK,
    _SPLICED,
    LargeLine,
    _frame_line,
    _message_line,
    _spliced_line,
    lines,
    loads,
    record_lines,
    record_to_json,
)
from wsexplore.capture.records import FrameRecord, MessageRecord, build
from wsexplore.protocol.frames import Frame

frames = st.builds(
    lambda opcode, payload, key, cut: Frame(opcode, payload, mask_key=key).encode()[:cut],
    st.integers(0, 15), st.binary(max_size=300), st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
    st.one_of(st.none(), st.integers(0, 20)))
records = st.builds(
    FrameRecord, st.integers(1, 2**63 - 1), st.one_of(st.none(), st.integers(0, 2**31)),
    st.floats(-1e14, 1e14), st.floats(-6e10, 2.5e11),  # the clocks a file may hold
    st.sampled_from(["in", "out"]), st.integers(0, 2**53), frames)


messages = st.builds(
    MessageRecord, st.integers(1, 2**63 - 1), st.one_of(st.none(), st.integers(0, 2**31)),
    st.floats(-1e14, 1e14), st.floats(-6e10, 2.5e11), st.sampled_from(["in", "out"]), st.integers(0, 15),
    st.one_of(st.text(st.characters(exclude_categories=()), max_size=60), st.binary(max_size=200)),
    st.integers(0, 2**31),
    st.one_of(st.none(), st.integers(0, 2**31)))


@given(messages)
def test_a_message_line_is_what_json_dumps_writes(record: MessageRecord) -> None:
    """Any text (control characters, quotes, non-ASCII, lone surrogates), any bytes, compressed or not."""
    line = _message_line(record)
    assert line is not None
    assert line == json.dumps(record_to_json(record, False)).encode() + b"\n"
    again = loads(b"".join(lines(_saved([record]))).decode()).records
    assert again == [record]


def _saved(recs: list) -> object:
    capture = Capture()
    for r in recs:
        capture._append(r, r.conn, r.nbytes, 0)
    return capture._saved()


@given(records)
def test_a_frame_line_is_what_json_dumps_writes(record: FrameRecord) -> None:
    line = _frame_line(record)
    assert line is not None  # no error, not injected: written out directly
    assert line == json.dumps(record_to_json(record, False)).encode() + b"\n"


@given(st.lists(records, max_size=5))
def test_the_lines_load_back(recs: list[FrameRecord]) -> None:
    capture = Capture()
    for r in sorted(recs, key=lambda r: r.seq):
        if not capture or r.seq > capture[-1].seq:
            capture._append(r, r.conn, r.nbytes, 0)
    loaded = loads(b"".join(lines(capture._saved())).decode())
    assert [(r.seq, r.conn, r.time, r.wall, r.direction, r.offset, r.raw) for r in loaded.records] == [
        (r.seq, r.conn, r.time, r.wall, r.direction, r.offset, r.raw) for r in capture]


@given(st.one_of(records, messages), st.booleans(), st.integers(0, 2))
def test_a_pending_record_is_written_as_the_record_it_stands_for(record, injected: bool, size: int) -> None:
    """The tuple a capture keeps until a record is read gives the same line as the record built from
    it, whether written from the tuple (a plain frame or message) or built first (the others)."""
    if type(record) is FrameRecord:
        raw = record.raw + bytes(size * 40_000)  # past the size written directly, for some
        entry = ("frame", record.seq, record.conn, record.time, record.wall, record.direction, record.offset,
                 raw, None, None) + ((True,) if injected else ())
    else:
        data = record.data * (1 + size * 40_000 // max(len(record.data), 1))
        entry = ("message", record.seq, record.conn, record.time, record.wall, record.direction, record.opcode,
                 data, record.frames, record.compressed_size)
    built = build(entry)
    line = list(record_lines([entry]))
    assert line == list(record_lines([built]))
    header = next(lines(_saved([built])))
    assert loads((header + line[0]).decode()).records == [built]


@given(st.one_of(records, messages), st.integers(47_000, 70_000), st.integers(0, 2))
def test_a_large_record_is_written_as_json_dumps_and_the_splice_write_it(record, size: int, form: int) -> None:
    """A frame or message whose base64 field is long enough to be spliced in (moved to the end of the line,
    not escaped by ``json.dumps``): written directly, it is the same line, whatever its size around the
    limit, and loads back."""
    if type(record) is FrameRecord:
        raw = record.raw + bytes(size)
        record = FrameRecord(record.seq, record.conn, record.time, record.wall, record.direction, record.offset, raw)
    else:
        data = (record.data.encode("utf-8", "surrogatepass") if form == 0 and type(record.data) is str
                else record.data) * (1 + size // max(len(record.data), 1))
        record = MessageRecord(record.seq, record.conn, record.time, record.wall, record.direction, record.opcode,
                               data[:size] if form == 1 else data, record.frames, record.compressed_size)
    (line,) = record_lines([record])
    assert line == _spliced_line(record, False, record.nbytes >= _SPLICED * 3 // 4)
    header = next(lines(_saved([record])))
    assert loads((header + line).decode()).records == [record]


@pytest.mark.parametrize("n", [0, 1, _BASE64_CHUNK - 1, _BASE64_CHUNK, _BASE64_CHUNK + 1, 3 * _BASE64_CHUNK + 2])
def test_a_large_line_in_parts_is_the_whole_line(n: int) -> None:
    """The base64 of a large line's data, made a chunk at a time, is the base64 of the whole."""
    data = bytes(random.Random(n).randrange(256) for _ in range(n))
    line = LargeLine(b'{"raw": "', data, b'"}\n')
    whole = b'{"raw": "' + base64.b64encode(data) + b'"}\n'
    assert b"".join(line.parts()) == whole and line.size == len(whole)


@given(st.text(alphabet=st.sampled_from(["a", "{", " ", "\n", "\t", "\r", "\x0b", "\x1c", "\x85", "\u00a0",
                                          "\u2028", "é"]), max_size=30))
def test_the_lines_read_are_the_non_blank_lines_split_off_the_text(text: str) -> None:
    """``loads`` takes each line from the text as it parses it: the same lines, numbered the same, as
    splitting the text at its newlines and leaving out those that ``str.strip`` empties."""
    from wsexplore.capture.formats.jsonl import _line_spans

    expected = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    assert [(number, text[start:end]) for number, start, end in _line_spans(text)] == expected
