"""Group "decode": ``wsexplore decode`` as users run it, a subprocess writing to a file, on large inputs.

The input is a stream of small masked client text frames (0-3 words, some
multi-byte UTF-8: 6-30 bytes each), as a binary file and as a hex dump on
stdin. Each run is a fresh ``wsexplore decode`` process (``python -m
wsexplore``) writing to a file; its frames per second count from start to
exit (imports included), its memory is the peak resident set the kernel
reports for it. Memory must not grow with the input: the same command on an
input eight times larger must peak within 20% of the smaller one.

For scale, the same stream is parsed in this process by our ``Connection``
and by websockets' and wsproto's sans-I/O servers (no output; they stop at
nothing and print nothing): what parsing alone costs.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Goal, Table, best_of, fmt_rate, register

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3
SMALL = 200_000  # frames
LARGE = 8 * SMALL
FULL = 20_000  # frames decoded with their bit diagrams
GOAL_FRAMES_PER_S = 100_000  # --summary, to a file
GOAL_FLAT = 1.2  # peak memory on the large input over the small one, at most
_WORDS = ["hello", "world", "ping", "chat", "json", '{"a":1}', "é", "中文"]


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(n, "little")


def make_stream(frames: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    for _ in range(frames):
        payload = " ".join(rng.choices(_WORDS, k=rng.randint(0, 3))).encode()
        key = rng.randbytes(4)
        out += bytes((0x81, 0x80 | len(payload))) + key + _mask(payload, key)
    return bytes(out)


def _peak_kib(pid: int) -> int | None:
    """The process's peak resident set so far (Linux ``VmHWM``), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as fp:
            for line in fp:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _decode(args: list[str], stdin: Path | None, out: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak resident KiB and the last line of one ``wsexplore decode`` run.

    The peak is read from /proc while it runs (the kernel's ``ru_maxrss`` would count the memory of
    this process too, which the child is forked from).
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    peak = 0
    with open(out, "w") as fout, (open(stdin, "rb") if stdin else open(os.devnull, "rb")) as fin:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "wsexplore", "decode", *args], stdin=fin, stdout=fout,
                                stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_kib(proc.pid) or 0)
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"wsexplore decode {args} exited {proc.returncode}")
    with open(out, "rb") as fp:
        fp.seek(max(0, os.path.getsize(out) - 400))
        last = fp.read().decode(errors="replace").splitlines()[-1]
    return seconds, usage.ru_utime + usage.ru_stime, peak, last


def cli_table(tmp: Path) -> Table:
    table = Table(f"decode: wsexplore decode in a fresh process, output to a file; median of {REPEAT} runs",
                  ["command", "input", "frames", "frames/s", "per CPU second", "peak memory", "MB/s of input"])
    small, large = make_stream(SMALL), make_stream(SMALL, seed=1) * (LARGE // SMALL)
    (tmp / "small.bin").write_bytes(small)
    (tmp / "large.bin").write_bytes(large)
    (tmp / "small.hex").write_text(small.hex(" "), encoding="ascii")
    (tmp / "full.bin").write_bytes(make_stream(FULL))
    runs = [
        ("--summary --file", ["--summary", "--file", str(tmp / "small.bin")], None, SMALL, len(small), "binary"),
        ("--summary --file", ["--summary", "--file", str(tmp / "large.bin")], None, LARGE, len(large), "binary"),
        ("--summary - (hex on stdin)", ["--summary", "-"], tmp / "small.hex", SMALL, 3 * len(small) - 1, "hex"),
        ("--file (bit diagrams)", ["--file", str(tmp / "full.bin")], None, FULL, os.path.getsize(tmp / "full.bin"),
         "binary"),
    ]
    rates: dict[tuple[str, int], float] = {}
    peaks: dict[tuple[str, int], int] = {}
    for label, args, stdin, frames, size, kind in runs:
        results = [_decode(args, stdin, tmp / "out.txt") for _ in range(REPEAT)]
        for *_, last in results:
            if not last.startswith(f"{frames} frames in ") or not last.endswith("all valid"):
                raise AssertionError(f"{label}: unexpected last line {last!r}")
        seconds = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        peak = statistics.median(r[2] for r in results)
        rates[label, frames] = frames / seconds
        peaks[label, frames] = peak
        table.add(label, f"{size / 1e6:.1f} MB {kind}", f"{frames:,}", fmt_rate(frames / seconds),
                  fmt_rate(frames / cpu), f"{peak / 1024:.0f} MiB", f"{size / seconds / 1e6:.1f}")
    summary = rates["--summary --file", LARGE]
    table.goals.append(Goal(f">= {GOAL_FRAMES_PER_S:,} frames/s with --summary to a file, {LARGE:,} frames"
                            f" (now {summary:,.0f})", summary >= GOAL_FRAMES_PER_S))
    growth = peaks["--summary --file", LARGE] / peaks["--summary --file", SMALL]
    table.goals.append(Goal(f"memory flat: {LARGE // SMALL}x the input within {GOAL_FLAT}x the peak (now {growth:.2f}x)",
                            growth <= GOAL_FLAT))
    table.notes.append("frames/s from process start to exit, imports included (about 0.4 s); 'per CPU second': the"
                       " same over the process's own CPU time, which the other work of a shared machine disturbs"
                       " less; peak memory: the process's peak resident set (VmHWM)")
    return table


def parse_table() -> Table:
    """The same small-frame stream parsed in-process by three sans-I/O servers, for scale."""
    from bench_protocol import CHUNK, CONTENDERS

    stream = make_stream(SMALL)
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    table = Table(f"decode, for scale: the same {SMALL:,} frames parsed in this process (no output), median of"
                  f" {REPEAT}", ["parser", "frames/s"])
    for name, _, open_, feed, _ in CONTENDERS:
        if name == "websockets+utf8":
            continue
        state: list = []
        times = [best_of(lambda: feed(state[-1], chunks), repeat=1, setup=lambda: state.append(open_()))
                 for _ in range(REPEAT)]
        table.add(name, fmt_rate(SMALL / statistics.median(times)))
    table.notes.append("decode does more per frame: each is judged on its own as the dissector judges it (header,"
                       " payload and UTF-8 rules, continuing past violations), then formatted and written")
    return table


def run() -> list[Table]:
    with tempfile.TemporaryDirectory(prefix="wsexplore-bench-decode-") as tmp:
        return [cli_table(Path(tmp)), parse_table()]


register("decode", "wsexplore decode as a subprocess on large inputs: frames/s, peak memory", order=30)(run)
