"""Draw a ``Dissection``: the bit diagram of RFC 6455 section 5.2 with the real bits, as text and HTML.

Both renderings read the fields the dissector computed and the labels of
``FIELD_TABLE``; they add no protocol knowledge. Output is deterministic, so a
notebook's text/plain can be compared run to run.
"""

from __future__ import annotations

import textwrap
from html import escape

from bitarray import frozenbitarray

from .dissector import FIELD_SPECS, FIELD_TABLE, Dissection, Field, leaf_fields
from .errors import TruncatedFrame
from .opcodes import Opcode

__all__ = ["ROW_BITS", "FIELD_COLOURS", "ruler", "summary", "bit_diagram", "field_table", "violation_line",
           "compression_lines", "render_text", "render_html"]

ROW_BITS = 32  # bits per row, as in the RFC figure
_WIDTH = 2 * ROW_BITS + 1  # characters of a full row: '|' then bit + separator per bit
MAX_PAYLOAD_BYTES = 16  # payload bytes drawn before the rest is elided

#: One colour per field of FIELD_TABLE (HTML view).
FIELD_COLOURS: dict[str, str] = dict(zip(
    (spec.name for spec in FIELD_TABLE),
    ("#f4cccc", "#fce5cd", "#f9cb9c", "#f6b26b", "#fff2cc", "#d9ead3", "#a2c4c9", "#9fc5e8", "#b4a7d6",
     "#d9d2e9", "#b6d7a8", "#ffe599"),
))


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
        kind = f"reserved opcode 0x{op:X} frame"
    parts = [f"{kind}, {d.size} byte{'s' if d.size != 1 else ''} at offset {d.offset}"]
    if d.data:
        parts.append(f"FIN={d.data[0] >> 7}")
    if len(d.data) >= 2:
        parts.append("masked" if d.data[1] & 0x80 else "unmasked")
    if d.payload_length is not None:
        parts.append(f"payload {d.payload_length} byte{'s' if d.payload_length != 1 else ''}")
    if d.truncated:
        parts.append(f"truncated: {'at least ' if d.payload_length is None else ''}{d.missing} byte"
                     f"{'s' if d.missing != 1 else ''} missing")
    return ", ".join(parts)


def _shown_bits(d: Dissection, max_payload_bytes: int) -> int:
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


def _segments(leaves: list[Field], shown: int) -> list[tuple[int, int, Field]]:
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
    shown = _shown_bits(d, max_payload_bytes)
    segs = _segments(leaves, shown)
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
    for note in _tail_notes(d, shown):
        lines.append(":" + note.center(_WIDTH - 2) + ":")
        lines.append("+" + "-" * (_WIDTH - 2) + "+")
    return lines


def _tail_notes(d: Dissection, shown: int) -> list[str]:
    notes = []
    more = 8 * len(d.data) - shown
    if more > 0:
        nbytes = more // 8
        notes.append(f"... {nbytes} more payload byte{'s' if nbytes != 1 else ''} not drawn ...")
    if isinstance(d.error, TruncatedFrame) or (d.truncated and d.missing):
        lower = "at least " if d.payload_length is None else ""
        notes.append(f"... input ends here: {lower}{d.missing} byte{'s' if d.missing != 1 else ''} missing ...")
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


def _width_text(f: Field) -> str:
    return str(f.bit_width) if f.complete else f"{len(f.bits)}/{f.bit_width}"


def _name_text(f: Field) -> str:
    return f"  {f.name}" if f.parent else f.name


def field_table(d: Dissection) -> list[str]:
    """Aligned rows: bit offset, width, field, value, RFC section, meaning."""
    head = ("bit", "width", "field", "value", "RFC", "meaning")
    rows = [(str(f.start_bit), _width_text(f), _name_text(f), f.display, f.rfc, f.meaning) for f in d.fields]
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
    first = d.data and d.data[0] & 0x0F != Opcode.CONTINUATION
    fin = bool(d.data and d.data[0] & 0x80)
    head = ("permessage-deflate (RFC 7692): RSV1=1, the first frame of a compressed message" if first else
            "permessage-deflate (RFC 7692): a continuation frame of a compressed message")
    rows = [("compressed", f"{len(d.payload)} B", _hex(d.payload) or "(empty)")]
    if first and fin:
        rows.append(("+ tail", "4 B", "00 00 ff ff appended before inflating (section 7.2.2)"))
    if d.inflated is None:
        rows.append(("inflated", "-", d.inflate_note))
    else:
        whole = "" if (first and fin) or d.inflate_note.startswith("first fragment") else " (whole message)"
        so_far = " (so far)" if d.inflate_note.startswith("first fragment") else ""
        shown = repr(d.text if len(d.text) <= 60 else d.text[:60] + "...") if d.text is not None else _hex(d.inflated)
        rows.append((f"inflated{whole}{so_far}", f"{len(d.inflated)} B", shown))
        ratio = d.compression_ratio
        if ratio is not None:
            rows.append(("ratio", f"{100 * ratio:.0f}%",
                         f"{len(d.payload)} B on the wire for {len(d.inflated)} B of message"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return [head] + [f"  {a.ljust(w0)}  {b.rjust(w1)}  {c}".rstrip() for a, b, c in rows]


def _hex(data: bytes, limit: int = 16) -> str:
    shown = data[:limit].hex(" ")
    return shown + " ..." if len(data) > limit else shown


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


# -- HTML -------------------------------------------------------------------------
_ERR_COLOUR = "#cc0000"
_TD = "border:1px solid #999;padding:1px 4px;text-align:center;min-width:1.2em"


def _grouped_bits(bits: frozenbitarray, limit: int = 64) -> str:
    """Bits in groups of 8 (a field's own bits), the rest counted."""
    shown = bits[:limit].to01()
    groups = " ".join(shown[i:i + 8] for i in range(0, len(shown), 8))
    if len(bits) > limit:
        groups += f" ... (+{len(bits) - limit} bits)"
    return groups


def render_html(d: Dissection, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    """A coloured bit grid and field table; inline CSS only, no script."""
    err = d.error
    err_field = err.field if err is not None else None
    out = ['<div style="font-family:monospace;font-size:12px;line-height:1.3">',
           f'<div style="font-weight:bold;margin-bottom:4px">{escape(summary(d))}</div>']

    # Bit grid.
    if d.data:
        leaves = leaf_fields(d.fields)
        shown = _shown_bits(d, max_payload_bytes)
        segs = _segments(leaves, shown)
        bits = frozenbitarray(buffer=d.data[:(shown + 7) // 8])
        out.append('<table style="border-collapse:collapse;margin-bottom:6px">')
        out.append("<tr>" + "".join(f'<th style="font-weight:normal;color:#666;padding:0 2px">{i}</th>'
                                     for i in range(ROW_BITS)) + "</tr>")
        for row in range(0, shown, ROW_BITS):
            cells = []
            i = row
            end = min(row + ROW_BITS, shown)
            while i < end:
                seg = next(((a, b, f) for a, b, f in segs if a <= i < b), None)
                if seg is None:
                    cells.append(f'<td style="{_TD}">{int(bits[i])}</td>')
                    i += 1
                    continue
                a, b, f = seg
                j = min(b, end)
                colour = FIELD_COLOURS.get(f.name, "#eee")
                bad = f.name == err_field
                style = f"{_TD};background:{colour}" + (f";outline:2px solid {_ERR_COLOUR}" if bad else "")
                title = escape(f"{f.name} (bits {f.start_bit}-{f.start_bit + f.bit_width - 1}): {f.display}",
                               quote=True)
                for k in range(i, j):
                    cells.append(f'<td style="{style}" title="{title}">{int(bits[k])}</td>')
                i = j
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
        for note in _tail_notes(d, shown):
            out.append(f'<div style="color:#666">{escape(note)}</div>')

    # Field table.
    th = "border-bottom:1px solid #999;padding:2px 6px;text-align:left"
    out.append('<table style="border-collapse:collapse;margin-top:4px">')
    out.append("<tr>" + "".join(f'<th style="{th}">{h}</th>'
                                 for h in ("", "bit", "width", "field", "bits", "value", "meaning", "RFC")) + "</tr>")
    for f in d.fields:
        bad = f.name == err_field
        td = "padding:2px 6px;vertical-align:top" + (";background:#fde0e0" if bad else "")
        swatch = (f'<span style="display:inline-block;width:10px;height:10px;'
                  f'background:{FIELD_COLOURS.get(f.name, "#eee")};border:1px solid #999"></span>')
        name = ("&nbsp;&nbsp;" if f.parent else "") + escape(f.name)
        if bad:
            name = f'<b style="color:{_ERR_COLOUR}">{name}</b>'
        name = f'<span style="white-space:nowrap">{name}</span>'
        cells = (swatch, str(f.start_bit), _width_text(f), name, escape(_grouped_bits(f.bits)), escape(f.display),
                 escape(f.meaning), escape(f.rfc))
        out.append("<tr>" + "".join(f'<td style="{td}">{c}</td>' for c in cells) + "</tr>")
    out.append("</table>")

    deflate = compression_lines(d)
    if deflate:
        out.append('<pre style="margin:4px 0;padding:3px 6px;background:#f4f4f4;font-size:12px">'
                   + escape("\n".join(deflate)) + "</pre>")
    if err is None:
        out.append('<div style="margin-top:4px;color:#1a7f37">no violation</div>')
    else:
        out.append(f'<div style="margin-top:4px;padding:3px 6px;border:2px solid {_ERR_COLOUR};'
                   f'background:#fde0e0;color:{_ERR_COLOUR}">{escape(violation_line(d))}</div>')
    out.append("</div>")
    return "\n".join(out)
