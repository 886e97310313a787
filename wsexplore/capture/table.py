"""A capture as a pandas DataFrame: one row per record, typed columns, for the tools people know.

``Capture.to_pandas()`` (and the same on any filtered ``Records``) builds it,
so a capture can be grouped, counted, plotted and written to Parquet or CSV
without learning the record classes. pandas is optional: without it the call
says how to install it.

Columns (nullable where a kind of record has no such value):

=============  ===================  =====================================================
``seq``        int64                the record's number in the capture
``connection`` Int64                the connection id (NA for an error of no connection)
``time``       datetime64[us, UTC]  when it happened (the wall clock, or the capture's), to the microsecond:
                                   nanoseconds would reach only to 2262, and a record's clock may
                                   be any date from year 1 to 9999 (``records.WALL_RANGE``)
``kind``       category             open, frame, message, close, error
``direction``  category             "in" (client to server), "out" (server to client)
``opcode``     category             TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION, 0x3 ...
``fin``        boolean              the FIN bit of a frame
``rsv``        Int8                 the RSV bits of a frame as a number (RSV1 = 4, RSV2 = 2, RSV3 = 1)
``masked``     boolean              the MASK bit of a frame
``length``     Int64                payload length of a frame, data size of a message
``offset``     Int64                a frame's offset in its direction's byte stream
``preview``    string               the record in a few words (its ``repr`` without the numbers)
``violation``  string               the rule a frame broke, or the text of an error record
=============  ===================  =====================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..display import data_size
from ..protocol.header import FIN_MASK, RSV_MASK
from ..protocol.opcodes import opcode_name
from .lines import describe_body
from .records import ErrorRecord, FrameRecord, MessageRecord, Record

if TYPE_CHECKING:
    import pandas

__all__ = ["to_pandas", "COLUMNS"]

#: Column name -> pandas dtype.
COLUMNS: dict[str, str] = {
    "seq": "int64",
    "connection": "Int64",
    "time": "datetime64[us, UTC]",
    "kind": "category",
    "direction": "category",
    "opcode": "category",
    "fin": "boolean",
    "rsv": "Int8",
    "masked": "boolean",
    "length": "Int64",
    "offset": "Int64",
    "preview": "string",
    "violation": "string",
}


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("Capture.to_pandas() needs pandas, which is not installed: "
                          "pip install pandas (or pip install 'wsexplore[pandas]')") from None
    return pandas


def to_pandas(records: Iterable[Record]) -> pandas.DataFrame:
    """One row per record, with the columns of ``COLUMNS``."""
    pd = _pandas()
    cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for r in records:
        cols["seq"].append(r.seq)
        cols["connection"].append(r.conn)
        cols["time"].append(r.wall)
        cols["kind"].append(r.kind)
        direction = opcode = fin = rsv = masked = length = offset = violation = None
        if isinstance(r, FrameRecord):
            direction, offset = r.direction, r.offset
            header = r.header
            if header is not None:
                opcode = opcode_name(header.opcode)
                fin, rsv = bool(header.b0 & FIN_MASK), (header.b0 & RSV_MASK) >> 4
                masked = header.masked if header.b1 is not None else None
            length = r.length
            if r.error is not None:
                violation = f"{type(r.error).__name__}: {r.error}"
        elif isinstance(r, MessageRecord):
            direction, opcode, length = r.direction, opcode_name(r.opcode), data_size(r.data)
        elif isinstance(r, ErrorRecord):
            violation = r.message
        cols["direction"].append(direction)
        cols["opcode"].append(opcode)
        cols["fin"].append(fin)
        cols["rsv"].append(rsv)
        cols["masked"].append(masked)
        cols["length"].append(length)
        cols["offset"].append(offset)
        cols["preview"].append(describe_body(r))
        cols["violation"].append(violation)
    data = {}
    for name, dtype in COLUMNS.items():
        values = cols[name]
        if name == "time":
            seconds = np.array(values, dtype="float64")
            whole = np.floor(seconds)  # the fraction apart: exact, where seconds * 1e6 would round
            micros = whole.astype("int64") * 1_000_000 + np.round((seconds - whole) * 1e6).astype("int64")
            stamps = micros.view("datetime64[us]")
            data[name] = pd.Series(stamps).dt.tz_localize("UTC")
        else:
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)
