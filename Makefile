# segsync — `make demo` runs the whole flow on synthetic data; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench clean clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo/data/contacts.csv: | $(STAMP)
	$(BIN)/python -m segsync.sandbox.synth --out demo/data --seed 42 --contacts 5000 --orders 30000

demo: $(STAMP) demo/data/contacts.csv
	$(BIN)/segsync -c config.example.toml check
	$(BIN)/segsync -c config.example.toml run
	$(BIN)/segsync -c config.example.toml segments
	@echo "audiences written to demo/audiences/:" && ls -l demo/audiences
	@echo "run 'make demo' again: the second run applies zero changes"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks plugins
	$(BIN)/ruff check src tests benchmarks plugins
	MYPY=$(BIN)/mypy tools/typecheck
	MYPYPATH=build/typecheck $(BIN)/mypy benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks plugins
	$(BIN)/ruff check --fix src tests benchmarks plugins

clean-demo:
	rm -rf demo

clean: clean-demo
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
