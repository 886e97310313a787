"""Loading a capture file is parsing, never executing: hostile files give one ValueError naming the
line and the field, import nothing, and whatever loads is safe for every view and method.

The seed is a capture the real server recorded from real peers (``real_capture``); the hostile
files are that file with one thing changed, by hand (the cases a review found) and by hypothesis.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wsexplore.capture import Capture, Records
from wsexplore.capture.formats.fields import CaptureFileError

from .real_capture import real_capture_text
from .safety import exercise, modules

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def real_text() -> str:
    return real_capture_text()


def parsed(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def unparsed(objects: list[Any]) -> str:
    return "\n".join(json.dumps(o) for o in objects) + "\n"


def load(text: str) -> Capture:
    return Capture.load(io.StringIO(text))


#: The file name errors begin with (a StringIO has none: its type names it).
SOURCE = "StringIO"


def error_start(line: int, field: str | None = None) -> str:
    """How an error about ``line`` (and ``field``) of the file starts."""
    return f"{SOURCE}: line {line}" + (f", field {field!r}: " if field else ": ")


def load_any_har() -> None:
    """Load a HAR once, so that the HAR reader's own imports are done before ``sys.modules`` is compared
    (a mutated header can make a file look like one)."""
    try:
        load('{"log": {"entries": []}}')
    except ValueError:
        pass


# ---------------------------------------------------------------------------- the seed itself
def test_the_real_capture_loads_and_every_view_of_every_record_works(real_text: str) -> None:
    cap = load(real_text)
    assert {r.kind for r in cap} == {"open", "frame", "message", "close", "error"}
    errors = {type(r.error).__name__ for r in cap if getattr(r, "error", None) is not None}
    assert errors == {"HandshakeError", "InvalidUTF8", "MessageTooBig", "CompressionError", "TruncatedFrame",
                      "FramingError", "InvalidCloseCode"}
    exercise(cap, select=lambda record: True)


# ---------------------------------------------------------------------------- nothing is imported
IMPORTING_TYPES = [
    "wsexplore.__main__:X",  # ran the CLI with the host program's argv and raised SystemExit
    "wsexplore.cli:main",
    "wsexplore.widgets.builder:FrameBuilder",
    "os:system",
    "builtins:eval",
    "wsexplore.protocol.errors:ProtocolError.__subclasses__",
    "wsexplore.protocol.errors:FramingError.__init__.__globals__",
    "wsexplore.protocol.errors:Framingerror",
]


@pytest.mark.parametrize("error_type", IMPORTING_TYPES)
def test_an_error_type_outside_the_table_is_refused_and_nothing_is_imported(real_text: str, error_type: str) -> None:
    objects = parsed(real_text)
    number = next(i for i, o in enumerate(objects) if o.get("error"))
    objects[number]["error"]["type"] = error_type
    load(real_text)  # the loader's own imports are done
    before = modules()
    with pytest.raises(ValueError) as info:
        load(unparsed(objects))
    assert modules() == before
    assert "wsexplore.__main__" not in sys.modules
    assert str(info.value).startswith(error_start(number + 1, "error.type"))
    assert isinstance(info.value, CaptureFileError)
    assert (info.value.line, info.value.field) == (number + 1, "error.type")


# ---------------------------------------------------------------------------- hostile fields, one by one
def _first(kind: str, **having: Any) -> Callable[[list[dict[str, Any]]], int]:
    def find(objects: list[dict[str, Any]]) -> int:
        return next(i for i, o in enumerate(objects) if o.get("kind") == kind
                    and all((o.get(k) is not None) if v is ... else o.get(k) == v for k, v in having.items()))
    return find


def _header(objects: list[dict[str, Any]]) -> int:
    return 0


DELETE = object()
# (where, path, new value, the field named in the error)
HOSTILE: dict[str, tuple[Callable[[list[dict[str, Any]]], int], tuple[Any, ...], Any, str]] = {
    "seq as a string": (_first("frame"), ("seq",), "2", "seq"),
    "seq negative": (_first("frame"), ("seq",), -1, "seq"),
    "seq as true": (_first("frame"), ("seq",), True, "seq"),
    "conn as a list": (_first("frame"), ("conn",), [], "conn"),
    "time as text": (_first("message"), ("time",), "now", "time"),
    "wall before year 1": (_first("message"), ("wall",), -7e10, "wall"),
    "wall past year 9999": (_first("message"), ("wall",), 1e20, "wall"),
    "raw as a number": (_first("frame"), ("raw",), 123, "raw"),
    "raw not base64": (_first("frame"), ("raw",), "not base64!", "raw"),
    "raw missing": (_first("frame"), ("raw",), DELETE, "raw"),
    "direction unknown": (_first("frame"), ("direction",), "up", "direction"),
    "offset as a float": (_first("frame"), ("offset",), 1.5, "offset"),
    "kind unknown": (_first("frame"), ("kind",), "exploit", "kind"),
    "kind missing": (_first("frame"), ("kind",), DELETE, "kind"),
    "a field the format has not": (_first("frame"), ("__class__",), "os.system", "__class__"),
    "frame as a string": (_first("frame"), ("frame",), "yes", "frame"),
    "frame object without payload": (_first("frame"), ("frame",), {"opcode": 1}, "frame.payload"),
    "frame opcode 99": (_first("frame"), ("frame",), {"opcode": 99, "payload": "", "fin": True, "rsv1": False,
                                                     "rsv2": False, "rsv3": False, "mask_key": None},
                        "frame.opcode"),
    "frame mask key not hex": (_first("frame"), ("frame",), {"opcode": 1, "payload": "", "fin": True,
                                                            "rsv1": False, "rsv2": False, "rsv3": False,
                                                            "mask_key": "zzzzzzzz"}, "frame.mask_key"),
    "error as a string": (_first("frame", error=...), ("error",), "boom", "error"),
    "error type a number": (_first("frame", error=...), ("error", "type"), 5, "error.type"),
    "error attrs a list": (_first("frame", error=...), ("error", "attrs"), [], "error.attrs"),
    "error message missing": (_first("frame", error=...), ("error", "attrs", "message"), DELETE,
                              "error.attrs.message"),
    "error bit_offset a string": (_first("frame", error=...), ("error", "attrs", "bit_offset"), "8",
                                  "error.attrs.bit_offset"),
    "error attribute the class has not": (_first("frame", error=...), ("error", "attrs", "__dict__"), {},
                                          "error.attrs.__dict__"),
    "handshake error headers not pairs": (_first("error", error=...), ("error", "attrs", "headers"), [["a"]],
                                          "error.attrs.headers[0]"),
    "handshake error status 99999": (_first("error", error=...), ("error", "attrs", "status"), 99999,
                                     "error.attrs.status"),
    "open status a string": (_first("open"), ("status",), "101", "status"),
    "open peer an object": (_first("open"), ("peer",), {"a": 1}, "peer"),
    "open peer a short list": (_first("open"), ("peer",), ["h"], "peer"),
    "open peer port too big": (_first("open"), ("peer",), ["h", 70000], "peer"),
    "open via unknown": (_first("open"), ("via",), "carrier pigeon", "via"),
    "open request not base64": (_first("open"), ("request",), "%%%", "request"),
    "message opcode a string": (_first("message"), ("opcode",), "TEXT", "opcode"),
    "message frames negative": (_first("message"), ("frames",), -1, "frames"),
    "message text a number": (_first("message", text=...), ("text",), 7, "text"),
    "message with text and data": (_first("message", text=...), ("data",), "AAAA", ""),
    "message with neither text nor data": (_first("message", text=...), ("text",), DELETE, ""),
    "close code a string": (_first("close"), ("code",), "1000", "code"),
    "close code too big": (_first("close"), ("code",), 70000, "code"),
    "close clean a string": (_first("close"), ("clean",), "yes", "clean"),
    "close reason a number": (_first("close"), ("reason",), 5, "reason"),
    "close initiator unknown": (_first("close"), ("initiator",), "me", "initiator"),
    "error record message a number": (_first("error"), ("message",), 7, "message"),
    "header version as a string": (_header, ("version",), "1", "version"),
    "header records as a string": (_header, ("records",), "3", "records"),
    "header connections of strings": (_header, ("connections",), ["a"], "connections[0]"),
    "header max_bytes negative": (_header, ("max_bytes",), -1, "max_bytes"),
    "header max_records zero": (_header, ("max_records",), 0, "max_records"),
    "header field the format has not": (_header, ("exec",), "x", "exec"),
}


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    if value is DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


@pytest.mark.parametrize("case", HOSTILE)
def test_each_hostile_field_gives_one_value_error_naming_the_line_and_field(real_text: str, case: str) -> None:
    where, path, value, field = HOSTILE[case]
    objects = parsed(real_text)
    number = where(objects)
    _set(objects[number], path, value)
    load(real_text)
    before = modules()
    with pytest.raises(ValueError) as info:
        load(unparsed(objects))
    assert modules() == before
    error = info.value
    assert isinstance(error, CaptureFileError) and error.line == number + 1, str(error)
    assert error.field == (field or None), str(error)
    assert str(error).startswith(error_start(number + 1, field or None))


RAW_LINES = {
    "nested 100,000 deep": '{"kind": "close", "reason": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "an integer of 5,000 digits": '{"kind": "frame", "seq": ' + "9" * 5000 + "}",
    "NaN as a clock": None,  # filled in below from a real record
    "not JSON": '{"kind": "frame", ',
    "a JSON array": "[1, 2, 3]",
    "a JSON string": '"frame"',
}


@pytest.mark.parametrize("case", RAW_LINES)
def test_lines_json_cannot_read_or_a_reader_must_not_take_give_value_errors(real_text: str, case: str) -> None:
    lines = real_text.splitlines()
    line = RAW_LINES[case]
    if line is None:
        line = lines[3].replace('"time": ', '"time": NaN, "_": ', 1)
    lines[3] = line
    load(real_text)
    before = modules()
    with pytest.raises(ValueError) as info:
        load("\n".join(lines) + "\n")
    assert modules() == before
    assert isinstance(info.value, CaptureFileError) and info.value.line == 4, str(info.value)


def test_file_level_problems_give_value_errors(real_text: str, tmp_path) -> None:
    lines = real_text.splitlines()
    with pytest.raises(ValueError, match="truncated capture: the header announces"):
        load("\n".join(lines[:-1]) + "\n")
    swapped = lines[:3] + [lines[4], lines[3]] + lines[5:]
    with pytest.raises(ValueError, match=rf"^{SOURCE}: line 5, field 'seq': \d+ does not follow the record before"):
        load("\n".join(swapped) + "\n")
    with pytest.raises(ValueError, match="not a capture file"):
        load("\n".join(lines[1:]) + "\n")
    with pytest.raises(ValueError, match="not a capture file: it starts with 0a 0a"):
        load("\n\n")
    binary = tmp_path / "binary.jsonl"
    at = len(lines[0]) + 1 + 10  # inside the second line
    binary.write_bytes(real_text.encode()[:at] + b"\xff\xfe" + real_text.encode()[at:])
    with pytest.raises(CaptureFileError, match=rf"^{binary}: line 2: not UTF-8 text"):
        Capture.load(binary)


def test_blank_lines_do_not_shift_the_line_numbers_errors_name(real_text: str) -> None:
    lines = real_text.splitlines()
    objects = [json.loads(line) for line in lines]
    objects[5]["seq"] = "x"
    text = "\n".join([lines[0], "", ""] + [json.dumps(o) for o in objects[1:]])
    with pytest.raises(ValueError, match=rf"^{SOURCE}: line 8, field 'seq'"):
        load(text)


# ---------------------------------------------------------------------------- fuzzing
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _paths(value, (*prefix, i))
    return found


def _values_in(objects: list[Any]) -> list[Any]:
    """Every value of the real file, so that a field can get another field's (well-typed) value."""
    out: list[Any] = []
    for obj in objects:
        for path in _paths(obj):
            value = obj
            for key in path:
                value = value[key]
            out.append(copy.deepcopy(value))
    return out


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_real_captures_load_or_give_value_errors_and_whatever_loads_is_safe(real_text: str, data) -> None:
    objects = parsed(real_text)
    number = data.draw(st.integers(0, len(objects) - 1), label="line")
    target = objects[number]
    mutation = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "line", "duplicate",
                                          "drop"]), label="mutation")
    values = st.one_of(JSON_VALUES, st.sampled_from(_values_in(objects)))
    paths = _paths(target)
    if mutation == "replace" and paths:
        path = data.draw(st.sampled_from(paths), label="path")
        _set(target, path, data.draw(values, label="value"))
    elif mutation == "delete" and paths:
        path = data.draw(st.sampled_from(paths), label="path")
        parent = target
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    elif mutation == "add":
        target[data.draw(st.text(max_size=10), label="key")] = data.draw(values, label="value")
    elif mutation == "line":
        objects[number] = data.draw(values, label="line value")
    elif mutation == "duplicate":
        objects.insert(number, copy.deepcopy(target))
        objects[0]["records"] = len(objects) - 1
    elif mutation == "drop" and number:
        del objects[number]
        objects[0]["records"] = len(objects) - 1
    text = unparsed(objects)
    load(real_text)
    load_any_har()
    before = modules()
    try:
        cap = load(text)
    except ValueError as exc:
        # A JSON Lines file names its line (and field); one whose header no longer says what it is
        # is refused as no capture file at all (or read as the HAR it now claims to be).
        event("refused")
        assert str(exc).startswith(f"{SOURCE}: "), str(exc)
    else:
        event("loaded")
        exercise(cap, select=lambda record: record.seq == target.get("seq") if isinstance(target, dict)
                 else False)
    assert modules() == before


def test_records_view_of_a_loaded_capture_is_safe_too(real_text: str) -> None:
    cap = load(real_text)
    view = Records(list(cap))
    repr(view), view.summary(), view._repr_html_()
