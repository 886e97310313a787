"""Binder: a fresh environment built from binder/ alone, with Binder's Python, runs every notebook.

repo2docker picks the Python named in ``binder/runtime.txt`` (``python-3.X``;
3.10 when the file is missing), installs ``binder/requirements.txt``, then runs
``binder/postBuild`` from the repository root. This test does the same in a
new virtual environment made with that very Python (found on PATH or under
pyenv), so a pin without a wheel for Binder's Python, or code that needs a
newer one, fails here as it would on Binder. Only pytest and nbval are added to
run the check, so a dependency that only the dev environment has cannot hide.

Downloads are kept in a wheel cache (``~/.cache/wsexplore/binder-wheels``,
``WSEXPLORE_BINDER_CACHE`` overrides it), keyed by the Python version and the
requirements; later runs install from it with ``--no-index`` and need no network.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
# What the check itself needs besides Binder's packages; hatchling builds wsexplore in postBuild.
CHECK_PACKAGES = ("pytest", "nbval", "hatchling>=1.24")
REPO2DOCKER_DEFAULT_PYTHON = "3.10"


def binder_python_version() -> str:
    """The ``X.Y`` that repo2docker reads from ``binder/runtime.txt`` (its first line, ``python-X.Y``)."""
    runtime = BINDER / "runtime.txt"
    if not runtime.exists():
        return REPO2DOCKER_DEFAULT_PYTHON
    first = runtime.read_text().strip().splitlines()[0].strip()
    match = re.fullmatch(r"python-(\d+\.\d+)(?:\.\d+)?", first)
    assert match, f"binder/runtime.txt must read python-X.Y, got {first!r}"
    return match.group(1)


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` (X.Y): the newest pyenv build of it, else ``pythonX.Y`` on PATH.

    Each candidate is run once, since a pyenv shim exists on PATH for versions it will not start.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    builds = sorted(root.glob(f"{version}.*"), key=lambda p: [int(x) if x.isdigit() else -1 for x in p.name.split(".")])
    candidates = [str(build / "bin" / "python3") for build in reversed(builds)]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    for python in candidates:
        try:
            out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return python
    return None


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


def _wheel_cache(python_version: str) -> Path:
    requirements = (BINDER / "requirements.txt").read_bytes() + "\n".join(CHECK_PACKAGES).encode()
    key = hashlib.sha256(requirements).hexdigest()[:16]
    base = Path(os.environ.get("WSEXPLORE_BINDER_CACHE", Path.home() / ".cache" / "wsexplore" / "binder-wheels"))
    return base / f"py{python_version}-{key}"


@pytest.mark.timeout(1200)
def test_notebooks_run_in_an_environment_built_from_binder_files(tmp_path: Path) -> None:
    version = binder_python_version()
    base_python = find_python(version)
    assert base_python is not None, (
        f"binder/runtime.txt asks for Python {version}, which is neither on PATH (python{version}) nor under "
        f"pyenv: install it (pyenv install {version}) so the Binder environment can be rebuilt here")
    env_dir = tmp_path / "binder-env"
    bin_dir = env_dir / "bin"
    python = str(bin_dir / "python")
    cache = _wheel_cache(version)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)
    # Every install below, postBuild's included (and its isolated build of wsexplore), reads the cache only.
    offline = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def run(*cmd: str, timeout: float = 600, cwd: Path = ROOT, environ: dict | None = None,
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(cmd, cwd=cwd, env=environ or env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    run(base_python, "-m", "venv", str(env_dir))
    reported = run(python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    assert reported == version, f"the Binder environment runs Python {reported}, runtime.txt says {version}"

    complete = cache / ".complete"
    if not complete.exists():
        # First run (or new pins): fetch wheels for this Python only; fails when a pin has none for it.
        cache.mkdir(parents=True, exist_ok=True)
        run(python, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(cache),
            "-r", "binder/requirements.txt", *CHECK_PACKAGES, timeout=900)
        complete.write_text(f"python {version}\n")

    run(python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt", environ=offline)
    run("bash", "binder/postBuild", environ=offline)
    # Installed from the checkout, not importable from the source tree by accident:
    where = run(python, "-c", "import wsexplore, os; print(os.path.dirname(wsexplore.__file__))",
                cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    run(python, "-m", "pip", "install", "-q", "pytest", "nbval", environ=offline)
    # The notebooks name the "python3" kernel: make it this environment's, as on Binder.
    run(python, "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", "python3",
        "--display-name", "Python 3 (ipykernel)")
    args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "notebooks"]
    sanitize = ROOT / "notebooks" / "sanitize.cfg"
    if sanitize.exists():
        args += ["--nbval-sanitize-with", str(sanitize)]
    result = run(*args, timeout=900)
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
