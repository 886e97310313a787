"""Run benchmark groups side by side and print their tables: ``benchmarks/run.py [group ...]``.

Groups live in ``benchmarks/bench_*.py`` and register themselves with
``common.register``; adding a group is adding a file. Without arguments every
group runs. ``--profile`` prints where the time goes for groups that offer it.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # run from a checkout without installing

from common import GROUPS  # noqa: E402


def _load_groups() -> None:
    for path in sorted(HERE.glob("bench_*.py")):
        importlib.import_module(path.stem)


def main(argv: list[str] | None = None) -> int:
    _load_groups()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", metavar="group", help=f"any of: {', '.join(sorted(GROUPS))} (default: all)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    parser.add_argument("--profile", action="store_true", help="profile the groups instead of measuring them")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a goal is missed")
    args = parser.parse_args(argv)

    ordered = sorted(GROUPS.values(), key=lambda g: (g.order, g.name))
    if args.list:
        for group in ordered:
            print(f"{group.name:10s} {group.description}")
        return 0
    unknown = [name for name in args.groups if name not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(sorted(GROUPS))}")
    selected = [g for g in ordered if not args.groups or g.name in args.groups]

    import numpy

    print(f"Python {platform.python_version()} ({platform.python_implementation()}), numpy {numpy.__version__},"
          f" {platform.machine()}, {platform.system()}")
    missed = 0
    t_all = time.perf_counter()
    for group in selected:
        t0 = time.perf_counter()
        print()
        if args.profile:
            if group.profile is None:
                print(f"[{group.name}] no profile available")
                continue
            print(f"[{group.name}] profile")
            print(group.profile())
            continue
        for table in group.run():
            print(table.render())
            print()
            missed += sum(not goal.met for goal in table.goals)
        print(f"[{group.name}] {time.perf_counter() - t0:.1f} s")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s" + (f", {missed} goal(s) missed" if missed else ""))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
