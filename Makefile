# Balansia customer register. `make run` to try it, `make test` to test it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

# Settings come from the environment; a local .env (see .env.example) is read too.
ifneq (,$(wildcard .env))
include .env
export
endif

.PHONY: help run serve bench screenshots test lint format migrate admin messages check-deploy chromium clean

help:
	@echo "make run        install, migrate, create the first register manager, serve on :8000"
	@echo "                (with the task worker beside it; Ctrl-C stops both)"
	@echo "make test       install test tools (and Debian chromium as root), run all tests"
	@echo "                in two processes (TEST_WORKERS=2; PYTEST_ARGS=-n0: in one)"
	@echo "make lint       ruff, django-upgrade and djhtml checks (as the pre-commit hooks)"
	@echo "make format     ruff format and safe fixes"
	@echo "make migrate    apply migrations and create the cache table"
	@echo "make admin      create the first register manager if there is no account"
	@echo "make messages   update and compile the Finnish translations"
	@echo "make check-deploy   Django's deployment checks with production-like settings"
	@echo "make serve      run like production (DEBUG off, gunicorn, collected static) on :8001"
	@echo "make bench      time the pages against a stock Django admin (seed_demo first)"
	@echo "make screenshots    the main pages at 1280 and 390 px into var/screenshots/ (own seeded database)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed; $(PYTHON) is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@ $(VENV)/.installed

# Runs $(1) with the task worker (`manage.py db_worker`) beside it; Ctrl-C or
# the end of $(1) stops both. (A background job of make's shell ignores
# Ctrl-C, so the trap passes it on.)
define with_worker
$(MANAGE) db_worker --no-startup-delay & worker=$$!; \
trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
trap 'exit 130' INT TERM; \
$(1)
endef

# `make run` is for a laptop: DEBUG on unless .env says otherwise.
run: export DEBUG ?= true
run: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) createcachetable
	$(MANAGE) ensure_register_manager --url http://127.0.0.1:8000/
	$(call with_worker,$(MANAGE) runserver 127.0.0.1:8000)

# Like production, on this machine: DEBUG off, collected static files, gunicorn.
# Plain HTTP on 127.0.0.1, so the HTTPS-only settings are relaxed here only.
serve: export DEBUG = false
serve: export STATIC_FROM_SOURCE = false
serve: export SECURE_SSL_REDIRECT ?= false
serve: export SESSION_COOKIE_SECURE ?= false
serve: export SECURE_HSTS_SECONDS ?= 0
serve: export SECRET_KEY ?= $(shell test -f var/serve-secret || (mkdir -p var && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/serve-secret); cat var/serve-secret)
serve: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) createcachetable
	$(MANAGE) collectstatic --noinput --clear -v0
	$(MANAGE) ensure_register_manager --url http://$${GUNICORN_BIND:-127.0.0.1:8001}/
	$(call with_worker,$(BIN)/gunicorn -c gunicorn.conf.py balansia.wsgi)

bench: $(VENV)/.installed-dev
	$(MANAGE) bench $(BENCH_ARGS)
	$(MANAGE) bench_export --format csv
	$(MANAGE) bench_export --format csv --writer stream
	$(MANAGE) bench_export --format xlsx
	$(MANAGE) bench_export --format xlsx --writer openpyxl
	$(MANAGE) bench_import --rows 50000
	$(MANAGE) bench_unsubscribes --rows 20000
	$(MANAGE) bench_serve

# A database of its own, seeded afresh: the laptop's var/balansia.sqlite3 is not touched.
screenshots: export DEBUG = true
screenshots: export DATABASE_URL = sqlite:///$(CURDIR)/var/screenshots.sqlite3
screenshots: $(VENV)/.installed-dev chromium
	mkdir -p var && rm -f var/screenshots.sqlite3
	$(MANAGE) migrate --noinput -v0
	$(MANAGE) createcachetable
	$(MANAGE) seed_demo --customers 400 --courses 30 --enrollments 1500
	$(MANAGE) screenshots

migrate: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) createcachetable

admin: $(VENV)/.installed
	$(MANAGE) ensure_register_manager

# Browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Debian chromium is missing and this is not root: browser tests will be skipped" \
	         "(sudo apt-get install chromium). Under CI=true they fail instead."; \
	  fi; \
	fi

# The tests run in TEST_WORKERS processes at once (pytest-xdist), each with a
# test database of its own (test_NAME_gw0, ...); an idle worker takes tests
# from a busy one (worksteal). PYTEST_ARGS comes after, so
# `make test PYTEST_ARGS=-n0` runs them all in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev chromium
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The same checks as .pre-commit-config.yaml, without changing any file.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	git ls-files -z '*.py' ':!:*/migrations/*' | xargs -0 $(BIN)/django-upgrade --target-version 5.2 --check
	$(BIN)/djhtml --check templates

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	git ls-files -z '*.py' ':!:*/migrations/*' | xargs -0 $(BIN)/django-upgrade --target-version 5.2
	$(BIN)/djhtml templates

messages: $(VENV)/.installed-dev
	DEBUG=true $(MANAGE) makemessages --locale fi --no-obsolete --add-location=file --ignore '.venv/*' --ignore 'var/*'
	DEBUG=true $(MANAGE) compilemessages --locale fi --ignore '.venv/*'

# The controller's details and the processors (fictional): .ci/production-like.env.
check-deploy: $(VENV)/.installed
	mapfile -t deploy_env < <(grep -v -e '^#' -e '^$$' .ci/production-like.env) && \
	DEBUG=false SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  SUPPRESSION_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  ALLOWED_HOSTS=rekisteri.example.fi CSRF_TRUSTED_ORIGINS=https://rekisteri.example.fi \
	  env "$${deploy_env[@]}" $(MANAGE) check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var/static
