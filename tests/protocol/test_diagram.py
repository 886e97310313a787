"""The text diagram of a dissection (``str(dissection)``); the HTML view is tests/display/test_html.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from wsexplore.protocol.diagram import bit_diagram, compression_lines, field_table, ruler
from wsexplore.protocol.deflate import deflate_message
from wsexplore.protocol.dissector import dissect
from wsexplore.protocol.frames import Frame
from wsexplore.protocol.masking import apply_mask
from wsexplore.protocol.opcodes import Opcode

CHROMIUM_TEXT = bytes.fromhex("81 8c 55 d0 e1 e6 b0 5f 70 0f d5 51 07 73 e5 36 6c 48")
KEY = bytes.fromhex("55 d0 e1 e6")


def test_ruler_matches_the_rfc_figure() -> None:
    assert ruler() == [
        " 0                   1                   2                   3",
        " 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1",
    ]


def test_chromium_diagram_key_lines() -> None:
    text = str(dissect(CHROMIUM_TEXT))
    lines = text.splitlines()
    assert lines[0] == "TEXT frame, 18 bytes at offset 0, FIN=1, masked, payload 12 bytes"
    assert lines[2:4] == ruler()
    expected_head = [
        "+-+-+-+-+-------+-+-------------+-------------------------------+",
        "|1|0|0|0|0 0 0 1|1|0 0 0 1 1 0 0|0 1 0 1 0 1 0 1 1 1 0 1 0 0 0 0|",
        "|F|R|R|R|opcode |M|Payload len  |Masking-key                    |",
        "|I|S|S|S|       |A|             |                               |",
        "|N|V|V|V|       |S|             |                               |",
        "| |1|2|3|       |K|             |                               |",
        "+-+-+-+-+-------+-+-------------+-------------------------------+",
        "|1 1 1 0 0 0 0 1 1 1 1 0 0 1 1 0|1 0 1 1 0 0 0 0 0 1 0 1 1 1 1 1|",
        "|Masking-key (cont.)            |Payload Data                   |",
        "|                               |b0^55=e5        5f^d0=8f       |",
        "+-------------------------------+-------------------------------+",
    ]
    assert lines[4:4 + len(expected_head)] == expected_head
    # The last row is half a row: bytes 16-17 of the frame, unmasked in the note line.
    assert "|0 1 1 0 1 1 0 0 0 1 0 0 1 0 0 0|" in lines
    assert "|6c^e1=8d        48^e6=ae       |" in lines
    # Every bit of the frame appears once in the bit rows, in order.
    bit_rows = [ln for ln in lines if re.fullmatch(r"\|[01][01 |]*\|", ln)]
    drawn = "".join(ch for ln in bit_rows for ch in ln if ch in "01")
    assert drawn == "".join(f"{b:08b}" for b in CHROMIUM_TEXT)
    # The field table, then the verdict.
    assert re.search(r"^\s*4\s+4\s+Opcode\s+0x1\s+5\.2\s+0x1: text frame$", text, re.M)
    assert re.search(r"^\s*16\s+32\s+Masking key\s+55 d0 e1 e6\s+5\.3\s", text, re.M)
    assert re.search(r'^\s*48\s+96\s+Payload\s+b0 5f 70 0f d5 51 07 73 e5 36 6c 48\s+5\.2\s+.*"发送数据"', text, re.M)
    assert lines[-1] == "no violation"


def test_text_is_the_same_in_another_process() -> None:
    """nbval compares a notebook's text/plain run to run, so nothing in the text may depend on the
    process: not the hash seed (set order), not an object's address, not the clock."""
    code = "import sys; from wsexplore import dissect; sys.stdout.write(str(dissect(bytes.fromhex(sys.argv[1]))))"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    other = subprocess.run([sys.executable, "-c", code, CHROMIUM_TEXT.hex()], env=env, capture_output=True,
                           text=True, check=True, timeout=60).stdout
    here = str(dissect(CHROMIUM_TEXT))
    assert other == here
    assert not re.search(r"0x[0-9a-f]{6,}", here)  # no object address


def test_compression_lines_preview_the_message_in_the_shared_forms() -> None:
    """permessage-deflate (RFC 7692): compressed bytes in hex, the inflated text quoted and cut with "…"."""
    text = "x" * 100
    frame = Frame(Opcode.TEXT, deflate_message(text.encode()), rsv1=True)
    lines = compression_lines(dissect(frame.encode(), role="client", deflate=True))
    assert lines[0] == "permessage-deflate (RFC 7692): RSV1=1, the first frame of a compressed message"
    compressed = next(line for line in lines if line.split()[0] == "compressed")
    assert compressed.split("  ")[-1].startswith(frame.payload[:4].hex(" "))
    inflated = next(line for line in lines if line.split()[0] == "inflated")
    assert inflated.endswith('100 B  "' + "x" * 60 + '"…')


def test_table_lists_every_field_in_order() -> None:
    d = dissect(CHROMIUM_TEXT)
    rows = field_table(d)
    assert rows[0].split() == ["bit", "width", "field", "value", "RFC", "meaning"]
    assert [r.split()[0] for r in rows[1:]] == [str(f.start_bit) for f in d.fields]


def test_long_payload_is_elided_with_a_count() -> None:
    d = dissect(Frame(Opcode.BINARY, bytes(70000)).encode(), role="client")
    lines = bit_diagram(d)
    assert any("69984 more payload bytes not drawn" in ln for ln in lines)
    assert len(lines) < 40
    assert all(len(ln) <= 65 for ln in lines)


def test_truncated_frame_says_what_is_missing() -> None:
    text = str(dissect(CHROMIUM_TEXT[:8]))
    assert "truncated: 10 bytes missing" in text.splitlines()[0]
    assert "input ends here: 10 bytes missing" in text
    assert "16/96" in text  # the Payload row: 16 of 96 bits exist
    assert text.splitlines()[-1].startswith("violation: TruncatedFrame: [Payload, bit 48]")
    assert "close code 1006" in text.splitlines()[-1]


def test_violation_is_marked_under_its_bit() -> None:
    data = bytes((0x88, 0x82)) + KEY + apply_mask((1005).to_bytes(2, "big"), KEY)
    lines = str(dissect(data)).splitlines()
    marker = next(ln for ln in lines if "^ " in ln)
    # Close code starts at bit 48 = row 1, bit 16: character 1 + 2 * 16.
    assert marker.index("^ ") == 33 and "Close code: InvalidCloseCode" in marker
    assert lines[-1].startswith("violation: InvalidCloseCode: [Close code, bit 48] close code 1005")
    assert "close code 1002" in lines[-1]


def test_empty_input() -> None:
    text = str(dissect(b""))
    assert text.startswith("empty input, 0 bytes")
    assert "[FIN, bit 0]" in text
