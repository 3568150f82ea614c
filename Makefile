# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled

.PHONY: install demo test lint test-fast test-cluster model bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/vidfake demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check vidfake pipelines tests benchmarks
	$(BIN)/ruff format --check vidfake pipelines tests benchmarks

test: lint
	$(BIN)/python -m pytest -m "not cluster" -q
	$(BIN)/python -m pytest -m cluster -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not cluster and not slow" -q -x

test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster -q

model: $(STAMP)
	$(BIN)/python -m vidfake.recipe all

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_scan.py
	$(BIN)/python benchmarks/bench_models.py --seconds 2
	$(BIN)/python benchmarks/bench_score.py

clean:
	rm -rf $(VENV) demo-output runs .pytest_cache
