"""FrameBuilder: set every header bit of a frame by hand, see its bytes, send it as built.

The controls only choose values; ``Frame.encode()`` writes the bytes (RFC 6455
section 5.2) and a :class:`FrameView` shows their dissection, so a frame that
breaks a rule (a reserved opcode, RSV bits without an extension, a fragmented
ping, a bad close code) is built, shown with its violation, and can be sent to
see how the peer reacts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from html import escape
from typing import Any, Protocol, Union

import ipywidgets as widgets

from ..display import plural
from ..display.html import error_span
from ..protocol.frames import Frame, encode_close_payload, length_form
from ..protocol.opcodes import Opcode, opcode_meaning
from .fallback import StaticFallback, static_block
from .frameview import FrameView, parse_hex

__all__ = ["FrameBuilder", "LENGTH_FORMS", "hex_dump"]

#: What each payload length form of section 5.2 costs on the wire.
LENGTH_FORMS = {
    "7-bit": "fits in the 7-bit Payload len (0-125)",
    "16-bit": "Payload len 126, then a 16-bit extended length (126-65535)",
    "64-bit": "Payload len 127, then a 64-bit extended length (65536 and more)",
}

_HEX_SHOWN = 1024  # bytes of the built frame written out as hex


def hex_dump(data: bytes, limit: int = _HEX_SHOWN, per_line: int = 16) -> str:
    """``data`` as hex, ``per_line`` bytes a line, cut after ``limit`` bytes with a count of the rest."""
    shown = data[:limit]
    lines = [shown[i:i + per_line].hex(" ") for i in range(0, len(shown), per_line)]
    if len(data) > limit:
        lines.append(f"... {plural(len(data) - limit, 'more byte')}")
    return "\n".join(lines)


class FrameSender(Protocol):
    """What the Send button needs: ``wsexplore.live.server.ServerConnection`` is one, and so is
    ``Proxy.injector(conn, to=...)``, which inserts the frame into a tapped conversation. A sender
    with a ``reader`` attribute ("server" or "client") names the side that reads the frames."""

    async def send_frame(self, frame: Frame) -> None: ...


Sending = Union[asyncio.Task, concurrent.futures.Future]


def _opcode_options() -> list[tuple[str, int]]:
    return [(opcode_meaning(v), v) for v in range(16)]


class FrameBuilder(StaticFallback, widgets.VBox):
    """Controls for every part of a frame, a live :class:`FrameView` of the result and its hex.

    ``builder.frame`` is the ``Frame`` the controls describe and
    ``builder.data`` its bytes (``builder.frame.encode()``). Given a live
    ``connection`` (anything with ``async send_frame(frame)``, such as
    ``wsexplore.live.server.ServerConnection``), the Send button sends the
    frame exactly as built, valid or not.
    """

    def __init__(self, connection: FrameSender | None = None, *, frame: Frame | None = None, **kwargs: Any) -> None:
        self.connection = connection
        self._syncing = False
        self._frame = Frame(Opcode.TEXT, b"")
        self._error: str | None = None
        self._pending: set[Sending] = set()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

        wide = widgets.Layout(width="auto")
        label = {"description_width": "initial"}
        self.fin = widgets.Checkbox(value=True, description="FIN", indent=False, layout=wide)
        self.rsv1 = widgets.Checkbox(value=False, description="RSV1", indent=False, layout=wide)
        self.rsv2 = widgets.Checkbox(value=False, description="RSV2", indent=False, layout=wide)
        self.rsv3 = widgets.Checkbox(value=False, description="RSV3", indent=False, layout=wide)
        self.opcode = widgets.Dropdown(options=_opcode_options(), value=int(Opcode.TEXT), description="opcode", style=label)
        self.mask = widgets.Checkbox(value=False, description="MASK", indent=False, layout=wide)
        self.mask_key = widgets.Text(value="", placeholder="4 bytes as hex", description="masking key", style=label)
        self.random_key = widgets.Button(description="random key", tooltip="4 random bytes (RFC 6455 section 5.3)")
        self.payload_mode = widgets.ToggleButtons(options=["text", "hex"], value="text", description="payload as", style=label)
        self.payload = widgets.Textarea(value="Hello", description="payload", layout=widgets.Layout(width="60%"))
        self.close_mode = widgets.ToggleButtons(
            options=[("code + reason", "fields"), ("raw payload", "raw")], value="fields", description="close body", style=label)
        self.close_code = widgets.Text(value="1000", description="close code", placeholder="empty: no code", style=label)
        self.close_reason = widgets.Text(value="", description="reason", style=label)
        self.length_label = widgets.HTML()
        self.problem = widgets.HTML()
        self.view = FrameView(b"", role="client")
        self.hex = widgets.Textarea(value="", disabled=True, description="bytes",
                                    layout=widgets.Layout(width="60%", height="6em"))
        self.send_button = widgets.Button(description="Send", button_style="warning", icon="paper-plane",
                                          tooltip="send the frame exactly as built, even an invalid one")
        self.status = widgets.HTML()

        self.random_key.on_click(lambda _: self.randomize_key())
        self.send_button.on_click(lambda _: self._send_clicked())
        for control in (self.fin, self.rsv1, self.rsv2, self.rsv3, self.opcode, self.mask_key, self.payload,
                        self.close_mode, self.close_code, self.close_reason):
            control.observe(self._changed, "value")
        self.mask.observe(self._mask_changed, "value")
        self.payload_mode.observe(self._mode_changed, "value")

        self.close_box = widgets.VBox([self.close_mode, widgets.HBox([self.close_code, self.close_reason])])
        self.payload_box = widgets.VBox([self.payload_mode, self.payload])
        self.send_box = widgets.HBox([self.send_button, self.status])
        rows = [
            widgets.HBox([self.fin, self.rsv1, self.rsv2, self.rsv3, self.opcode]),
            widgets.HBox([self.mask, self.mask_key, self.random_key]),
            self.close_box,
            self.payload_box,
            self.length_label,
            self.problem,
            self.view,
            self.hex,
        ]
        if connection is not None:
            rows.append(self.send_box)
        super().__init__(rows, **kwargs)
        if frame is not None:
            self.load(frame)
        elif self._reader() == "server":
            self.randomize_key()  # a server reads masked frames only (section 5.1): start valid
        else:
            self._rebuild()

    # -- public -------------------------------------------------------------------
    @property
    def frame(self) -> Frame:
        """The frame the controls describe (the last valid one while an input is invalid)."""
        return self._frame

    @property
    def data(self) -> bytes:
        """The frame's bytes on the wire: ``frame.encode()``."""
        return self._frame.encode()

    @property
    def error(self) -> str | None:
        """What is wrong with the inputs (bad hex, a key that is not 4 bytes), or None."""
        return self._error

    @property
    def length_form(self) -> str:
        """"7-bit", "16-bit" or "64-bit": the payload length form the frame needs (section 5.2)."""
        return self._frame.length_form

    def load(self, frame: Frame) -> None:
        """Set every control from ``frame``."""
        self._syncing = True
        try:
            self.fin.value = frame.fin
            self.rsv1.value, self.rsv2.value, self.rsv3.value = frame.rsv1, frame.rsv2, frame.rsv3
            self.opcode.value = int(frame.opcode)
            self.mask.value = frame.masked
            self.mask_key.value = frame.mask_key.hex(" ") if frame.mask_key is not None else ""
            payload = frame.payload
            if frame.opcode == Opcode.CLOSE and _close_fields(payload) is not None:
                code, reason = _close_fields(payload)  # type: ignore[misc]
                self.close_mode.value = "fields"
                self.close_code.value = "" if code is None else str(code)
                self.close_reason.value = reason
            else:
                if frame.opcode == Opcode.CLOSE:
                    self.close_mode.value = "raw"
                text = _as_text(payload)
                self.payload_mode.value = "text" if text is not None else "hex"
                self.payload.value = text if text is not None else payload.hex(" ")
        finally:
            self._syncing = False
        self._rebuild()

    def randomize_key(self) -> bytes:
        """A fresh random masking key (section 5.3 asks for an unpredictable one); turns masking on."""
        key = secrets.token_bytes(4)
        self._syncing = True
        try:
            self.mask.value = True
            self.mask_key.value = key.hex(" ")
        finally:
            self._syncing = False
        self._rebuild()
        return key

    def send(self) -> Sending:
        """Send the frame as built on the connection; returns the task (or future) doing it.

        In a notebook the kernel's event loop is running, so the send is
        scheduled on it; from another thread it is handed to the loop the
        builder was created on.
        """
        if self.connection is None:
            raise RuntimeError("no connection: create FrameBuilder(connection) to send")
        frame = self._frame
        coro = self.connection.send_frame(frame)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            future: Sending = loop.create_task(coro)
        elif self._loop is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        else:
            coro.close()
            raise RuntimeError("no running event loop to send on")
        self._pending.add(future)
        self.status.value = f"sending {len(self.data)} B ..."
        future.add_done_callback(lambda fut: self._sent(fut, frame))
        return future

    # -- internals ----------------------------------------------------------------
    def _send_clicked(self) -> None:
        try:
            self.send()
        except Exception as exc:  # shown, not raised into the widget callback machinery
            self.status.value = error_span(f"not sent: {exc}")

    def _sent(self, future: Sending, frame: Frame) -> None:
        self._pending.discard(future)
        if future.cancelled():
            self.status.value = error_span("send cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self.status.value = error_span(f"send failed: {type(exc).__name__}: {exc}")
        else:
            self.status.value = escape(f"sent {len(frame.encode())} B: {frame!r}")

    def _changed(self, change: dict) -> None:
        if not self._syncing:
            self._rebuild()

    def _mask_changed(self, change: dict) -> None:
        if self._syncing:
            return
        if change["new"] and not self.mask_key.value.strip():
            self.randomize_key()
        else:
            self._rebuild()

    def _mode_changed(self, change: dict) -> None:
        """Convert the payload box between text and hex, keeping the bytes."""
        if self._syncing:
            return
        old, new = change["old"], change["new"]
        self._syncing = True
        try:
            if old == "text" and new == "hex":
                self.payload.value = self.payload.value.encode().hex(" ")
            elif old == "hex" and new == "text":
                try:
                    raw = parse_hex(self.payload.value)
                    self.payload.value = raw.decode()
                except (ValueError, UnicodeDecodeError) as exc:
                    self.payload_mode.value = "hex"
                    self.problem.value = error_span(f"payload stays hex: {exc}")
                    return
        finally:
            self._syncing = False
        self._rebuild()

    def _payload(self) -> bytes:
        if self.opcode.value == Opcode.CLOSE and self.close_mode.value == "fields":
            text = self.close_code.value.strip()
            reason = self.close_reason.value
            if not text:
                if reason:
                    raise ValueError("a close reason needs a close code (RFC 6455 section 5.5.1)")
                return b""
            if not text.isdigit() or int(text) > 0xFFFF:
                raise ValueError(f"close code {text!r} is not a number from 0 to 65535 (2 bytes)")
            return encode_close_payload(int(text), reason)
        if self.payload_mode.value == "hex":
            try:
                return parse_hex(self.payload.value)
            except ValueError as exc:
                raise ValueError(f"payload hex: {exc}") from None
        return self.payload.value.encode()

    def _key(self) -> bytes | None:
        if not self.mask.value:
            return None
        try:
            key = parse_hex(self.mask_key.value)
        except ValueError as exc:
            raise ValueError(f"masking key: {exc}") from None
        if len(key) != 4:
            raise ValueError(f"masking key: 4 bytes needed, got {len(key)}")
        return key

    def _rebuild(self) -> None:
        is_close = self.opcode.value == Opcode.CLOSE
        self.close_box.layout.display = None if is_close else "none"
        self.payload_box.layout.display = "none" if is_close and self.close_mode.value == "fields" else None
        self.mask_key.disabled = not self.mask.value
        try:
            frame = Frame(self.opcode.value, self._payload(), fin=self.fin.value, rsv1=self.rsv1.value,
                          rsv2=self.rsv2.value, rsv3=self.rsv3.value, mask_key=self._key())
        except ValueError as exc:
            self._error = str(exc)
            self.problem.value = error_span(f"not applied: {exc}")
            self.send_button.disabled = True
            return
        self._error = None
        self.problem.value = ""
        self.send_button.disabled = False
        self._frame = frame
        data = frame.encode()
        # The peer reads what is sent: a live server's frames are read by its client, a tap's injector
        # names its reader; otherwise a masked frame is a client's (read by a server) and an unmasked
        # one a server's (section 5.1).
        role = self._reader() or ("client" if not frame.masked else "server")
        self.view.load(data, role=role)
        n = len(frame.payload)
        form = length_form(n)
        self.length_label.value = escape(f"{n} payload byte{'s' if n != 1 else ''}: {form} length, "
                                         f"{LENGTH_FORMS[form]}")
        self.hex.value = hex_dump(data)

    def _reader(self) -> str | None:
        """The side that reads what Send sends: the sender's ``reader``, else a live server's client."""
        if self.connection is None:
            return None
        return getattr(self.connection, "reader", "client")

    def static_html(self) -> str:
        """The controls' values, the length form, the frame's bits and its bytes, as the builder shows them."""
        f = self._frame
        bits = " ".join(f"{name}={int(value)}" for name, value in
                        (("FIN", f.fin), ("RSV1", f.rsv1), ("RSV2", f.rsv2), ("RSV3", f.rsv3), ("MASK", f.masked)))
        key = f", masking key {f.mask_key.hex(' ')}" if f.mask_key is not None else ""
        lines = [f"<div>{escape(bits)}, opcode {escape(opcode_meaning(int(f.opcode)))}{escape(key)}</div>",
                 f"<div>{self.length_label.value}</div>"]
        if self.problem.value:
            lines.append(f"<div>{self.problem.value}</div>")
        lines.append(self.view.static_body())
        lines.append(f'<pre style="margin:2px 0">{escape(self.hex.value)}</pre>')
        if self.connection is not None:
            lines.append(f"<div>Send: {self.status.value or 'not sent yet'}</div>")
        return static_block("FrameBuilder", "".join(lines))

    def __repr__(self) -> str:
        parts = [repr(self._frame), f"{len(self.data)} B", f"{self.length_form} length"]
        err = self.view.dissection.error
        if err is not None:
            parts.append(f"breaks {type(err).__name__} at bit {err.bit_offset} {err.field}")
        if self._error is not None:
            parts.append(f"input error: {self._error}")
        if self.connection is not None:
            conn_id = getattr(self.connection, "id", None)
            parts.append(f"connection #{conn_id}" if conn_id is not None else "connected")
            if self._reader() == "server":
                parts.append("to the server")
        return f"FrameBuilder({', '.join(parts)})"


def _as_text(payload: bytes) -> str | None:
    """The payload as text when it is UTF-8 without control characters but tab and LF.

    A browser's text box turns CR LF into LF, so a payload holding CR is edited as hex.
    """
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F for c in text):
        return None
    return text


def _close_fields(payload: bytes) -> tuple[int | None, str] | None:
    """(code, reason) when the close body is expressible as code + UTF-8 reason, else None."""
    if not payload:
        return None, ""
    if len(payload) < 2:
        return None
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        return None
    return int.from_bytes(payload[:2], "big"), reason

