# One-line ways to run things. Each target installs what it needs first
# (uv from PyPI; Chromium from Debian for the browser tests), so a fresh
# machine needs nothing but Python 3.11+ and make.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: demo serve test lint pytest test-postgres bench tools browser translations compose-check

## demo: start the app with demo data on the SQLite default (http://127.0.0.1:8000)
demo: tools
	$(UV) run --frozen tally demo

## serve: start the app without demo data
serve: tools
	$(UV) run --frozen tally serve

## test: lint, type-check and run every test on SQLite
test: tools browser lint pytest

lint: tools
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy app tests bench

pytest: tools
	$(UV) run --frozen pytest --durations=25

## test-postgres: the test suite against PostgreSQL (a throwaway database on PG_TEST_URL's server)
test-postgres: tools browser
	TALLY_TEST_DATABASE_URL=$(PG_TEST_URL) $(UV) run --frozen pytest --database-only --durations=25

## compose-check: docker-compose.yml is valid (`docker compose config`, or Debian's docker-compose 1.29
## where the compose plugin is missing), and refuses to start without TALLY_SECRET_KEY
compose-check:
	@command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || { \
	  echo "Installing Debian's docker-compose to check docker-compose.yml…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q docker-compose >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q docker-compose >/dev/null; }; \
	}
	@if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi; \
	echo "Checking docker-compose.yml with $$($$COMPOSE version | head -n 1)"; \
	TALLY_SECRET_KEY=compose-check-only POSTGRES_PASSWORD=compose-check-only $$COMPOSE config -q; \
	if TALLY_SECRET_KEY= POSTGRES_PASSWORD=compose-check-only $$COMPOSE config -q 2>/dev/null; then \
	  echo "docker-compose.yml starts without TALLY_SECRET_KEY: it must refuse"; exit 1; \
	fi; \
	echo "docker-compose.yml: valid, and refuses to start without TALLY_SECRET_KEY"

## bench: the benchmarks in bench/ (see bench/README.md); installs Debian's wrk for the HTTP ones
bench: tools
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the HTTP benchmarks…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q wrk >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q wrk >/dev/null; }; \
	}
	$(UV) run --frozen python -m bench.run_all

# uv from PyPI: into the Python on the PATH when it allows (a venv, pyenv); Debian's own Python refuses
# (PEP 668), so there into the user's site-packages, which `python3 -m uv` finds; without pip, Debian's.
tools:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet 'uv>=0.9' 2>/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  python3 -m pip --version >/dev/null 2>&1 || { echo "Installing Debian's pip to install uv…"; \
	    $$SUDO apt-get install -y -q python3-pip >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q python3-pip >/dev/null; }; }; \
	  python3 -m pip install --quiet --root-user-action=ignore --user --break-system-packages 'uv>=0.9'; \
	}
	@$(UV) sync --frozen --quiet

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; \
	}

## translations: after changing texts: extract, merge into the catalogues, compile (then translate app/locale/nb)
translations: tools
	$(UV) run --frozen pybabel extract -F app/locale/babel.cfg -k N_ -k Text -k TextValueError -k _plural:2,3 --no-location --sort-output --project "Launch Tally" -o app/locale/messages.pot .
	$(UV) run --frozen pybabel update -i app/locale/messages.pot -d app/locale --no-fuzzy-matching --ignore-obsolete
	$(UV) run --frozen pybabel compile -d app/locale --statistics
