"""Compare two Autobahn|Testsuite report folders case by case: ``compare.py DIRECT_DIR TAP_DIR``.

Exit 0 when every case has the same behaviour and close behaviour in both
(whatever it is), 1 when a case differs or is missing, printing each
difference.

One difference is printed but allowed: OK one way and NON-STRICT the other,
with the same close behaviour. A TCP proxy passes the bytes on unchanged but
cannot keep the sender's segment boundaries: a valid message and a bad frame
sent one after the other may reach the server in one read through the tap and
in two without it, and whether an endpoint answers the message before it fails
the connection (OK) or not (NON-STRICT) can depend on that (websockets does,
cases 4.1.5 and 4.2.5). The bytes themselves are checked by the tap's tests.
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


def _by_read_timing(direct: tuple[str, str] | None, tap: tuple[str, str] | None) -> bool:
    """OK one way and NON-STRICT the other, closed alike (see the module docstring)."""
    if direct is None or tap is None:
        return False
    return {direct[0], tap[0]} == {"OK", "NON-STRICT"} and direct[1] == tap[1]


def main(argv: list[str]) -> int:
    direct, tap = (results(Path(p)) for p in argv[1:3])
    key = lambda c: [int(x) for x in c.split(".")]  # noqa: E731
    differ = [c for c in sorted(direct.keys() | tap.keys(), key=key) if direct.get(c) != tap.get(c)]
    timing = [c for c in differ if _by_read_timing(direct.get(c), tap.get(c))]
    differ = [c for c in differ if c not in timing]
    for case in timing:
        print(f"  {case}: direct {direct.get(case)}, through the tap {tap.get(case)} (allowed: reads cut differently)")
    for case in differ:
        print(f"  {case}: direct {direct.get(case)}, through the tap {tap.get(case)}")
    counts = Counter(b for b, _ in tap.values())
    print(f"autobahn through the tap: {len(tap)} cases ({', '.join(f'{n} {b}' for b, n in counts.most_common())});"
          f" {len(differ)} differ from the direct run" + (f" ({len(timing)} more by how reads were cut)" if timing else ""))
    return 1 if differ or not tap else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
