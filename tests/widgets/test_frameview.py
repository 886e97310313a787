"""FrameView state, kernel side: what the browser is sent, and what an edit from the browser does.

Edits are fed through ``_handle_msg`` with the message a browser sends (an
``update`` whose ``data`` travels as a binary buffer, or a ``custom`` message
for typed hex), so the path tested is the one a click takes.
"""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as widgets
import pytest
import traitlets

from wsexplore.capture import FrameRecord
from wsexplore.protocol.dissector import dissect
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.masking import apply_mask
from wsexplore.protocol.opcodes import Opcode
from wsexplore.widgets import FrameView
from wsexplore.widgets.frameview import MASKING_PAGE, parse_hex

# "发送数据" as Chromium sent it: TEXT, FIN, masked with 55 d0 e1 e6.
CHROMIUM = bytes.fromhex("818c55d0e1e6b05f700fd5510773e5366c48")
KEY = bytes.fromhex("55d0e1e6")
HEADER_NAMES = ["FIN", "RSV1", "RSV2", "RSV3", "Opcode", "MASK", "Payload length"]


def browser_sets(view: FrameView, **state: object) -> None:
    """Apply a state update exactly as the browser sends it: bytes travel as binary buffers."""
    paths, buffers = [], []
    for name, value in list(state.items()):
        if isinstance(value, (bytes, bytearray)):
            paths.append([name])
            buffers.append(memoryview(bytes(value)))
            state[name] = None
    view._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": paths}},
                      "buffers": buffers})


def browser_sends(view: FrameView, content: dict) -> None:
    view._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def flip(data: bytes, bit: int) -> bytes:
    """What frameview.js does on a click: copy the bytes, XOR one bit (bit 0 = MSB of byte 0)."""
    buf = bytearray(data)
    buf[bit >> 3] ^= 0x80 >> (bit & 7)
    return bytes(buf)


def names(view: FrameView) -> list[str]:
    return [f["name"] for f in view.fields]


def starts(view: FrameView) -> list[int]:
    return [f["start_bit"] for f in view.fields]


# ---------------------------------------------------------------------------- construction
def test_chromium_frame_from_bytes() -> None:
    view = FrameView(CHROMIUM)
    assert view.data == CHROMIUM
    assert view.role == "server"
    assert names(view) == HEADER_NAMES + ["Masking key", "Payload"]
    assert starts(view) == [0, 1, 2, 3, 4, 8, 9, 16, 48]
    assert [f["bit_width"] for f in view.fields] == [1, 1, 1, 1, 4, 1, 7, 32, 96]
    assert view.error is None
    assert view.dissection.text == "发送数据"
    assert view.frame == Frame.text("发送数据", mask_key=KEY)
    assert view.summary == "TEXT frame, 18 bytes at offset 0, FIN=1, masked, payload 12 bytes"
    opcode = view.fields[4]
    assert (opcode["display"], opcode["value"], opcode["rfc"]) == ("0x1", 1, "5.2")
    assert opcode["meaning"] == "0x1: text frame"
    assert opcode["label"] == "opcode" and opcode["colour"].startswith("#")
    assert all(f["leaf"] and f["drawn"] for f in view.fields)
    assert view.drawn_bits == 8 * 18
    assert view.drawn_fields == names(view)


def test_fields_are_the_dissectors() -> None:
    """The synced fields are the dissector's fields, one for one: no second source of truth."""
    view = FrameView(Frame.close(1001, "bye", mask_key=KEY))
    d = dissect(view.data, role="server")
    assert [(f["name"], f["start_bit"], f["bit_width"], f["display"], f["meaning"], f["parent"])
            for f in view.fields] == [(f.name, f.start_bit, f.bit_width, f.display, f.meaning, f.parent)
                                      for f in d.fields]
    # Payload is split into Close code and Close reason: those are drawn, Payload is not a leaf.
    leaves = [f["name"] for f in view.fields if f["leaf"]]
    assert leaves == HEADER_NAMES + ["Masking key", "Close code", "Close reason"]
    assert view.drawn_fields == leaves


def test_from_frame_reads_with_the_receiving_side() -> None:
    unmasked = FrameView(Frame.text("hi"))
    assert unmasked.role == "client" and unmasked.error is None
    assert names(unmasked) == HEADER_NAMES + ["Payload"]
    assert starts(unmasked)[-1] == 16
    assert unmasked.data == b"\x81\x02hi"

    masked = FrameView(Frame(Opcode.BINARY, b"\x00\x01", mask_key=KEY))
    assert masked.role == "server" and masked.error is None
    assert masked.data == Frame(Opcode.BINARY, b"\x00\x01", mask_key=KEY).encode()

    judged = FrameView(Frame.text("hi"), role="server")
    assert judged.error is not None and judged.error["field"] == "MASK"


def test_from_frame_record() -> None:
    rec_in = FrameRecord(1, 1, 0.0, 0.0, "in", 0, CHROMIUM)
    view = FrameView(rec_in)
    assert view.role == "server" and view.data == CHROMIUM
    assert view.fields == FrameView(CHROMIUM).fields
    assert view.dissection.text == rec_in.dissect().text

    rec_out = FrameRecord(2, 1, 0.0, 0.0, "out", 0, b"\x81\x05hello")
    out = FrameView(rec_out)
    assert out.role == "client" and out.error is None
    assert out.frame == Frame.text("hello")

    # An unmasked frame from a client: the record's reader flags it.
    bad = FrameView(FrameRecord(3, 1, 0.0, 0.0, "in", 0, b"\x81\x05hello"))
    assert bad.error["kind"] == "FramingError" and bad.error["bit_offset"] == 8


def test_constructor_arguments() -> None:
    view = FrameView(CHROMIUM, role=None, editable=True, layout="rfc")
    assert (view.role, view.editable, view.bit_layout) == (None, True, "rfc")
    assert isinstance(view.layout, widgets.Layout)  # the CSS layout of every widget is left alone
    boxed = FrameView(CHROMIUM, layout=widgets.Layout(width="50%"))
    assert boxed.layout.width == "50%" and boxed.bit_layout == "bytes"
    with pytest.raises(ValueError):
        FrameView(CHROMIUM, role="proxy")
    with pytest.raises(TypeError):
        FrameView("81 8c")  # text is not bytes: use set_hex
    with pytest.raises(traitlets.TraitError):
        view.bit_layout = "columns"


def test_empty_view_can_be_loaded_later() -> None:
    view = FrameView()
    assert view.data == b"" and view.fields == []
    assert view.error["kind"] == "TruncatedFrame"
    assert repr(view) == "FrameView(no bytes, truncated, >=2 B missing)"
    view.load(FrameRecord(1, 1, 0.0, 0.0, "out", 0, b"\x89\x00"))
    assert view.role == "client" and view.error is None and view.frame == Frame(Opcode.PING)


# ---------------------------------------------------------------------------- edits from the browser
def test_browser_flips_fin_bit() -> None:
    view = FrameView(CHROMIUM, editable=True)
    seen: list[tuple[bytes, bool]] = []
    view.observe(lambda change: seen.append((change["new"], view.frame.fin)), "data")

    browser_sets(view, data=flip(view.data, 0))

    assert view.data == bytes.fromhex("018c55d0e1e6b05f700fd5510773e5366c48")
    assert seen == [(view.data, False)]  # observers see the new dissection already
    assert view.fields[0]["name"] == "FIN" and view.fields[0]["display"] == "0"
    assert view.dissection.field("FIN").value == 0
    assert view.frame is not None and view.frame.fin is False
    assert view.error is None  # a first fragment of a text message is fine
    assert "FIN=0" in view.summary
    assert repr(view) == "FrameView(TEXT 18 B, masked, FIN=0, ok, editable)"

    browser_sets(view, data=flip(view.data, 0))  # and back
    assert view.data == CHROMIUM and view.frame.fin is True


def test_browser_flips_mask_bit_gives_the_violation_on_bit_8() -> None:
    view = FrameView(CHROMIUM, editable=True)
    browser_sets(view, data=flip(CHROMIUM, 8))
    assert view.data[1] == 0x0C
    assert view.error == {
        "kind": "FramingError",
        "field": "MASK",
        "bit_offset": 8,
        "highlight_bit": 8,
        "message": view.dissection.error.message,
        "rfc": "5.1",
        "close_code": 1002,
        "text": "violation: FramingError: " + str(view.dissection.error) + " -> close code 1002",
    }
    assert "Masking key" not in names(view)
    assert view.masking == [] and view.masking_total == 0
    assert repr(view) == "FrameView(TEXT 14 B, unmasked, FramingError at bit 8 MASK, +4 B after the frame, editable)"


def test_flip_bit_method_matches_the_browser() -> None:
    a, b = FrameView(CHROMIUM), FrameView(CHROMIUM)
    for bit in (0, 1, 5, 9, 20, 100):
        a.flip_bit(bit)
        browser_sets(b, data=flip(b.data, bit))
        assert a.data == b.data and a.fields == b.fields and a.error == b.error
    with pytest.raises(IndexError):
        a.flip_bit(8 * len(CHROMIUM))


def test_rsv1_flip_and_rsv_allowed() -> None:
    view = FrameView(CHROMIUM)
    view.flip_bit(1)
    assert view.error["field"] == "RSV1" and view.error["highlight_bit"] == 1
    view.rsv_allowed = 0x40  # permessage-deflate negotiated: RSV1 is allowed, payload is extension data
    assert view.error is None


def test_truncation_is_told_not_pinned_on_a_bit() -> None:
    view = FrameView(CHROMIUM[:10])
    assert view.error["kind"] == "TruncatedFrame"
    assert view.error["highlight_bit"] is None
    assert view.error["close_code"] == 1006
    assert repr(view) == "FrameView(TEXT 10 B, masked, truncated, 8 B missing)"
    # What exists is still labelled; the payload field is cut to what arrived.
    payload = view.fields[-1]
    assert payload["name"] == "Payload" and (payload["present"], payload["bit_width"]) == (32, 96)


def test_typed_hex_is_applied() -> None:
    view = FrameView(CHROMIUM, editable=True)
    browser_sends(view, {"type": "hex", "text": "0x89, 0x00"})
    assert view.data == b"\x89\x00" and view.hex_error == ""
    assert view.error["field"] == "MASK"  # a server reads it: unmasked client ping
    view.role = "client"
    assert view.error is None and view.frame == Frame(Opcode.PING)


@pytest.mark.parametrize("text, problem", [("81 8z", "'z' is not a hex digit"), ("81 0", "odd number")])
def test_invalid_hex_is_an_error_not_applied(text: str, problem: str) -> None:
    view = FrameView(CHROMIUM, editable=True)
    browser_sends(view, {"type": "hex", "text": text})
    assert view.data == CHROMIUM
    assert problem in view.hex_error and view.hex_error.startswith("not applied")
    assert view.set_hex("81 00") is True and view.hex_error == ""


def test_parse_hex_forms() -> None:
    assert parse_hex("81 8c\n55") == parse_hex("818c55") == parse_hex("0x81,0x8c,0x55") == b"\x81\x8c\x55"
    assert parse_hex("81:8c:55") == b"\x81\x8c\x55" and parse_hex("  ") == b""


# ---------------------------------------------------------------------------- masking panel
def test_masking_rows_for_chromium_frame() -> None:
    view = FrameView(CHROMIUM)
    assert view.masking_total == 12 and view.masking_page == 0
    first = view.masking[0]
    assert first == {"index": 0, "masked": 0xB0, "key_index": 0, "key": 0x55, "result": 0xE5, "char": ""}
    assert [r["index"] for r in view.masking] == list(range(12))
    assert [r["key"] for r in view.masking] == [KEY[i % 4] for i in range(12)]
    assert all(r["result"] == r["masked"] ^ r["key"] for r in view.masking)
    assert bytes(r["result"] for r in view.masking) == "发送数据".encode()
    assert bytes(r["masked"] for r in view.masking) == CHROMIUM[6:]


def test_masking_chars_for_ascii() -> None:
    view = FrameView(Frame.text("Hi!", mask_key=b"\x01\x02\x03\x04"))
    assert [r["char"] for r in view.masking] == ["H", "i", "!"]


def test_masking_pages_of_64() -> None:
    payload = bytes(range(200))
    view = FrameView(Frame(Opcode.BINARY, payload, mask_key=KEY), editable=True)
    assert view.masking_total == 200 and view.masking_page_size == MASKING_PAGE == 64
    assert [r["index"] for r in view.masking] == list(range(64))

    browser_sets(view, masking_page=1)  # the "more" button
    assert [r["index"] for r in view.masking] == list(range(64, 128))
    wire = apply_mask(payload, KEY)
    assert [r["masked"] for r in view.masking] == list(wire[64:128])
    assert [r["result"] for r in view.masking] == list(payload[64:128])

    browser_sets(view, masking_page=3)
    assert [r["index"] for r in view.masking] == list(range(192, 200))
    browser_sets(view, masking_page=9)  # past the end: clamped to the last page
    assert view.masking_page == 3
    view.masking_page = -1
    assert view.masking_page == 0 and view.masking[0]["index"] == 0

    # New bytes with a shorter payload: the page is clamped again.
    view.masking_page = 3
    view.data = Frame(Opcode.BINARY, payload[:70], mask_key=KEY).encode()
    assert view.masking_page == 1 and [r["index"] for r in view.masking] == list(range(64, 70))


def test_unmasked_frame_has_no_masking_rows() -> None:
    view = FrameView(b"\x81\x05hello", role="client")
    assert view.masking == [] and view.masking_total == 0


# ---------------------------------------------------------------------------- large frames
def test_large_frame_draws_a_bounded_number_of_bits() -> None:
    payload = bytes(70_000)
    view = FrameView(Frame(Opcode.BINARY, payload, mask_key=KEY))
    assert len(view.data) == 70_014
    assert view.drawn_bits == 8 * 256
    assert view.max_bytes == 256
    ext = view.fields[names(view).index("Extended payload length")]
    assert (ext["start_bit"], ext["bit_width"], ext["value"]) == (16, 64, 70_000)
    assert view.fields[-1]["display"].endswith("…")  # a preview, never the whole payload
    assert len(view.masking) == 64  # one page
    assert repr(view) == "FrameView(BINARY 70014 B, masked, ok)"


# ---------------------------------------------------------------------------- text output
def test_repr_is_deterministic_and_informative() -> None:
    reprs = {repr(FrameView(CHROMIUM)) for _ in range(3)}
    assert reprs == {"FrameView(TEXT 18 B, masked, ok)"}
    bundle, _ = FrameView(CHROMIUM)._repr_mimebundle_()
    assert bundle["text/plain"] == "FrameView(TEXT 18 B, masked, ok)"
    assert repr(FrameView(b"\x83\x00", role="client")) == (
        "FrameView(opcode 0x3 2 B, unmasked, FramingError at bit 4 Opcode)")
    assert not re.search(r"0x[0-9a-f]{8,}", repr(FrameView(CHROMIUM)))


# ---------------------------------------------------------------------------- the front-end files
def test_esm_and_css_are_real_files_without_imports() -> None:
    here = Path(FrameView.__module__.replace(".", "/"))
    js = (Path(__file__).parents[2] / here.parent / "frameview.js").read_text()
    css = (Path(__file__).parents[2] / here.parent / "frameview.css").read_text()
    assert FrameView(CHROMIUM)._esm == js and FrameView(CHROMIUM)._css == css
    assert "export default" in js and "render(" in js
    assert not re.search(r"^\s*import\s", js, re.M) and "http" not in js  # no CDN, no build step
    for name in ('"wsx-bit"', '"wsx-label"', '" wsx-error"', "data: f ? { bit: i, field: f.name }"):
        assert name in js  # the DOM hooks a browser test relies on: class names, data-bit, data-field
    assert ".wsx-bit" in css and ".wsx-error" in css
