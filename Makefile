# Two commands on a fresh Debian machine: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run hub test check lint format typecheck soak bench field schemas clean system-deps

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "python3-venv missing: installing it"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# System packages the suite needs (PostgreSQL: the hub's tests start a throwaway server from it;
# Chromium: tests/dashboard drives Debian's /usr/bin/chromium with Playwright, so the suite
# never runs `playwright install` and downloads no browser).
SYSTEM_PACKAGES := poppler-utils tmux postgresql chromium
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

DEMO_DIR := .demo
DEMO_ENV := COMMUNE_DATA_DIR=$(DEMO_DIR) COMMUNE_PASSPHRASE=demo

# The office app on its embedded default: a stand-alone demo station with the demo catalogue.
run: $(STAMP)
	@[ -f $(DEMO_DIR)/station.db ] || { \
		$(DEMO_ENV) $(BIN)/commune init --office 000.00.17.H56 \
			--office-name "UBND xã Tân Lập (demo)" --officer "Cán bộ demo" && \
		$(DEMO_ENV) $(BIN)/commune catalog demo; }
	@echo "Demo station in $(DEMO_DIR) (passphrase: demo). Try:"
	@echo "  export $(DEMO_ENV)"
	@echo "  $(BIN)/commune receive --procedure 1.001193 --applicant-name 'Nguyễn Văn Đức' --applicant-id 001088012345"
	@echo "  $(BIN)/commune list"
	$(DEMO_ENV) $(BIN)/commune

HUB_DIR := .demo-hub
HUB_DB := sqlite:///$(CURDIR)/$(HUB_DIR)/hub.db

# The hub for demos, on loopback with a SQLite file (README: the three-terminal demo).
hub: $(STAMP)
	@mkdir -p $(HUB_DIR)
	@echo "Hub on http://127.0.0.1:8470 (database $(HUB_DIR)/hub.db). Register an office with:"
	@echo "  $(BIN)/sync-server --db $(HUB_DB) office add 000.00.17.H56 --name 'UBND xã Tân Lập'"
	@echo "Portal simulator on http://127.0.0.1:8480 (state in $(HUB_DIR)/portal-sim.db; try --faults 0.3)."
	@$(BIN)/sync-server portal simulate --port 8480 --db $(HUB_DIR)/portal-sim.db & sim=$$!; \
		trap "kill $$sim 2>/dev/null" EXIT INT TERM; \
		SYNC_SERVER_PORTAL_RECONCILE_EVERY=600 $(BIN)/sync-server --db $(HUB_DB) --name hub.local \
			serve --port 8470 --portal-url http://127.0.0.1:8480

# Two workers (pytest-xdist): a good part of the suite waits on emulated links, subprocesses
# and fsyncs rather than the CPU. Whole files go to one worker (module fixtures stay shared).
PYTEST_WORKERS ?= 2
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

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
	$(BIN)/python bench/office.py
	$(BIN)/python bench/tui.py
	$(BIN)/python bench/hub.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/audit.py

# Field conditions (docs/field-report.md): a week offline then 2G, 1,000 kills, a province
# syncing at once on PostgreSQL with two hub processes and the dashboard in use. About an hour.
field: $(STAMP) system-deps
	$(BIN)/python bench/field.py
	$(BIN)/python bench/crash.py --kills 1000
	$(BIN)/python bench/load.py

clean:
	rm -rf $(DEMO_DIR) $(HUB_DIR) $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
