"""Draw a ``Dissection`` as text: the bit diagram of RFC 6455 section 5.2 with the real bits.

``str(dissection)`` is ``render_text``. It reads the fields the dissector
computed and the labels of ``FIELD_TABLE`` and adds no protocol knowledge.
Output is deterministic, so a notebook's text/plain can be compared run to
run. The HTML view of the same fields is :mod:`wsexplore.display.html`
(presentation stays out of the protocol layer); it uses the row geometry
below (``shown_bits``, ``segments``, ``tail_notes``) so both draw the same bits.
"""

from __future__ import annotations

import textwrap

from bitarray import frozenbitarray

from ..display import hex_preview, plural, quote
from .dissector import FIELD_SPECS, Dissection, Field, leaf_fields
from .errors import TruncatedFrame
from .header import parse_header
from .opcodes import Opcode, opcode_name

__all__ = ["ROW_BITS", "MAX_PAYLOAD_BYTES", "ruler", "summary", "bit_diagram", "field_table", "violation_line",
           "compression_lines", "render_text", "shown_bits", "segments", "tail_notes", "width_text"]

ROW_BITS = 32  # bits per row, as in the RFC figure
_WIDTH = 2 * ROW_BITS + 1  # characters of a full row: '|' then bit + separator per bit
MAX_PAYLOAD_BYTES = 16  # payload bytes drawn before the rest is elided


# -- text -------------------------------------------------------------------------
def ruler(nbits: int = ROW_BITS) -> list[str]:
    """The two header lines of the RFC figure: tens, then units, one digit above each bit."""
    tens = [" "] * _line_len(nbits)
    units = [" "] * _line_len(nbits)
    for i in range(nbits):
        units[1 + 2 * i] = str(i % 10)
        if i % 10 == 0:
            tens[1 + 2 * i] = str(i // 10 % 10)
    return ["".join(tens).rstrip(), "".join(units).rstrip()]


def _line_len(nbits: int) -> int:
    return 2 * nbits + 1


def summary(d: Dissection) -> str:
    """One line: what the frame is, how big, where."""
    op = d.opcode
    if op is None:
        kind = "empty input"
    elif isinstance(op, Opcode):
        kind = f"{op.name} frame"
    else:
        kind = f"reserved opcode {opcode_name(op)} frame"
    parts = [f"{kind}, {plural(d.size, 'byte')} at offset {d.offset}"]
    header = parse_header(d.data)
    if header is not None:
        parts.append(f"FIN={int(header.fin)}")
        if header.b1 is not None:
            parts.append("masked" if header.masked else "unmasked")
    if d.payload_length is not None:
        parts.append(f"payload {plural(d.payload_length, 'byte')}")
    if d.truncated:
        parts.append(f"truncated: {'at least ' if d.payload_length is None else ''}{plural(d.missing, 'byte')} "
                     "missing")
    return ", ".join(parts)


def shown_bits(d: Dissection, max_payload_bytes: int) -> int:
    """How many bits of the frame the diagram draws (the payload is cut after ``max_payload_bytes``)."""
    total = 8 * len(d.data)
    for f in d.fields:
        if f.name == "Payload":
            return min(total, f.start_bit + 8 * max_payload_bytes)
    return total


def _payload_start(d: Dissection) -> int | None:
    for f in d.fields:
        if f.name == "Payload":
            return f.start_bit
    return None


def segments(leaves: list[Field], shown: int) -> list[tuple[int, int, Field]]:
    """(start, end, field) runs of bits that exist and are drawn, in order."""
    out = []
    for f in leaves:
        start, end = f.start_bit, min(f.start_bit + len(f.bits), shown)
        if end > start:
            out.append((start, end, f))
    return out


def _byte_note(d: Dissection, index: int) -> str:
    """Under a payload byte: its wire value, and the unmasking when masked."""
    wire = d.data[index]
    start = _payload_start(d)
    assert start is not None
    i = index - start // 8
    plain = d.payload[i] if i < len(d.payload) else wire
    ch = f" '{chr(plain)}'" if 0x20 <= plain < 0x7F and plain != 0x27 else ""
    key = d.masking_key
    if d.masked_payload is not None and key is not None:
        return f"{wire:02x}^{key[i % 4]:02x}={plain:02x}{ch}"
    return f"{plain:02x}{ch}"


def _label_lines(label: str, width: int) -> list[str]:
    if width == 1:
        return list(label)  # written downwards, as the RFC does for FIN and RSV1-3
    if len(label) <= width:
        return [label]
    return textwrap.wrap(label, width, break_long_words=True) or [""]


def bit_diagram(d: Dissection, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> list[str]:
    """The RFC 5.2 figure drawn with this frame's bits, 32 a row, labelled by field."""
    leaves = leaf_fields(d.fields)
    shown = shown_bits(d, max_payload_bytes)
    segs = segments(leaves, shown)
    bits = frozenbitarray(buffer=d.data[:(shown + 7) // 8])
    pstart = _payload_start(d)
    err = d.error
    lines = ruler()

    def starts_in(row: int) -> set[int]:
        """Bit positions (within the row) where a field starts, plus the row's end."""
        lo, hi = row, min(row + ROW_BITS, shown)
        marks = {hi - lo}
        for a, b, _ in segs:
            if lo <= a < hi:
                marks.add(a - lo)
            if lo < b <= hi:
                marks.add(b - lo)
        return marks

    def border(marks: set[int], nbits: int) -> str:
        chars = ["-"] * _line_len(nbits)
        for m in marks:
            if 0 <= 2 * m < len(chars):
                chars[2 * m] = "+"
        chars[0] = "+"
        return "".join(chars)

    rows = list(range(0, shown, ROW_BITS))
    prev: set[int] = set()
    prev_n = 0
    for row in rows:
        n = min(ROW_BITS, shown - row)
        marks = starts_in(row) | {0}
        lines.append(border(marks | prev, max(n, prev_n)))
        # Bit values, '|' between fields.
        chars = [" "] * _line_len(n)
        for m in marks:
            chars[2 * m] = "|"
        for i in range(n):
            chars[1 + 2 * i] = "1" if bits[row + i] else "0"
        lines.append("".join(chars))
        # Labels, then a note under each payload byte.
        label_rows: list[list[str]] = []
        for a, b, f in segs:
            lo, hi = max(a, row), min(b, row + n)
            if lo >= hi:
                continue
            width = 2 * (hi - lo) - 1
            label = FIELD_SPECS[f.name].label
            if lo > f.start_bit:
                cont = label + " (cont.)"
                label = cont if len(cont) <= width else label
            for k, text in enumerate(_label_lines(label, width)):
                while len(label_rows) <= k:
                    label_rows.append(_blank(n, marks))
                _put(label_rows[k], 1 + 2 * (lo - row), text[:width])
        lines.extend("".join(r) for r in label_rows)
        if pstart is not None and row + n > pstart:
            notes = _blank(n, marks)
            first = max(row, pstart) // 8
            for index in range(first, (row + n) // 8):
                _put(notes, 1 + 2 * (8 * index - row), _byte_note(d, index)[:15])
            lines.append("".join(notes))
        if err is not None and err.bit_offset is not None and row <= err.bit_offset < row + n \
                and not isinstance(err, TruncatedFrame):
            col = 1 + 2 * (err.bit_offset - row)
            lines.append(" " * col + f"^ {err.field}: {type(err).__name__}")
        prev, prev_n = marks, n
    if rows:
        lines.append(border(prev, prev_n))
    for note in tail_notes(d, shown):
        lines.append(":" + note.center(_WIDTH - 2) + ":")
        lines.append("+" + "-" * (_WIDTH - 2) + "+")
    return lines


def tail_notes(d: Dissection, shown: int) -> list[str]:
    """What the diagram leaves out after its last row: payload not drawn, bytes missing."""
    notes = []
    more = 8 * len(d.data) - shown
    if more > 0:
        notes.append(f"... {plural(more // 8, 'more payload byte')} not drawn ...")
    if isinstance(d.error, TruncatedFrame) or (d.truncated and d.missing):
        lower = "at least " if d.payload_length is None else ""
        notes.append(f"... input ends here: {lower}{plural(d.missing, 'byte')} missing ...")
    return notes


def _blank(n: int, marks: set[int]) -> list[str]:
    chars = [" "] * _line_len(n)
    for m in marks:
        chars[2 * m] = "|"
    return chars


def _put(chars: list[str], col: int, text: str) -> None:
    for k, ch in enumerate(text):
        if 0 <= col + k < len(chars):
            chars[col + k] = ch


def width_text(f: Field) -> str:
    """A field's width in bits; ``16/96`` when only 16 of its 96 bits arrived."""
    return str(f.bit_width) if f.complete else f"{len(f.bits)}/{f.bit_width}"


def _name_text(f: Field) -> str:
    return f"  {f.name}" if f.parent else f.name


def field_table(d: Dissection) -> list[str]:
    """Aligned rows: bit offset, width, field, value, RFC section, meaning."""
    head = ("bit", "width", "field", "value", "RFC", "meaning")
    rows = [(str(f.start_bit), width_text(f), _name_text(f), f.display, f.rfc, f.meaning) for f in d.fields]
    if not rows:
        return ["(no fields: no bytes)"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    right = (True, True, False, False, False)

    def fmt(r: tuple[str, ...]) -> str:
        cells = [r[i].rjust(widths[i]) if right[i] else r[i].ljust(widths[i]) for i in range(5)]
        return ("  ".join(cells) + "  " + r[5]).rstrip()

    return [fmt(head), *(fmt(r) for r in rows)]


def compression_lines(d: Dissection) -> list[str]:
    """permessage-deflate (RFC 7692): the compressed bytes, what they inflate to, the ratio. Empty otherwise."""
    if not d.compressed:
        return []
    header = parse_header(d.data)
    first = header is not None and header.opcode != Opcode.CONTINUATION
    fin = header is not None and header.fin
    head = ("permessage-deflate (RFC 7692): RSV1=1, the first frame of a compressed message" if first else
            "permessage-deflate (RFC 7692): a continuation frame of a compressed message")
    rows = [("compressed", f"{len(d.payload)} B", hex_preview(d.payload))]
    if first and fin:
        rows.append(("+ tail", "4 B", "00 00 ff ff appended before inflating (section 7.2.2)"))
    if d.inflated is None:
        rows.append(("inflated", "-", d.inflate_note))
    else:
        whole = "" if (first and fin) or d.inflate_note.startswith("first fragment") else " (whole message)"
        so_far = " (so far)" if d.inflate_note.startswith("first fragment") else ""
        shown = quote(d.text, 60) if d.text is not None else hex_preview(d.inflated)
        rows.append((f"inflated{whole}{so_far}", f"{len(d.inflated)} B", shown))
        ratio = d.compression_ratio
        if ratio is not None:
            rows.append(("ratio", f"{100 * ratio:.0f}%",
                         f"{len(d.payload)} B on the wire for {len(d.inflated)} B of message"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return [head] + [f"  {a.ljust(w0)}  {b.rjust(w1)}  {c}".rstrip() for a, b, c in rows]


def violation_line(d: Dissection) -> str:
    err = d.error
    if err is None:
        return "no violation"
    return f"violation: {type(err).__name__}: {err} -> close code {err.close_code}"


def render_text(d: Dissection, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    """Summary, bit diagram, field table and the violation (or "no violation")."""
    parts = [summary(d), ""]
    if d.data:
        parts += bit_diagram(d, max_payload_bytes=max_payload_bytes) + [""]
    parts += field_table(d) + [""]
    deflate = compression_lines(d)
    if deflate:
        parts += deflate + [""]
    parts.append(violation_line(d))
    return "\n".join(parts)
