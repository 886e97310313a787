"""Fixtures shared across the test areas."""

from __future__ import annotations

import pytest

from .binder_env import BinderEnv, build
from .tools import NOT_TESTED, REQUIRE_ALL


@pytest.fixture(scope="session")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    """One environment built from binder/ alone (tests/binder_env.py) for the whole run."""
    return build(tmp_path_factory.mktemp("binder") / "env")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    """At the end of the run: which tests did not run for want of a tool, and why (tests/tools.py)."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(NOT_TESTED):
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("NOT TESTED: tools missing on this machine", sep="=", yellow=True)
        for reason, count in sorted(reasons.items()):
            terminalreporter.line(f"{count:>4} test(s) {reason}")
        terminalreporter.line(f"Install them (as root, `make test` does) or set {REQUIRE_ALL}=1 to make this "
                              "a failure, as CI does.")
