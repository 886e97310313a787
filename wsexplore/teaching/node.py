"""Just enough of Node.js, in Python, to run the tutorial's toy server the way Node runs it.

The toy (:mod:`wsexplore.teaching.toy`) is a line-by-line port of JavaScript
whose bugs come from JavaScript's own rules, so those rules are here, each as
Node 20 applies it (checked against a real ``node`` by ``tests/toy``):

* values: ``byte.toString(2)`` (no leading zeros), ``parseInt("", 2)`` (NaN),
  ``buf.slice(start, NaN)`` (empty), ``Number + BigInt`` (a TypeError),
  ``'text' + buffer`` (the buffer decoded as UTF-8, bad bytes as U+FFFD);
* ``Buffer`` reads and writes out of range throw ``RangeError``s with Node's
  exact codes and messages;
* ``EventEmitter``: listeners run at once, in order; an ``'error'`` event with
  no listener throws;
* the process: ``console.log``/``console.error`` lines, ``setInterval``, and
  what an exception nobody catches does: Node prints it and **exits**, and
  with it every server and connection of the process goes away.

This module is pure (no asyncio, no sockets); :mod:`wsexplore.teaching.node_net`
has the ``http`` server and the sockets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JSError",
    "thrown_at",
    "BigInt",
    "NaN",
    "to_string_2",
    "parse_int_2",
    "js_add",
    "js_slice",
    "js_string",
    "utf8_to_string",
    "string_to_utf8",
    "read_uint8",
    "read_uint16_be",
    "read_big_uint64_be",
    "write_uint8",
    "EventEmitter",
    "ConsoleLine",
    "NodeProcess",
]

#: JavaScript's NaN (``parseInt("", 2)``).
NaN = float("nan")


# ----------------------------------------------------------------------------------------- errors
class JSError(Exception):
    """A JavaScript exception as Node reports it.

    ``header`` is the first line Node prints (``RangeError [ERR_OUT_OF_RANGE]:
    The value of ...``); ``at`` the first frame in the tutorial's code
    (``MyWebsocket.processData (ws.js:101:34)``), when there is one; ``event``
    is set for an error Node emitted as an ``'error'`` event that nobody
    listened to (``"Socket"``), which Node throws all the same.
    """

    def __init__(self, name: str, message: str, *, code: str | None = None, at: str | None = None,
                 event: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.code = code
        self.at = at
        self.event = event

    @property
    def header(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.name}{code}: {self.message}"

    def located(self, at: str) -> JSError:
        """This error, thrown at ``at`` (the call site in the tutorial's code), unless placed already."""
        if self.at is None:
            self.at = at
        return self

    def text(self) -> str:
        """What Node prints on stderr before it exits, reduced to the lines that carry information."""
        lines = [self.header]
        if self.at:
            lines.append(f"    at {self.at}")
        if self.event:
            lines.append(f"Emitted 'error' event on {self.event} instance")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"JSError({self.header!r})"


@contextmanager
def thrown_at(where: str) -> Iterator[None]:
    """Place a ``JSError`` thrown inside at ``where`` (the innermost site in the tutorial's code wins)."""
    try:
        yield
    except JSError as error:
        raise error.located(where) from None


def _received(value: int) -> str:
    """How Node's ERR_OUT_OF_RANGE writes the received number (``addNumericalSeparator`` above 2**32)."""
    text = str(value)
    if abs(value) <= 2**32:
        return text
    start = 1 if text.startswith("-") else 0
    rest, i = "", len(text)
    while i >= start + 4:
        rest = f"_{text[i - 3:i]}{rest}"
        i -= 3
    return text[:i] + rest


def _out_of_range(name: str, upper: int, value: int) -> JSError:
    return JSError("RangeError", f'The value of "{name}" is out of range. It must be >= 0 and <= {upper}. '
                                 f"Received {_received(value)}", code="ERR_OUT_OF_RANGE")


def _bounds_error(offset: int, upper: int) -> JSError:
    """Node's ``boundsError``: a read past the end of a buffer."""
    if upper < 0:
        return JSError("RangeError", "Attempt to access memory outside buffer bounds", code="ERR_BUFFER_OUT_OF_BOUNDS")
    return _out_of_range("offset", upper, offset)


# ----------------------------------------------------------------------------------------- values
class BigInt(int):
    """A JavaScript BigInt (what ``readBigUInt64BE`` returns): mixing it with a Number throws."""

    def __repr__(self) -> str:
        return f"{int(self)}n"


def to_string_2(value: int) -> str:
    """``value.toString(2)``: binary digits without leading zeros (``5`` -> ``"101"``, ``0`` -> ``"0"``)."""
    return format(value, "b")


def parse_int_2(text: str) -> float | int:
    """``parseInt(text, 2)``: the leading binary digits as a number, NaN when there are none."""
    digits = ""
    for ch in text:
        if ch not in "01":
            break
        digits += ch
    return int(digits, 2) if digits else NaN


def js_add(a: int | float, b: int | float) -> int | float:
    """``a + b`` for numbers: a Number plus a BigInt throws, as in JavaScript."""
    if isinstance(a, BigInt) != isinstance(b, BigInt):
        raise JSError("TypeError", "Cannot mix BigInt and other types, use explicit conversions")
    return a + b


def _relative_index(value: int | float, length: int) -> int:
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        value = math.trunc(value) if math.isfinite(value) else (length if value > 0 else -length)
    return max(length + value, 0) if value < 0 else min(value, length)


def js_slice(buf: bytes, start: int | float, end: int | float | None = None) -> bytes:
    """``buf.slice(start, end)`` (``subarray``): NaN is 0, negatives count from the end, ends are clamped."""
    n = len(buf)
    lo = _relative_index(start, n)
    hi = n if end is None else _relative_index(end, n)
    return bytes(buf[lo:hi]) if hi > lo else b""


def utf8_to_string(data: bytes) -> str:
    """``buf.toString('utf8')``: never throws; each invalid sequence becomes U+FFFD."""
    return bytes(data).decode("utf-8", "replace")


def string_to_utf8(text: str) -> bytes:
    """``Buffer.from(text, 'utf8')``: never throws; a lone surrogate becomes U+FFFD (``ef bf bd``)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


def js_string(value: Any) -> str:
    """``String(value)`` and ``'text' + value``: a Buffer is decoded as UTF-8, ``None`` is "undefined"."""
    if value is None:
        return "undefined"
    if isinstance(value, (bytes, bytearray)):
        return utf8_to_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


# ----------------------------------------------------------------------------------------- Buffer
def read_uint8(buf: bytes, offset: int) -> int:
    """``buf.readUInt8(offset)``."""
    if not 0 <= offset < len(buf):
        raise _bounds_error(offset, len(buf) - 1)
    return buf[offset]


def read_uint16_be(buf: bytes, offset: int) -> int:
    """``buf.readUInt16BE(offset)``: throws when the buffer ends before ``offset + 2``."""
    if not 0 <= offset <= len(buf) - 2:
        raise _bounds_error(offset, len(buf) - 2)
    return int.from_bytes(buf[offset:offset + 2], "big")


def read_big_uint64_be(buf: bytes, offset: int) -> BigInt:
    """``buf.readBigUInt64BE(offset)``: a BigInt; throws when the buffer ends before ``offset + 8``."""
    if not 0 <= offset <= len(buf) - 8:
        raise _bounds_error(offset, len(buf) - 8)
    return BigInt(int.from_bytes(buf[offset:offset + 8], "big"))


def write_uint8(buf: bytearray, value: int, offset: int) -> None:
    """``buf.writeUInt8(value, offset)``: a value above 255 throws (it is not truncated)."""
    if not 0 <= value <= 255:
        raise _out_of_range("value", 255, value)
    if not 0 <= offset < len(buf):
        raise _bounds_error(offset, len(buf) - 1)
    buf[offset] = value


# ----------------------------------------------------------------------------------------- events
class EventEmitter:
    """Node's ``EventEmitter``: ``emit`` calls every listener at once, in order, and lets exceptions through."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {}

    def on(self, event: str, listener: Callable[..., Any]) -> EventEmitter:
        self._listeners.setdefault(event, []).append(listener)
        return self

    def listener_count(self, event: str) -> int:
        return len(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call the listeners of ``event``; an ``'error'`` nobody listens to is thrown, as Node does."""
        listeners = list(self._listeners.get(event, ()))
        if not listeners:
            if event == "error" and args and isinstance(args[0], JSError):
                raise args[0]
            return False
        for listener in listeners:
            listener(*args)
        return True


# ----------------------------------------------------------------------------------------- the process
@dataclass(frozen=True)
class ConsoleLine:
    """One ``console.log`` (stream "stdout") or ``console.error`` / crash report (stream "stderr")."""

    stream: str
    text: str

    def __str__(self) -> str:
        return self.text if self.stream == "stdout" else f"[stderr] {self.text}"


def format_args(*args: Any) -> str:
    """``console.log(a, b, c)``: each argument as a string, separated by spaces."""
    return " ".join(js_string(a) for a in args)


class NodeProcess:
    """One Node process: its console, its timers, and the end that an uncaught exception brings.

    Everything that Node would run from its event loop (a socket's ``'data'``,
    a timer, an ``'error'`` event) goes through :meth:`run`: a ``JSError``
    thrown there and caught by nobody is what kills a Node process. Then
    :meth:`crash` prints it, stops every timer and runs every ``on_exit``
    callback (the listening socket and each connection close, as the
    operating system closes them when a process dies). After that nothing
    runs any more.
    """

    def __init__(self, echo: Callable[[ConsoleLine], None] | None = None) -> None:
        self.output: list[ConsoleLine] = []
        self.crashed: JSError | None = None
        self.exited = False
        self._echo = echo
        self._on_exit: list[Callable[[], None]] = []
        self._listeners: list[Callable[[ConsoleLine], None]] = []
        self.timers: set[Any] = set()
        self._timer_factory: Callable[[float, Callable[[], None]], Any] | None = None

    @property
    def alive(self) -> bool:
        return not self.exited

    # -- console --------------------------------------------------------------------
    def _write(self, stream: str, text: str) -> None:
        line = ConsoleLine(stream, text)
        self.output.append(line)
        if self._echo is not None:
            self._echo(line)
        for listener in list(self._listeners):
            listener(line)

    def log(self, *args: Any) -> None:
        """``console.log(...)``."""
        if self.alive:
            self._write("stdout", format_args(*args))

    def error(self, *args: Any) -> None:
        """``console.error(...)``."""
        if self.alive:
            self._write("stderr", format_args(*args))

    def subscribe(self, listener: Callable[[ConsoleLine], None]) -> Callable[[], None]:
        """Call ``listener`` with every console line from now on; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def stdout(self) -> str:
        """Everything ``console.log`` wrote, as Node writes it to stdout (a newline after each call)."""
        return "".join(line.text + "\n" for line in self.output if line.stream == "stdout")

    # -- running code, and dying of it ------------------------------------------------
    def at_exit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the process ends (closing a server, a socket)."""
        self._on_exit.append(callback)

    def run(self, callback: Callable[..., Any], *args: Any) -> Any:
        """Run ``callback`` as Node runs a callback from its event loop: an uncaught ``JSError`` is fatal."""
        if not self.alive:
            return None
        try:
            return callback(*args)
        except JSError as error:
            self.crash(error)
            return None

    def crash(self, error: JSError) -> None:
        """An exception nobody caught: Node prints it on stderr and the process exits with code 1."""
        if not self.alive:
            return
        self._write("stderr", error.text())
        self.crashed = error
        self.exit()

    def exit(self) -> None:
        """The process ends: timers stop, and everything registered with ``at_exit`` is closed."""
        if self.exited:
            return
        self.exited = True
        for timer in list(self.timers):
            timer.cancel()
        self.timers.clear()
        callbacks, self._on_exit = self._on_exit, []
        for callback in callbacks:
            callback()

    # -- timers -----------------------------------------------------------------------
    def use_timers(self, factory: Callable[[float, Callable[[], None]], Any]) -> None:
        """How to arm a one-shot timer (``loop.call_later``); set by the part that owns the event loop."""
        self._timer_factory = factory

    def set_interval(self, callback: Callable[[], None], seconds: float) -> _Interval:
        """``setInterval(callback, ms)``: ``callback`` every ``seconds`` until the process ends."""
        if self._timer_factory is None:
            raise RuntimeError("this process has no event loop for timers (use_timers was not called)")
        interval = _Interval(self, callback, seconds)
        self.timers.add(interval)
        interval.arm()
        return interval


class _Interval:
    """One ``setInterval``: re-armed after each run, like Node's timers."""

    def __init__(self, process: NodeProcess, callback: Callable[[], None], seconds: float) -> None:
        self.process = process
        self.callback = callback
        self.seconds = seconds
        self.runs = 0
        self._handle: Any = None
        self._cancelled = False

    def arm(self) -> None:
        factory = self.process._timer_factory
        assert factory is not None
        self._handle = factory(self.seconds, self._fire)

    def _fire(self) -> None:
        if self._cancelled or not self.process.alive:
            return
        self.runs += 1
        self.process.run(self.callback)
        if not self._cancelled and self.process.alive:
            self.arm()

    def cancel(self) -> None:
        self._cancelled = True
        if self._handle is not None:
            self._handle.cancel()
        self.process.timers.discard(self)
