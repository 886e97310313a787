"""Binder: a fresh environment built from binder/ alone, with Binder's Python, runs every notebook
and has the relay extension enabled.

The environment is built as repo2docker builds it (tests/binder_env.py): the
Python named in ``binder/runtime.txt``, ``binder/requirements.txt``, then
``binder/postBuild``, with a wheel cache so that later runs need no network.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from .binder_env import ROOT, BinderEnv, binder_python_version


def requires_python() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.M)
    assert match, "pyproject.toml has no requires-python"
    return match.group(1)


def test_binder_python_satisfies_requires_python() -> None:
    """Binder's Python is one the package says it runs on, and the floor is what the code needs."""
    spec = requires_python()
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)", spec)
    assert match, f"requires-python should be a plain floor, got {spec!r}"
    floor = (int(match.group(1)), int(match.group(2)))
    major, minor = map(int, binder_python_version().split("."))
    assert (major, minor) >= floor, f"Binder runs Python {major}.{minor}, below requires-python {spec}"
    # The code and notebooks use Python 3.11 features (asyncio.timeout in notebook 05).
    assert floor >= (3, 11), f"requires-python {spec} admits Pythons the notebooks do not run on"
    assert sys.version_info[:2] >= floor


@pytest.mark.timeout(1200)
def test_postbuild_installs_wsexplore_with_its_jupyter_extension_enabled(binder_env: BinderEnv,
                                                                         tmp_path: Path) -> None:
    # Installed from the checkout, not importable from the source tree by accident:
    where = binder_env.run(binder_env.python, "-c", "import wsexplore, os; print(os.path.dirname(wsexplore.__file__))",
                           cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(binder_env.path), where
    # The wheel postBuild built carries the masking compiled in C for Binder's Python (repo2docker's
    # image has a C compiler, as this machine does).
    accelerated = binder_env.run(binder_env.python, "-c", "from wsexplore.protocol import masking;"
                                 " print(masking.ACCELERATED)", cwd=tmp_path).stdout.strip()
    assert accelerated == "True", "postBuild installed wsexplore without its C masking"
    # pip put the extension's switch where the environment's Jupyter server reads its configuration ...
    config = binder_env.path / "etc" / "jupyter" / "jupyter_server_config.d" / "wsexplore.json"
    assert config.is_file(), f"{config} missing: the package's shared-data did not install"
    # ... and that Jupyter server finds the extension enabled and loadable (as Binder's would: postBuild
    # runs with this environment first on PATH, the environment Jupyter runs from).
    listed = binder_env.run(str(binder_env.jupyter), "server", "extension", "list", cwd=tmp_path)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"wsexplore\.jupyter\s+enabled", text), text
    assert re.search(r"wsexplore\.jupyter\s+OK", text), text


@pytest.mark.timeout(1200)
def test_notebooks_run_in_an_environment_built_from_binder_files(binder_env: BinderEnv) -> None:
    args = [binder_env.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "notebooks"]
    sanitize = ROOT / "notebooks" / "sanitize.cfg"
    if sanitize.exists():
        args += ["--nbval-sanitize-with", str(sanitize)]
    result = binder_env.run(*args, timeout=900)
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
