"""``Capture.to_pandas()``: one row per record, typed columns; a clear message without pandas."""

from __future__ import annotations

import sys

import pytest

from wsexplore.capture import Capture
from wsexplore.capture.table import COLUMNS
from wsexplore.protocol.connection import Connection
from wsexplore.protocol.errors import FramingError


def capture() -> Capture:
    cap = Capture()
    cap.opened(1, ("127.0.0.1", 5), b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 OK\r\n\r\n", 101)
    server = Connection("server")
    client = Connection("client")
    cap.record_events(1, server.receive_data(client.send_text("héllo", fragment_size=3)))
    cap.record_events(1, client.receive_data(server.send_binary(b"\x00\x01")), received="out")
    cap.frame(1, "in", 99, bytes([0xC1, 0x80, 1, 2, 3, 4]), error=FramingError("RSV1 without an extension"))
    cap.closed(1, 1000, "", "remote", True)
    cap.error(None, "something else")
    return cap


def test_one_typed_row_per_record() -> None:
    import pandas as pd  # a test extra
    df = capture().to_pandas()
    assert list(df.columns) == list(COLUMNS)
    assert {name: str(dtype) for name, dtype in df.dtypes.items()} == COLUMNS
    assert len(df) == len(capture())
    frames = df[df.kind == "frame"]
    assert list(frames.opcode) == ["TEXT", "CONTINUATION", "BINARY", "TEXT"]
    assert list(frames.fin) == [False, True, True, True]
    assert list(frames.masked) == [True, True, False, True]
    assert list(frames.direction) == ["in", "in", "out", "in"]
    assert list(frames.rsv) == [0, 0, 0, 4]
    assert list(frames.length) == [3, 3, 2, 0]
    assert frames.violation.iloc[-1].startswith("FramingError: ")
    messages = df[df.kind == "message"]
    assert list(messages.length) == [6, 2] and list(messages.opcode) == ["TEXT", "BINARY"]
    assert pd.isna(df.connection.iloc[-1]) and df.violation.iloc[-1] == "something else"
    assert str(df.time.dt.tz) == "UTC"
    assert df.groupby("direction", observed=True).length.sum().to_dict() == {"in": 12, "out": 4}


def test_filtered_records_too() -> None:
    assert len(capture().frames(direction="out").to_pandas()) == 1


def test_without_pandas_the_message_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"needs pandas, which is not installed: pip install pandas"):
        capture().to_pandas()


def test_every_date_a_record_may_hold_is_a_time_in_the_table() -> None:
    """Year 1 to 9999 (``WALL_RANGE``), past the year 2262 where nanosecond timestamps end."""
    from wsexplore.capture.records import WALL_RANGE
    cap = Capture()
    walls = [WALL_RANGE[0], 1_700_000_000.25, 9_223_372_786.071953, WALL_RANGE[1]]
    for wall in walls:
        cap.error(None, "at the edge", wall=wall)
    times = cap.to_pandas().time
    assert [t.isoformat() for t in times] == ["0001-01-01T00:00:00+00:00", "2023-11-14T22:13:20.250000+00:00",
                                             "2262-04-11T23:59:46.071953+00:00", "9999-12-31T23:59:59+00:00"]
