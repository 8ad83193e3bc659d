PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test test-postgres soak screenshots lint format worker bench clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	cp requirements.txt $(STAMP)

## make run: the dashboard with SQLite, its own Redis when none is configured, sandbox APIs, demo data
run: $(STAMP)
	$(BIN)/python -m webapp.devserver

## make test: lint, then the whole suite
test: $(STAMP) lint
	$(BIN)/python -m pytest

## make test-postgres: the whole suite again on PostgreSQL (POSTGRES_URL, a database it may wipe)
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
test-postgres: $(STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest

## make soak: the long variants of the reliability suites (not part of make test)
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak

## make screenshots: the README's screenshots, taken by the browser tests, into docs/screenshots/
screenshots: $(STAMP)
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser/test_readme_screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: $(STAMP)
	$(BIN)/python worker.py

## make bench [SIZE=small]: the benchmark suite (outside make test); writes bench/results.json
SIZE ?= full
bench: $(STAMP)
	$(BIN)/python bench/run.py --size $(SIZE)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
