#!/usr/bin/env bash
# Runs the real Autobahn|Testsuite (fuzzingclient mode) against a WebSocket echo server and summarises it.
#
#   tests/compliance/autobahn.sh URL [CASES] [OUTDIR]
#     URL     ws://127.0.0.1:PORT/  an echo server already listening (text echoed as text, binary as binary),
#             e.g. tests/compliance/echo_server.py; `make autobahn` starts one and runs this against it
#     CASES   comma list of case patterns, default "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
#     OUTDIR  where the HTML/JSON reports go (emptied first), default ./autobahn-reports
#
# autobahntestsuite is Python 2 code: this uses a Python 2.7 interpreter (AUTOBAHN_PY2, else python2.7 on
# PATH, else one under ~/.pyenv) and keeps its virtualenv in ${XDG_CACHE_HOME:-~/.cache}/autobahn-py27.
# The summary is computed with PYTHON3 (default: python3 on PATH).
# Exit 0: every case OK / NON-STRICT / INFORMATIONAL with a clean close. 1: some case fell short, wstest
# failed, or no URL was given. 3: no Python 2.7 here, or the suite could not be installed.
set -euo pipefail
url=${1:?usage: tests/compliance/autobahn.sh ws://127.0.0.1:PORT/ [CASES] [OUTDIR]}
cases=${2:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*}
out=$(realpath -m "${3:-./autobahn-reports}")
py3=${PYTHON3:-python3}

py2=""
for c in ${AUTOBAHN_PY2:-} $(command -v python2.7 || true) "$HOME"/.pyenv/versions/2.7*/bin/python; do
  "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1 && { py2=$c; break; }
done
[ -n "$py2" ] || { echo "autobahn: no working Python 2.7 interpreter found (set AUTOBAHN_PY2)"; exit 3; }
venv=${XDG_CACHE_HOME:-$HOME/.cache}/autobahn-py27
if [ ! -x "$venv/bin/wstest" ]; then
  echo "autobahn: setting up autobahntestsuite in $venv (about a minute, once)" >&2
  log=$(mktemp)
  { "$py2" -m virtualenv --version || "$py2" -m pip install --user virtualenv; } >"$log" 2>&1 \
    && "$py2" -m virtualenv "$venv" >>"$log" 2>&1 && "$venv/bin/pip" install autobahntestsuite >>"$log" 2>&1 \
    || { echo "autobahn: set-up failed:"; tail -5 "$log"; rm -rf "$venv" "$log"; exit 3; }
  rm -f "$log"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py3" - "$url" "$cases" "$out" > "$work/spec.json" <<'PY'
import json, sys
url, cases, out = sys.argv[1:]
print(json.dumps({"outdir": out, "servers": [{"agent": "testee", "url": url}],
                  "cases": cases.split(","), "exclude-cases": [], "exclude-agent-cases": {}}))
PY
rm -rf "$out"; mkdir -p "$out"
echo "autobahn: running cases $cases against $url" >&2
(cd "$work" && "$venv/bin/wstest" -m fuzzingclient -s spec.json > "$out/wstest.log" 2>&1) \
  || { echo "autobahn: wstest failed, see $out/wstest.log"; tail -5 "$out/wstest.log"; exit 1; }

"$py3" - "$out" <<'PY'
import collections, json, os, sys
out = sys.argv[1]
cases = json.load(open(os.path.join(out, "index.json")))["testee"]
key = lambda c: [int(x) for x in c.split(".")]
good, good_close = {"OK", "NON-STRICT", "INFORMATIONAL"}, {"OK", "INFORMATIONAL"}
bad = [c for c in sorted(cases, key=key)
       if cases[c]["behavior"] not in good or cases[c]["behaviorClose"] not in good_close]
for c in bad:
    r = json.load(open(os.path.join(out, cases[c]["reportfile"].replace(".html", ".json"))))
    print(f"  {c} {cases[c]['behavior']}/{cases[c]['behaviorClose']}: {r['description'][:70]} -> {r['result'][:90]}")
count = collections.Counter(v["behavior"] for v in cases.values())
perf = sum(v["duration"] for c, v in cases.items() if c.startswith("9."))
print(f"autobahn: {len(cases)} cases, " + ", ".join(f"{n} {b}" for b, n in count.most_common())
      + f"; {len(bad)} short of OK" + (f"; 9.x took {perf} ms" if perf else "") + f"; reports in {out}")
sys.exit(1 if bad else 0)
PY
