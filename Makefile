# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast browser lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: a range that admits a newer release would download a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m paretoray

# Debian's Chromium and its chromedriver for the browser tests (tests/viz); idempotent: apt
# runs only when they are missing, as root directly (CI) or through sudo when available.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "make browser: need root or sudo to apt-get install chromium chromium-driver" >&2; exit 1; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y chromium chromium-driver; \
	fi

# Multi-node tests start their own Ray nodes: a second invocation, after the shared session
# of the first has ended (`make test-fast` skips them).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -m 'not multinode'
	$(BIN)/python -m pytest -q -m multinode

test-fast: $(STAMP) browser
	$(BIN)/python -m pytest -q -m 'not multinode'

lint: $(STAMP)
	$(BIN)/ruff check paretoray tests benchmarks examples

# BENCH_ARGS= (empty) runs the full peer comparison (~25 min here); --quick takes ~3 min.
BENCH_ARGS ?= --quick
bench: $(STAMP)
	$(BIN)/python benchmarks/engine_step.py --quick
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/networks.py --sizes 8 32 --epochs 2
	$(BIN)/python benchmarks/peers.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
