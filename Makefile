# Cairn: `make run` starts the portal, `make test` runs every test.
# Both create .venv and install into it when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	bin/run

test: $(STAMP)
	bin/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Everything but the browser and real-worker tests, for a quick loop:
test-fast: $(STAMP)
	$(BIN)/pytest -m "not e2e and not worker" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/*.sqlite3* var/static var/celerybeat-schedule*
