"""``Capture.load`` tells files apart by content; a bad file raises one ValueError naming the place."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest

from wsexplore.capture import Capture, ErrorRecord
from wsexplore.capture.files import detect

from .recordings import load, record


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "r.pcapng"
    record(path, conversations=("raw",))
    return path


def test_detect() -> None:
    assert detect(bytes.fromhex("d4c3b2a1") + b"\0" * 20) == "pcap"
    assert detect(bytes.fromhex("4d3cb2a1")) == "pcap"
    assert detect(bytes.fromhex("0a0d0d0a")) == "pcapng"
    assert detect(b'{"format": "wsexplore-capture", "version": 1}\n{}') == "jsonl"
    assert detect(b'\xef\xbb\xbf{\n  "log": {\n') == "har"
    assert detect(b"\x1f\x8b\x08") == "gzip"
    assert detect(b"<html>") is None and detect(b'{"other": 1}') is None


def test_not_a_capture_names_the_file_and_what_it_starts_with(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<!doctype html>")
    with pytest.raises(ValueError, match=r"page.html: not a capture file: it starts with 3c 21 64 6f"):
        Capture.load(path)


def test_a_truncated_pcap_is_read_up_to_its_last_whole_packet(recording: Path, tmp_path: Path) -> None:
    whole = load(recording)
    cut = tmp_path / "cut.pcapng"
    data = recording.read_bytes()
    cut.write_bytes(data[: len(data) - 30])  # the last block cut in two, as a capture still being written
    capture = load(cut)
    [error] = [r for r in capture if isinstance(r, ErrorRecord) and r.conn is None]
    assert "cut.pcapng is cut short: the file ends inside a block at byte" in error.message
    assert len(capture.frames()) == len(whole.frames())


def test_a_broken_pcapng_block_is_named(recording: Path, tmp_path: Path) -> None:
    data = bytearray(recording.read_bytes())
    shb_len = struct.unpack("<I", data[4:8])[0]
    bad = tmp_path / "bad.pcapng"
    data[shb_len + 4: shb_len + 8] = struct.pack("<I", 13)  # the interface block's length: not a multiple of 4
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"bad.pcapng: byte {shb_len}: block length 13 is not a multiple of 4"):
        Capture.load(bad)


def test_a_packet_on_an_undescribed_interface_is_named(tmp_path: Path) -> None:
    path = tmp_path / "iface.pcapng"
    with open(path, "wb") as fp:
        writer = dpkt.pcapng.Writer(fp)
        epb = dpkt.pcapng.EnhancedPacketBlockLE(pkt_data=b"\0" * 60, iface_id=3)
        writer.writepkt(epb, ts=1.0)
    with pytest.raises(ValueError, match=r"iface.pcapng: packet 1 \(byte \d+\) names interface 3"):
        Capture.load(path)


def test_jsonl_still_loads_from_a_text_stream() -> None:
    cap = Capture()
    cap.opened(1, ("127.0.0.1", 1), b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 OK\r\n\r\n", 101)
    buf = io.StringIO()
    cap.save(buf)
    buf.seek(0)
    assert [repr(r) for r in Capture.load(buf)] == [repr(r) for r in cap]


def test_jsonl_keeps_large_frames_and_messages_byte_for_byte_in_every_kind_of_stream(tmp_path: Path) -> None:
    """Long base64 fields are written beside the rest of their record, not through json.dumps: the file
    still loads into the same records, from a path, a binary stream and a text stream alike."""
    from wsexplore.protocol.connection import Connection
    from wsexplore.protocol.frames import Frame

    cap, conn = Capture(), Connection("server")
    cap.opened(1, ("127.0.0.1", 1), b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 OK\r\n\r\n", 101)
    blob, text = bytes(range(256)) * 700, "\"quoted\" ✓ \\ " * 9000  # 175 KiB and 117 KiB
    for opcode, payload in ((2, blob), (1, text.encode()), (2, b"small")):
        cap.record_events(1, conn.receive_data(Frame(opcode, payload, mask_key=b"\x01\x02\x03\x04").encode()))
    expected = [repr(r) for r in cap]
    path, binary, textual = tmp_path / "big.jsonl", io.BytesIO(), io.StringIO()
    for target in (path, binary, textual):
        cap.save(target)
    assert path.read_bytes() == binary.getvalue() == textual.getvalue().encode()
    binary.seek(0)
    textual.seek(0)
    for source in (path, binary, textual):
        loaded = Capture.load(source)
        assert [repr(r) for r in loaded] == expected
        assert [r.raw for r in loaded.frames()] == [r.raw for r in cap.frames()]
        assert [m.data for m in loaded.messages()] == [blob, text, b"small"]


def test_save_by_name_or_format(tmp_path: Path, recording: Path) -> None:
    capture = load(recording)
    capture.save(tmp_path / "a.pcapng")
    capture.save(tmp_path / "b.PCAP")
    capture.save(tmp_path / "c.txt", format="pcapng")
    capture.save(tmp_path / "d.jsonl")
    assert (tmp_path / "a.pcapng").read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    assert (tmp_path / "b.PCAP").read_bytes()[:4] == bytes.fromhex("4d3cb2a1")
    assert (tmp_path / "c.txt").read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    assert (tmp_path / "d.jsonl").read_text().startswith('{"format": "wsexplore-capture"')
    with pytest.raises(ValueError, match="format must be one of jsonl, pcapng, pcap"):
        capture.save(tmp_path / "e", format="csv")


def test_the_explorer_opens_a_loaded_pcapng(recording: Path) -> None:
    from wsexplore.widgets.explorer import Explorer
    from wsexplore.widgets.frameview import FrameView

    capture = Capture.load(recording)
    explorer = Explorer(capture)
    assert [row["kind"] for row in explorer.table.rows][:2] == ["open", "frame"]
    frame = capture.frames(direction="in")[0]
    explorer.select(frame.seq)
    assert isinstance(explorer.detail_view, FrameView) and explorer.detail_view.data == frame.raw
    assert explorer.detail_view.dissection.ok
