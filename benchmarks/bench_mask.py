"""Group "mask": throughput of RFC 6455 section 5.3 masking, and where NumPy starts to pay.

Contenders on the same random data and key: our ``apply_mask``, websockets' C
extension, a plain NumPy XOR against the tiled key (uint8), and one big-integer
XOR (the pure-Python baseline). Every output is checked against the big-integer
result before anything is timed.

The crossover table times the two strategies inside our ``apply_mask`` by
moving its ``_NUMPY_FROM`` threshold at run time (the module is not edited).
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from common import Goal, Table, autorange, best_of, register

from wsexplore.protocol import masking

SIZES = [125, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024]
CROSSOVER_SIZES = [64, 128, 256, 384, 512, 640, 768, 832, 896, 960, 1024, 1280, 1536, 2048, 4096]
REPEAT = 7
SEED = 5300
GOAL_GBPS_1MIB = 10.0


def bigint_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    return (
        int.from_bytes(data, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")
    ).to_bytes(n, "little")


def numpy_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    k = np.tile(np.frombuffer(key, dtype=np.uint8), n // 4 + 1)[:n]
    return (np.frombuffer(data, dtype=np.uint8) ^ k).tobytes()


def _contenders() -> list[tuple[str, Callable[[bytes, bytes], bytes]]]:
    out: list[tuple[str, Callable[[bytes, bytes], bytes]]] = [("wsexplore", masking.apply_mask)]
    try:
        from websockets.speedups import apply_mask as c_mask
    except ImportError:
        pass
    else:
        out.append(("websockets C", c_mask))
    out += [("numpy uint8", numpy_mask), ("big-int XOR", bigint_mask)]
    return out


def _gbps(fn: Callable[[bytes, bytes], bytes], data: bytes, key: bytes) -> float:
    call = lambda: fn(data, key)  # noqa: E731
    seconds = best_of(call, repeat=REPEAT, number=autorange(call))
    return len(data) / seconds / 1e9


def _size_label(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024:
        return f"{n // 1024} KiB"
    return f"{n} B"


def throughput() -> Table:
    rng = random.Random(SEED)
    key = rng.randbytes(4)
    contenders = _contenders()
    names = [name for name, _ in contenders]
    table = Table(
        f"mask: apply_mask throughput in GB/s (best of {REPEAT}, auto-ranged loops)",
        ["size"] + names + (["ours / websockets C"] if "websockets C" in names else []),
    )
    results: dict[int, dict[str, float]] = {}
    for size in SIZES:
        data = rng.randbytes(size)
        expected = bigint_mask(data, key)
        row: dict[str, float] = {}
        for name, fn in contenders:
            if fn(data, key) != expected:
                raise AssertionError(f"{name} masks {size} bytes wrongly")
            row[name] = _gbps(fn, data, key)
        results[size] = row
        cells = [f"{row[n]:.2f}" for n in names]
        if "websockets C" in row:
            cells.append(f"{row['wsexplore'] / row['websockets C']:.2f}x")
        table.add(_size_label(size), *cells)
    mib = results[1024 * 1024]["wsexplore"]
    table.goals.append(Goal(f">= {GOAL_GBPS_1MIB:g} GB/s at 1 MiB (now {mib:.2f})", mib >= GOAL_GBPS_1MIB))
    small = results[125]
    table.goals.append(Goal(
        f">= big-int XOR rate at 125 B (now {small['wsexplore'] / small['big-int XOR']:.2f}x of it)",
        small["wsexplore"] >= small["big-int XOR"],
    ))
    return table


@contextmanager
def _pinned(threshold: int) -> Iterator[None]:
    """Pin our apply_mask's size threshold for a measurement, then restore it."""
    saved = masking._NUMPY_FROM
    masking._NUMPY_FROM = threshold
    try:
        yield
    finally:
        masking._NUMPY_FROM = saved


def crossover() -> Table:
    rng = random.Random(SEED + 1)
    key = rng.randbytes(4)
    apply_mask = masking.apply_mask
    table = Table(
        f"mask crossover: the two paths inside apply_mask, ns per call (best of {REPEAT});"
        f" now _NUMPY_FROM = {masking._NUMPY_FROM}",
        ["size", "big-int path", "numpy path", "faster"],
    )
    numpy_wins: list[bool] = []
    for size in CROSSOVER_SIZES:
        data = rng.randbytes(size)
        expected = bigint_mask(data, key)
        call = lambda: apply_mask(data, key)  # noqa: E731
        times = []
        for threshold in (1 << 62, 1):  # everything big-int, everything numpy
            with _pinned(threshold):
                if call() != expected:
                    raise AssertionError(f"apply_mask masks {size} bytes wrongly (threshold {threshold})")
                times.append(best_of(call, repeat=REPEAT, number=autorange(call, min_time=0.01)))
        numpy_wins.append(times[1] < times[0])
        table.add(f"{size} B", f"{times[0] * 1e9:.0f}", f"{times[1] * 1e9:.0f}",
                  "numpy" if numpy_wins[-1] else "big-int")
    # The best threshold: the smallest measured size from which numpy wins at every larger size.
    i = next((i for i in range(len(CROSSOVER_SIZES)) if all(numpy_wins[i:])), None)
    if i is None:
        table.notes.append(f"numpy never wins consistently up to {CROSSOVER_SIZES[-1]} B")
    else:
        lo = CROSSOVER_SIZES[i - 1] + 1 if i else 1
        table.notes.append(f"numpy wins from {CROSSOVER_SIZES[i]} B on: best _NUMPY_FROM is in"
                           f" [{lo}, {CROSSOVER_SIZES[i]}] (now {masking._NUMPY_FROM})")
    return table


@register("mask", "apply_mask GB/s vs websockets C, NumPy and big-int XOR; strategy crossover", order=20)
def run() -> list[Table]:
    return [throughput(), crossover()]
