"""Which ports the relay may reach: registration files, kernel ids and process ids (real files, real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsexplore.jupyter import registry

KERNEL = "91073ad4-f2de-4397-a7c5-3f6473f2cc62"


def write(directory: Path, port: int, *, kernel_id: str = KERNEL, pid: int | None = None, host: str = "127.0.0.1",
          name: str | None = None, **extra: object) -> Path:
    path = directory / (name or f"{registry.FILE_PREFIX}{kernel_id}-{port}.json")
    body = {"version": 1, "port": port, "host": host, "token": "t0ken", "pid": os.getpid() if pid is None else pid,
            "kernel_id": kernel_id, **extra}
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def child() -> int:
    """A process of ours (its parent is this test), as a kernel's server would be a kernel's."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_file_naming_a_running_kernel_and_its_process_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, 8765)
    reg = registry.lookup(tmp_path, 8765, {KERNEL: os.getpid()})
    assert reg == registry.Registration(8765, "127.0.0.1", "t0ken", os.getpid(), KERNEL, path)
    assert registry.registered(tmp_path, {KERNEL: os.getpid()}) == [reg]
    assert registry.lookup(tmp_path, 8766, {KERNEL: os.getpid()}) is None  # another port: nothing registered


def test_a_process_started_by_the_kernel_counts_as_the_kernels(tmp_path: Path, child: int) -> None:
    write(tmp_path, 8765, pid=child)
    assert registry.lookup(tmp_path, 8765, {KERNEL: os.getpid()}) is not None
    # but not the other way round: the kernel's parent is not the kernel
    write(tmp_path, 8766, pid=os.getpid())
    assert registry.lookup(tmp_path, 8766, {KERNEL: child}) is None


@pytest.mark.parametrize("case", ["kernel gone", "other process", "not loopback", "renamed", "garbage",
                                  "old version", "dead process, pid unknown"])
def test_stale_or_foreign_files_are_ignored(tmp_path: Path, child: int, case: str) -> None:
    kernels: dict[str, int | None] = {KERNEL: os.getpid()}
    if case == "kernel gone":
        write(tmp_path, 8765, kernel_id="5e1f7a3e-0000-0000-0000-000000000000")
        write(tmp_path, 8765, name=f"{registry.FILE_PREFIX}{KERNEL}-8765.json",
              kernel_id="5e1f7a3e-0000-0000-0000-000000000000")
    elif case == "other process":
        write(tmp_path, 8765, pid=1)  # init: alive, but not the kernel nor a child of it
    elif case == "not loopback":
        write(tmp_path, 8765, host="10.1.2.3")
    elif case == "renamed":
        write(tmp_path, 8765, name=f"{registry.FILE_PREFIX}{KERNEL}-22.json")  # says 8765, named for port 22
        assert registry.lookup(tmp_path, 22, kernels) is None
    elif case == "garbage":
        (tmp_path / f"{registry.FILE_PREFIX}{KERNEL}-8765.json").write_text("{not json")
    elif case == "old version":
        write(tmp_path, 8765, version=0)
    elif case == "dead process, pid unknown":
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        write(tmp_path, 8765, pid=proc.pid)
        kernels = {KERNEL: None}
    assert registry.lookup(tmp_path, 8765, kernels) is None
    assert registry.registered(tmp_path, kernels) == []


def test_outside_a_kernel_a_server_does_not_register() -> None:
    assert registry.kernel_connection_file() is None
    assert registry.register(8765, "127.0.0.1", "t0ken") is None


def test_the_relay_dials_loopback_only() -> None:
    assert registry.dial_host("127.0.0.1") == registry.dial_host("0.0.0.0") == registry.dial_host("") == "127.0.0.1"
    assert registry.dial_host("::1") == registry.dial_host("::") == "::1"
    assert registry.dial_host("192.168.1.5") is None and registry.dial_host("example.org") is None
