# Lead Recovery & Nurture Engine
#
#   make run     install everything, migrate + seed the local SQLite database, serve :3000
#   make test    install test tools (and Chromium when missing), lint, type-check, run pytest
#   make serve   production mode on one port ($PORT) against $DATABASE_URL / $REDIS_URL
#   make build   export the production front end (.web/build/client) that `make serve` serves
#   make audit   check every pinned dependency against PyPI's vulnerability records
#
# Everything lives inside the project: Python packages in .venv, bun (from the npm registry,
# not Reflex's internet installer) in .tools. Stamp files make re-runs fast and idempotent.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
BUN_VERSION := 1.4.4
BUN := $(TOOLS)/node_modules/.bin/bun
PORT ?= 3000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Reflex uses the bun on PATH instead of downloading one.
export REFLEX_USE_SYSTEM_BUN := 1
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install install-test build run serve test audit lint typecheck chromium lock bench screenshots clean

help:
	@grep -E '^#   make' $(MAKEFILE_LIST) | sed 's/^#   //'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-test.lock $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.lock
	touch $@

$(BUN):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	@$(BUN) --version >/dev/null

install: $(VENV)/.installed $(BUN)

install-test: install $(VENV)/.installed-test

# The dev server's ports (the pages, and the backend they call): `make run FRONTEND_PORT=3100`.
FRONTEND_PORT ?= 3000
BACKEND_PORT ?= 8000

run: install
	$(BIN)/recovery migrate
	$(BIN)/recovery seed-demo --if-empty
	$(BIN)/reflex run --frontend-port $(FRONTEND_PORT) --backend-port $(BACKEND_PORT)

# The production front end, exported once: full-stack `reflex run --env prod` would recompile
# and rebuild it at every start. The pages name no address: they reach the backend on the
# origin they were loaded from (recovery_app/same_origin.py), so one build serves any host,
# port and scheme. The stamp is a hash of the sources' content: Reflex rewrites reflex.lock/
# on every run with the same content, so modification times cannot tell.
FRONTEND_SOURCES := rxconfig.py $(shell find recovery_app assets reflex.lock -type f -not -path '*/__pycache__/*' | LC_ALL=C sort)
FRONTEND := .web/build/client/.built-$(shell cat $(FRONTEND_SOURCES) | sha256sum | cut -c1-16)

$(FRONTEND): $(VENV)/.installed $(BUN)
	$(BIN)/reflex export --frontend-only --no-zip
	touch $@

build: $(FRONTEND)

# Migrate, then the back end on $(PORT) serving the pages, the websocket and the API
# (deploy/serve.sh is also the Docker image's CMD).
serve: build
	PORT=$(PORT) deploy/serve.sh

# Browser tests drive Debian's Chromium; Playwright's own browser download cannot work offline.
chromium:
	@command -v chromium >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: install-test
	$(BIN)/ruff check recovery_app tests bench alembic/env.py rxconfig.py

typecheck: install-test
	$(BIN)/mypy recovery_app/domain recovery_app/messaging recovery_app/integrations recovery_app/observability

# The browser tests (one `reflex run` they share) go in a pytest of their own beside the rest,
# which xdist spreads over two workers: the suite waits on servers, browsers and databases more
# than it computes, so the three streams fit in two cores.
test: install-test chromium audit lint typecheck
	@rm -f .e2e.log; \
	{ $(MAKE) --no-print-directory build && $(BIN)/pytest tests/e2e -p no:cacheprovider; } \
		>.e2e.log 2>&1 & browser=$$!; \
	$(BIN)/pytest -n 2 tests/unit tests/integration tests/faults; rest=$$?; \
	wait $$browser; e2e=$$?; \
	echo "---------------- make build, then the browser tests (tests/e2e) ----------------"; \
	cat .e2e.log; \
	echo "unit + integration + faults: exit $$rest; build + browser: exit $$e2e"; \
	[ $$rest -eq 0 ] && [ $$e2e -eq 0 ]

audit: install-test
	$(BIN)/python -m tests.audit_pins requirements.lock requirements-test.lock

# Re-pin every dependency (needs the package index); commit both lock files.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links --extra test \
		-c requirements.lock -o requirements-test.lock pyproject.toml

bench: install-test
	$(BIN)/python -m bench.leads_page
	$(BIN)/python -m bench.dispatcher
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.speed_to_lead
	$(BIN)/python -m bench.lead_cost
	$(BIN)/python -m bench.silence
	$(BIN)/python -m bench.recovery
	$(BIN)/python -m bench.workspace
	$(BIN)/python -m bench.manager

# Desktop and phone screenshots of every page, for the README (docs/screenshots/).
screenshots: install-test chromium
	$(BIN)/python -m tests.e2e.screenshots

clean:
	rm -rf $(VENV) $(TOOLS) .web .states
