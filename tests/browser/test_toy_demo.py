"""The tutorial's own demo page in Chromium, against the tutorial's server under Node and against the port.

``tests/toy/index.html`` (the tutorial's page, only its URL pointed at the
server under test) sends "发送数据" and, 3 s later, "发送数据2"; index.js
answers each every 2 s. Reloading the page is what a reader of the tutorial
does next: Chromium sends a close frame and drops the connection, and the
two timers' next writes kill the server (``write EPIPE``). Both servers must
print the same lines and die of the same error; notebook 7 says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from wsexplore.teaching import ToyServer

TOY = Path(__file__).resolve().parents[1] / "toy"
EXPECTED_LINES = ["receive data:发送数据", "receive data:发送数据2", "close: undefined undefined"]


def _page(url: str) -> str:
    html = (TOY / "index.html").read_text()
    assert 'new WebSocket("ws://localhost:8080")' in html
    html = html.replace("ws://localhost:8080", url)
    # The page logs each reply with console.log(evt); keep their texts where the test can read them.
    return html.replace("console.log(evt)", "window.replies = (window.replies || []).concat([evt.data])")


def _reload_after_replies(browser: Any, url: str) -> list[str]:
    page = browser.new_page()
    try:
        page.set_content(_page(url))
        page.wait_for_function("window.replies && window.replies.some(r => r.startsWith('发送数据2 '))",
                               timeout=20_000)
        replies = page.evaluate("window.replies")
        page.reload()
        return replies
    finally:
        page.close()


def _wait(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_reloading_the_demo_page_kills_the_node_toy_and_the_port_alike(browser: Any) -> None:
    if shutil.which("node") is None:
        pytest.fail("this test needs Node.js (node) to run the tutorial's server", pytrace=False)
    # The tutorial's files under Node, unchanged (harness.js only picks the port).
    fd, port_file = tempfile.mkstemp(prefix="toy-port-")
    os.close(fd)
    node = subprocess.Popen(["node", "-r", "./harness.js", "index.js"], cwd=TOY, text=True,
                            env=dict(os.environ, TOY_PORT="0", TOY_PORT_FILE=port_file),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait(lambda: Path(port_file).read_text() != "" or node.poll() is not None)
        node_replies = _reload_after_replies(browser, f"ws://127.0.0.1:{Path(port_file).read_text()}")
        out, err = node.communicate(timeout=15)
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate()
        os.unlink(port_file)
    assert node.returncode == 1, err
    assert out.splitlines() == EXPECTED_LINES
    assert "Error: write EPIPE" in err.splitlines()

    # The port, on an event loop of its own while the page runs.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        toy = asyncio.run_coroutine_threadsafe(ToyServer().start(), loop).result(10)
        port_replies = _reload_after_replies(browser, toy.url.rstrip("/"))
        _wait(lambda: not toy.alive)
        output = list(toy.output)
    finally:
        asyncio.run_coroutine_threadsafe(toy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert [line.text for line in output if line.stream == "stdout"] == EXPECTED_LINES
    assert toy.crashed is not None and toy.crashed.header == "Error: write EPIPE"

    # The page saw the same kind of replies from both: the message, a space, Date.now().
    for replies in (node_replies, port_replies):
        assert {r.rsplit(" ", 1)[0] for r in replies} == {"发送数据", "发送数据2"}
        assert all(r.rsplit(" ", 1)[1].isdigit() for r in replies)
