# kubetfx — `make help` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
# The oldest Python the locks install on (Debian 12's); setup.py's python_requires says the same
# and tests/unit/test_lock.py checks every locked package's Requires-Python against it.
MIN_PYTHON := 3.11.2
CHECK_PYTHON = $(PYTHON) -c 'import sys; v = sys.version_info; ok = v[:2] == (3, 11) and v[:3] >= tuple(map(int, "$(MIN_PYTHON)".split("."))); sys.exit(0 if ok else "kubetfx needs Python >= $(MIN_PYTHON), < 3.12; $(PYTHON) is %d.%d.%d (set PYTHON=...)" % v[:3])'
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
DEV_LOCK := requirements/dev-lock.txt
# The model server has its own environment: kserve needs pandas >= 2.2, TFDV forbids it.
SERVING_VENV := .venv-serving
SERVING_STAMP := $(SERVING_VENV)/.installed
SERVING_LOCK := requirements/serving-lock.txt
PORT ?=
PLATFORM ?= local
ENV ?= dev
REGISTRY ?=
TAG ?=
ARGS ?=
PYTEST_ARGS ?=
BENCH_ROWS ?= 100000

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup serving-setup run serve test bench images e2e lint format compile tf-outputs clean clean-all

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: ARGS='...' (passed to kubetfx or the server), PORT=8501 (serve), PYTEST_ARGS='...', PYTHON=$(PYTHON)"

# The venv is rebuilt only when a lock file or setup.py changes. The dev lock includes the
# runtime lock (what the component image installs) and adds the test and lint tools.
$(STAMP): $(LOCK) $(DEV_LOCK) setup.py
	@$(CHECK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --progress-bar off -r $(DEV_LOCK) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/pip check
	touch $(STAMP)

setup: $(STAMP) ## create .venv from the locks: runtime + dev tools (idempotent)

$(SERVING_STAMP): $(SERVING_LOCK)
	@$(CHECK_PYTHON)
	test -x $(SERVING_VENV)/bin/python || $(PYTHON) -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/pip install --quiet --progress-bar off -r $(SERVING_LOCK) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(SERVING_VENV)/bin/pip check
	touch $(SERVING_STAMP)

serving-setup: $(SERVING_STAMP) ## create .venv-serving (tensorflow + kserve) for the model server

# infra_validate serves the candidate with the model server, so a run needs both environments.
run: $(STAMP) $(SERVING_STAMP) ## run the training pipeline locally on Palmer Penguins (ARGS='--data my.csv --label y')
	$(BIN)/kubetfx run $(ARGS)

serve: $(SERVING_STAMP) ## serve the model registry on loopback (PORT=8501, ARGS='--config my.yaml')
	PYTHONPATH=$(CURDIR) $(SERVING_VENV)/bin/python -m kubetfx.serving $(if $(PORT),--port $(PORT),) $(ARGS)

# The report tests open every HTML page in a headless Chromium: on Debian as root it is
# installed from Debian's packages; elsewhere infra/browser.sh says what to install and those
# tests skip.
test: $(STAMP) $(SERVING_STAMP) ## run the whole test suite (unit, component, serving, pipeline)
	bash infra/browser.sh install || echo "make test: no Chromium; the report tests will skip"
	$(BIN)/pytest $(PYTEST_ARGS)

# bench/results.* are not kept in git: the last step writes docs/performance.md, the record.
bench: $(STAMP) $(SERVING_STAMP) ## all benchmarks (~3 h; BENCH_ROWS=100000 is the small size, BENCH_BIG=1 adds 10M rows); figures to bench/results.{json,md} and docs/performance.md
	$(BIN)/python -m bench.pipeline --before --repeats 3 --rows $$(( $(BENCH_ROWS) * 10 ))
	$(BIN)/python -m bench.evaluate --rows $$(( $(BENCH_ROWS) * 10 ))
	$(BIN)/python -m bench.scale --rows $$(( $(BENCH_ROWS) * 10 ))
	$(BIN)/python -m bench.data --rows $(BENCH_ROWS)
	test -f model_registry/penguins/champion.json || $(BIN)/kubetfx run
	$(BIN)/python -m bench.serving
	$(BIN)/python -m bench.containers
	$(BIN)/python -m bench.tune
	cat bench/results.md
	$(BIN)/python -m bench.docs

images: ## build the component and server images with docker or podman (TAG, BASE, CA_BUNDLE); REGISTRY=... also pushes them
	$(PYTHON) infra/images.py build $(if $(TAG),--tag $(TAG),) $(if $(REGISTRY),--registry $(REGISTRY) --push,) $(if $(BASE),--base $(BASE),) $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE),) $(ARGS)

e2e: $(STAMP) ## build both images, run the training, batch and monitoring pipelines in them and serve from the server image
	$(BIN)/python infra/e2e.py

lint: $(STAMP) ## ruff lint and format check; package layers (no new cycle or upward import); clean notebooks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tests.unit.test_layers
	$(BIN)/python tests/notebooks/check_clean.py notebooks

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: $(STAMP) ## compile the training pipeline to compiled/training.yaml (PLATFORM=local|kubeflow|vertex, ARGS=...)
	mkdir -p compiled
	$(BIN)/kubetfx compile --pipeline training --platform $(PLATFORM) --output compiled/training.yaml $(ARGS)

tf-outputs: $(STAMP) ## write kubetfx.$(ENV).yaml from terraform/envs/$(ENV)'s outputs (ENV=dev|prod, TAG=..., ARGS='--base my.yaml')
	@command -v terraform >/dev/null || { echo "make tf-outputs: terraform is not installed (1.11: https://developer.hashicorp.com/terraform/install)" >&2; exit 2; }
	@test -d terraform/envs/$(ENV) || { echo "make tf-outputs: no terraform/envs/$(ENV); ENV is one of: $$(ls terraform/envs | tr '\n' ' ')" >&2; exit 2; }
	terraform -chdir=terraform/envs/$(ENV) output -json | $(BIN)/python -m kubetfx.pipelines.terraform_outputs --out kubetfx.$(ENV).yaml $(if $(TAG),--tag $(TAG),) $(ARGS)

clean: ## remove run outputs and caches (keeps .venv and reference schemas)
	rm -rf pipeline_root compiled .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

clean-all: clean ## also remove .venv, the reference schemas and the local model registry
	rm -rf $(VENV) $(SERVING_VENV) references model_registry serving_logs *.egg-info
