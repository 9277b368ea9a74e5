# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
APPS   := $(wildcard apps/*/pyproject.toml)

.PHONY: run test install install-test services migration clean

run: install ## start the engine in embedded mode with the bundled applications and a simulated physical twin
	DTE_BUNDLED_APPS_DIR=apps $(BIN)/dte serve --simulate

test: install-test services ## install what the tests need and run the whole suite
	$(BIN)/ruff check src tests apps modules
	$(BIN)/python -m pytest

install: .stamp-install
install-test: .stamp-install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

.stamp-install: $(BIN)/python pyproject.toml modules/dte-hydrology/pyproject.toml
	$(PIP) -e ".[postgres,cwl,parquet]"
	$(PIP) -e modules/dte-hydrology
	@touch $@

.stamp-install-test: .stamp-install pyproject.toml
	$(PIP) -e ".[postgres,test]"
	$(PIP) -e modules/dte-hydrology
	@touch $@

services: ## start PostgreSQL and Mosquitto if they are installed but stopped
	@scripts/ensure-services

migration: install ## autogenerate an Alembic migration: make migration m="what changed"
	$(BIN)/python -m dte.adapters.db.revision "$(m)"

clean:
	rm -rf $(VENV) .stamp-* .dte
