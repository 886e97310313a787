"""JupyterLab for the real-browser tests: started by the test, on a free loopback port, offline.

``start_lab(workdir)`` runs ``jupyter lab`` from this venv as a subprocess
with its own config, settings, workspace, runtime and IPython directories
under ``workdir`` (nothing of the user's is read or written), a random token,
and every feature that would reach the network turned off (news feed, update
check, the PyPI extension manager). ``Lab.stop()`` asks the server to shut
down (its kernels with it), then terminates, then kills it.

``LabNotebook`` drives one notebook open in a Playwright page through
JupyterLab's own command registry (``window.jupyterapp``, exposed with
``--LabApp.expose_app_in_browser``): the same commands the Run menu and the
keyboard shortcuts execute, awaited until the kernel has finished the cell,
so a test never guesses with sleeps.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat

REPO = Path(__file__).resolve().parents[2]
JUPYTER = Path(sys.executable).with_name("jupyter")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
#: Seconds a cell may run before the test fails (a cell here takes well under one).
CELL_TIMEOUT = 60.0
#: The page size for Lab: tall, so a widget and its log fit in one screenshot.
VIEWPORT = {"width": 1280, "height": 1400}
#: Milliseconds the page may take to show anything a test waits for.
UI_TIMEOUT = 20_000
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
#: Debian's Chromium and the flags it runs with here (no sandbox in a container, no network of its own).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: A notebook with large things in it (the browser tests check what it shows, ``make bench`` times it):
#: cell 0 a text frame with a 125-byte payload, the largest the 7-bit length form holds (section 5.2),
#: 1 its FrameView, 2 an Explorer, 3 10,000 records appended as a server appends them (a handshake, then
#: frames both ways), printing how many, the last sequence number and the milliseconds it took.
LARGE_PAYLOAD = bytes(range(33, 33 + 94)) + bytes(range(33, 33 + 31))
LARGE_CELLS = [
    "import time\n"
    "import wsexplore as ws\n"
    "from wsexplore.widgets import Explorer, FrameView\n"
    "frame = ws.Frame(ws.Opcode.TEXT, bytes.fromhex(%r), mask_key=bytes.fromhex('55d0e1e6')).encode()\n"
    "len(frame), frame[1]" % LARGE_PAYLOAD.hex(),
    "v125 = FrameView(frame, editable=True)\nv125",
    "cap = ws.Capture()\nex = Explorer(cap)\nex",
    "t = time.perf_counter()\n"
    "cap.opened(1, ('127.0.0.1', 50000), b'GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n',\n"
    "           b'HTTP/1.1 101 Switching Protocols\\r\\n\\r\\n', 101)\n"
    "offsets = {'in': 0, 'out': 0}\n"
    "for i in range(1, 10_000):\n"
    "    direction = 'in' if i % 2 else 'out'\n"
    "    key = (i * 2654435761 % 2**32).to_bytes(4, 'big') if direction == 'in' else None\n"
    "    f = ws.Frame(ws.Opcode.TEXT, f'message {i}'.encode(), mask_key=key)\n"
    "    raw = f.encode()\n"
    "    cap.frame(1, direction, offsets[direction], raw, f)\n"
    "    offsets[direction] += len(raw)\n"
    "append_ms = (time.perf_counter() - t) * 1000\n"
    "print(len(cap), cap[-1].seq, round(append_ms, 1))",
]

# User settings for this Lab alone: no network, no autosave, and every cell kept in the DOM
# (JupyterLab 4 may otherwise leave off-screen cells unrendered, and a widget with them).
_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
_SERVER_CONFIG = {
    "LabApp": {
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
        "expose_app_in_browser": True,
    },
    "ServerApp": {"port_retries": 0, "terminals_enabled": False},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_notebook(cells: list[str]) -> nbformat.NotebookNode:
    """A notebook of code cells with a ``kernelspec``, so Lab starts its kernel without asking."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


@dataclass
class Lab:
    """A running JupyterLab serving ``root``."""

    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log_path: Path
    #: The server's base URL path ("/", or "/user/demo/" as on a hub or Binder).
    base_path: str = "/"
    #: Its runtime directory (connection files of its kernels).
    runtime_dir: Path | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}{self.base_path}"

    def notebook_url(self, name: str) -> str:
        """The notebook in Lab, with ``reset`` so no saved workspace reopens other tabs."""
        return f"{self.base_url}lab/tree/{quote(name)}?reset&token={self.token}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nbformat.write(new_notebook(cells), self.root / name)
        return name

    def copy_notebook(self, source: Path, name: str | None = None) -> str:
        name = name or source.name
        shutil.copyfile(source, self.root / name)
        return name

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"},
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Shut the server down (its kernels with it); terminate, then kill, if it lingers."""
        if self._stopped:
            return
        self._stopped = True
        proc = self.process
        if proc.poll() is None:
            try:
                self.api("api/shutdown", method="POST")
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT)


def _prepare(workdir: Path, server_config: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Private Jupyter directories under ``workdir``; the environment that points at them.

    ``server_config`` adds to (or overrides) the server's settings, section by section.
    """
    dirs = {name: workdir / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    config = {section: dict(values) for section, values in _SERVER_CONFIG.items()}
    for section, values in (server_config or {}).items():
        config.setdefault(section, {}).update(values)
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(config, indent=1))
    for rel, values in _SETTINGS.items():
        target = dirs["settings"] / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JUPYTER_PATH", None)
    return env


def start_lab(workdir: Path, timeout: float = START_TIMEOUT, *, jupyter: Path = JUPYTER, app: str = "lab",
              base_path: str = "/", server_config: dict[str, dict[str, Any]] | None = None) -> Lab:
    """Start JupyterLab (``app="server"``: a plain Jupyter server) serving ``workdir / "notebooks"``
    and wait until its API answers.

    ``jupyter`` is the ``jupyter`` command of the environment to run (this venv's by default),
    ``base_path`` the server's base URL (``/user/demo/`` looks like a hub or Binder), and
    ``server_config`` extra settings (e.g. ``{"ServerApp": {"jpserver_extensions": {...}}}``).
    """
    if not jupyter.exists():
        raise RuntimeError(f"{jupyter} is missing: install the test extras (pip install -e '.[test]')")
    root = workdir / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    env = _prepare(workdir / "jupyter", server_config)
    token = secrets.token_hex(24)
    last_error = ""
    for attempt in range(3):  # a free port can be taken between the probe and the bind: try another
        port = free_port()
        log_path = workdir / f"lab-{attempt}.log"
        cmd = [str(jupyter), app, "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--ServerApp.base_url={base_path}"]
        if app == "lab":
            cmd.append("--LabApp.news_url=None")  # None, not "": an empty URL would still be fetched
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers often run the tests as root
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(root, port, token, proc, log_path, base_path, Path(env["JUPYTER_RUNTIME_DIR"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                lab.api("api/status", timeout=2.0)
                return lab
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.2)
        exited = proc.poll()
        last_error = lab.log_tail()
        lab.stop()
        if exited is None:
            raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s; its log ends with:\n{last_error}")
        if "already in use" not in last_error:
            break
    raise RuntimeError(f"JupyterLab exited with code {proc.returncode}; its log ends with:\n{last_error}")


# ---------------------------------------------------------------------------- the page side
_PANEL = """
function findPanel(path) {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
}
function panelOf(path) {
  const found = findPanel(path);
  if (!found) throw new Error(`no notebook panel for ${path}`);
  return found;
}
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); }),
  ]);
}
"""


class LabNotebook:
    """One notebook open in JupyterLab in ``page``, driven by Lab's own commands."""

    def __init__(self, page: Any, lab: Lab, name: str) -> None:
        self.page = page
        self.lab = lab
        self.name = name

    # -- opening ----------------------------------------------------------------
    def open(self, timeout: float = START_TIMEOUT) -> LabNotebook:
        """Load Lab on the notebook and wait until its kernel is connected and idle."""
        page = self.page
        page.goto(self.lab.notebook_url(self.name), timeout=timeout * 1000)
        page.wait_for_function(
            f"""(path) => {{ {_PANEL}
              const p = findPanel(path);
              if (!p || !p.context.isReady || !p.sessionContext.isReady) return false;
              const k = p.sessionContext.session && p.sessionContext.session.kernel;
              return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
            }}""",
            arg=self.name, timeout=timeout * 1000)
        self.evaluate("(path) => { window.jupyterapp.shell.activateById(panelOf(path).id); }")
        return self

    # -- JavaScript with the panel at hand -----------------------------------------
    def evaluate(self, function: str, arg: Any = None) -> Any:
        """Run ``function(path, arg)`` in the page with ``panelOf`` and ``withTimeout`` in scope."""
        script = f"([path, arg]) => {{ {_PANEL}\n return ({function})(path, arg); }}"
        return self.page.evaluate(script, [self.name, arg])

    @property
    def cell_count(self) -> int:
        return self.evaluate("(path) => panelOf(path).content.widgets.length")

    def command(self, command: str, timeout: float = CELL_TIMEOUT) -> Any:
        """Execute a Lab command (what its menu item or shortcut does) on this notebook, awaited."""
        return self.evaluate(
            """async (path, [command, ms]) => {
              const app = window.jupyterapp;
              app.shell.activateById(panelOf(path).id);
              const result = await withTimeout(app.commands.execute(command), ms, command);
              return result === undefined ? null : result;
            }""",
            [command, timeout * 1000],
        )

    def select(self, index: int) -> None:
        self.evaluate("(path, i) => { const nb = panelOf(path).content; nb.activeCellIndex = i; nb.deselectAll(); }",
                      index)

    def run_cell(self, index: int, timeout: float = CELL_TIMEOUT, *, check: bool = True) -> list[dict]:
        """Run cell ``index`` with "Run Selected Cell" and wait for the kernel to finish it; its outputs.

        With ``check`` an error output fails the test with the cell's traceback.
        """
        self.select(index)
        self.command("notebook:run-cell", timeout)
        outputs = self.outputs(index)
        if check:
            self.raise_errors(index, outputs)
        return outputs

    def run_all(self, timeout: float = 4 * CELL_TIMEOUT) -> None:
        """Run > Run All Cells, awaited; fails on the first cell with an error."""
        self.command("notebook:run-all-cells", timeout)
        for i in range(self.cell_count):
            self.raise_errors(i, self.outputs(i))

    def append_cell(self, source: str) -> int:
        """Add a code cell at the end of the notebook; its index."""
        return self.evaluate(
            """(path, source) => {
              const nb = panelOf(path).content;
              const n = nb.model.sharedModel.cells.length;
              nb.model.sharedModel.insertCell(n, { cell_type: 'code', source });
              return n;
            }""",
            source,
        )

    def run_code(self, source: str, timeout: float = CELL_TIMEOUT) -> str:
        """Append a cell, run it, and return what it printed (stdout)."""
        index = self.append_cell(source)
        return self.stdout(self.run_cell(index, timeout))

    # -- reading -------------------------------------------------------------------
    def outputs(self, index: int) -> list[dict]:
        """Cell ``index``'s outputs as nbformat JSON (none for a markdown cell)."""
        return self.evaluate(
            "(path, i) => { const o = panelOf(path).content.widgets[i].model.outputs; return o ? o.toJSON() : []; }",
            index)

    @staticmethod
    def stdout(outputs: list[dict]) -> str:
        return "".join(_text(o.get("text", "")) for o in outputs
                       if o.get("output_type") == "stream" and o.get("name") == "stdout")

    def cell(self, index: int) -> Any:
        """The cell's DOM node, as a Playwright locator."""
        panel_id = self.evaluate("(path) => panelOf(path).id")
        return self.page.locator(f'[id="{panel_id}"] .jp-Notebook .jp-Cell').nth(index)

    def raise_errors(self, index: int, outputs: list[dict]) -> None:
        """Fail with the cell's traceback if ``outputs`` hold an error."""
        for o in outputs:
            if o.get("output_type") == "error":
                trace = "\n".join(o.get("traceback", []))
                raise AssertionError(f"cell {index} of {self.name} raised {o.get('ename')}: {o.get('evalue')}\n"
                                     f"{_strip_ansi(trace)}")

    # -- closing ---------------------------------------------------------------------
    def shutdown_kernel(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut the notebook's kernel down (and with it any server it runs)."""
        try:
            self.evaluate("(path, ms) => withTimeout(panelOf(path).sessionContext.shutdown(), ms, 'shutdown')",
                          timeout * 1000)
        except Exception:  # the page may be gone already; Lab.stop() shuts every kernel down anyway
            pass


# ---------------------------------------------------------------------------- reading what Lab shows
def output_of(nb: LabNotebook, index: int) -> Any:
    """Cell ``index``'s output area, as a Playwright locator."""
    return nb.cell(index).locator(".jp-OutputArea")


def screenshot(page: Any, target: Any, path: Path) -> None:
    """Scroll ``target`` to the top of the notebook and save the page as it is seen."""
    target.evaluate("e => e.scrollIntoView({ block: 'start' })")
    page.wait_for_timeout(200)  # one paint after the scroll
    page.screenshot(path=str(path))


def bits_of(data: bytes) -> str:
    """``data`` as the string of its bits, most significant first (the order the views draw them)."""
    return "".join(f"{b:08b}" for b in data)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)
