# kubetfx — `make help` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
ARGS ?=
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup run test lint format compile clean clean-all

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: ARGS='...' (passed to kubetfx), PYTEST_ARGS='...', PYTHON=$(PYTHON)"

# The venv is rebuilt only when the lock file or setup.py changes.
$(STAMP): $(LOCK) setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "kubetfx needs Python 3.11 (set PYTHON=...)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --progress-bar off -r $(LOCK) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/pip check
	touch $(STAMP)

setup: $(STAMP) ## create .venv from the lock file (idempotent)

run: $(STAMP) ## run the training pipeline locally on Palmer Penguins (ARGS='--data my.csv --label y')
	$(BIN)/kubetfx run $(ARGS)

test: $(STAMP) ## run the whole test suite (unit, component, pipeline)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: $(STAMP) ## compile the training pipeline to compiled/training.yaml (ARGS='--config my.yaml')
	mkdir -p compiled
	$(BIN)/kubetfx compile --pipeline training --output compiled/training.yaml $(ARGS)

clean: ## remove run outputs and caches (keeps .venv and reference schemas)
	rm -rf pipeline_root compiled .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

clean-all: clean ## also remove .venv, the reference schemas and the local model registry
	rm -rf $(VENV) references model_registry *.egg-info
