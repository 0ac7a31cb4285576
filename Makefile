# Lifeline: `make run` starts everything, `make test` tests everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-faults test-browser demo broker lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## broker + three services + demo city; Ctrl-C stops all
	$(BIN)/lifeline run

demo: $(STAMP)  ## drive one order from placed to scheduled against `make run`
	$(BIN)/lifeline demo

broker: $(STAMP)
	$(BIN)/lifeline broker

test: $(STAMP)  ## the whole suite but the fault suite (SQLite, or PostgreSQL via LIFELINE_TEST_DATABASE_URL)
	$(BIN)/python -m pytest -m "not faults" $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not faults and not browser" $(PYTEST_ARGS)

test-browser: $(STAMP)  ## the console in headless chromium (/usr/bin/chromium)
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

test-faults: $(STAMP)
	$(BIN)/python -m pytest -m faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench

typecheck: $(STAMP)
	$(BIN)/mypy shared services tests bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
