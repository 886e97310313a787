"""The HTML view of a dissection (``Dissection._repr_html_``, ``Frame._repr_html_``): inline CSS, no script."""

from __future__ import annotations

import re

from wsexplore.display.html import FIELD_COLOURS, render_html
from wsexplore.protocol.dissector import FIELD_TABLE, dissect
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.opcodes import Opcode

CHROMIUM_TEXT = bytes.fromhex("81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48")
KEY = bytes.fromhex("55 d0 e1 e6")


def test_every_field_has_a_colour() -> None:
    assert set(FIELD_COLOURS) == {spec.name for spec in FIELD_TABLE}
    assert len(set(FIELD_COLOURS.values())) == len(FIELD_COLOURS)


def test_html_repr() -> None:
    d = dissect(CHROMIUM_TEXT)
    html = d._repr_html_()
    assert "<script" not in html.lower() and "<style" not in html.lower()
    for f in d.fields:
        assert f">{f.name}<" in html
        assert FIELD_COLOURS[f.name] in html
    assert "0001100" in html  # Payload length bits, grouped as one field
    assert "01010101 11010000 11100001 11100110" in html  # masking key bits in bytes
    assert "发送数据" in html
    assert "no violation" in html
    # One cell per bit in the grid, in wire order, each with its value.
    grid = re.findall(r'<td style="border:1px solid #999;padding:1px 4px[^"]*"[^>]*>([01])</td>', html)
    assert "".join(grid) == "".join(f"{b:08b}" for b in CHROMIUM_TEXT)


def test_long_payloads_are_cut_after_max_payload_bytes() -> None:
    d = dissect(Frame(Opcode.BINARY, bytes(100)).encode(), role="client")
    html = render_html(d, max_payload_bytes=4)
    grid = re.findall(r'<td style="border:1px solid #999;padding:1px 4px[^"]*"[^>]*>([01])</td>', html)
    assert len(grid) == 8 * (2 + 4)  # the 2-byte header and 4 payload bytes
    assert "96 more payload bytes not drawn" in html
    assert "… (+736 bits)" in html  # the Payload row of the field table counts what it leaves out


def test_html_highlights_the_violation_and_escapes_text() -> None:
    d = dissect(b"\x81\x07<b>&x</b>"[:9])
    html = d._repr_html_()
    assert "<b>&x" not in html and "&lt;b&gt;&amp;x" in html
    assert "outline:2px solid" in html  # the MASK cells are outlined
    assert "FramingError" in html and "[MASK, bit 8]" in html


def test_frame_repr_html() -> None:
    html = Frame(Opcode.TEXT, b"hi", mask_key=KEY)._repr_html_()
    assert "no violation" in html and ">Masking key<" in html
    html = Frame(Opcode.TEXT, b"hi")._repr_html_()  # unmasked: read as a server's frame
    assert "no violation" in html and "Masking key" not in html
