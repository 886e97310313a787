"""``tcp.Stream``: segments in any order become the bytes the receiver read, and holes are said."""

from __future__ import annotations

from wsexplore.capture.formats.tcp import SEQ_MOD, Data, Gap, Stream


def read(items: list) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, Data))


def test_in_order_after_the_syn() -> None:
    s = Stream()
    assert s.add(1000, b"", syn=True) == []
    assert s.add(1001, b"abc") == [Data(0, b"abc")]
    assert s.add(1004, b"def") == [Data(3, b"def")]
    assert s.seq_of(3) == 1004


def test_out_of_order_duplicates_and_overlaps() -> None:
    s = Stream(999)
    assert s.add(1006, b"ghi") == []  # waits behind a hole
    assert s.add(1000, b"abc") == [Data(0, b"abc")]
    out = s.add(1002, b"cdef")  # overlaps what was read and fills the hole
    assert read(out) == b"def" + b"ghi"
    assert s.add(1000, b"abcdefghi") == []  # a retransmission of everything
    assert s.duplicate_bytes == 1 + 9
    assert s.delivered == 9


def test_an_ack_past_a_hole_declares_it_missing() -> None:
    s = Stream(999)
    s.add(1000, b"abc")
    assert s.add(1010, b"xyz") == []  # 7 bytes missing before it, or only late?
    out = s.ack(1013)  # the receiver had them all: the capture lost 7
    assert out == [Gap(3, 7, 1003), Data(10, b"xyz")]


def test_an_ack_alone_declares_nothing() -> None:
    s = Stream(999)
    s.add(1000, b"abc")
    assert s.ack(2000) == []  # the bytes may still come later in the file
    assert s.add(1003, b"def") == [Data(3, b"def")]


def test_too_many_bytes_waiting_and_the_end() -> None:
    s = Stream(999, max_pending=4)
    s.add(1000, b"a")
    assert s.add(1005, b"bcd") == []
    out = s.add(1008, b"efg")  # 6 bytes wait: more than max_pending
    assert out[0] == Gap(1, 4, 1001) and read(out) == b"bcdefg"
    s.add(1020, b"zz", fin=True)
    out = s.end()
    assert out == [Gap(11, 9, 1011), Data(20, b"zz")]
    assert s.ended


def test_fin_ends_the_stream_and_a_cut_fin_is_a_gap() -> None:
    s = Stream(999)
    s.add(1000, b"ab")
    s.add(1005, b"", fin=True)  # FIN at offset 5: three bytes never seen
    assert not s.ended
    assert s.end() == [Gap(2, 3, 1002)]


def test_snapshot_length_cut() -> None:
    s = Stream(999)
    assert s.add(1000, b"abc", missing=5) == [Data(0, b"abc"), Gap(3, 5, 1003)]
    assert s.add(1008, b"next") == [Data(8, b"next")]


def test_sequence_numbers_wrap() -> None:
    isn = SEQ_MOD - 3
    s = Stream(isn)
    assert s.add(SEQ_MOD - 2, b"ab") == [Data(0, b"ab")]
    assert s.add(0, b"cd") == [Data(2, b"cd")]  # past 2**32
    assert s.offset_of(2) == 4


def test_picked_up_mid_stream() -> None:
    s = Stream()
    assert s.add(5000, b"abc") == [Data(0, b"abc")]
    assert s.add(4990, b"earlier") == []  # before the first byte seen: not part of what is read
    assert s.duplicate_bytes == 7
