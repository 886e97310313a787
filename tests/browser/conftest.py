"""Fixtures for the real-browser tests: Debian's Chromium driven by Playwright, a
capturing ``Server`` running on its own event loop in a background thread (the
sync Playwright API drives the page from the test's thread meanwhile), and one
JupyterLab for the whole run (``lab.py``) with a fresh page per test."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from wsexplore import Server

from ..tools import missing
from .lab import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT, VIEWPORT, Lab, LabNotebook, start_lab

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


class ThreadedServer:
    """A ``Server`` on an event loop of its own; the capture is read on that loop, never raced."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="wsexplore-server", daemon=True)
        self.thread.start()
        self.server: Server = self.call(self._start(options))

    @staticmethod
    async def _start(options: dict[str, Any]) -> Server:
        return await Server("127.0.0.1", 0, **options).start()

    def call(self, coro: Any, timeout: float = TIMEOUT) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def records(self) -> list[Any]:
        """The capture's records so far (read on the server's loop)."""
        async def snapshot() -> list[Any]:
            return list(self.server.capture)

        return self.call(snapshot())

    def wait_for(self, what: str, predicate: Callable[[list[Any]], Any], timeout: float = TIMEOUT) -> Any:
        """Poll the capture until ``predicate(records)`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            value = predicate(records)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in the capture within {timeout} s:\n"
                                     + "\n".join(map(repr, records)))
            time.sleep(0.05)

    def close(self) -> None:
        try:
            if self.loop.is_running():
                self.call(self.server.stop(), timeout=TIMEOUT)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()


@pytest.fixture
def live_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing(f"{CHROMIUM}: the browser tests need Debian's Chromium "
                "('make test' installs it as root, or run 'sudo apt-get install chromium')")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT * 1000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """test-artifacts/: screenshots, measurements and the Lab log of the last run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def artifacts(artifacts_dir: Path) -> Path:
    return artifacts_dir


# ---------------------------------------------------------------------------- JupyterLab
#: Server settings that turn wsexplore's relay off (its extension is enabled on install).
WITHOUT_RELAY = {"ServerApp": {"jpserver_extensions": {"wsexplore.jupyter": False}}}


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[Lab]:
    """One JupyterLab for the run; its log is kept in test-artifacts/ for a failed run.

    It runs without wsexplore's relay, so the BrowserClient takes the direct path, browser to
    server, that a Lab on this machine takes without the extension; test_binder_relay.py runs
    Labs from the Binder environment, with the relay and with jupyter-server-proxy only.
    """
    server = start_lab(tmp_path_factory.mktemp("lab"), server_config=WITHOUT_RELAY)
    try:
        yield server
    finally:
        server.stop()
        try:
            (artifacts_dir / "lab-server.log").write_bytes(server.log_path.read_bytes())
        except OSError:
            pass


@pytest.fixture
def lab_page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) with a tall viewport, failing on page errors."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT)  # Playwright's 5 s default is short on a loaded machine
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    # Offline: the page asks nothing of any host but this machine.
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(r.url).hostname != "127.0.0.1" else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)
    assert not remote, "the page reached beyond this machine:\n" + "\n".join(remote)


@pytest.fixture
def open_notebook(lab: Lab, lab_page: Any) -> Iterator[Any]:
    """``open_notebook(name)``: the notebook open in Lab with its kernel idle; the kernel is shut down after."""
    opened: list[LabNotebook] = []

    def open_(name: str) -> LabNotebook:
        nb = LabNotebook(lab_page, lab, name).open()
        opened.append(nb)
        # Room for the widgets: fold the file browser away.
        nb.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        return nb

    yield open_
    for nb in opened:
        nb.shutdown_kernel()
