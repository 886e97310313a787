"""System tools some tests need (Chromium, tcpdump, tshark, Node.js) and what happens without them.

``make test`` installs them with apt-get when it runs as root. Without them
(or without root, which capturing loopback traffic needs) those tests are
skipped with a reason that starts with ``NOT_TESTED``, and the end of the run
lists them (``tests/conftest.py``), so a person sees what was not tested
instead of a wall of failures. CI (``.ci/run``) sets ``WSEXPLORE_REQUIRE_ALL=1``:
then a missing tool fails the test, since there nothing may go untested.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["NOT_TESTED", "REQUIRE_ALL", "missing", "need_tools", "need_root"]

#: Every skip reason for a missing tool starts with this (the summary finds them by it).
NOT_TESTED = "not tested, missing"
#: The environment variable that turns those skips into failures.
REQUIRE_ALL = "WSEXPLORE_REQUIRE_ALL"


def missing(what: str) -> None:
    """Skip the test because ``what`` is missing, or fail it when ``WSEXPLORE_REQUIRE_ALL`` is set."""
    if os.environ.get(REQUIRE_ALL, "") not in ("", "0"):
        pytest.fail(f"{what} ({REQUIRE_ALL} is set: nothing may go untested)", pytrace=False)
    pytest.skip(f"{NOT_TESTED}: {what}")


def need_tools(*tools: str, why: str) -> None:
    """Go on only if every one of ``tools`` is on PATH."""
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if absent:
        missing(f"{', '.join(absent)} ({why}; `make test` installs it as root: apt-get install ...)")


def need_root(why: str) -> None:
    """Go on only as root (capturing on the loopback interface needs it)."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        missing(f"root ({why})")
