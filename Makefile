# KP performance-monitoring reports. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
KERNEL := kp-reports
MONTH ?=
DEPT ?=
NOTEBOOK ?=
JOBS ?=
ARGS ?=
PROFILE ?=
DATA_DIR ?=
PROFILE_ARG = $(if $(PROFILE),--profile="$(PROFILE)")

.PHONY: help setup data reports dashboards lab test lint format bench bench-dash clean lock

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-9s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## Build .venv from requirements.lock and register the project kernel (no-op when unchanged)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "KP reports (Python 3.11)" >/dev/null
	@touch $(STAMP)

data/warehouse.duckdb: | $(STAMP)
	@$(MAKE) --no-print-directory data

data: $(STAMP) ## Validate the inputs and load the warehouse [PROFILE=..] [DATA_DIR=..] (sample generated if the profile's data/raw is empty)
	$(PY) -m helpers.cli data $(PROFILE_ARG) $(if $(DATA_DIR),--data-dir "$(DATA_DIR)") $(ARGS)

reports: $(STAMP) ## Run and publish every report: make reports MONTH=YYYY-MM [PROFILE=..] [DEPT=..] [NOTEBOOK=..] [JOBS=..] [PUBLISHER=quarto]
	@wh=$$($(PY) -m helpers.cli where warehouse $(PROFILE_ARG)) || exit 2; \
	  test -f "$$wh" || $(MAKE) --no-print-directory data PROFILE="$(PROFILE)" ARGS=
	$(PY) -m helpers.cli reports $(PROFILE_ARG) --month="$(MONTH)" $(if $(DEPT),--dept="$(DEPT)") $(if $(NOTEBOOK),--notebook="$(NOTEBOOK)") $(if $(JOBS),--jobs="$(JOBS)") $(if $(PUBLISHER),--publisher="$(PUBLISHER)") $(ARGS)

dashboards: $(STAMP) ## Rebuild the leadership dashboards (outputs/dashboards) from the published months [PROFILE=..] [ARGS=--force]
	$(PY) -m helpers.cli dashboards $(PROFILE_ARG) $(ARGS)

lab: $(STAMP) | data/warehouse.duckdb ## Open JupyterLab on notebooks/ with the project kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

test: $(STAMP) | data/warehouse.duckdb ## Run the test suite (unit, reference, end-to-end, adversarial)
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP) ## Lint with ruff (code and notebooks)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Format code and notebooks with ruff; strip notebook outputs
	$(PY) scripts/strip_notebooks.py notebooks/*.ipynb
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) | data/warehouse.duckdb ## Benchmarks: ingestion, slice queries, naive loop vs make reports
	$(PY) benchmarks/run.py $(if $(MONTH),--month $(MONTH)) $(ARGS)

bench-dash: $(STAMP) ## Dashboards benchmark: rebuild over 48 synthetic months, no-change re-run [ARGS=--months N]
	$(PY) benchmarks/bench_dashboards.py $(ARGS)

lock: ## Re-resolve pins from pyproject.toml into requirements.lock and environment.yml
	$(PYTHON_BOOT) -m venv /tmp/kp-lock-venv && /tmp/kp-lock-venv/bin/pip install --quiet -e '.[dev]'
	/tmp/kp-lock-venv/bin/python scripts/write_lock.py /tmp/kp-lock-venv

clean: ## Remove outputs, the warehouse and caches (keeps .venv and data/raw)
	rm -rf outputs data/warehouse.duckdb data/warehouse.duckdb.* data/*/warehouse.duckdb* data/rejected data/*/rejected .pytest_cache .ruff_cache
