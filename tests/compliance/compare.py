"""Compare two Autobahn|Testsuite report folders case by case: ``compare.py DIRECT_DIR TAP_DIR``.

Exit 0 when every case has the same behaviour and close behaviour in both
(whatever it is), 1 when a case differs or is missing, printing each
difference.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def results(folder: Path) -> dict[str, tuple[str, str]]:
    index = json.loads((folder / "index.json").read_text())
    (agent,) = index.values()
    return {case: (r["behavior"], r["behaviorClose"]) for case, r in agent.items()}


def main(argv: list[str]) -> int:
    direct, tap = (results(Path(p)) for p in argv[1:3])
    key = lambda c: [int(x) for x in c.split(".")]  # noqa: E731
    differ = [c for c in sorted(direct.keys() | tap.keys(), key=key) if direct.get(c) != tap.get(c)]
    for case in differ:
        print(f"  {case}: direct {direct.get(case)}, through the tap {tap.get(case)}")
    counts = Counter(b for b, _ in tap.values())
    print(f"autobahn through the tap: {len(tap)} cases ({', '.join(f'{n} {b}' for b, n in counts.most_common())});"
          f" {len(differ)} differ from the direct run")
    return 1 if differ or not tap else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
