"""Autobahn|Testsuite's performance cases timed against wsexplore's echo server and websockets' one.

    python tests/compliance/speed.py [--cases 9.*] [--rounds 3] [--out autobahn-reports-speed]

Case group 9 sends large messages (up to 16 MiB), messages in many small
fragments and many messages in a row. Both echo servers of
``tests/compliance/echo_server.py`` (wsexplore's ``Server``, capturing every
frame, and a ``websockets`` server with the same limit) are started in their
own processes and the suite runs against each in turn, ``--rounds`` times,
alternating, in one run. Each case's time is the median of its rounds, as the
suite measures it (from the first byte sent to the echo's last); the table
gives each group's total and the ratio websockets time / wsexplore time, so
above 1.0x means wsexplore is faster. A performance figure, never a pass/fail
test: the exit status is 1 only when the suite itself cannot run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVERS = {"wsexplore": [], "websockets": ["--websockets"]}
GOOD, GOOD_CLOSE = {"OK", "NON-STRICT", "INFORMATIONAL"}, {"OK", "INFORMATIONAL"}


def start(extra: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "echo_server.py"), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("ws://"):
        proc.kill()
        raise SystemExit(f"autobahn speed: the echo server did not start ({url!r})")
    return proc, url


def run_suite(url: str, cases: str, out: Path) -> dict[str, tuple[int, bool]]:
    """Each case's duration in milliseconds, as the suite's report gives it, and whether it passed."""
    done = subprocess.run(["bash", str(HERE / "autobahn.sh"), url, cases, str(out)], capture_output=True, text=True)
    index = out / "index.json"
    if not index.exists():
        raise SystemExit(f"autobahn speed: the suite did not run against {url}:\n{done.stdout}{done.stderr}")
    return {case: (r["duration"], r["behavior"] in GOOD and r["behaviorClose"] in GOOD_CLOSE)
            for case, r in json.loads(index.read_text())["testee"].items()}


def group(case: str) -> str:
    return ".".join(case.split(".")[:2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="9.*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="autobahn-reports-speed")
    args = parser.parse_args(argv)
    procs = {name: start(extra) for name, extra in SERVERS.items()}
    times: dict[str, dict[str, list[int]]] = {name: defaultdict(list) for name in SERVERS}
    failed: dict[str, set[str]] = {name: set() for name in SERVERS}
    try:
        for r in range(args.rounds):
            for name, (_, url) in procs.items():
                for case, (ms, ok) in run_suite(url, args.cases, Path(args.out) / f"{name}-{r + 1}").items():
                    times[name][case].append(ms)
                    if not ok:
                        failed[name].add(case)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            proc.wait(10)
    # A case one server failed (refused or cut short) took a different amount of work: left out of the sums.
    left_out = set().union(*failed.values())
    median = {name: {c: statistics.median(v) for c, v in cases.items() if c not in left_out}
              for name, cases in times.items()}
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, cases in median.items():
        for case, ms in cases.items():
            groups[group(case)][name] += ms
    key = lambda g: [int(x) for x in g.split(".")]  # noqa: E731
    print(f"autobahn {args.cases}: seconds per case group, median of {args.rounds} rounds each "
          f"({time.strftime('%Y-%m-%d %H:%M')})")
    print(f"  {'group':<7} {'wsexplore':>10} {'websockets':>11}  ratio")
    for g in sorted(groups, key=key):
        ours, theirs = groups[g]["wsexplore"], groups[g]["websockets"]
        print(f"  {g:<7} {ours / 1000:>10.2f} {theirs / 1000:>11.2f}  {theirs / ours if ours else 0:.2f}x")
    ours = sum(median["wsexplore"].values())
    theirs = sum(median["websockets"].values())
    print(f"  {'total':<7} {ours / 1000:>10.2f} {theirs / 1000:>11.2f}  {theirs / ours:.2f}x websockets "
          "(above 1.0x: wsexplore is faster)")
    key_case = lambda c: [int(x) for x in c.split(".")]  # noqa: E731
    for name, cases in failed.items():
        if cases:
            print(f"  left out, {name} fell short: {', '.join(sorted(cases, key=key_case))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
