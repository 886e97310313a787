"""A real Jupyter server with wsexplore's extension, under a hub-like base URL, and a kernel of it.

The server is this venv's ``jupyter server`` (``tests/browser/lab.py`` starts
it: loopback, a free port, a random token, private Jupyter directories), with
``--ServerApp.base_url=/user/demo/`` as on Binder. The kernel is one the
Jupyter server started (``POST api/kernels``), driven over its connection file
with ``jupyter_client``, as a notebook frontend's messages would drive it:
the ``wsexplore.Server`` it starts registers itself with the relay exactly as
in a notebook.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import Lab, start_lab

BASE = "/user/demo/"


class Kernel:
    """A kernel of ``lab``: ``run(code)`` executes a cell and returns what it printed."""

    def __init__(self, lab: Lab, timeout: float = 60.0) -> None:
        from jupyter_client import BlockingKernelClient

        self.lab = lab
        self.id: str = lab.api("api/kernels", method="POST")["id"]
        assert lab.runtime_dir is not None
        self.connection_file = lab.runtime_dir / f"kernel-{self.id}.json"
        self.client = BlockingKernelClient(connection_file=str(self.connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout)

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Run ``code`` as a cell (top-level ``await`` allowed); its stdout. A traceback fails the test."""
        messages: list[dict[str, Any]] = []
        self.client.execute_interactive(textwrap.dedent(code), timeout=timeout, output_hook=messages.append)
        errors = [m["content"] for m in messages if m["msg_type"] == "error"]
        if errors:
            raise AssertionError("the kernel raised:\n" + "\n".join(errors[0]["traceback"]))
        return "".join(m["content"]["text"] for m in messages
                       if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")

    def json(self, code: str, timeout: float = 60.0) -> Any:
        """Run ``code``, whose last line prints one JSON value; that value."""
        return json.loads(self.run(code, timeout).strip().splitlines()[-1])

    @property
    def pid(self) -> int:
        return int(self.run("import os; print(os.getpid())"))

    def close(self) -> None:
        self.client.stop_channels()
        try:
            self.lab.api(f"api/kernels/{self.id}", method="DELETE")
        except OSError:
            pass


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir: Path = tmp_path_factory.mktemp("jupyter")
    lab = start_lab(workdir, app="server", base_path=BASE)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def kernel(jupyter: Lab) -> Iterator[Kernel]:
    k = Kernel(jupyter)
    try:
        yield k
    finally:
        k.close()
