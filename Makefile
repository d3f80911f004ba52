# Seatdesk — `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_URL ?= postgres://root@127.0.0.1:5432/test

.PHONY: run test lint format bench install install-dev clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else "Seatdesk needs Python 3.12 (set PYTHON=/path/to/python3.12)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changes, so a second `make run` starts in seconds.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

run: install
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Seatdesk is starting on http://127.0.0.1:$(PORT)/admin/"
	@echo "  Demo logins (password: seatdesk-demo): manager, operator, aziza (tutor), james (tutor)"
	@echo "  Ctrl-C stops the web server and the worker."
	@echo
	SEATDESK_PORT=$(PORT) $(BIN)/honcho start -f Procfile

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install-dev lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# Benchmarks print their figures and ratios against a baseline measured in the same run.
bench: install-dev
	@for script in bench/[a-z]*.py; do \
		echo "== $$script"; \
		DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-db.sqlite3 staticfiles .pytest_cache .ruff_cache
