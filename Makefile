# neuromem developer tasks.  Everything runs inside ./.venv (created on demand).
#
#   make venv        create .venv and install neuromem + test/export/nwb/sweep extras + lava-nc
#   make demo        run the default model (models/cls.toml, 15 memories) into ./runs (compiled: --device cpp_standalone)
#   make test        the test suite without the tests marked `slow` (about 10 min on a fresh clone)
#   make test-slow   only the tests marked `slow` (full-size science, classic networks, quick experiments)
#   make test-all    both; CI (.ci/run) runs `make test` and then `make test-slow`
#   make notebook    install the `notebook` extra (JupyterLab) and open notebooks/ in JupyterLab
#   make bench       benchmarks/run.py: neuromem vs plain Brian2 and NEST, small CLS model, scaling (~10 min;
#                    make bench BENCH_ARGS=--quick for 1-2 min, BENCH_ARGS=--big adds 100 000 neurons)
#   make clean       remove .venv, caches and build outputs
#
# Extra pytest arguments: make test PYTEST_ARGS='-k lava -x'; one process: make test PYTEST_WORKERS=0

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist).  Each test file runs in one process, so a
# module's expensive fixture (a science run) is computed once; two processes
# keep both cores busy while one of them compiles or runs a long simulation.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile
# Cache directory for compiled (Cython) Brian2 code; used by the backend.
NEUROMEM_CACHE_DIR ?= $(CURDIR)/.cache
RUN_ENV := NEUROMEM_CACHE_DIR="$(NEUROMEM_CACHE_DIR)"
# the test suite compiles with -O1 (shorter compilation; neuromem's default is Brian2's -O3)
TEST_ENV := $(RUN_ENV) NEUROMEM_COMPILE_ARGS=fast

.PHONY: venv demo test test-slow test-all notebook bench clean

# venv: create .venv and install everything; re-installs only when pyproject.toml changes.
venv: $(STAMP)

# The interpreter itself: created once, with $(PYTHON).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# lava-nc 0.10.0 declares Python <3.11, so on 3.11 it cannot be a normal
# dependency: install it separately with --ignore-requires-python (numpy<2 kept
# pinned); neuromem._compat.lava311 makes it importable at run time.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test,export,nwb,sweep]'
	$(BIN)/python -m pip install --ignore-requires-python 'lava-nc==0.10.0' 'numpy<2'
	touch $@

# demo: run the default complementary-learning-systems model (models/cls.toml: 15 memories, 90 s sleeps),
# writing results to ./runs.  The whole protocol runs as one compiled program (Brian2's cpp_standalone
# device, built once and cached in .cache/): ~1.5 min from a cold cache on 2 cores, ~1.2 min warm.
# Another model file: make demo DEMO_MODEL=models/cls_small.toml (the small model: ~1 min).
DEMO_MODEL ?= models/cls.toml
demo: venv
	$(RUN_ENV) $(BIN)/neuromem run $(DEMO_MODEL) --device cpp_standalone --out runs

# test: everything but the tests marked `slow` (kept within ~15 minutes on 2 cores).
test: venv
	$(TEST_ENV) $(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

# test-slow: only the tests marked `slow` (CI runs them after `make test`).
test-slow: venv
	$(TEST_ENV) $(BIN)/python -m pytest $(XDIST) -m slow $(PYTEST_ARGS)

# test-all: the whole suite in one pytest run.
test-all: venv
	$(TEST_ENV) $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# notebook: JupyterLab on notebooks/ (installs the `notebook` extra once; re-installs when pyproject.toml changes).
NOTEBOOK_STAMP := $(VENV)/.notebook-installed
$(NOTEBOOK_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -e '.[notebook]'
	touch $@

notebook: venv $(NOTEBOOK_STAMP)
	$(RUN_ENV) $(BIN)/jupyter lab notebooks/

# bench: benchmarks/run.py (table on stdout, JSON in runs/bench/); installs the `bench` extra (NEST) once.
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -e '.[bench]' || echo "bench extra not installed: NEST will be skipped"
	touch $@

bench: venv $(BENCH_STAMP)
	$(RUN_ENV) $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# clean: remove the venv, caches and build outputs (not ./runs).
clean:
	rm -rf $(VENV) .cache .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
