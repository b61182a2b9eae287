# leadscore: `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
DEMO_DATA ?= data/demo
DEMO_LEADS ?= 100000
DEMO_PORT ?= 3000
# the demo's API key; set your own in the environment for anything but a local demo
LEADSCORE_API_KEY ?= demo-key-change-me
export LEADSCORE_API_KEY

export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install install-spark demo test test-all test-slow test-spark lint format clean

# uv is installed for the current user when missing; it then installs exactly uv.lock.
$(VENV)/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
	@UV=$$(command -v uv || echo "$$(python3 -m site --user-base)/bin/uv"); \
	  $$UV sync --frozen --python python3
	@touch $@

install: $(VENV)/.installed

# the optional Spark engine (pyspark; Java 17 must be on the PATH)
install-spark: install
	@UV=$$(command -v uv || echo "$$(python3 -m site --user-base)/bin/uv"); \
	  $$UV sync --frozen --python python3 --extra spark

demo: install
	$(VENV)/bin/leadscore generate --leads $(DEMO_LEADS) --seed 7 --out $(DEMO_DATA)
	$(VENV)/bin/leadscore validate $(DEMO_DATA)
	$(VENV)/bin/leadscore train --data $(DEMO_DATA)
	$(VENV)/bin/leadscore score --data $(DEMO_DATA) --out $(DEMO_DATA)-scores.parquet --at-handover
	$(VENV)/bin/leadscore compare --data $(DEMO_DATA) --out $(DEMO_DATA)-model-vs-rules.html
	@echo
	@echo "Scoring service starting on http://127.0.0.1:$(DEMO_PORT) (Ctrl-C stops it). Try, from another shell:"
	@echo "  curl -s -X POST http://127.0.0.1:$(DEMO_PORT)/score -H 'Authorization: Bearer $(LEADSCORE_API_KEY)' -H 'Content-Type: application/json' -d @serving/examples/score.json"
	@echo
	$(VENV)/bin/leadscore serve --port $(DEMO_PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install lint
	$(VENV)/bin/pytest

test-all: install lint
	$(VENV)/bin/pytest -m ""

test-slow: install
	$(VENV)/bin/pytest -m slow

test-spark: install-spark
	$(VENV)/bin/pytest -m spark

clean:
	rm -rf $(VENV) data/demo data/demo-scores.parquet data/demo-model-vs-rules.html mlflow.db mlartifacts .pytest_cache .ruff_cache
