# Two commands do everything on a fresh machine: `make sweep` and `make test`.
# The virtualenv is created on first use and reinstalled only when pyproject.toml changes.
# `make test-fast` is the inner loop: the tests that start no Ray, server, browser or cluster
# (markers in pyproject.toml, applied by tests/conftest.py); `make test` runs them all (CI).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export RAY_USAGE_STATS_ENABLED := 0
export MLFLOW_DISABLE_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true
export DO_NOT_TRACK := 1

.PHONY: venv test test-fast lint bench sweep clean

FAST_TIER := not (ray or mlflow or s3 or browser or cluster or slow)
# Two xdist workers: most of a test's time is one process waiting for another (a Ray trial,
# a CLI subprocess, a server), so two share a 2-core machine well; PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	sh tests/system_deps.sh
	$(BIN)/python -m pytest tests -m "not serial" -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests -m serial $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "$(FAST_TIER)" --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check platform tests
	$(BIN)/ruff format --check platform tests
	$(BIN)/mypy

bench: $(STAMP)
	@set -e; for script in tests/bench/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

sweep: $(STAMP)
	$(BIN)/ncsweep sweep $(SWEEP_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
