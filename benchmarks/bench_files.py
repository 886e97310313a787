"""Group "files": saving and loading a capture file (JSON Lines), each in a fresh process.

``Capture.save`` and ``Capture.load`` are what ``wsexplore serve --save``,
``wsexplore read`` and a notebook's ``Capture.load`` run. Two captures, made
by a real ``Connection`` from client frames (masked, RFC 6455 section 5.3)
and the server's echoes:

* small echoes: 50,000 round trips of 20-40 B text (100,000 records);
* 1 MiB echoes: 40 round trips of 1 MiB of random bytes (120 records), which
  the file holds as base64.

Each capture is made and saved in one process (the save timed), then loaded
in another (the load timed, its peak RSS, VmHWM, after the load minus before
it). Best of ``REPEAT``. Nothing here has a counterpart in
websockets or wsproto; the goal is memory: a load holds the file's text once
while it builds the records, not its bytes, its text and a list of its lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from common import Goal, Table, register

if TYPE_CHECKING:
    from wsexplore.capture import Capture

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPEAT = 3
KINDS = {"small echoes": (50_000, "text", 20, 40), "1 MiB echoes": (40, "binary", 1 << 20, 1 << 20)}
GOAL_PEAK_PER_FILE = 2.5  # RSS a load adds, in file sizes, for the 1 MiB echoes


def _make(kind: str) -> Capture:
    import random

    from wsexplore.capture import Capture
    from wsexplore.protocol.connection import Connection
    from wsexplore.protocol.frames import Frame
    from wsexplore.protocol.opcodes import Opcode

    count, opcode, low, high = KINDS[kind]
    rng = random.Random(6455)
    capture, server = Capture(), Connection("server")
    for i in range(count):
        size = rng.randint(low, high)
        if opcode == "text":
            text = (f"{i:08d} " * 8)[:size]
            frame = Frame(Opcode.TEXT, text.encode(), mask_key=rng.randbytes(4))
            capture.record_events(1, server.receive_data(frame.encode()))
            server.send_text(text)
        else:
            data = rng.randbytes(size)
            frame = Frame(Opcode.BINARY, data, mask_key=rng.randbytes(4))
            capture.record_events(1, server.receive_data(frame.encode()))
            server.send_binary(data)
        capture.record_events(1, server.last_sent)
    return capture


def _peak_kib() -> int:
    """This process's peak RSS so far (VmHWM): its own, where ``getrusage`` would report the parent's
    size for a process started from a large one (the maximum survives ``exec``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(action: str, kind: str, path: str) -> None:
    """In a fresh process: make and save (``save``) or load (``load``); prints what it measured as JSON."""
    import time

    sys.path.insert(0, str(ROOT))
    if action == "save":
        capture = _make(kind)
        t0 = time.perf_counter()
        capture.save(path)
        print(json.dumps({"seconds": time.perf_counter() - t0, "records": len(capture)}))
        return
    from wsexplore.capture import Capture

    before = _peak_kib()
    t0 = time.perf_counter()
    loaded = Capture.load(path)
    seconds = time.perf_counter() - t0
    peak = _peak_kib()
    print(json.dumps({"seconds": seconds, "records": len(loaded), "added_kib": peak - before}))


def _child(action: str, kind: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", action, kind, str(path)], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"files: {action} of {kind} failed: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@register("files", "saving and loading a capture file (JSON Lines), each in a fresh process", order=55)
def run() -> list[Table]:
    table = Table(f"files: Capture.save and Capture.load of JSON Lines, each in a fresh process, best of {REPEAT}",
                  ["capture", "records", "file", "save", "load", "load: peak RSS added", "per file size"])
    with tempfile.TemporaryDirectory(prefix="wsexplore-bench-files-") as folder:
        for kind in KINDS:
            path = Path(folder) / f"{kind.replace(' ', '-')}.jsonl"
            saves = [_child("save", kind, path) for _ in range(REPEAT)]
            size = path.stat().st_size
            loads = [_child("load", kind, path) for _ in range(REPEAT)]
            if {s["records"] for s in saves} | {ld["records"] for ld in loads} != {saves[0]["records"]}:
                raise AssertionError(f"files: {kind}: the records saved and loaded differ: {saves} {loads}")
            save = min(s["seconds"] for s in saves)
            load = min(ld["seconds"] for ld in loads)
            added = min(ld["added_kib"] for ld in loads) * 1024
            mb = size / 1e6
            table.add(kind, f"{saves[0]['records']:,}", f"{mb:,.1f} MB", f"{save:.3f} s ({mb / save:,.0f} MB/s)",
                      f"{load:.3f} s ({mb / load:,.0f} MB/s)", f"{added / 2**20:,.0f} MiB", f"{added / size:.2f}x")
            if kind == "1 MiB echoes":
                table.goals.append(Goal(f"{kind}: a load adds at most {GOAL_PEAK_PER_FILE}x the file's size to peak"
                                        f" RSS (now {added / size:.2f}x)", added / size <= GOAL_PEAK_PER_FILE))
    table.notes.append("made by a real Connection('server') from masked client frames and its echoes; a file is"
                       " saved once per run and loaded by a new process each time; peak RSS: the process's VmHWM")
    table.notes.append("a 1 MiB echo is three records (the frame received, its message, the frame sent), each"
                       " holding the payload as base64")
    return [table]


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--worker":
    _worker(sys.argv[2], sys.argv[3], sys.argv[4])
