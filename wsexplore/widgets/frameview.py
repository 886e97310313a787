"""FrameView: one frame's bits in a browser, labelled by the dissector, editable bit by bit.

Python does all the protocol work: it dissects ``data`` (RFC 6455 section
5.2) and syncs the result as plain values (``fields``, ``error``, ``summary``,
``masking``). The JavaScript (``frameview.js``, an anywidget ES module shipped
next to this file) only draws those values and reports edits: a flipped bit
sets ``data``, typed hex is sent as a message. Either way the kernel
re-dissects, so the widget, the text diagram and the HTML repr read the same
fields and cannot disagree.

Under permessage-deflate (RFC 7692) a frame is read in its connection's
context: ``FrameView(record, capture=capture)`` takes the agreed parameters
and the message the frame inflates to from the capture (``deflate=`` and
``inflated=`` give them directly, as ``dissect`` takes them). RSV1 then reads
"per-message compressed", and the view adds the compressed bytes, the
inflated message and the ratio (``compression``, ``inflated_text``,
``inflated_hex``, ``compression_ratio``), as the text diagram does.

A frame of a connection that came through another hop says so above its bits
(``via``, ``via_note``, ``reframed``), from its connection's handshake
(``opened=``, or looked up in ``capture=``): through jupyter-server-proxy
these are the proxy's bits, not the browser's.
"""

from __future__ import annotations

import re
from html import escape as html_escape
from pathlib import Path
from typing import Any, Literal, Union

import anywidget
import ipywidgets as widgets
import traitlets

from ..capture import Capture, FrameRecord, OpenRecord
from ..capture.lines import via_label
from ..display import ELLIPSIS, hex_preview
from ..display.html import FIELD_COLOURS, WARNING_BACKGROUND, WARNING_COLOUR, render_html
from ..protocol.deflate import DeflateParams, PerMessageDeflate
from ..protocol.diagram import compression_lines, summary, violation_line
from ..protocol.dissector import FIELD_SPECS, DeflateArg, Dissection, Field, dissect, leaf_fields
from ..protocol.errors import TruncatedFrame
from ..protocol.frames import Frame
from ..protocol.header import parse_header
from ..protocol.opcodes import Opcode, opcode_name
from .fallback import StaticFallback, static_block

__all__ = ["FrameView", "MASKING_PAGE", "MAX_DRAWN_BYTES", "INFLATED_TEXT_SHOWN", "INFLATED_HEX_SHOWN",
           "parse_hex"]

Role = Literal["server", "client"]

#: Payload bytes per page of the masking panel (section 5.3).
MASKING_PAGE = 64
#: Bytes whose bits are drawn; the rest of a large frame is counted, not drawn.
MAX_DRAWN_BYTES = 256
#: Characters of an inflated text message sent to the browser (``dissection.text`` has them all).
INFLATED_TEXT_SHOWN = 2000
#: Bytes of an inflated message shown as hex.
INFLATED_HEX_SHOWN = 64

_HERE = Path(__file__).parent
_HEX_SEPARATORS = re.compile(r"[\s,:;]+")


def _bytes_from_json(value: Any, widget: Any) -> bytes:
    """A binary buffer from the browser (memoryview) or a list of ints, as bytes."""
    return b"" if value is None else bytes(value)


def parse_hex(text: str) -> bytes:
    """Bytes typed as hex: ``81 8c 55``, ``818c55``, ``0x81,0x8c`` or ``81:8c``.

    Raises ValueError naming the first character that is not a hex digit.
    """
    tokens = [t for t in _HEX_SEPARATORS.split(text.strip()) if t]
    digits = []
    for token in tokens:
        if token[:2].lower() == "0x":
            token = token[2:]
        digits.append(token)
    joined = "".join(digits)
    for i, ch in enumerate(joined):
        if ch not in "0123456789abcdefABCDEF":
            raise ValueError(f"{ch!r} is not a hex digit (digit {i + 1})")
    if len(joined) % 2:
        raise ValueError(f"odd number of hex digits ({len(joined)}): each byte needs two")
    return bytes.fromhex(joined)


FrameSource = Union[bytes, bytearray, memoryview, Frame, FrameRecord]


def _resolve(data: FrameSource, role: object) -> tuple[bytes, Role | None]:
    """Bytes to dissect and the side reading them.

    ``role="auto"``: a ``FrameRecord`` is read by the side that received it, a
    masked ``Frame`` by a server and an unmasked one by a client (section 5.1),
    bare bytes by a server.
    """
    if isinstance(data, Frame):
        raw = data.encode()
        auto: Role = "server" if data.masked else "client"
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        auto = "server"
    elif isinstance(data, FrameRecord):
        raw = data.raw
        auto = "server" if data.direction == "in" else "client"
    else:
        raise TypeError(f"FrameView shows bytes, a Frame or a FrameRecord, not {type(data).__name__}")
    if role == "auto":
        return raw, auto
    if role not in ("server", "client", None):
        raise ValueError(f"role must be 'server', 'client', None or 'auto', got {role!r}")
    return raw, role  # type: ignore[return-value]


def _context(data: FrameSource, capture: Capture | None, deflate: DeflateArg,
             inflated: bytes | str | None) -> tuple[DeflateArg, bytes | None]:
    """The permessage-deflate context of a frame: what ``capture`` knows of a record, else what was given.

    A capture knows the parameters its connection agreed on (from the 101
    response) and the message that a compressed frame inflates to (the message
    record after its frames); given ``deflate`` or ``inflated`` win over it.
    """
    if capture is not None:
        if not isinstance(data, FrameRecord):
            raise TypeError("capture= needs a FrameRecord of that capture as data")
        if deflate is None:
            deflate = capture.deflate_params(data.conn)
        if inflated is None and deflate:
            # The capture's own lookup: the message record its frames end in, when compressed.
            inflated = capture.inflated_message(data)
    if isinstance(inflated, str):
        inflated = inflated.encode()
    elif inflated is not None:
        inflated = bytes(inflated)
    return deflate, inflated


def _arrival(data: FrameSource, capture: Capture | None, opened: OpenRecord | None) -> dict[str, Any]:
    """The ``via`` traits of a frame: from ``opened``, else from its connection's handshake in ``capture``."""
    if opened is None and capture is not None and isinstance(data, FrameRecord):
        opened = capture.opening(data.conn)
    if opened is None:
        return {"via": "", "via_note": "", "reframed": False}
    return {"via": via_label(opened), "via_note": opened.via_text, "reframed": opened.reframed}


def _deflate_text(deflate: DeflateArg) -> str:
    """The agreed parameters as a ``Sec-WebSocket-Extensions`` element ("" when not negotiated)."""
    if isinstance(deflate, PerMessageDeflate):
        deflate = deflate.params
    if isinstance(deflate, DeflateParams):
        return str(deflate)
    return "permessage-deflate" if deflate else ""


def _field_value(f: Field) -> int | str:
    return f.value if isinstance(f.value, int) else f.display


class FrameView(StaticFallback, anywidget.AnyWidget):
    """A frame's bits, coloured and labelled by field, with the first violation on its bit.

    ``data`` may be bytes, a :class:`~wsexplore.protocol.frames.Frame` or a
    capture ``FrameRecord``. ``role`` is the side reading the bytes ("server"
    expects masked frames, "client" unmasked ones, None judges neither);
    "auto" picks it from what was given (see :func:`_resolve`). ``layout`` is
    "bytes" (one row per byte) or "rfc" (32 bits a row, as in the figure of
    section 5.2); it is kept in the ``bit_layout`` trait, because ``layout`` is
    the CSS ``Layout`` every ipywidget has (a ``widgets.Layout`` passed as
    ``layout`` goes there). With ``editable=True`` clicking a bit flips it and
    hex can be typed; ``view.data`` and ``view.dissection`` follow, observable
    with ``view.observe(callback, "data")`` (the dissection is already updated
    when the callback runs).

    permessage-deflate (RFC 7692): ``capture`` is the ``Capture`` a
    ``FrameRecord`` comes from; ``deflate`` (True, the agreed
    ``DeflateParams`` or a ``PerMessageDeflate``) and ``inflated`` (the whole
    message the frame belongs to) give the same context by hand. The
    ``inflated`` message is only used for the bytes it was given with: once
    the bytes are edited, the frame is inflated on its own (or said not to be).
    """

    _esm = _HERE / "frameview.js"
    _css = _HERE / "frameview.css"

    # -- inputs (the browser sets data, bit_layout and masking_page) -------------
    data = traitlets.Bytes(b"").tag(sync=True, from_json=_bytes_from_json)
    role = traitlets.Enum(("server", "client"), default_value="server", allow_none=True).tag(sync=True)
    rsv_allowed = traitlets.Int(0).tag(sync=True)
    editable = traitlets.Bool(False).tag(sync=True)
    bit_layout = traitlets.Enum(("bytes", "rfc"), default_value="bytes").tag(sync=True)
    masking_page = traitlets.Int(0).tag(sync=True)
    max_bytes = traitlets.Int(MAX_DRAWN_BYTES).tag(sync=True)

    # -- computed by the kernel from the dissection --------------------------------
    fields = traitlets.List(traitlets.Dict()).tag(sync=True)
    error = traitlets.Dict(default_value=None, allow_none=True).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)
    masking = traitlets.List(traitlets.Dict()).tag(sync=True)
    masking_total = traitlets.Int(0).tag(sync=True)
    frame_size = traitlets.Int(0).tag(sync=True)
    masking_page_size = traitlets.Int(MASKING_PAGE, read_only=True).tag(sync=True)
    hex_error = traitlets.Unicode("").tag(sync=True)
    # permessage-deflate (RFC 7692): the agreed parameters ("" when not negotiated), and for a frame of a
    # compressed message the diagram's lines, this frame's deflate bytes, the message they inflate to
    # (text cut after INFLATED_TEXT_SHOWN characters, hex after INFLATED_HEX_SHOWN bytes) and the ratio.
    deflate_params = traitlets.Unicode("").tag(sync=True)
    compressed = traitlets.Bool(False).tag(sync=True)
    compression = traitlets.List(traitlets.Unicode()).tag(sync=True)
    compressed_size = traitlets.Int(None, allow_none=True).tag(sync=True)
    inflated_size = traitlets.Int(None, allow_none=True).tag(sync=True)
    inflated_text = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    inflated_hex = traitlets.Unicode("").tag(sync=True)
    compression_ratio = traitlets.Float(None, allow_none=True).tag(sync=True)
    # How the frame's connection arrived (its handshake's via): "" when direct; reframed when the bits
    # are a proxy's, not the peer's.
    via = traitlets.Unicode("").tag(sync=True)
    via_note = traitlets.Unicode("").tag(sync=True)
    reframed = traitlets.Bool(False).tag(sync=True)

    def __init__(self, data: FrameSource = b"", *, role: Role | None | Literal["auto"] = "auto",
                 editable: bool = False, layout: Literal["bytes", "rfc"] | widgets.Layout = "bytes",
                 rsv_allowed: int = 0, capture: Capture | None = None, deflate: DeflateArg = None,
                 inflated: bytes | str | None = None, opened: OpenRecord | None = None, **kwargs: Any) -> None:
        raw, resolved = _resolve(data, role)
        self._deflate, inflated_bytes = _context(data, capture, deflate, inflated)
        kwargs.update(_arrival(data, capture, opened))
        self._inflated_for: tuple[bytes, bytes] | None = None if inflated_bytes is None else (raw, inflated_bytes)
        if isinstance(layout, str):
            kwargs["bit_layout"] = layout
        else:
            kwargs["layout"] = layout
        self._ready = False
        self._dissection: Dissection = dissect(b"", role=resolved, rsv_allowed=rsv_allowed)
        kwargs.setdefault("deflate_params", _deflate_text(self._deflate))
        super().__init__(data=raw, role=resolved, editable=editable, rsv_allowed=rsv_allowed, **kwargs)
        self._ready = True
        self._redissect()
        self.on_msg(self._on_custom_msg)

    # -- public -------------------------------------------------------------------
    @property
    def dissection(self) -> Dissection:
        """The dissection of ``data`` as ``role`` reads it (recomputed whenever either changes)."""
        return self._dissection

    @property
    def frame(self) -> Frame | None:
        """The frame in ``data``; None when the bytes end before the frame does."""
        return self._dissection.frame

    @property
    def drawn_bits(self) -> int:
        """How many bit cells the view draws (large frames are cut after ``max_bytes``)."""
        return 8 * min(len(self.data), self.max_bytes)

    @property
    def drawn_fields(self) -> list[str]:
        """Names of the fields the view labels (one ``wsx-label`` each), in order."""
        return [f["name"] for f in self.fields if f["leaf"] and f["drawn"]]

    def load(self, data: FrameSource, *, role: Role | None | Literal["auto"] = "auto", capture: Capture | None = None,
             deflate: DeflateArg = None, inflated: bytes | str | None = None, opened: OpenRecord | None = None) -> None:
        """Show other bytes (or a Frame or FrameRecord), dissecting once for data and role together.

        The permessage-deflate context is replaced too: what ``capture``,
        ``deflate`` and ``inflated`` say (none given: no extension), and so is
        how the frame arrived (``opened``, or its connection's handshake in ``capture``).
        """
        raw, resolved = _resolve(data, role)
        self._deflate, inflated_bytes = _context(data, capture, deflate, inflated)
        self._inflated_for = None if inflated_bytes is None else (raw, inflated_bytes)
        self._ready = False
        try:
            for name, value in _arrival(data, capture, opened).items():
                setattr(self, name, value)
            self.deflate_params = _deflate_text(self._deflate)
            self.role = resolved
            self.data = raw
        finally:
            self._ready = True
        self._redissect()

    def set_hex(self, text: str) -> bool:
        """Replace ``data`` with bytes typed as hex; on invalid hex keep ``data`` and set ``hex_error``."""
        try:
            raw = parse_hex(text)
        except ValueError as exc:
            self.hex_error = f"not applied: {exc}"
            return False
        self.hex_error = ""
        self.data = raw
        return True

    def flip_bit(self, index: int) -> None:
        """Flip bit ``index`` (0 is the most significant bit of the first byte), as a click does."""
        if not 0 <= index < 8 * len(self.data):
            raise IndexError(f"bit {index} is outside the {len(self.data)}-byte frame")
        buf = bytearray(self.data)
        buf[index // 8] ^= 0x80 >> (index % 8)
        self.data = bytes(buf)

    # -- recomputation ------------------------------------------------------------
    @traitlets.observe("data", "role", "rsv_allowed")
    def _on_input(self, change: dict) -> None:
        if self._ready:
            self._redissect()

    @traitlets.observe("masking_page")
    def _on_page(self, change: dict) -> None:
        if self._ready:
            self._update_masking()

    @traitlets.validate("masking_page")
    def _clamp_page(self, proposal: dict) -> int:
        last = max(0, (self.masking_total - 1) // MASKING_PAGE) if self.masking_total else 0
        return min(max(0, int(proposal["value"])), last)

    @traitlets.observe("max_bytes")
    def _on_max_bytes(self, change: dict) -> None:
        if self._ready:
            self._redissect()

    def _redissect(self) -> None:
        given = self._inflated_for
        inflated = given[1] if given is not None and given[0] == self.data else None
        d = dissect(self.data, role=self.role, rsv_allowed=self.rsv_allowed, deflate=self._deflate,
                    inflated=inflated)
        self._dissection = d
        drawn = self.drawn_bits
        leaves = {id(f) for f in leaf_fields(d.fields)}
        fields = []
        for f in d.fields:
            spec = FIELD_SPECS[f.name]
            fields.append({
                "name": f.name,
                "label": spec.label,
                "start_bit": f.start_bit,
                "bit_width": f.bit_width,
                "present": len(f.bits),
                "value": _field_value(f),
                "display": f.display,
                "meaning": f.meaning,
                "rfc": f.rfc,
                "description": spec.description,
                "colour": FIELD_COLOURS.get(f.name, "#eeeeee"),
                "parent": f.parent,
                "leaf": id(f) in leaves,
                "drawn": len(f.bits) > 0 and f.start_bit < drawn,
            })
        total = len(d.masked_payload) if d.masked_payload is not None and d.masking_key is not None else 0
        with self.hold_sync():  # one update message: the browser redraws once
            self.fields = fields
            self.error = self._error_dict(d, drawn)
            self.summary = summary(d)
            self.frame_size = d.size
            self.masking_total = total
            self.masking_page = self.masking_page  # re-clamped to the new payload
            self._update_masking()
            self._update_compression(d)

    def _update_compression(self, d: Dissection) -> None:
        """The permessage-deflate panel: the text diagram's lines, the inflated message and the ratio."""
        message = d.inflated if d.compressed else None
        self.compressed = d.compressed
        self.compression = compression_lines(d)
        self.compressed_size = len(d.payload) if d.compressed else None
        self.inflated_size = None if message is None else len(message)
        text = d.text if message is not None else None
        if text is not None and len(text) > INFLATED_TEXT_SHOWN:
            text = text[:INFLATED_TEXT_SHOWN] + ELLIPSIS
        self.inflated_text = text
        self.inflated_hex = "" if message is None else hex_preview(message, INFLATED_HEX_SHOWN)
        self.compression_ratio = d.compression_ratio if d.compressed else None

    @staticmethod
    def _error_dict(d: Dissection, drawn: int) -> dict | None:
        err = d.error
        if err is None:
            return None
        bit = err.bit_offset
        # Truncation is not a bit's fault: it is told, not pinned on a cell (as in the text diagram).
        highlight = bit if bit is not None and bit < drawn and not isinstance(err, TruncatedFrame) else None
        return {
            "kind": type(err).__name__,
            "field": err.field,
            "bit_offset": bit,
            "highlight_bit": highlight,
            "message": err.message,
            "rfc": err.rfc,
            "close_code": err.close_code,
            "text": violation_line(d),
        }

    def _update_masking(self) -> None:
        """Rows of the masking panel for the current page: wire byte XOR key byte (i mod 4) = payload byte."""
        d = self._dissection
        key, wire, plain = d.masking_key, d.masked_payload, d.payload
        if key is None or wire is None:
            self.masking = []
            return
        start = self.masking_page * MASKING_PAGE
        rows = []
        for i in range(start, min(start + MASKING_PAGE, len(wire))):
            result = plain[i]
            rows.append({
                "index": i,
                "masked": wire[i],
                "key_index": i % 4,
                "key": key[i % 4],
                "result": result,
                "char": chr(result) if 0x20 <= result < 0x7F else "",
            })
        self.masking = rows

    def _on_custom_msg(self, widget: Any, content: Any, buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "hex":
            self.set_hex(str(content.get("text", "")))

    # -- text ---------------------------------------------------------------------
    def static_html(self) -> str:
        """The bit grid and field table of the bytes shown now (:func:`~wsexplore.display.html.render_html`)."""
        return static_block("FrameView", self.static_body(), "editable: click a bit to flip it" if self.editable else "")

    def static_body(self) -> str:
        """:meth:`static_html` without its frame (for views that hold a FrameView)."""
        via = ""
        if self.via:
            style = (f"border-left:4px solid {WARNING_COLOUR};background:{WARNING_BACKGROUND};color:{WARNING_COLOUR}"
                     if self.reframed else "border-left:4px solid #888;color:#444")
            via = (f'<div style="margin:2px 0;padding:2px 6px;{style}">'
                   f"{html_escape(f'via {self.via}: {self.via_note}')}</div>")
        extra = len(self.data) - self._dissection.size
        after = (f'<div style="color:#666">+{extra} B after the frame (the live view draws them too)</div>'
                 if extra > 0 else "")
        return via + render_html(self._dissection) + after

    def __repr__(self) -> str:
        d = self._dissection
        data = self.data
        parts = []
        op = d.opcode
        size = f"{d.size} B"
        if op is None:
            parts.append("no bytes")
        else:
            name = op.name if isinstance(op, Opcode) else f"opcode {opcode_name(op)}"
            parts.append(f"{name} {size}")
        header = parse_header(data)
        if header is not None and header.b1 is not None:
            parts.append("masked" if header.masked else "unmasked")
        if header is not None and not header.fin:
            parts.append("FIN=0")
        if d.compressed:
            inflated = "?" if d.inflated is None else f"{len(d.inflated)} B"
            parts.append(f"compressed {len(d.payload)} B -> {inflated}")
        err = d.error
        if err is None:
            parts.append("ok")
        elif isinstance(err, TruncatedFrame):
            lower = ">=" if d.payload_length is None else ""
            parts.append(f"truncated, {lower}{d.missing} B missing")
        else:
            parts.append(f"{type(err).__name__} at bit {err.bit_offset} {err.field}")
        extra = len(data) - d.size
        if extra > 0:
            parts.append(f"+{extra} B after the frame")
        if self.editable:
            parts.append("editable")
        if self.via:
            parts.append(f"via {self.via}" + (": the proxy's frame, not the peer's" if self.reframed else ""))
        return f"FrameView({', '.join(parts)})"
