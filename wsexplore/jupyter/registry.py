"""Which ports the Jupyter server's relay may reach: registration files written by kernels' servers.

The relay must not become a way into arbitrary local services, so it reaches
only ``wsexplore`` servers started from this Jupyter server's own kernels:

* **registering**: a ``Server`` started inside an IPython kernel (and not
  made with ``relay=False``) writes ``wsexplore-relay-KERNEL_ID-PORT.json``
  into the directory of its kernel's connection file. That is the Jupyter
  server's runtime directory (private to the user), and ``KERNEL_ID`` comes
  from the connection file's name (``kernel-KERNEL_ID.json``, as the Jupyter
  server names it). The file holds the port, the address to dial, a secret
  token (the relay sends it in its preamble, :mod:`wsexplore.jupyter.preamble`)
  and the kernel's process id; it is readable by the user only;
* **unregistering**: ``Server.stop()`` removes the file, and so does the
  kernel's process when it exits;
* **checking**: the relay accepts a port only when a file names it, names a
  kernel that this Jupyter server's kernel manager runs, and, where the kernel
  manager knows the kernel's process, a process id that is that process or one
  of its descendants. Files of kernels that are gone are ignored.

A server outside a kernel (``wsexplore serve`` in a terminal) never
registers: the relay cannot reach it, by design.

This module is pure (files and processes, no asyncio, no Jupyter imports).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Registration", "FILE_PREFIX", "kernel_connection_file", "register", "unregister", "registered",
           "lookup", "dial_host", "registered_here"]

FILE_PREFIX = "wsexplore-relay-"
_KERNEL_FILE = re.compile(r"^kernel-(?P<id>[A-Za-z0-9_.-]+)\.json$")
_VERSION = 1

# Files this process wrote and has not removed yet: removed at exit.
_live: set[Path] = set()


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered server: where to dial it, the token it expects, and whose it is."""

    port: int
    host: str
    token: str
    pid: int
    kernel_id: str
    path: Path


def dial_host(host: str) -> str | None:
    """The loopback address the relay dials for a server listening on ``host``; None when not local."""
    if host in ("", "0.0.0.0", "localhost") or host.startswith("127."):
        return "127.0.0.1"
    if host in ("::1", "::"):
        return "::1"
    return None


def kernel_connection_file() -> Path | None:
    """The connection file of the IPython kernel this process runs, or None outside a kernel."""
    module = sys.modules.get("ipykernel.kernelapp")
    app_class = getattr(module, "IPKernelApp", None)
    if app_class is None or not app_class.initialized():
        return None
    try:
        path = app_class.instance().abs_connection_file
    except Exception:  # a kernel application in an unusual state: no registration, never a failure
        return None
    return Path(path) if path else None


def register(port: int, host: str, token: str) -> Registration | None:
    """Write the registration file of a server listening on ``host:port``; None outside a kernel.

    A server on an address that is not this machine's loopback or wildcard is
    not registered (the relay only dials loopback).
    """
    connection_file = kernel_connection_file()
    if connection_file is None:
        return None
    match = _KERNEL_FILE.match(connection_file.name)
    dial = dial_host(host)
    if match is None or dial is None:
        return None
    directory = connection_file.parent
    reg = Registration(port, dial, token, os.getpid(), match.group("id"),
                       directory / f"{FILE_PREFIX}{match.group('id')}-{port}.json")
    body = json.dumps({"version": _VERSION, "port": port, "host": dial, "token": token, "pid": reg.pid,
                       "kernel_id": reg.kernel_id})
    try:
        fd, temporary = tempfile.mkstemp(prefix=".wsexplore-", dir=directory)  # created 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            fp.write(body)
        os.replace(temporary, reg.path)
    except OSError:
        return None
    _live.add(reg.path)
    return reg


def unregister(reg: Registration | None) -> None:
    """Remove a registration file (nothing if it is gone already)."""
    if reg is None:
        return
    _live.discard(reg.path)
    try:
        reg.path.unlink()
    except FileNotFoundError:
        pass


def registered_here(port: int) -> bool:
    """Whether some server registered ``port`` beside this kernel's connection file (False outside a kernel)."""
    connection_file = kernel_connection_file()
    if connection_file is None:
        return False
    return any(connection_file.parent.glob(f"{FILE_PREFIX}*-{int(port)}.json"))


@atexit.register
def _remove_all() -> None:
    for path in list(_live):
        try:
            path.unlink()
        except OSError:
            pass
    _live.clear()


# ---------------------------------------------------------------------------- the relay's side
def _read(path: Path) -> Registration | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        reg = Registration(int(data["port"]), str(data["host"]), str(data["token"]), int(data["pid"]),
                           str(data["kernel_id"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("version") != _VERSION or dial_host(reg.host) != reg.host or not reg.token:
        return None
    return reg


def _parent(pid: int) -> int | None:
    """The parent of ``pid`` from /proc (Linux); None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def _belongs_to(pid: int, kernel_pid: int) -> bool:
    """``pid`` is the kernel's process or one of its descendants (a kernel may be started by a wrapper)."""
    seen = 0
    while pid and seen < 64:
        if pid == kernel_pid:
            return True
        parent = _parent(pid)
        if parent is None or parent == pid:
            return False
        pid, seen = parent, seen + 1
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _valid(reg: Registration | None, kernels: Mapping[str, int | None]) -> bool:
    if reg is None or reg.kernel_id not in kernels or reg.path.name != f"{FILE_PREFIX}{reg.kernel_id}-{reg.port}.json":
        return False
    kernel_pid = kernels[reg.kernel_id]
    return _belongs_to(reg.pid, kernel_pid) if kernel_pid is not None else _alive(reg.pid)


def registered(directory: str | os.PathLike, kernels: Mapping[str, int | None]) -> list[Registration]:
    """The valid registrations in ``directory``: of a kernel in ``kernels`` (id -> process id or None)."""
    found = (_read(path) for path in sorted(Path(directory).glob(f"{FILE_PREFIX}*.json")))
    return [reg for reg in found if reg is not None and _valid(reg, kernels)]


def lookup(directory: str | os.PathLike, port: int, kernels: Mapping[str, int | None]) -> Registration | None:
    """The valid registration of ``port`` in ``directory``, or None: the relay must then refuse."""
    for kernel_id in kernels:
        reg = _read(Path(directory) / f"{FILE_PREFIX}{kernel_id}-{port}.json")
        if reg is not None and reg.port == port and _valid(reg, kernels):
            return reg
    return None
