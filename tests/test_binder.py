"""Binder: a fresh environment built from binder/ alone runs every notebook under nbval.

repo2docker installs ``binder/requirements.txt``, then runs ``binder/postBuild``
from the repository root. This test does the same in a new virtual environment
(no test extras of the package, only pytest and nbval to run the check), so a
dependency that only the dev environment has cannot hide.
"""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_notebooks_run_in_an_environment_built_from_binder_files(tmp_path: Path) -> None:
    env_dir = tmp_path / "binder-env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    python = str(bin_dir / "python")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)

    def run(*cmd: str, timeout: float = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    run(python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt")
    run("bash", "binder/postBuild")
    # Installed from the checkout, not importable from the source tree by accident:
    where = run(python, "-c", "import wsexplore, os; print(os.path.dirname(wsexplore.__file__))",
                cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    run(python, "-m", "pip", "install", "-q", "pytest", "nbval")
    # The notebooks name the "python3" kernel: make it this environment's, as on Binder.
    run(python, "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", "python3",
        "--display-name", "Python 3 (ipykernel)")
    args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "notebooks"]
    sanitize = ROOT / "notebooks" / "sanitize.cfg"
    if sanitize.exists():
        args += ["--nbval-sanitize-with", str(sanitize)]
    result = run(*args, timeout=600)
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
