# The two commands that matter: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := 3.11
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen

.PHONY: help install uv run migrate seed test lint format token dispatcher bench clean

help:
	@echo "make run     install, migrate, seed demo data and start sandbox :8009, tenant :8001, notification :8002 (SANDBOX_PORT, TENANT_PORT, NOTIFICATION_PORT move them)"
	@echo "make test    install dev tools and run every test"
	@echo "make lint    ruff + mypy"
	@echo "make token ROLE=admin|owner|service [TENANT=<uuid>]   print a signed dev token (last line)"
	@echo "make migrate apply both services' database migrations"
	@echo "make dispatcher  run one stand-alone dispatcher (several may share one PostgreSQL)"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.9"

install: uv
	@$(UV) sync --frozen --all-packages --group dev --quiet

migrate: install
	@$(RUN) python -m tenant_service.migrate upgrade head
	@$(RUN) python -m notification_service.migrate upgrade head

seed: migrate
	@$(RUN) python -m tenant_service.seed_demo

run: install
	@$(RUN) python scripts/run_stack.py

test: install
	@$(RUN) pytest

lint: install
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy

format: install
	@$(RUN) ruff check --fix .
	@$(RUN) ruff format .

token: install
	@if [ -z "$(ROLE)" ]; then echo "usage: make token ROLE=admin|owner|service [TENANT=<uuid>]" >&2; exit 2; fi
	@$(RUN) python -m bakery_shared.token_cli --role "$(ROLE)" $(if $(TENANT),--tenant "$(TENANT)",)

dispatcher: install
	@$(RUN) python -m notification_service.dispatch

# Benchmarks on real processes (PostgreSQL at TEST_DATABASE_URL, and SQLite); not part of `make test`.
# BENCH_QUICK=1 for a ~2-minute smoke run; SOAK=600 for the 10-minute memory soak. See docs/benchmarks.md.
bench: install
	@$(RUN) python -m bench $(if $(SOAK),--soak $(SOAK),) $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
