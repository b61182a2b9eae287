# leadscore: `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
DEMO_DATA ?= data/demo
DEMO_LEADS ?= 100000
DEMO_PORT ?= 3000
DEMO_WEEKS ?= 6
# the demo service sends this share of the leads below both thresholds to sales anyway (see "Monitoring")
DEMO_EXPLORE ?= 0.05
# the demo's API key; set your own in the environment for anything but a local demo
LEADSCORE_API_KEY ?= demo-key-change-me
export LEADSCORE_API_KEY

export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install install-spark demo bento test test-quick test-all test-slow test-spark lint format clean

# uv is installed for the current user when missing (on the PATH or in the user's bin); it then
# installs exactly uv.lock.
FIND_UV := command -v uv || echo "$$(python3 -m site --user-base)/bin/uv"
$(VENV)/.installed: pyproject.toml uv.lock
	@UV=$$($(FIND_UV)); [ -x "$$UV" ] || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
	@UV=$$($(FIND_UV)); $$UV sync --frozen --python python3 --quiet
	@echo "$(VENV): $$(ls -d $(VENV)/lib/python*/site-packages/*.dist-info | wc -l) packages, exactly as in uv.lock"
	@touch $@

install: $(VENV)/.installed

# the optional Spark engine (pyspark; Java 17 must be on the PATH)
install-spark: install
	@UV=$$($(FIND_UV)); $$UV sync --frozen --python python3 --extra spark --quiet

demo: install
	$(VENV)/bin/leadscore generate --leads $(DEMO_LEADS) --seed 7 --out $(DEMO_DATA)
	$(VENV)/bin/leadscore validate $(DEMO_DATA)
	$(VENV)/bin/leadscore train --data $(DEMO_DATA)
	$(VENV)/bin/leadscore score --data $(DEMO_DATA) --out $(DEMO_DATA)-scores.parquet --accounts $(DEMO_DATA)-accounts.parquet --at-handover
	$(VENV)/bin/leadscore compare --data $(DEMO_DATA) --out $(DEMO_DATA)-model-vs-rules.html
	@echo
	@echo "Scoring service starting on http://127.0.0.1:$(DEMO_PORT); $(DEMO_WEEKS) simulated weeks (+2 for late decisions) go through it, then it stays up (Ctrl-C stops it). Try, from another shell:"
	@echo "  curl -s -X POST http://127.0.0.1:$(DEMO_PORT)/score -H 'Authorization: Bearer $(LEADSCORE_API_KEY)' -H 'Content-Type: application/json' -d @serving/examples/score.json"
	@echo
	@LEADSCORE_EXPLORE_SHARE=$(DEMO_EXPLORE) $(VENV)/bin/leadscore serve --port $(DEMO_PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server' EXIT INT TERM; \
	for i in $$(seq 120); do curl -sf http://127.0.0.1:$(DEMO_PORT)/readyz >/dev/null && break; sleep 1; done; \
	$(VENV)/bin/leadscore simulate --data $(DEMO_DATA) --service http://127.0.0.1:$(DEMO_PORT) --weeks $(DEMO_WEEKS) --drain-weeks 2 && \
	echo && echo "The service is up with $(DEMO_WEEKS) simulated weeks in its log. A week in the life (README), from another shell:" && \
	echo "  .venv/bin/leadscore feedback list --db default" && \
	echo "  .venv/bin/leadscore monitor --db default --out data/monitor.html" && \
	echo "  .venv/bin/leadscore compare --db default --out data/live-model-vs-rules.html" && \
	echo "  .venv/bin/leadscore recalibrate --feedback-db default" && \
	echo "  .venv/bin/leadscore retrain --data $(DEMO_DATA) --feedback-db default" && \
	wait $$server

# the scoring service as a Bento (code, default configs and locked requirements; `bentoml
# containerize leadscore:latest` makes an image of it). BentoML locks the requirements with uv and
# tries to pip-install uv when it is not on the PATH (a uv venv has no pip): the uv that
# `make install` uses is put on the PATH.
bento: install
	@UV=$$($(FIND_UV)); PATH="$$(dirname "$$UV"):$$PATH" $(VENV)/bin/bentoml build

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# the default suite on every core (pytest-xdist; a test file stays on one worker, which keeps its
# module fixtures once); each test has its own ports, stores and MLflow folders
test: install lint
	$(VENV)/bin/pytest -n auto --dist loadfile

# the default suite without the tests that fit a model or need the session's trained one (marker
# `training`): code, data and the service's units in a few minutes
test-quick: install lint
	$(VENV)/bin/pytest -n auto --dist loadfile -m "not training and not slow and not spark"

test-all: install lint
	$(VENV)/bin/pytest -m ""

test-slow: install
	$(VENV)/bin/pytest -m slow

test-spark: install-spark
	$(VENV)/bin/pytest -m spark

clean:
	rm -rf $(VENV) data/demo data/demo-scores.parquet data/demo-accounts.parquet data/demo-model-vs-rules.html mlflow.db mlartifacts .pytest_cache .ruff_cache
