# KP performance-monitoring reports. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
KERNEL := kp-reports
MONTH ?=
MONTHS ?=
DEPT ?=
NOTEBOOK ?=
JOBS ?=
ARGS ?=
PROFILE ?=
DATA_DIR ?=
PROFILE_ARG = $(if $(PROFILE),--profile="$(PROFILE)")

.PHONY: help setup hooks data reports preview dashboards lab test lint format bench bench-dash clean lock
NOTEBOOKS = $$(git ls-files '*.ipynb' 2>/dev/null || ls notebooks/*.ipynb)
SECRETS_SCAN = $$(git ls-files 2>/dev/null | grep -v -E '^(requirements\.lock|environment\.yml|\.secrets\.baseline)$$')

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-9s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) hooks ## Build .venv from requirements.lock, register the project kernel, install the git hooks (no-op when unchanged)

# The notebook clean filter (.gitattributes) and the pre-commit hook (.pre-commit-config.yaml).
# Never fails setup: outside a git checkout, or with core.hooksPath set, it says so and goes on.
hooks: $(STAMP) ## Install the git filter that strips notebook outputs and the pre-commit hook
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config filter.kp-notebook.clean 'scripts/venv-run python scripts/strip_notebooks.py --stdin' && \
	  git config filter.kp-notebook.smudge cat && \
	  echo "git filter kp-notebook: notebooks are committed without outputs"; \
	  $(VENV)/bin/pre-commit install >/dev/null 2>&1 && echo "pre-commit hook installed" || \
	    echo "warning: pre-commit hook not installed (core.hooksPath set?); run: $(VENV)/bin/pre-commit install" >&2; \
	else echo "not a git checkout: git filter and pre-commit hook not installed"; fi

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

reports: $(STAMP) ## Run and publish every report: make reports MONTH=YYYY-MM (or MONTHS=2024-07..2025-06) [PROFILE=..] [DEPT=..] [NOTEBOOK=..] [JOBS=..] [PUBLISHER=quarto]
	@wh=$$($(PY) -m helpers.cli where warehouse $(PROFILE_ARG)) || exit 2; \
	  test -f "$$wh" || $(MAKE) --no-print-directory data PROFILE="$(PROFILE)" ARGS=
	$(PY) -m helpers.cli reports $(PROFILE_ARG) --month="$(MONTH)" $(if $(MONTHS),--months="$(MONTHS)") $(if $(DEPT),--dept="$(DEPT)") $(if $(NOTEBOOK),--notebook="$(NOTEBOOK)") $(if $(JOBS),--jobs="$(JOBS)") $(if $(PUBLISHER),--publisher="$(PUBLISHER)") $(ARGS)

dashboards: $(STAMP) ## Rebuild the leadership dashboards (outputs/dashboards) from the published months [PROFILE=..] [ARGS=--force]
	$(PY) -m helpers.cli dashboards $(PROFILE_ARG) $(ARGS)

preview: $(STAMP) ## Publish one report as leadership sees it, print the HTML path: make preview NOTEBOOK=stocktake [DEPT=health] [MONTH=..] [PROFILE=..]
	@wh=$$($(PY) -m helpers.cli where warehouse $(PROFILE_ARG)) || exit 2; \
	  test -f "$$wh" || $(MAKE) --no-print-directory data PROFILE="$(PROFILE)" ARGS=
	@$(PY) -m helpers.cli preview $(PROFILE_ARG) --notebook="$(NOTEBOOK)" $(if $(DEPT),--dept="$(DEPT)") $(if $(MONTH),--month="$(MONTH)") $(ARGS)

lab: $(STAMP) ## Open JupyterLab on notebooks/ with the project kernel [PROFILE=..] (notebooks read that profile's warehouse)
	@wh=$$($(PY) -m helpers.cli where warehouse $(PROFILE_ARG)) || exit 2; \
	  test -f "$$wh" || $(MAKE) --no-print-directory data PROFILE="$(PROFILE)" ARGS=
	$(if $(PROFILE),KP_PROFILE="$(PROFILE)") $(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

test: $(STAMP) | data/warehouse.duckdb ## Run the test suite (unit, reference, end-to-end, adversarial)
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP) ## Lint: ruff (code and notebooks), mypy (the engine), committed notebooks clean, secrets scan
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/strip_notebooks.py --check-staged $(NOTEBOOKS)
	$(VENV)/bin/detect-secrets-hook --baseline .secrets.baseline $(SECRETS_SCAN)

format: $(STAMP) ## Format code and notebooks with ruff; strip notebook outputs and volatile metadata
	$(PY) scripts/strip_notebooks.py $(NOTEBOOKS)
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
