"""A missing system tool: a skip listed at the end of the run, or under CI a failure (tests/tools.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_terminal_summary  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(
        "from tests.tools import need_tools\n\n"
        "def test_probe():\n"
        "    need_tools('wsexplore-no-such-tool', why='probing the summary')\n")
    environ = {k: v for k, v in os.environ.items() if k != "WSEXPLORE_REQUIRE_ALL"} | env
    environ["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), str(tmp_path)], cwd=tmp_path, env=environ, capture_output=True,
                          text=True, timeout=120)


def test_a_missing_tool_skips_and_the_end_of_the_run_says_what_was_not_tested(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    tail = result.stdout.split("NOT TESTED: tools missing on this machine", 1)[1]
    assert "1 test(s) not tested, missing: wsexplore-no-such-tool (probing the summary" in tail


def test_under_ci_a_missing_tool_fails(tmp_path: Path) -> None:
    result = _run(tmp_path, WSEXPLORE_REQUIRE_ALL="1")
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout and "nothing may go untested" in result.stdout
