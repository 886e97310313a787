"""Group "browser": how long the widgets take in a real JupyterLab, in Debian's Chromium.

The browser tests' Lab harness (``tests/browser/lab.py``: JupyterLab on a free
loopback port, offline, driven through its own command registry) runs one
notebook: a FrameView of a frame with a 125-byte payload (1,048 bit cells), a
bit clicked and redrawn by the kernel, then an Explorer that 10,000 records are
appended to in one cell, its latest row clicked, another row clicked, a page of
older rows. Each figure is timed in the page: the clock starts right before
Lab's run command (or the click) and stops when the DOM holds what is awaited
("shown"), then after the next two animation frames ("painted", what a person
sees); tasks of the page's main thread over 50 ms are counted (a frozen page).

The tests check what these steps show; the times are here, so that a loaded
machine fails no test. Without Chromium, Playwright or JupyterLab the group
says so and measures nothing.
"""

from __future__ import annotations

import ast
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Table, register

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3  # rounds of every step; the median and the slowest are shown

# In-page timing (see the module's docstring).
_TIMED = """
function timed(start, ready, ms, what) {
  return new Promise((resolve, reject) => {
    const longtasks = [];
    let observer = null;
    try {
      observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) longtasks.push(e.duration); });
      observer.observe({ type: 'longtask' });
    } catch (e) { observer = null; }
    const t0 = performance.now();
    let done = false;
    const finish = (shown) => {
      requestAnimationFrame(() => requestAnimationFrame(() => {
        const painted = performance.now() - t0;
        setTimeout(() => {
          if (observer) { for (const e of observer.takeRecords()) longtasks.push(e.duration); observer.disconnect(); }
          resolve({ shown_ms: shown, painted_ms: painted, longest_task_ms: Math.max(0, ...longtasks),
                    long_tasks: longtasks.length });
        }, 0);
      }));
    };
    const check = () => {
      if (done) return;
      if (ready()) { done = true; finish(performance.now() - t0); return; }
      if (performance.now() - t0 > ms) { done = true; reject(new Error(`${what}: not shown in ${ms} ms`)); return; }
      setTimeout(check, 2);
    };
    start();
    check();
  });
}
"""

def _timed(nb: Any, body: str, arg: Any = None) -> dict[str, float]:
    return nb.evaluate(f"async (path, arg) => {{ {_TIMED}\n {body} }}", arg)


def _run_timed(nb: Any, index: int, ready: str, arg: Any = None, ms: int = 60_000) -> dict[str, float]:
    """Run cell ``index`` (Lab's run command) and time until ``ready(cells, arg)`` holds (cells: DOM nodes)."""
    nb.select(index)
    return _timed(nb, f"""
        const cells = panelOf(path).content.widgets.map(c => c.node);
        const ready = {ready};
        let run;
        const result = await timed(() => {{ run = window.jupyterapp.commands.execute('notebook:run-cell'); }},
                                   () => ready(cells, arg), {ms}, 'cell {index}');
        await run;
        return result;""", arg)


def _round(nb: Any) -> dict[str, dict[str, float]]:
    """One round of every step in a freshly opened notebook: the in-page timings of each."""
    frame_size = ast.literal_eval(nb.run_cell(0)[0]["data"]["text/plain"])[0]  # cells: lab.LARGE_CELLS
    bits = 8 * frame_size
    out: dict[str, dict[str, float]] = {}
    out["FrameView, 125-byte payload: cell run -> every bit cell"] = _run_timed(
        nb, 1, "(cells, n) => cells[1].querySelectorAll('.wsx-frameview .wsx-bit').length === n", bits)
    out["FrameView: click a bit -> the kernel re-dissects -> redrawn"] = _timed(nb, """
        const view = panelOf(path).content.widgets[1].node.querySelector('.wsx-frameview');
        const before = view.querySelector('.wsx-summary').textContent;
        return await timed(() => view.querySelector('.wsx-bit[data-bit="0"]').click(),
                           () => view.querySelector('.wsx-summary')?.textContent !== before, 30000, 'bit flip');""")
    nb.run_cell(2)
    t0 = time.perf_counter()
    out["Explorer: 10,000 records appended in one cell -> latest row shown"] = _run_timed(
        nb, 3, "(cells, seq) => !!cells[2].querySelector(`.wsx-explorer tr.wsx-row[data-seq='${seq}']`)", 10_000)
    wall = time.perf_counter() - t0
    printed = nb.stdout(nb.outputs(3)).split()
    out["Explorer: 10,000 records appended in one cell -> latest row shown"].update(
        kernel_append_ms=float(printed[2]), wall_ms=wall * 1000)
    last_bits = 8 * (2 + 4 + len(b"message 9999"))
    out["Explorer: click the latest row -> its FrameView"] = _timed(nb, """
        const cell = panelOf(path).content.widgets[2].node;
        const tr = cell.querySelector('tr.wsx-row[data-seq="10000"]');
        return await timed(() => tr.click(),
                           () => cell.querySelectorAll('.wsx-frameview .wsx-bit').length === arg,
                           30000, 'row click');""", last_bits)
    other_seq = 9_901  # record #n is the frame i = n - 1: even i went out, unmasked
    other_bits = 8 * (2 + len(f"message {other_seq - 1}".encode()))
    out["Explorer: click another row -> the detail pane changes"] = _timed(nb, """
        const cell = panelOf(path).content.widgets[2].node;
        const old = cell.querySelector('.wsx-frameview');
        const tr = cell.querySelector(`tr.wsx-row[data-seq="${arg[0]}"]`);
        return await timed(() => tr.click(), () => {
            const v = cell.querySelector('.wsx-frameview');
            return v && v !== old && v.querySelectorAll('.wsx-bit').length === arg[1];
        }, 30000, 'second row click');""", [other_seq, other_bits])
    out["Explorer: page to older rows -> window moved"] = _timed(nb, """
        const cell = panelOf(path).content.widgets[2].node;
        const first = () => cell.querySelector('tr.wsx-row').dataset.seq;
        const before = first();
        return await timed(() => cell.querySelector('.wsx-older').click(), () => first() !== before,
                           30000, 'older');""")
    return out


def _missing() -> str | None:
    sys.path.insert(0, str(ROOT))
    try:
        import playwright.sync_api  # noqa: F401
        import jupyterlab  # noqa: F401

        from tests.browser.lab import CHROMIUM
    except ImportError as exc:
        return f"{exc.name} is not installed (make venv installs it)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing (make browser installs it)"
    return None


def run() -> list[Table]:
    table = Table(f"browser: widgets in JupyterLab, Debian's Chromium, timed in the page; median of {REPEAT}"
                  " rounds (slowest in brackets)", ["step", "shown ms", "painted ms", "long tasks (>50 ms)"])
    why = _missing()
    if why is not None:
        table.notes.append(f"not measured: {why}")
        return [table]
    from playwright.sync_api import sync_playwright

    from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, LARGE_CELLS, UI_TIMEOUT, VIEWPORT, LabNotebook, start_lab

    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="wsexplore-bench-lab-") as workdir:
        lab = start_lab(Path(workdir))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
                try:
                    version = browser.version
                    for i in range(REPEAT):
                        context = browser.new_context(viewport=VIEWPORT)
                        page = context.new_page()
                        page.set_default_timeout(UI_TIMEOUT)
                        name = lab.write_notebook(f"measure-{i}.ipynb", LARGE_CELLS)
                        nb = LabNotebook(page, lab, name).open()
                        nb.evaluate("() => window.jupyterapp.shell.collapseLeft()")
                        try:
                            rounds.append(_round(nb))
                        finally:
                            nb.shutdown_kernel()
                            context.close()
                finally:
                    browser.close()
        finally:
            lab.stop()
    median = statistics.median
    for step in rounds[0]:
        shown = [r[step]["shown_ms"] for r in rounds]
        painted = [r[step]["painted_ms"] for r in rounds]
        tasks = [r[step]["long_tasks"] for r in rounds]
        longest = max(r[step]["longest_task_ms"] for r in rounds)
        table.add(step, f"{median(shown):.0f} ({max(shown):.0f})", f"{median(painted):.0f} ({max(painted):.0f})",
                  "none" if not any(tasks) else f"{median(tasks):.0f}, longest {longest:.0f} ms")
    append = [r["Explorer: 10,000 records appended in one cell -> latest row shown"] for r in rounds]
    table.notes.append(f"kernel time to append the 10,000 records: {median(a['kernel_append_ms'] for a in append):.0f}"
                       f" ms (median); wall clock from run to latest row seen here:"
                       f" {median(a['wall_ms'] for a in append):.0f} ms")
    table.notes.append(f"chromium {version}, JupyterLab on 127.0.0.1, viewport {VIEWPORT['width']}x"
                       f"{VIEWPORT['height']}; 'shown': the DOM holds it, 'painted': two animation frames later")
    return [table]


register("browser", "FrameView and Explorer timings in a real JupyterLab and Chromium", order=90)(run)
