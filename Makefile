# SalesAI developer commands. The two that matter:
#   make demo   -- set everything up on this machine and run the app with a worker and beat
#   make test   -- run the whole test suite (SQLite + embedded broker, or PostgreSQL + Redis when
#                  DATABASE_URL / CELERY_BROKER_URL are set)

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
CELERY := $(VENV)/bin/celery
HOST ?= 127.0.0.1
PORT ?= 8000

# One torch thread per process: several processes share few cores.
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE ?= 1
export PYTHON VENV
# make is the developer's tool: its commands are local runs (public development keys allowed, see .env.example)
# unless SALESAI_ENV is set in the environment or in .env.
SALESAI_ENV ?= $(or $(shell sed -n 's/^SALESAI_ENV=//p' .env 2>/dev/null | tail -n 1),local)
export SALESAI_ENV

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: venv
venv: ## create .venv (Python 3.11) and install requirements.txt; reinstalls only when it changed
	@scripts/venv.sh

.PHONY: demo
demo: ## migrate, seed org "demo", train, score, then serve on :8000 with a worker and beat (Ctrl-C stops all)
	@DEMO_HOST=$(HOST) DEMO_PORT=$(PORT) scripts/demo.sh

.PHONY: test
test: venv ## run the whole test suite with pytest (extra args: make test ARGS="-k sync -x")
	@scripts/test.sh $(ARGS)

.PHONY: migrate
migrate: venv ## apply database migrations
	$(PY) manage.py migrate --noinput

.PHONY: seed
seed: migrate ## create org "demo", user "demo" and import the synthetic CRM (idempotent)
	$(PY) manage.py demo_seed

.PHONY: train
train: venv ## train the lead-scoring model of org "demo" (ORG=<slug> for another)
	$(PY) manage.py ml_train --org $(or $(ORG),demo)

.PHONY: score
score: venv ## score the leads of org "demo" (ORG=<slug> for another)
	$(PY) manage.py ml_score --org $(or $(ORG),demo)

.PHONY: collectstatic
collectstatic: venv ## copy static files to STATIC_ROOT (the Docker image does; not needed for make demo)
	$(PY) manage.py collectstatic --noinput

.PHONY: serve
serve: venv ## web only: gunicorn on 127.0.0.1:8000 (HOST=, PORT= to change)
	$(VENV)/bin/gunicorn salesai.wsgi --bind $(HOST):$(PORT) --workers $${WEB_CONCURRENCY:-2} --access-logfile -

.PHONY: runserver
runserver: venv ## web only, Django's autoreloading development server with DEBUG on
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

.PHONY: worker
worker: venv ## Celery worker for the default and sync queues
	$(CELERY) -A salesai worker -Q default,sync -l info

.PHONY: gpu-worker
gpu-worker: venv ## Celery worker for the gpu queue (scoring, training): one task at a time
	$(CELERY) -A salesai worker -n gpu@%h -Q gpu --concurrency 1 --prefetch-multiplier 1 -l info

.PHONY: beat
beat: venv ## Celery beat with the database scheduler (run exactly one)
	$(CELERY) -A salesai beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler

.PHONY: bench
bench: venv ## CSV import benchmark (needs DATABASE_URL to PostgreSQL; ARGS="--rows 100000")
	@case "$${DATABASE_URL:-}" in \
	  postgres://*|postgresql://*|pgsql://*) ;; \
	  *) echo "bench: set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/salesai_bench" >&2; exit 2 ;; \
	esac
	$(PY) bench/csv_import.py $(ARGS)

.PHONY: lint
lint: venv ## Django checks, missing migrations, .env.example completeness, import contracts (DESIGN.md), ruff lint + format
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) scripts/check_env_example.py
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: venv ## apply ruff's import sorting, safe fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: clean
clean: ## remove local data in var/ (SQLite file, broker, models, demo CSVs); keeps .venv
	rm -rf var staticfiles

.PHONY: distclean
distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV)
