"""Waiting for a record: the exact moment a capture holds what a notebook cell wants to read.

A cell that reads ``server.capture`` right after its client closed may run
before the server has recorded the close; sleeping a little is a guess that a
slow machine loses. ``await wait_for_record(capture, kind="close", conn=1)``
returns the first record matching the criteria (those of ``Capture.filter``),
at once if the capture already holds it, else as soon as it is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..capture import Capture
from ..capture.query import Records
from ..capture.records import Record

__all__ = ["wait_for_record", "DEFAULT_TIMEOUT"]

#: Seconds to wait before giving up.
DEFAULT_TIMEOUT = 10.0


async def wait_for_record(capture: Capture, predicate: Callable[[Record], bool] | None = None, *,
                          timeout: float = DEFAULT_TIMEOUT, **criteria: Any) -> Record:
    """The first record of ``capture`` matching ``criteria`` (and ``predicate``), waiting for it if needed.

    Raises TimeoutError, naming the criteria, when no such record arrives within ``timeout`` seconds.
    """

    def matches(record: Record) -> bool:
        if criteria and not Records([record]).filter(**criteria):
            return False
        return predicate is None or predicate(record)

    found = next((r for r in capture if matches(r)), None)
    if found is not None:
        return found
    arrived: asyncio.Future[Record] = asyncio.get_running_loop().create_future()

    def on_record(record: Record) -> None:
        if not arrived.done() and matches(record):
            arrived.set_result(record)

    unsubscribe = capture.subscribe(on_record)
    try:
        return await asyncio.wait_for(arrived, timeout)
    except asyncio.TimeoutError:
        wanted = ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "the predicate"
        raise TimeoutError(f"no record matching {wanted} within {timeout} s") from None
    finally:
        unsubscribe()
