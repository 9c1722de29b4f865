# Two commands on a fresh machine: `make run` (app with demo data) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 2
APT_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-noto-core postgresql-client
APT_TEST_PACKAGES := chromium poppler-utils
export FLASK_APP := app

.PHONY: run serve fuzz test setup system-deps system-test-deps lint db demo scheduler bench clean translations

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Debian packages WeasyPrint, `csa backup` on PostgreSQL (pg_dump) and the browser tests need;
# installed only when missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

system-test-deps: system-deps
	@missing=$$(for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

setup: system-deps $(VENV)/.installed

db: setup
	$(BIN)/flask db upgrade

demo: db
	$(BIN)/flask csa demo

run: db
	@$(BIN)/flask csa demo --if-empty
	@echo ""
	@echo "  csa is running on http://127.0.0.1:$(PORT)"
	@echo "  Demo logins (password: harvest-demo):"
	@echo "    coordinator@demo.farm   farmer@demo.farm   member@demo.farm"
	@echo "  The scheduler runs beside it as its own process (one only: it holds a database lease)."
	@echo ""
	@$(BIN)/flask csa scheduler & sched=$$!; \
	trap 'kill $$sched 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# Production-like: gunicorn with 2 workers (WORKERS=n) and the scheduler as its own process.
serve: db
	@echo "  csa under gunicorn on http://127.0.0.1:$(PORT), $(WORKERS) workers, and the scheduler"
	@$(BIN)/flask csa scheduler & sched=$$!; \
	trap 'kill $$sched 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) "app:app"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy csa

test: system-test-deps $(VENV)/.installed lint
	$(BIN)/pytest -q

# Hostile input on every form and the CSV import, SQLite and PostgreSQL: over 10,000 cases
# (tests/test_fuzz.py; `make test` runs a few hundred). It prints how many ran.
fuzz: $(VENV)/.installed
	CSA_FUZZ=1 $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py

bench: setup
	$(BIN)/python -m tools.bench all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# Re-extract every user-facing string, merge it into each language's catalog and compile.
# New strings arrive untranslated (or fuzzy): translate them in csa/translations/*/LC_MESSAGES/
# messages.po, run this again, and commit the .po and the .mo (a fresh machine needs no build).
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o csa/translations/messages.pot .
	$(BIN)/pybabel update -i csa/translations/messages.pot -d csa/translations
	$(BIN)/pybabel compile -d csa/translations --statistics
