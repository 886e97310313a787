"""HTML views: a dissection as a coloured bit grid and field table, and the colours the views share.

``Dissection._repr_html_`` (and so ``Frame._repr_html_``) renders with
``render_html``: inline CSS only, no script, so the view still reads on
GitHub and nbviewer without a kernel. It draws the same rows and bits as the
text diagram (:mod:`wsexplore.protocol.diagram`) and adds no protocol
knowledge. ``FIELD_COLOURS`` is also what the ``FrameView`` widget colours
its fields with, so the static view and the widget look alike.

Unlike :mod:`wsexplore.display` itself, this module reads protocol values
(it draws a ``Dissection``); the protocol layer imports it only lazily, from
``_repr_html_``.
"""

from __future__ import annotations

from html import escape

from bitarray import frozenbitarray

from ..protocol.diagram import (
    MAX_PAYLOAD_BYTES,
    ROW_BITS,
    compression_lines,
    segments,
    shown_bits,
    summary,
    tail_notes,
    violation_line,
    width_text,
)
from ..protocol.dissector import FIELD_TABLE, Dissection, leaf_fields
from . import ELLIPSIS

__all__ = ["FIELD_COLOURS", "ERROR_COLOUR", "ERROR_BACKGROUND", "OK_COLOUR", "WARNING_COLOUR", "WARNING_BACKGROUND",
           "render_html", "error_span"]

#: One colour per field of FIELD_TABLE (this HTML view and the FrameView widget).
FIELD_COLOURS: dict[str, str] = dict(zip(
    (spec.name for spec in FIELD_TABLE),
    ("#f4cccc", "#fce5cd", "#f9cb9c", "#f6b26b", "#fff2cc", "#d9ead3", "#a2c4c9", "#9fc5e8", "#b4a7d6",
     "#d9d2e9", "#b6d7a8", "#ffe599"),
))
#: A rule broken, an input refused (the same red as the widgets' CSS).
ERROR_COLOUR = "#cc0000"
ERROR_BACKGROUND = "#fde0e0"
#: "no violation".
OK_COLOUR = "#1a7f37"
#: Records that are not what they seem (a proxy's frames shown where a browser's are expected).
WARNING_COLOUR = "#b45309"
WARNING_BACKGROUND = "#fff4e5"
_NO_COLOUR = "#eee"
_TD = "border:1px solid #999;padding:1px 4px;text-align:center;min-width:1.2em"


def error_span(text: str) -> str:
    """``text``, escaped, in the error red."""
    return f'<span style="color:{ERROR_COLOUR}">{escape(text)}</span>'


def _grouped_bits(bits: frozenbitarray, limit: int = 64) -> str:
    """Bits in groups of 8 (a field's own bits), the rest counted."""
    shown = bits[:limit].to01()
    groups = " ".join(shown[i:i + 8] for i in range(0, len(shown), 8))
    if len(bits) > limit:
        groups += f" {ELLIPSIS} (+{len(bits) - limit} bits)"
    return groups


def _bit_grid(d: Dissection, max_payload_bytes: int, err_field: str | None) -> list[str]:
    """The bits, ``ROW_BITS`` a row, each cell coloured by its field; the broken field outlined."""
    shown = shown_bits(d, max_payload_bytes)
    segs = segments(leaf_fields(d.fields), shown)
    bits = frozenbitarray(buffer=d.data[:(shown + 7) // 8])
    out = ['<table style="border-collapse:collapse;margin-bottom:6px">',
           "<tr>" + "".join(f'<th style="font-weight:normal;color:#666;padding:0 2px">{i}</th>'
                            for i in range(ROW_BITS)) + "</tr>"]
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
            _, b, f = seg
            j = min(b, end)
            style = f"{_TD};background:{FIELD_COLOURS.get(f.name, _NO_COLOUR)}"
            if f.name == err_field:
                style += f";outline:2px solid {ERROR_COLOUR}"
            title = escape(f"{f.name} (bits {f.start_bit}-{f.start_bit + f.bit_width - 1}): {f.display}", quote=True)
            cells.extend(f'<td style="{style}" title="{title}">{int(bits[k])}</td>' for k in range(i, j))
            i = j
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    out += [f'<div style="color:#666">{escape(note)}</div>' for note in tail_notes(d, shown)]
    return out


def _field_rows(d: Dissection, err_field: str | None) -> list[str]:
    th = "border-bottom:1px solid #999;padding:2px 6px;text-align:left"
    out = ['<table style="border-collapse:collapse;margin-top:4px">',
           "<tr>" + "".join(f'<th style="{th}">{h}</th>'
                            for h in ("", "bit", "width", "field", "bits", "value", "meaning", "RFC")) + "</tr>"]
    for f in d.fields:
        bad = f.name == err_field
        td = "padding:2px 6px;vertical-align:top" + (f";background:{ERROR_BACKGROUND}" if bad else "")
        swatch = (f'<span style="display:inline-block;width:10px;height:10px;'
                  f'background:{FIELD_COLOURS.get(f.name, _NO_COLOUR)};border:1px solid #999"></span>')
        name = ("&nbsp;&nbsp;" if f.parent else "") + escape(f.name)
        if bad:
            name = f'<b style="color:{ERROR_COLOUR}">{name}</b>'
        name = f'<span style="white-space:nowrap">{name}</span>'
        cells = (swatch, str(f.start_bit), width_text(f), name, escape(_grouped_bits(f.bits)), escape(f.display),
                 escape(f.meaning), escape(f.rfc))
        out.append("<tr>" + "".join(f'<td style="{td}">{c}</td>' for c in cells) + "</tr>")
    out.append("</table>")
    return out


def render_html(d: Dissection, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    """A coloured bit grid and field table; inline CSS only, no script."""
    err = d.error
    err_field = err.field if err is not None else None
    out = ['<div style="font-family:monospace;font-size:12px;line-height:1.3">',
           f'<div style="font-weight:bold;margin-bottom:4px">{escape(summary(d))}</div>']
    if d.data:
        out += _bit_grid(d, max_payload_bytes, err_field)
    out += _field_rows(d, err_field)
    deflate = compression_lines(d)
    if deflate:
        out.append('<pre style="margin:4px 0;padding:3px 6px;background:#f4f4f4;font-size:12px">'
                   + escape("\n".join(deflate)) + "</pre>")
    if err is None:
        out.append(f'<div style="margin-top:4px;color:{OK_COLOUR}">no violation</div>')
    else:
        out.append(f'<div style="margin-top:4px;padding:3px 6px;border:2px solid {ERROR_COLOUR};'
                   f'background:{ERROR_BACKGROUND};color:{ERROR_COLOUR}">{escape(violation_line(d))}</div>')
    out.append("</div>")
    return "\n".join(out)
