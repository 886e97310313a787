"""An environment built from binder/ alone, with Binder's Python, as repo2docker builds it.

repo2docker picks the Python named in ``binder/runtime.txt`` (``python-3.X``;
3.10 when the file is missing), installs ``binder/requirements.txt`` into the
environment that also runs the Jupyter server (for Python 3.7 and newer the
two are one, ``$NB_PYTHON_PREFIX``), then runs ``binder/postBuild`` from the
repository root with that environment first on ``PATH``. ``build`` does the
same in a new virtual environment made with that very Python (found under
pyenv or on PATH), so a pin without a wheel for Binder's Python, or code
that needs a newer one, fails here as it would on Binder. Only pytest and
nbval are added to run checks, so a dependency that only the dev environment
has cannot hide.

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
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
# What postBuild's isolated build of wsexplore needs (hatchling, and setuptools to compile its C masking).
BUILD_REQUIRES = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"])
# What the checks themselves need besides Binder's packages.
CHECK_PACKAGES = ("pytest", "nbval", *BUILD_REQUIRES)
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


def wheel_cache(python_version: str) -> Path:
    requirements = (BINDER / "requirements.txt").read_bytes() + "\n".join(CHECK_PACKAGES).encode()
    key = hashlib.sha256(requirements).hexdigest()[:16]
    base = Path(os.environ.get("WSEXPLORE_BINDER_CACHE", Path.home() / ".cache" / "wsexplore" / "binder-wheels"))
    return base / f"py{python_version}-{key}"


@dataclass
class BinderEnv:
    """A built environment: its directory, Python, and the environment variables to run its commands with."""

    path: Path
    version: str
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    @property
    def jupyter(self) -> Path:
        return self.bin / "jupyter"

    @property
    def offline(self) -> dict[str, str]:
        """``env`` with pip reading the wheel cache only."""
        return {**self.env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheel_cache(self.version)),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def run(self, *cmd: str, timeout: float = 600, cwd: Path = ROOT, environ: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd``; a failure fails the test with its output."""
        result = subprocess.run(cmd, cwd=cwd, env=environ or self.env, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result


def build(env_dir: Path) -> BinderEnv:
    """A new environment at ``env_dir`` built from binder/ alone: requirements, then postBuild, then the
    "python3" kernel made this environment's (as on Binder), then pytest and nbval for the checks."""
    version = binder_python_version()
    base_python = find_python(version)
    assert base_python is not None, (
        f"binder/runtime.txt asks for Python {version}, which is neither on PATH (python{version}) nor under "
        f"pyenv: install it (pyenv install {version}) so the Binder environment can be rebuilt here")
    bin_dir = env_dir / "bin"
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}
    for name in ("PYTHONPATH", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"):
        environ.pop(name, None)
    built = BinderEnv(env_dir, version, environ)
    built.run(base_python, "-m", "venv", str(env_dir))
    reported = built.run(built.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    assert reported == version, f"the Binder environment runs Python {reported}, runtime.txt says {version}"

    cache = wheel_cache(version)
    complete = cache / ".complete"
    if not complete.exists():
        # First run (or new pins): fetch wheels for this Python only; fails when a pin has none for it.
        cache.mkdir(parents=True, exist_ok=True)
        built.run(built.python, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(cache),
                  "-r", "binder/requirements.txt", *CHECK_PACKAGES, timeout=900)
        complete.write_text(f"python {version}\n")

    # Every install below, postBuild's included (and its isolated build of wsexplore), reads the cache only.
    built.run(built.python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt", environ=built.offline)
    built.run("bash", "binder/postBuild", environ=built.offline)
    built.run(built.python, "-m", "pip", "install", "-q", "pytest", "nbval", environ=built.offline)
    # The notebooks name the "python3" kernel: make it this environment's, as on Binder.
    built.run(built.python, "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", "python3",
              "--display-name", "Python 3 (ipykernel)")
    return built
