"""The pcap/pcapng and HAR readers hold to the loader's rule: a hostile file gives a ValueError and
imports nothing, and whatever loads is safe for every view (``safety.exercise``).

The seeds are real: a pcapng that dumpcap recorded of ``websockets`` peers (conftest's ``plain``)
and a HAR in Chrome's shape (``test_har.entry``); hypothesis changes one thing in each.
"""

from __future__ import annotations

import copy
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wsexplore.capture import Capture

from .safety import exercise, modules
from .test_har import entry
from .test_load_hostile import JSON_VALUES, _paths, _set, _values_in

pytestmark = pytest.mark.timeout(900)

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _load_checked(data: bytes | str) -> None:
    source = io.StringIO(data) if isinstance(data, str) else io.BytesIO(data)
    before = modules()
    try:
        capture = Capture.load(source)
    except ValueError as exc:
        event("refused")
        assert str(exc), repr(exc)
    else:
        event("loaded")
        exercise(capture, select=lambda record: record.seq % 7 == 0)
    assert modules() == before


def _har() -> dict[str, Any]:
    closing = entry(_webSocketMessages=[
        {"type": "send", "time": 1714564801.0, "opcode": 8, "data": ""},
        {"type": "receive", "time": 1714564801.5, "opcode": 9, "data": "ping"},
    ])
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "entries": [entry(), closing]}}


def test_the_seeds_load_and_every_view_works(plain: tuple[Path, Any]) -> None:
    exercise(Capture.load(io.StringIO(json.dumps(_har()))), select=lambda record: True)
    exercise(Capture.load(plain[0]), select=lambda record: True)


@FUZZ
@given(data=st.data())
def test_fuzzed_har_files_load_or_give_value_errors_and_whatever_loads_is_safe(data) -> None:
    har = _har()
    exercise(Capture.load(io.StringIO(json.dumps(har))), select=lambda record: True)  # every view imported what it needs
    paths = _paths(har)
    path = data.draw(st.sampled_from(paths), label="path")
    value = data.draw(st.one_of(JSON_VALUES, st.sampled_from(_values_in([har]))), label="value")
    if data.draw(st.booleans(), label="delete") and len(path) > 1:
        parent = har
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    else:
        _set(har, path, copy.deepcopy(value))
    _load_checked(json.dumps(har))


@FUZZ
@given(data=st.data())
def test_fuzzed_pcapng_files_load_or_give_value_errors_and_whatever_loads_is_safe(plain: tuple[Path, Any],
                                                                                  data) -> None:
    seed = plain[0].read_bytes()
    Capture.load(io.BytesIO(seed))
    size = len(seed)
    at = data.draw(st.integers(0, size - 1), label="offset")
    mutation = data.draw(st.sampled_from(["flip", "overwrite", "cut", "truncate", "repeat"]), label="mutation")
    if mutation == "flip":
        bit = data.draw(st.integers(0, 7), label="bit")
        mutated = seed[:at] + bytes([seed[at] ^ (1 << bit)]) + seed[at + 1:]
    elif mutation == "overwrite":
        new = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        mutated = seed[:at] + new + seed[at + len(new):]
    elif mutation == "cut":
        length = data.draw(st.integers(1, 64), label="length")
        mutated = seed[:at] + seed[at + length:]
    elif mutation == "truncate":
        mutated = seed[:at]
    else:
        length = data.draw(st.integers(1, 256), label="length")
        mutated = seed[:at] + seed[at:at + length] * 2 + seed[at + length:]
    _load_checked(mutated)


# ---------------------------------------------------------------------------- times no view can show
def test_a_packet_time_past_year_9999_is_refused_naming_the_packet(plain: tuple[Path, Any]) -> None:
    """The interface's time resolution set from nanoseconds to seconds: every packet's time is then
    some 10^18 seconds, a date no view can show."""
    data = bytearray(plain[0].read_bytes())
    at = 0
    while True:  # the interface description block (type 1)
        kind, length = struct.unpack_from("<II", data, at)
        if kind == 1:
            break
        at += length
    option = at + 16  # after the block header, link type, reserved and snap length
    while True:
        code, size = struct.unpack_from("<HH", data, option)
        assert code != 0, "no if_tsresol option in the recording"
        if code == 9:  # if_tsresol: 10^-value seconds a tick
            data[option + 4] = 0
            break
        option += 4 + (size + 3) // 4 * 4
    with pytest.raises(ValueError, match=r"packet 1: time .* is not a date from year 1 to 9999"):
        Capture.load(io.BytesIO(bytes(data)))


@pytest.mark.parametrize(("where", "value"), [
    (("entries", 0, "_webSocketMessages", 0, "time"), 1e300),
    (("entries", 0, "startedDateTime"), "0001-01-01T00:00:00+01:00"),
])
def test_a_har_time_no_view_can_show_is_refused(where: tuple, value: Any) -> None:
    har = _har()
    _set(har["log"], where, value)
    with pytest.raises(ValueError, match="date"):
        Capture.load(io.StringIO(json.dumps(har)))
