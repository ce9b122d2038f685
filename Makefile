# Two commands on a fresh Debian machine: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test check lint format typecheck soak bench schemas clean system-deps

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "python3-venv missing: installing it"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# System packages the suite needs (later issues add PostgreSQL, Chromium, tmux, poppler-utils).
SYSTEM_PACKAGES := poppler-utils
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

run: $(STAMP)
	$(BIN)/commune

test: $(STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

soak: $(STAMP) system-deps
	COMMUNE_SOAK=1 $(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/python -m schemas.export

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
