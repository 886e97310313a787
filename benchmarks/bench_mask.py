"""Group "mask": RFC 6455 section 5.3 masking as the connection meets it, and where each strategy pays.

Every figure comes from a fresh process (this file run with ``--worker``) that
masks a *new* payload on every call: it rotates a pool of distinct buffers whose
total is larger than the last-level cache, and drops each result before the
next call, as a server does with a payload once it has been handled. A loop
over one reused buffer measures the cache and the allocator's luck, not what
users run: that is how a 1 MiB payload once showed 25 GB/s here and 1.4 GB/s
in a server.

Contenders on the same data and key: our ``apply_mask`` (in C where the
extension was built, as ``make venv`` builds it), the same without the extension
(``wsexplore, no C``: NumPy, bitarray and big integers, what an install without a
C compiler runs), our ``unmask_frame`` on whole frames (a ``memoryview`` slice after the header, as the connection
passes it), websockets' C extension, a plain NumPy XOR against the tiled key
(uint8), one big-integer XOR (the pure-Python baseline) and a plain copy into
a new ``bytes`` object (``bytes(memoryview(data))``: the least any function that
returns new bytes must do, so it shows what memory bandwidth allows at each
size). Every output is checked against the big-integer result before anything
is timed. Sizes include leftovers (not multiples of 8).

The crossover tables time the strategies inside ``apply_mask`` without the C
extension, by moving its ``_BITS_FROM``, ``_NUMPY_FROM`` and ``_FILL_FROM``
thresholds in the worker process (the module is not edited).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SEED = 5300
KEY = bytes.fromhex("37fa213d")
REPEAT = 5  # timed runs in each worker; the median and the best are reported
RUN_SECONDS = 0.03  # the least time one run lasts (calls are auto-ranged to it)
MAIN_SIZES = [125, 64 * 1024, 1 << 20, (1 << 20) + 5, 16 << 20, (16 << 20) + 3]
SWEEP_SIZES = [1 << k for k in range(10, 27)]  # 1 KiB .. 64 MiB
SWEEP_LEFTOVERS = [1 << 10, 64 << 10, 1 << 20, 64 << 20]  # also measured 3 bytes longer (not multiples of 8)
LAYOUTS = ("received", "pool")
POOL_VS_COPY = 0.9  # from memory, masking is bound by bandwidth: at least this share of a plain copy's rate
REFERENCE = 64 * 1024  # the sweep compares every size with this one
SMALL_CROSSOVER = [64, 256, 384, 448, 512, 576, 640, 704, 768, 1024, 2048]
MID_CROSSOVER = [2048, 4096, 8192, 10240, 12288, 14336, 16384, 24576, 32768, 65536]
FILL_CROSSOVER = [16384, 32768, 65536, 81920, 98304, 114688, 131072, 262144, 1 << 20]
GOAL_GBPS = 10.0  # at 1 MiB and 16 MiB
# A size may be slower per byte than 64 KiB only as much as a plain copy is (memory bandwidth), plus this margin.
SWEEP_MARGIN = 0.8
POOL_CAP = 1 << 30  # bytes: the pool is 1.25x the last-level cache, at most this
POOL_MAX_ITEMS = 1 << 20
NO_C = "wsexplore, no C"  # apply_mask in a process that leaves the C extension out
PIN_ALL_BIG_INT = {"_BITS_FROM": 1 << 62, "_NUMPY_FROM": 1 << 62, "_FILL_FROM": 1 << 62}
PIN_ALL_BITS = {"_BITS_FROM": 1, "_NUMPY_FROM": 1 << 62, "_FILL_FROM": 1 << 62}
PIN_ALL_NUMPY = {"_BITS_FROM": 1, "_NUMPY_FROM": 1, "_FILL_FROM": 1 << 62}
PIN_ALL_FILLING = {"_BITS_FROM": 1, "_NUMPY_FROM": 1, "_FILL_FROM": 1}


# ============================================================================ the worker process
def _cache_bytes() -> int:
    """The largest CPU cache the kernel reports (Linux sysfs), 32 MiB when unknown."""
    best = 0
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in base.glob("index*"):
        try:
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            best = max(best, int(text.rstrip("KMG")) * scale)
        except ValueError:
            continue
    return best or 32 << 20


def pool_bytes() -> int:
    return min(POOL_CAP, max(64 << 20, _cache_bytes() * 5 // 4))


def bigint_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(n, "little")


def _header(n: int) -> bytes:
    """A masked binary frame's header for an ``n``-byte payload, key included (section 5.2)."""
    if n <= 125:
        head = bytes((0x82, 0x80 | n))
    elif n < 65536:
        head = bytes((0x82, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, 0xFF)) + n.to_bytes(8, "big")
    return head + KEY


def _contender(name: str) -> tuple[Callable[[bytes], object], bool]:
    """The call to time on one pool item, and whether the pool holds whole frames."""
    import numpy as np

    from wsexplore.protocol import masking

    if name in ("wsexplore", NO_C):
        apply_mask = masking.apply_mask
        return (lambda data: apply_mask(data, KEY)), False
    if name == "unmask_frame":
        unmask = masking.unmask_frame
        return (lambda frame: unmask(frame, _HL, len(frame) - _HL)), True
    if name == "websockets C":
        from websockets.speedups import apply_mask as c_mask

        return (lambda data: c_mask(data, KEY)), False
    if name == "numpy uint8":
        def numpy_mask(data: bytes) -> bytes:
            n = len(data)
            k = np.tile(np.frombuffer(KEY, dtype=np.uint8), n // 4 + 1)[:n]
            return (np.frombuffer(data, dtype=np.uint8) ^ k).tobytes()

        return numpy_mask, False
    if name == "big-int XOR":
        return (lambda data: bigint_mask(data, KEY)), False
    if name == "copy":
        return (lambda data: bytes(memoryview(data))), False
    raise SystemExit(f"unknown contender {name!r}")


_HL = 0  # header length of the frames in the pool (the worker sets it)


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    """Time one contender at one size: a pool of new payloads, REPEAT runs; GB/s of each run."""
    global _HL
    import gc

    from wsexplore.protocol import masking

    for name, value in job.get("pin", {}).items():
        setattr(masking, name, value)
    size, name = job["size"], job["contender"]
    fn, frames = _contender(name)
    head = _header(size) if frames else b""
    _HL = len(head)
    rng = random.Random(SEED + size)
    base = rng.randbytes(size)
    # Check on random data first (the pool below differs from ``base`` in its first bytes only).
    sample = head + bigint_mask(base, KEY) if frames else base
    want = base if frames else bigint_mask(base, KEY)
    got = fn(sample)
    if name != "copy" and got != want:
        raise SystemExit(f"{name} masks {size} bytes wrongly")
    stamp = min(8, size)
    layout = job.get("layout", "pool")
    if layout == "pool":
        count = max(4, min(POOL_MAX_ITEMS, pool_bytes() // max(size + len(head), 1)))
        pool = [head + i.to_bytes(8, "little")[:stamp] + base[stamp:] for i in range(count)]
    elif layout == "received":
        count = 0
        pool = [head + base]  # each call's payload is built from this, untimed, just before the call
    else:
        raise SystemExit(f"unknown layout {layout!r}")
    calls = 0

    def run(number: int) -> float:
        nonlocal calls
        start = calls
        if count:
            t0 = time.perf_counter()
            for i in range(start, start + number):
                fn(pool[i % count])
            seconds = time.perf_counter() - t0
        else:  # a new object per call, in the cache as a socket read leaves it
            seconds = 0.0
            whole, clock = pool[0], time.perf_counter
            for i in range(start, start + number):
                data = whole[: len(head)] + (i & 0xFFFF_FFFF).to_bytes(8, "little")[:stamp] + whole[len(head) + stamp:]
                t0 = clock()
                fn(data)
                seconds += clock() - t0
                del data
        calls = start + number
        return seconds

    gc.collect()
    gc.disable()
    number = 1
    while run(number) < RUN_SECONDS:  # auto-range; these calls warm the process up too
        number *= 2
    rates = [number * size / run(number) / 1e9 for _ in range(REPEAT)]
    gc.enable()
    return {"size": size, "contender": name, "layout": layout, "rates": rates,
            "pool": max(count, 1) * (size + len(head)), "calls": number}


# ============================================================================ driving workers
def measure(size: int, contender: str, layout: str = "pool", pin: dict[str, int] | None = None) -> list[float]:
    """GB/s of each run of ``contender`` at ``size``, in a fresh process.

    ``layout``: "pool" rotates buffers larger than the cache (every payload cold);
    "received" builds a new payload object before each call, in the cache as a
    socket read leaves it (only the call is timed).
    """
    from wsexplore.protocol.masking import NO_SPEEDUPS

    job = {"size": size, "contender": contender, "layout": layout, "pin": pin or {}}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if pin or contender == NO_C:  # the strategies that serve without the C extension
        env[NO_SPEEDUPS] = "1"
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"mask worker {job} failed:\n{proc.stderr[-2000:]}{proc.stdout[-500:]}")
    return json.loads(proc.stdout.splitlines()[-1])["rates"]


def _have_websockets_c() -> bool:
    try:
        from websockets.speedups import apply_mask  # noqa: F401
    except ImportError:
        return False
    return True


def size_label(n: int) -> str:
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        whole = n >> shift
        if whole:
            rest = n - (whole << shift)
            return f"{whole} {unit}" + (f" + {rest} B" if rest else "")
    return f"{n} B"


def _median(rates: list[float]) -> float:
    return statistics.median(rates)


def throughput() -> Any:
    from common import Goal, Table

    contenders = ["wsexplore", NO_C, "unmask_frame"] + (["websockets C"] if _have_websockets_c() else []) + [
        "numpy uint8", "big-int XOR", "copy"]
    table = Table(
        f"mask: GB/s masking a new payload per call (median of {REPEAT} runs, each contender in a fresh process)",
        ["size", "payloads", *contenders, "ours / websockets C", "ours / copy"],
    )
    results: dict[tuple[int, str], dict[str, float]] = {}
    for layout in LAYOUTS:
        for size in MAIN_SIZES:
            row = {name: _median(measure(size, name, layout)) for name in contenders
                   if not (name == "big-int XOR" and size > (1 << 20) + 8)}
            results[size, layout] = row
            ratio = f"{row['wsexplore'] / row['websockets C']:.2f}x" if "websockets C" in row else "-"
            table.add(size_label(size), layout, *(f"{row[n]:.2f}" if n in row else "-" for n in contenders), ratio,
                      f"{row['wsexplore'] / row['copy']:.2f}x")
    table.notes.append("payloads 'received': a new bytes object before each call, in the cache as a socket read"
                       " leaves it (only the call is timed); 'pool': a rotated pool of"
                       f" {pool_bytes() >> 20} MiB (1.25x the {_cache_bytes() >> 20} MiB last-level cache, at most"
                       f" {POOL_MAX_ITEMS:,} buffers), so every payload comes from memory; each result is dropped"
                       " before the next call")
    from wsexplore.protocol.masking import ACCELERATED

    table.notes.append("wsexplore: apply_mask " + ("in C (wsexplore/protocol/_speedups.c)" if ACCELERATED else
                       "WITHOUT its C extension (not built here)") + f"; {NO_C}: the same call with the"
                       " extension left out (NumPy, bitarray and big integers, as an install without a C compiler)")
    table.notes.append("unmask_frame: whole masked frames, the payload read through a memoryview after the header"
                       " (as the connection does); copy: bytes(memoryview(data)), the one pass into a new object"
                       " that any function returning new bytes makes (what memory bandwidth allows)")
    for size in (1 << 20, 16 << 20):
        rate = results[size, "received"]["wsexplore"]
        table.goals.append(Goal(f">= {GOAL_GBPS:g} GB/s at {size_label(size)}, a new payload per call (now"
                                f" {rate:.2f})", rate >= GOAL_GBPS))
        pool = results[size, "pool"]
        table.goals.append(Goal(f"from memory at {size_label(size)}: >= {POOL_VS_COPY:g}x a plain copy (now"
                                f" {pool['wsexplore'] / pool['copy']:.2f}x, {pool['wsexplore']:.2f} GB/s)",
                                pool["wsexplore"] >= POOL_VS_COPY * pool["copy"]))
    small = results[125, "received"]
    table.goals.append(Goal(f">= big-int XOR rate at 125 B (now {small['wsexplore'] / small['big-int XOR']:.2f}x"
                            " of it)", small["wsexplore"] >= small["big-int XOR"]))
    return table


def sweep() -> Any:
    """1 KiB to 64 MiB (and 3 bytes more each): our rate, websockets C's and a plain copy's, against 64 KiB."""
    from common import Goal, Table

    others = (["websockets C"] if _have_websockets_c() else []) + ["copy"]
    sizes = sorted({*SWEEP_SIZES, *(s + 3 for s in SWEEP_LEFTOVERS)})
    rates = {size: {name: _median(measure(size, name)) for name in ["wsexplore", *others]} for size in sizes}
    ref = rates[REFERENCE]
    table = Table(
        f"mask sweep: GB/s from 1 KiB to 64 MiB, payloads from a pool larger than the cache (median of {REPEAT},"
        " fresh processes); 'vs 64 KiB' is the rate over the rate at 64 KiB",
        ["size", "wsexplore", "µs/call", *others, "ours vs 64 KiB", "copy vs 64 KiB", "ours / copy"],
    )
    bad: list[str] = []
    for size in sizes:
        r = rates[size]
        ours_rel, copy_rel = r["wsexplore"] / ref["wsexplore"], r["copy"] / ref["copy"]
        table.add(size_label(size), f"{r['wsexplore']:.2f}", f"{size / r['wsexplore'] / 1e3:.2f}",
                  *(f"{r[n]:.2f}" for n in others), f"{ours_rel:.2f}", f"{copy_rel:.2f}",
                  f"{r['wsexplore'] / r['copy']:.2f}")
        if size >= REFERENCE and ours_rel < SWEEP_MARGIN * min(copy_rel, 1.0):
            bad.append(size_label(size))
    table.notes.append("below 64 KiB a call's fixed cost bounds the rate, not memory; from 64 KiB on the rate may"
                       " fall only as a plain copy's does")
    table.goals.append(Goal(
        f"from 64 KiB to 64 MiB no size slower than at 64 KiB beyond what memory bandwidth explains"
        f" (ours vs 64 KiB >= {SWEEP_MARGIN:g} x copy vs 64 KiB)"
        + (f"; slower at {', '.join(bad)}" if bad else ""), not bad))
    small = [s for s in sizes if s < REFERENCE]
    slower = [size_label(s) for s in small if s / rates[s]["wsexplore"] > REFERENCE / ref["wsexplore"]]
    table.goals.append(Goal("below 64 KiB no call takes longer than a 64 KiB one"
                            + (f" (longer at {', '.join(slower)})" if slower else ""), not slower))
    return table


def _crossover(title: str, sizes: list[int], pins: list[tuple[str, dict[str, int]]], threshold: str) -> Any:
    from common import Table

    from wsexplore.protocol import masking

    table = Table(f"{title}, ns per call (median of {REPEAT}, fresh processes); now {threshold} ="
                  f" {getattr(masking, threshold)}", ["size", *(label for label, _ in pins), "faster"])
    winners: list[str] = []
    for size in sizes:
        times = [size / _median(measure(size, "wsexplore", "received", pin)) for _, pin in pins]  # GB/s -> ns per call
        winners.append(pins[min(range(len(pins)), key=times.__getitem__)][0])
        table.add(size_label(size), *(f"{t:.0f}" for t in times), winners[-1])
    last = pins[-1][0]
    i = next((i for i in range(len(sizes)) if all(w == last for w in winners[i:])), None)
    if i is None:
        table.notes.append(f"{last} never wins consistently up to {size_label(sizes[-1])}")
    else:
        lo = sizes[i - 1] + 1 if i else 1
        table.notes.append(f"{last} wins from {size_label(sizes[i])} on: best {threshold} is in"
                           f" [{lo}, {sizes[i]}] (now {getattr(masking, threshold)})")
    return table


def crossovers() -> list[Any]:
    return [
        _crossover("mask crossover: big-integer XOR or bitarray", SMALL_CROSSOVER,
                   [("big-int", PIN_ALL_BIG_INT), ("bitarray", PIN_ALL_BITS)], "_BITS_FROM"),
        _crossover("mask crossover: bitarray or NumPy (tobytes)", MID_CROSSOVER,
                   [("bitarray", PIN_ALL_BITS), ("numpy", PIN_ALL_NUMPY)], "_NUMPY_FROM"),
        _crossover("mask crossover: NumPy into a temporary (tobytes) or into the new bytes object", FILL_CROSSOVER,
                   [("tobytes", PIN_ALL_NUMPY), ("filling", PIN_ALL_FILLING)], "_FILL_FROM"),
    ]


def run() -> list[Any]:
    return [throughput(), sweep(), *crossovers()]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} --worker JOB (benchmarks/run.py mask runs the group)")
else:
    from common import register

    register("mask", "apply_mask GB/s on new payloads vs websockets C, NumPy, big-int and a copy; sweep 1 KiB-64 MiB;"
             " strategy crossovers", order=20)(run)
