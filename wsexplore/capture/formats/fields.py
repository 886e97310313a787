"""Reading a file's JSON values field by field, each checked for its type and range before use.

A file is data, never code: a reader takes from it only values of the types
it expects, in the ranges the views can show, and reports the first one that
is not as a :class:`CaptureFileError` (a ``ValueError``) naming the line and
the field, e.g. ``line 7, field 'error.attrs.bit_offset': expected an
integer or null, got a string``. Nothing read from a file selects code to
run: names in it are looked up in fixed tables of this package.

Every reader of capture files (JSON Lines today, pcap and HAR later) uses
these checks, so the same mistakes get the same words.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable, Collection
from typing import Any

from .b64 import decode as decode_base64

__all__ = ["CaptureFileError", "Fields", "json_type", "MAX_INT"]

#: The largest integer a count, offset or sequence number may hold (that of a 64-bit signed integer).
MAX_INT = (1 << 63) - 1

_REQUIRED: Any = object()


class CaptureFileError(ValueError):
    """A file that is not a capture this reader can use: ``line`` (1-based, None for the file as a
    whole) and ``field`` (a dotted path, None for the line as a whole) say where; ``source``
    names the file once known."""

    def __init__(self, line: int | None, field: str | None, problem: str, source: str | None = None) -> None:
        where = [f"line {line}"] if line is not None else []
        if field:
            where.append(f"field {field!r}")
        text = f"{', '.join(where)}: {problem}" if where else problem
        super().__init__(f"{source}: {text}" if source else text)
        self.line = line
        self.field = field
        self.problem = problem
        self.source = source

    def in_file(self, source: str) -> CaptureFileError:
        """The same error, naming the file it is in."""
        return CaptureFileError(self.line, self.field, self.problem, source)

    @classmethod
    def not_utf8(cls, data: bytes, exc: UnicodeDecodeError, source: str | None = None) -> CaptureFileError:
        """Text that is not UTF-8, at the line and byte where it stops being so."""
        line = data.count(b"\n", 0, exc.start) + 1
        return cls(line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", source)


def json_type(value: Any) -> str:
    """The JSON name of what ``value`` is, with its article: 'a string', 'null', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json.loads makes nothing else


class Fields:
    """One JSON object of a file, read field by field; ``path`` is where it sits in its line.

    Each reader method takes the field's name and either returns a value of
    the announced type or raises ``CaptureFileError``. ``done()`` then refuses
    fields the reader did not take: a file holds what its format says and
    nothing else.
    """

    __slots__ = ("_data", "line", "path", "_taken")

    def __init__(self, data: Any, line: int | None, path: str = "") -> None:
        if type(data) is not dict:
            raise CaptureFileError(line, path or None, f"expected an object, got {json_type(data)}")
        self._data: dict[str, Any] = data
        self.line = line
        self.path = path
        self._taken: set[str] = set()

    def name(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def fail(self, field: str | None, problem: str) -> CaptureFileError:
        return CaptureFileError(self.line, self.name(field) if field else (self.path or None), problem)

    def has(self, field: str) -> bool:
        return field in self._data

    def _present(self, field: str, default: Any) -> bool:
        """Whether ``field`` is there to read; a missing one is refused unless it has a default."""
        self._taken.add(field)
        if field in self._data:
            return True
        if default is _REQUIRED:
            raise self.fail(field, "missing")
        return False

    def _checked(self, field: str, default: Any, nullable: bool, what: str, ok: Callable[[Any], bool]) -> Any:
        if not self._present(field, default):
            return default
        value = self._data[field]
        if value is None and nullable:
            return None
        if not ok(value):
            raise self.fail(field, f"expected {what}{' or null' if nullable else ''}, got {json_type(value)}")
        return value

    # -- scalars ---------------------------------------------------------------------
    def integer(self, field: str, *, low: int = 0, high: int = MAX_INT, nullable: bool = False,
                default: Any = _REQUIRED) -> Any:
        if not self._present(field, default):
            return default
        value = self._checked(field, default, nullable, "an integer", lambda v: type(v) is int)
        if value is not None and not low <= value <= high:
            raise self.fail(field, f"{value} is out of range ({low} to {high})")
        return value

    def number(self, field: str, *, low: float = -math.inf, high: float = math.inf,
               default: Any = _REQUIRED) -> Any:
        if not self._present(field, default):
            return default
        value = self._checked(field, default, False, "a finite number",
                              lambda v: type(v) in (int, float) and math.isfinite(v))
        if not low <= value <= high:
            raise self.fail(field, f"{value} is out of range ({low:g} to {high:g})")
        return float(value)

    def text(self, field: str, *, nullable: bool = False, default: Any = _REQUIRED) -> Any:
        return self._checked(field, default, nullable, "a string", lambda v: type(v) is str)

    def flag(self, field: str, *, default: Any = _REQUIRED) -> Any:
        return self._checked(field, default, False, "true or false", lambda v: type(v) is bool)

    def choice(self, field: str, choices: Collection[Any], *, default: Any = _REQUIRED) -> Any:
        if not self._present(field, default):
            return default
        value = self._data[field]
        if type(value) not in (str, type(None)) or value not in choices:
            shown = ", ".join("null" if c is None else repr(c) for c in choices)
            got = json_type(value) + (f" {value!r}" if type(value) is str and len(value) <= 40 else "")
            raise self.fail(field, f"expected one of {shown}, got {got}")
        return value

    def base64(self, field: str, *, nullable: bool = False, default: Any = _REQUIRED) -> Any:
        if not self._present(field, default):
            return default
        value = self.text(field, nullable=nullable)
        if value is None:
            return None
        try:
            return decode_base64(value.encode("ascii"))
        except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
            raise self.fail(field, f"not base64 ({exc})") from None

    # -- containers --------------------------------------------------------------------
    def object(self, field: str, *, nullable: bool = False, default: Any = _REQUIRED) -> Fields | None:
        if not self._present(field, default):
            return default
        value = self._data[field]
        if value is None and nullable:
            return None
        return Fields(value, self.line, self.name(field))

    def array(self, field: str, *, default: Any = _REQUIRED) -> Any:
        return self._checked(field, default, False, "an array", lambda v: type(v) is list)

    def raw(self, field: str, *, default: Any = _REQUIRED) -> Any:
        """The value as it is, for a field whose reader checks it itself."""
        return self._data[field] if self._present(field, default) else default

    def done(self) -> None:
        """Refuse any field that was not read."""
        extra = [name for name in self._data if name not in self._taken]
        if extra:
            raise self.fail(extra[0], "not a field of this format")
