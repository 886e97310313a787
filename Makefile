# Two commands for a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab test bench autobahn autobahn-tap node notebooks notebook-data venv browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall when the project metadata changes.
$(STAMP): pyproject.toml wsexplore/protocol/_speedups.c | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian's chromium for the browser tests (Playwright cannot download its own here), a CJK font so
# that screenshots show "发送数据" rather than empty boxes, and tshark (with dumpcap and editcap) and
# tcpdump: the recording tests capture real loopback traffic, edit it, and hold wsexplore's pcap
# reader to tshark's own reading; the Binder relay test records the traffic between Chromium and
# the Jupyter server with them, to prove the kernel's server holds the bytes Chromium sent.
BROWSER_PACKAGES := chromium fonts-wqy-zenhei tshark tcpdump
WHY_chromium         := the browser tests drive Debian's Chromium (Playwright cannot download its own here)
WHY_fonts-wqy-zenhei := a CJK font, so that screenshots show the Chinese test text
WHY_tshark           := the recording tests hold the pcap reader to Wireshark's reading (dumpcap, editcap)
WHY_tcpdump          := the recording and relay tests capture real loopback traffic
browser:
	@missing=""; for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make test: these Debian packages are missing:"; \
	  for p in $$missing; do case $$p in \
	    chromium) echo "  chromium: $(WHY_chromium)";; \
	    fonts-wqy-zenhei) echo "  fonts-wqy-zenhei: $(WHY_fonts-wqy-zenhei)";; \
	    tshark) echo "  tshark: $(WHY_tshark)";; \
	    tcpdump) echo "  tcpdump: $(WHY_tcpdump)";; esac; done; \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make test: installing them: apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "make test: not root, so not installing them ('sudo apt-get install$$missing' would);" \
	    "the tests that need them are skipped and listed at the end"; fi; \
	fi

# JupyterLab on the notebooks, on loopback (as root, e.g. in a container, Lab needs --allow-root).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# Node's ws client for the tap tests (dev only; the version is pinned in tests/node/package-lock.json).
node:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory tests/node/node_modules/.package-lock.json; \
	else echo "make test: no npm (Debian's nodejs and npm): the tap tests with Node's ws client are skipped"; fi
tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund

# Unit, property, live-socket and browser tests, then the notebooks under nbval (strict). Tests whose
# system tools are missing (no root to install them) are skipped and listed at the end of the run;
# WSEXPLORE_REQUIRE_ALL=1 (set by .ci/run) makes them fail instead.
test: $(STAMP) browser node
	$(PY) -m pytest -q tests
	$(PY) -m pytest -q --nbval notebooks --nbval-sanitize-with notebooks/sanitize.cfg

# Re-run the notebooks and store their outputs (after a change that alters what they show);
# NOTEBOOKS="05-*.ipynb" re-runs some. Hidden cells (the exercises' answers) stay hidden: their "jupyter"
# and "collapsed" metadata is kept. No widget state is stored: GitHub and nbviewer (nbconvert) then
# show each widget's static text/html fallback instead of trying to run its JavaScript.
NOTEBOOKS ?= *.ipynb
notebooks: $(STAMP)
	cd notebooks && ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=300 \
	  --ExecutePreprocessor.store_widget_state=False \
	  --ClearMetadataPreprocessor.enabled=True --ClearMetadataPreprocessor.clear_notebook_metadata=False \
	  --ClearMetadataPreprocessor.preserve_cell_metadata_mask jupyter \
	  --ClearMetadataPreprocessor.preserve_cell_metadata_mask collapsed $(NOTEBOOKS)
	cd notebooks && ../$(PY) -c "import sys, nbformat; [nbformat.write(nb, p) for p in sys.argv[1:] \
	  for nb in [nbformat.read(p, 4)] if nb.metadata.pop('widgets', None) is not None]" $(NOTEBOOKS)

# Record the Chromium session notebook 10 opens (notebooks/data/chromium-session.pcap and .har) from
# real loopback traffic: tcpdump on lo and Chromium's DevTools events (tests/browser/record_notebook_data.py).
notebook-data: $(STAMP) browser
	$(PY) -m tests.browser.record_notebook_data

bench: $(STAMP)
	$(PY) benchmarks/run.py

# RFC 6455 conformance with the real Autobahn|Testsuite (needs a Python 2.7; the first run installs the suite).
# Starts tests/compliance/echo_server.py on a free port, runs the suite on it, stops it; fails if any case
# falls short. Reports in autobahn-reports/. AUTOBAHN_CASES="1.*,2.*" runs a subset. With the 9.x cases
# (performance: large messages, many fragments) it then times them against a websockets echo server in the
# same run and prints both (tests/compliance/speed.py; reports in autobahn-reports-speed/).
AUTOBAHN_CASES ?= 1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*,13.*
autobahn: $(STAMP)
	@log=$$(mktemp); \
	$(PY) tests/compliance/echo_server.py --port 0 >"$$log" 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; rm -f "$$log"; exit 130' INT TERM; \
	for i in $$(seq 100); do \
	  grep -q '^ws://' "$$log" && break; \
	  kill -0 $$pid 2>/dev/null || break; sleep 0.1; \
	done; \
	url=$$(grep -m1 '^ws://' "$$log" || true); \
	if [ -z "$$url" ]; then echo "autobahn: echo server did not start:"; cat "$$log"; kill $$pid 2>/dev/null; rm -f "$$log"; exit 1; fi; \
	bash tests/compliance/autobahn.sh "$$url" '$(AUTOBAHN_CASES)' autobahn-reports; rc=$$?; \
	kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; \
	if [ $$rc -ne 0 ] && [ -s "$$log" ] && grep -qv '^ws://' "$$log"; then echo "echo server output:"; grep -v '^ws://' "$$log" | tail -20; fi; \
	rm -f "$$log"; \
	case ',$(AUTOBAHN_CASES),' in *,9.*) [ $$rc -ne 0 ] || $(PY) tests/compliance/speed.py --cases '9.*' || rc=$$?;; esac; \
	exit $$rc

# The same suite through the tap (wsexplore proxy) and straight to a websockets echo server behind it:
# every case must end the same way both ways (tests/compliance/compare.py; OK against NON-STRICT is allowed:
# it depends on how the reads were cut, which no TCP proxy keeps). Reports in autobahn-reports-tap/.
AUTOBAHN_TAP_CASES ?= 1.*,2.*,3.*,4.*,5.*,6.*,7.*
autobahn-tap: $(STAMP)
	@log=$$(mktemp); \
	$(PY) tests/compliance/tap_echo.py >"$$log" 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; rm -f "$$log"; exit 130' INT TERM; \
	for i in $$(seq 100); do \
	  grep -q '^tap ws://' "$$log" && break; \
	  kill -0 $$pid 2>/dev/null || break; sleep 0.1; \
	done; \
	direct=$$(sed -n 's/^direct //p' "$$log"); tap=$$(sed -n 's/^tap //p' "$$log"); \
	if [ -z "$$tap" ]; then echo "autobahn-tap: the tap did not start:"; cat "$$log"; kill $$pid 2>/dev/null; rm -f "$$log"; exit 1; fi; \
	bash tests/compliance/autobahn.sh "$$direct" '$(AUTOBAHN_TAP_CASES)' autobahn-reports-tap/direct; \
	bash tests/compliance/autobahn.sh "$$tap" '$(AUTOBAHN_TAP_CASES)' autobahn-reports-tap/tap; \
	$(PY) tests/compliance/compare.py autobahn-reports-tap/direct autobahn-reports-tap/tap; rc=$$?; \
	kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; \
	if [ $$rc -ne 0 ] && grep -qv '^\(direct\|tap\) ws://' "$$log"; then echo "tap output:"; grep -v '^\(direct\|tap\) ws://' "$$log" | tail -20; fi; \
	rm -f "$$log"; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
