# QueryBase: `make run` starts the app on its embedded default; `make test` runs the whole suite
# against real PostgreSQL, MariaDB and Redis. Both set up everything on a fresh machine.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt clients/python/pyproject.toml | sha1sum | cut -c1-12)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Test services; the test suite's own database lives on PostgreSQL.
# QB_TEST_NS / QB_TEST_REDIS_DB let two checkouts run the suite side by side on one machine.
# The cache goes 8 databases away from the broker (not next to it, where a neighbouring
# checkout's broker may be); QB_TEST_PORTS (e.g. 18300-18399) keeps test servers in a range.
QB_TEST_NS ?=
QB_TEST_REDIS_DB ?= 15
# Another Redis server (say a second one on 6380) when 16 databases are not enough checkouts.
QB_TEST_REDIS_PORT ?= 6379
QB_TEST_REDIS_CACHE_DB ?= $(shell echo $$(( ($(QB_TEST_REDIS_DB) + 8) % 16 )))
QB_TEST_PORTS ?=
# The suite runs on this many pytest-xdist workers (one per core, at most 4), each with
# databases, Redis databases (the broker's and the cache's, counting down from
# QB_TEST_REDIS_DB and QB_TEST_REDIS_CACHE_DB) and ports of its own.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))
TEST_ENV := DATABASE_URL=postgresql://postgres@127.0.0.1:5432/querybase$(QB_TEST_NS) \
	AUDIT_SEARCH_URL=postgresql://postgres@127.0.0.1:5432/querybase_audit$(QB_TEST_NS) \
	REDIS_URL=redis://127.0.0.1:$(QB_TEST_REDIS_PORT)/$(QB_TEST_REDIS_DB) \
	QUERYBASE_CACHE_URL=redis://127.0.0.1:$(QB_TEST_REDIS_PORT)/$(QB_TEST_REDIS_CACHE_DB) \
	QUERYBASE_TEST_NAMESPACE=$(QB_TEST_NS) \
	QUERYBASE_TEST_PORTS=$(QB_TEST_PORTS) \
	QUERYBASE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
	QUERYBASE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/mysql \
	DJANGO_SECRET_KEY=test-secret-key-not-for-production \
	QUERYBASE_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= \
	QUERYBASE_DATA_DIR=$(CURDIR)/var/test$(QB_TEST_NS) \
	QUERYBASE_WEBHOOK_ALLOWLIST=https://chat.googleapis.com,http://127.0.0.1 \
	QUERYBASE_NOTIFY_RETRY_BASE_SECONDS=1 \
	QUERYBASE_READ_RETRY_BASE_SECONDS=1 \
	QUERYBASE_HTTPS=false

BENCH_ENV := $(TEST_ENV) DATABASE_URL=postgresql://postgres@127.0.0.1:5432/querybase_bench$(QB_TEST_NS) \
	AUDIT_SEARCH_URL=postgresql://postgres@127.0.0.1:5432/querybase_bench_audit$(QB_TEST_NS) \
	QUERYBASE_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: run test test-unit lint bench system-deps browser caddy assets venv services migrate clean

system-deps:
	@missing=""; \
	for pkg in libmariadb-dev pkg-config gcc; do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Front-end assets come from the npm registry at install time, never from a CDN at run time.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error

# esbuild (frontend/build.mjs): minified scripts and style sheets and the workspace's bundles
# in build/static. It takes well under a second, so it always runs.
assets: node_modules/.package-lock.json
	node frontend/build.mjs

# Debian's Chromium for the end-to-end tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# Debian's Caddy: the tests check docker/Caddyfile with it and run it in front of the servers.
caddy:
	@command -v caddy >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq caddy; }

# The SDK and the `querybase` CLI (clients/python) go in editable: the tests run the
# installed console script.
$(STAMP): requirements.txt requirements-dev.txt clients/python/pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e clients/python
	@rm -f $(VENV)/.installed-*; touch $@

venv: system-deps $(STAMP) assets

services:
	@bash tests/support/ensure_services.sh

run: venv
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "QueryBase is starting at http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	@if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: the shipped server (gunicorn, querybase/gunicorn.conf.py) and a Celery worker with beat"; \
		$(BIN)/celery -A celery_worker worker --beat --schedule var/celerybeat-schedule \
			-Q queries,notifications,maintenance --loglevel=INFO & \
		trap 'kill $$!' EXIT INT TERM; \
		$(BIN)/gunicorn -c querybase/gunicorn.conf.py --bind $(HOST):$(PORT); \
	else \
		exec $(BIN)/python manage.py runserver $(HOST):$(PORT); \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# The audit search store's own database (AUDIT_SEARCH_URL), made if missing.
audit-search-db = psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = '$(1)'" | grep -q 1 || \
	psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $(1)"

# collectstatic: the live test servers serve what a deployment serves (hashed names,
# compressed copies), through WhiteNoise.
test: venv browser caddy services lint
	@mkdir -p var/test$(QB_TEST_NS)/static
	@$(call audit-search-db,querybase_audit$(QB_TEST_NS))
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(TEST_ENV) $(BIN)/python -m pytest -p tests.support.parallel -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fast tier alone: scanner, classifier, binding, value mapping, policy, error shape. It
# needs no service (the embedded default: SQLite and an in-process cache), so the service
# addresses are taken away from it on purpose. `make test` runs it too.
test-unit: venv
	@mkdir -p var/test-unit/static
	env -u DATABASE_URL -u REDIS_URL QUERYBASE_DATA_DIR=$(CURDIR)/var/test-unit \
		DJANGO_SECRET_KEY=test-secret-key-not-for-production \
		QUERYBASE_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= \
		$(BIN)/pytest tests/unit -q -p no:cacheprovider $(PYTEST_ARGS)

# Not part of `make test`: figures, not pass/fail (see README).
# wrk (Debian's) is the closed-loop load generator of the HTTP throughput figures.
bench: venv services
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@mkdir -p var/test$(QB_TEST_NS)/static
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'querybase_bench$(QB_TEST_NS)'" | grep -q 1 || \
		psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE querybase_bench$(QB_TEST_NS)"
	@$(call audit-search-db,querybase_bench_audit$(QB_TEST_NS))
	$(BENCH_ENV) $(BIN)/python manage.py migrate --noinput -v0
	$(BENCH_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(BENCH_ENV) $(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
