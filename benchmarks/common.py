"""Shared pieces of the benchmarks: a registry of groups, timing, and result tables.

A group is a function that measures one thing side by side (every contender in
the same process, on the same input) and returns tables. Ratios between
contenders measured in one run are what we report: absolute rates move with the
machine, ratios much less.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

__all__ = ["Group", "Table", "GROUPS", "register", "best_of", "autorange", "fmt_rate", "Goal", "paired_ratio"]


@dataclass(frozen=True)
class Goal:
    """A target the project set itself; shown as met or missed under a table."""

    text: str
    met: bool


@dataclass
class Table:
    """Rows of already formatted cells, printed with aligned columns."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: list[str]) -> str:
            # First column left-aligned (names), the others right-aligned (numbers).
            parts = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return "  ".join(parts).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        out = [self.title, rule, line(self.columns), rule]
        out += [line(row) for row in self.rows]
        out.append(rule)
        out += [f"  {note}" for note in self.notes]
        out += [f"  [{'met' if g.met else 'MISSED'}] {g.text}" for g in self.goals]
        return "\n".join(out)


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    run: Callable[[], list[Table]]
    order: int = 100
    profile: Callable[[], str] | None = None


#: Every registered group by name; ``run.py`` runs them in ``order``.
GROUPS: dict[str, Group] = {}


def register(name: str, description: str, *, order: int = 100,
             profile: Callable[[], str] | None = None) -> Callable[[Callable[[], list[Table]]], Callable[[], list[Table]]]:
    """Decorator: make a group function runnable as ``benchmarks/run.py NAME``."""

    def deco(fn: Callable[[], list[Table]]) -> Callable[[], list[Table]]:
        if name in GROUPS:
            raise ValueError(f"benchmark group {name!r} registered twice")
        GROUPS[name] = Group(name, description, fn, order, profile)
        return fn

    return deco


def best_of(fn: Callable[[], object], *, repeat: int, number: int = 1,
            setup: Callable[[], None] | None = None) -> float:
    """Best wall time of ``repeat`` runs of ``number`` calls, in seconds per call.

    As ``timeit`` does, the collector is off while timing, so that a collection
    triggered by one contender's garbage is not billed to another; the best run
    is the one least disturbed by the rest of the machine.
    """
    best = float("inf")
    enabled = gc.isenabled()
    try:
        for _ in range(repeat):
            if setup is not None:
                setup()
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            dt = time.perf_counter() - t0
            if enabled:
                gc.enable()
            best = min(best, dt / number)
    finally:
        if enabled:
            gc.enable()
    return best


def autorange(fn: Callable[[], object], *, min_time: float = 0.02) -> int:
    """How many calls make one run last at least ``min_time`` seconds (1, 2, 5, 10, 20, ...)."""
    number = 1
    while True:
        for factor in (1, 2, 5):
            n = number * factor
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= min_time:
                return n
        number *= 10


def paired_ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The median of ``ours[i] / theirs[i]``: rates of trials run in the same round, back to back.

    A shared machine's load drifts over seconds. Two trials run one after the other see about the
    same load, so their ratio cancels most of it; the ratio of two medians taken over a whole run
    does not, and with a few trials each it moves by a tenth from one run to the next.
    """
    if not ours or len(ours) != len(theirs):
        raise ValueError(f"paired_ratio needs as many trials on each side, got {len(ours)} and {len(theirs)}")
    return statistics.median(o / t for o, t in zip(ours, theirs))


def fmt_rate(value: float, unit: str = "") -> str:
    """Three significant figures with a k/M suffix: 512k, 1.25M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}{unit}"
    return f"{value:.3g}{unit}"
