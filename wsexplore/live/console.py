"""One line per capture record, the way a dissector's packet list reads.

``wsexplore serve`` subscribes ``ConsolePrinter`` to its server's capture, so a
terminal shows each opening handshake (RFC 6455 section 4), each frame in each
direction with its header bits (section 5.2), masking key (section 5.3) and a
payload preview, each violation with the rule it broke, and each close
(section 7). Credentials (Cookie, Authorization, ...) are never printed: the
handshake line shows only an allowlist of headers.

Everything printed that came from the peer is escaped, so a payload cannot
move the cursor or recolour the terminal with control characters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TextIO

from ..protocol.frames import Frame
from ..protocol.handshake import SENSITIVE_HEADERS
from ..protocol.header import FIN_MASK, MASK_MASK, RSV1_MASK, RSV2_MASK, RSV3_MASK
from ..protocol.opcodes import Opcode, close_code_meaning
from .capture import CloseRecord, ErrorRecord, FrameRecord, MessageRecord, OpenRecord, Record
from .capture import _peer  # one way to show an address, shared with the capture's reprs

__all__ = ["format_record", "ConsolePrinter", "DEFAULT_KINDS", "TEXT_PREVIEW", "HEX_PREVIEW"]

#: Characters of text shown before a preview is cut.
TEXT_PREVIEW = 60
#: Bytes shown in hex before a preview is cut.
HEX_PREVIEW = 24
#: Record kinds printed by default: messages repeat what their frames showed.
DEFAULT_KINDS = frozenset({"open", "frame", "close", "error"})

# Request headers worth a glance; anything else (credentials above all) stays out.
_SHOWN_HEADERS = (
    "Host",
    "Origin",
    "User-Agent",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
)
_SHOWN_RESPONSE_HEADERS = ("Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions")
_ARROWS = {"in": "in  →", "out": "out ←"}


def _escape(text: str) -> str:
    """``text`` with every non-printable character (controls, bidi overrides, ...) escaped."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def _quote(text: str, limit: int = TEXT_PREVIEW) -> str:
    cut = len(text) > limit
    shown = text[:limit]
    return '"' + _escape(shown).replace('"', '\\"') + '"' + ("…" if cut else "")


def _hex(data: bytes, limit: int = HEX_PREVIEW) -> str:
    if not data:
        return "(empty)"
    return data[:limit].hex(" ") + (" …" if len(data) > limit else "")


def _clock(wall: float) -> str:
    local = time.localtime(wall)
    return time.strftime("%H:%M:%S", local) + f".{int(wall * 1000) % 1000:03d}"


def _conn(conn: int | None) -> str:
    return "#-" if conn is None else f"#{conn}"


def _opcode_name(opcode: Opcode | int | None) -> str:
    if opcode is None:
        return "?"
    return opcode.name if isinstance(opcode, Opcode) else f"0x{opcode:X}(reserved)"


# ---------------------------------------------------------------------------- payload previews
def _text_or_hex(payload: bytes) -> str:
    """Text when the bytes are valid UTF-8, else hex (pings and fragments carry either)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return _hex(payload)
    return _quote(text) if text else "(empty)"


def _preview(opcode: Opcode | int | None, payload: bytes | None, length: int | None) -> str:
    """What a person wants to see of a payload (section 5.6 data, section 5.5 control bodies)."""
    if payload is None:
        have = "" if length is None else f" of {length} B"
        return f"(payload not complete{have})"
    if opcode == Opcode.TEXT:
        try:
            return _quote(payload.decode("utf-8"))
        except UnicodeDecodeError:
            return f"{_hex(payload)} (not UTF-8)"
    if opcode == Opcode.CLOSE:
        if not payload:
            return "(no code)"
        if len(payload) == 1:
            return f"{_hex(payload)} (a 1-byte close body)"
        code = int.from_bytes(payload[:2], "big")
        shown = f"code={close_code_meaning(code)}"
        if len(payload) > 2:
            try:
                shown += f" reason={_quote(payload[2:].decode('utf-8'))}"
            except UnicodeDecodeError:
                shown += f" reason={_hex(payload[2:])} (not UTF-8)"
        return shown
    if opcode == Opcode.BINARY:
        return _hex(payload)
    return _text_or_hex(payload)


# ---------------------------------------------------------------------------- per kind
def _header_values(raw: bytes, wanted: Iterable[str]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """First line, the ``wanted`` headers present (in ``wanted`` order) and the credential headers seen.

    Lenient on purpose: a refused request may be malformed, and it is still shown.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.replace("\r\n", "\n").split("\n")
    first, found, hidden = lines[0], {}, []
    lowered = {name.lower(): name for name in wanted}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        if key in SENSITIVE_HEADERS:
            hidden.append(name.strip())
        elif key in lowered:
            canonical = lowered[key]
            found[canonical] = f"{found[canonical]}, {value.strip()}" if canonical in found else value.strip()
    return first, [(n, found[n]) for n in wanted if n in found], hidden


def _format_open(r: OpenRecord) -> str:
    request_line, headers, hidden = _header_values(r.request, _SHOWN_HEADERS)
    status_line, response_headers, _ = _header_values(r.response, _SHOWN_RESPONSE_HEADERS)
    parts = [f"handshake {_escape(_peer(r.peer))} {_escape(request_line[:200]) or '(no request line)'}",
             f"-> {_escape(status_line[:200]) or r.status}"]
    if not r.accepted:
        body = r.response.split(b"\r\n\r\n", 1)[1:] or [b""]
        reason = body[0].decode("utf-8", "replace").strip().split("\n", 1)[0]
        parts.append(f"(refused{': ' + _quote(reason, 200) if reason else ''})")
    parts += [f"{name}: {_quote(value, 120)}" for name, value in headers]
    parts += [f"{name}: {_quote(value, 120)}" for name, value in response_headers]
    if hidden:
        parts.append(f"[{', '.join(dict.fromkeys(hidden))} not shown]")
    return " | ".join(parts)


def _bits(b0: int, masked: bool) -> str:
    return (f"FIN={int(bool(b0 & FIN_MASK))} RSV1={int(bool(b0 & RSV1_MASK))} RSV2={int(bool(b0 & RSV2_MASK))} "
            f"RSV3={int(bool(b0 & RSV3_MASK))} MASK={int(masked)}")


def _format_frame(r: FrameRecord) -> str:
    frame: Frame | None = r.frame
    if frame is not None:
        b0 = (FIN_MASK if frame.fin else 0) | (RSV1_MASK if frame.rsv1 else 0) | (
            RSV2_MASK if frame.rsv2 else 0) | (RSV3_MASK if frame.rsv3 else 0)
        opcode: Opcode | int | None = frame.opcode
        masked, key = frame.mask_key is not None, frame.mask_key
        payload: bytes | None = frame.payload
        length: int | None = len(frame.payload)
    elif r.raw:
        # A frame that broke a rule: the dissector reads it as far as it goes.
        d = r.dissect()
        b0, opcode = r.raw[0], d.opcode
        masked = len(r.raw) > 1 and bool(r.raw[1] & MASK_MASK)
        key = d.masking_key
        length = d.payload_length
        complete = length is not None and len(d.payload) >= length
        payload = d.payload if complete else None
    else:
        line = f"{_ARROWS[r.direction]} (no bytes)"
        return line + (f" !! {type(r.error).__name__}: {_escape(str(r.error))}" if r.error is not None else "")
    parts = [_ARROWS[r.direction], f"{_opcode_name(opcode):<12}", _bits(b0, masked),
             f"len={'?' if length is None else length}",
             f"key={key.hex() if key is not None else '-'}" if masked else "key=-",
             _preview(opcode, payload, length)]
    if r.error is not None:
        parts.append(f"!! {type(r.error).__name__}: {_escape(str(r.error))}")
    return " ".join(parts)


def _format_message(r: MessageRecord) -> str:
    data = r.data
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    shown = _quote(data) if isinstance(data, str) else _hex(data)
    plural = "" if r.frames == 1 else "s"
    return f"{_ARROWS[r.direction]} message {_opcode_name(r.opcode)} {size} B in {r.frames} frame{plural} {shown}"


def _format_close(r: CloseRecord) -> str:
    code = "no code" if r.code is None else close_code_meaning(r.code)
    reason = f" reason={_quote(r.reason)}" if r.reason else ""
    how = "clean" if r.clean else "not clean"
    return f"closed {code}{reason}, closed first by the {r.closed_by}, {how}"


def _format_error(r: ErrorRecord) -> str:
    kind = f"{type(r.error).__name__}: " if r.error is not None else ""
    return f"error {kind}{_escape(r.message)}"


_FORMATTERS: dict[type, Any] = {
    OpenRecord: _format_open,
    FrameRecord: _format_frame,
    MessageRecord: _format_message,
    CloseRecord: _format_close,
    ErrorRecord: _format_error,
}


def format_record(record: Record) -> str:
    """One line for ``record``: ``HH:MM:SS.mmm #conn`` then what happened.

    Frames: direction (``in  →`` client to server, ``out ←`` server to client),
    opcode, FIN/RSV1-3/MASK bits, payload length, masking key in hex, a payload
    preview (text quoted, binary in hex, close code and reason), and the rule
    broken after ``!!``. Handshakes: peer, request and status lines and a few
    headers, never credentials.
    """
    formatter = _FORMATTERS.get(type(record))
    body = formatter(record) if formatter is not None else _escape(repr(record))
    return f"{_clock(record.wall)} {_conn(record.conn):<4} {body}"


class ConsolePrinter:
    """A capture subscriber that writes ``format_record`` lines to ``out``, flushed at once.

    ``kinds`` selects the record kinds printed (``DEFAULT_KINDS`` leaves out
    messages, which repeat their frames).
    """

    def __init__(self, out: TextIO, kinds: Iterable[str] = DEFAULT_KINDS) -> None:
        self.out = out
        self.kinds = frozenset(kinds)
        self.lines = 0

    def __call__(self, record: Record) -> None:
        if record.kind not in self.kinds:
            return
        self.out.write(format_record(record) + "\n")
        self.out.flush()
        self.lines += 1

    def __repr__(self) -> str:
        return f"<ConsolePrinter kinds={sorted(self.kinds)} lines={self.lines}>"

