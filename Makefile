# Seatdesk — `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_URL ?= postgres://root@127.0.0.1:5432/test

# Seatdesk refuses to start without SECRET_KEY. Unless you set one, run, test and bench use a random key
# made once for this checkout in .secret_key (mode 600, ignored by git); a deployment sets its own.
SECRET_KEY_FILE := .secret_key
ifeq ($(strip $(SECRET_KEY)),)
SECRET_KEY = $(shell cat $(SECRET_KEY_FILE) 2>/dev/null)
endif
export SECRET_KEY

.PHONY: run test lint format bench bench-smoke install install-dev clean openapi

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

$(SECRET_KEY_FILE):
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@.tmp && mv $@.tmp $@
	@echo "Generated a SECRET_KEY for this checkout in $@ (ignored by git)."

# Plain http on 127.0.0.1: no redirect to https, no HSTS, cookies sent without TLS (HTTPS_ONLY=0);
# DEBUG stays off. seed_demo is told that this database may get the public demo passwords.
run: export HTTPS_ONLY ?= 0
run: install | $(SECRET_KEY_FILE)
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py seed_demo --demo-passwords
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

test: install-dev lint | $(SECRET_KEY_FILE)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# The API's contract, committed as docs/openapi.yaml (tests/api/test_schema.py fails when it is stale).
openapi: install | $(SECRET_KEY_FILE)
	$(BIN)/python manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn

# Benchmarks print their figures and ratios against a baseline measured in the same run.
bench: install-dev | $(SECRET_KEY_FILE)
	@for script in bench/[a-z]*.py; do \
		echo "== $$script"; \
		DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python $$script || exit 1; \
	done

# Every benchmark at a tiny size, to its report (figures meaningless): what tests/test_benchmarks.py runs.
bench-smoke: install-dev | $(SECRET_KEY_FILE)
	@for script in bench/[a-z]*.py; do \
		echo "== $$script (smoke)"; \
		BENCH_SMOKE=1 DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-db.sqlite3 staticfiles .pytest_cache .ruff_cache
