"""Record the upgrade request Chromium sends from a JupyterLab page, for notebook 1 (a dev tool, not a test).

    .venv/bin/python -m tests.browser.record_request

starts a throwaway JupyterLab (``lab.py``) and a ``wsexplore.Server`` on
127.0.0.1:8765, opens Lab in Debian's Chromium, runs
``new WebSocket("ws://127.0.0.1:8765/ws")`` in the page, and prints the
request the server received, byte for byte, as a Python literal. The values of
its ``Cookie`` header (the throwaway Lab's session) are replaced by ``x``s of
the same length before printing, and the Lab's port is written as 8888 (in
``Origin`` and in the name of its cookie).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from wsexplore import Server

from .conftest import CHROMIUM, CHROMIUM_ARGS, WITHOUT_RELAY
from .lab import start_lab

PORT = 8765


def _hide_cookie_values(raw: bytes) -> bytes:
    def hide(match: re.Match[bytes]) -> bytes:
        pairs = [re.sub(rb"=(.*)", lambda v: b"=" + b"x" * len(v.group(1)), p) for p in match.group(2).split(b"; ")]
        return match.group(1) + b"; ".join(pairs)

    return re.sub(rb"(?im)^(cookie: )([^\r\n]*)", hide, raw)


def record() -> bytes:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(Server("127.0.0.1", PORT, relay=False).start(), loop).result(10)
    with tempfile.TemporaryDirectory() as tmp:
        lab = start_lab(Path(tmp), server_config=WITHOUT_RELAY)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{lab.base_url}lab?reset&token={lab.token}")
                page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
                page.evaluate("""url => new Promise((resolve, reject) => {
                    const ws = new WebSocket(url);
                    ws.onopen = () => { ws.close(1000); resolve(); };
                    ws.onerror = () => reject(new Error('no connection'));
                })""", f"ws://127.0.0.1:{PORT}/ws")
                browser.close()
            opened = next(r for r in server.capture.filter(kind="open"))
            raw = opened.request
            raw = raw.replace(f"127.0.0.1:{lab.port}".encode(), b"127.0.0.1:8888")
            return _hide_cookie_values(raw.replace(f"127-0-0-1-{lab.port}=".encode(), b"127-0-0-1-8888="))
        finally:
            lab.stop()
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(20)
            loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    raw = record()
    print("(" + "\n ".join(repr(line) for line in raw.splitlines(keepends=True)) + ")")
