# One target per habit. `make test` builds everything it needs from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: browser install test test-py313 lint format bench dev clean validate build faults

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,local]"
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the playground's browser tests (Playwright's own browser download is not
# reachable from here). Installed when missing and we are root (CI is); otherwise those tests skip.
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "browser: /usr/bin/chromium is missing (apt-get install chromium); browser tests skip"; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint browser
	$(PY) -m pytest

# The fault-injection suite alone, longer: `make faults N=20000 J=2` (tests/faults; `make test` runs 2,000),
# N schedules split over J processes (logs in .faults/). Its last line is the summary of all of them:
# faults: N schedules, K faults injected, 0 lost jobs, ...
N ?= 20000
J ?= 2
faults: install
	$(PY) tests/faults/run_faults.py $(N) --processes $(J)

# The Lambda runtime's Python (3.13): everything but the local engine, which needs MediaPipe 0.10.21
# (no 3.13 wheel), the end-to-end tests that use it, and the long fault-injection run (make test runs it
# on 3.11; `make faults` runs it longer).
# (pyenv's shim answers only when 3.13 is selected, so its installed versions are tried as well)
test-py313:
	@py313=$$(for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
		"$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done); \
	if [ -z "$$py313" ]; then echo "test-py313: no working python3.13 on this machine, not run"; exit 0; fi; \
	set -e; [ -x .venv-py313/bin/python ] || "$$py313" -m venv .venv-py313; \
	.venv-py313/bin/python -m pip install -q --upgrade pip; \
	.venv-py313/bin/python -m pip install -q -e ".[dev]"; \
	.venv-py313/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/e2e --ignore=tests/engine \
		--ignore=tests/faults --deselect tests/providers/test_builtin_provider.py \
		--deselect tests/providers/test_builtin_jobs.py

# Benchmarks print figures; they never fail on timing. bench_engine_function.py: the EngineFunction's size,
# cold start and time per job (.aws-sam/build/EngineFunction after `make build`, else built on the fly).
# Benchmarks print figures; they never fail on timing.
# cold_start.py runs the functions under .venv-py313 (the Lambda runtime's 3.13) when make test-py313 made it.
bench: install
	$(PY) bench/bench_engine.py
	$(PY) bench/bench_engine_function.py
	$(PY) bench/poller_cost.py
	$(PY) bench/bench_local_stack.py
	$(PY) bench/cold_start.py
	$(PY) bench/job_cost.py
	$(PY) bench/layer_size.py

# The whole stack on this machine, in the foreground: local AWS (moto), the API, the poller, the S3
# trigger, client webhooks. Ctrl-C stops everything. Settings: python -m swapgate_dev.local --help.
dev: install
	exec $(PY) -m swapgate_dev.local

# The SAM CLI lives in its own venv, away from the project's pins. Both targets run offline: a region,
# no credentials, no Docker (functions and the layer use BuildMethod: makefile; see functions/*Makefile).
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_ENV := AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
ASL_VALIDATOR := .tools/node_modules/.bin/asl-validator

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q "aws-sam-cli>=1.140,<2"
	touch $(SAM_STAMP)

$(ASL_VALIDATOR):
	npm install --prefix .tools --no-audit --no-fund --silent "asl-validator@^4"

# cfn-lint (sam validate --lint) does not read DefinitionUri files: asl-validator checks the poller,
# with its DefinitionSubstitutions filled in as CloudFormation would.
validate: $(SAM_STAMP) $(ASL_VALIDATOR)
	$(SAM_ENV) $(SAM) validate --lint
	sed 's/$${PollFunctionArn}/arn:aws:lambda:us-east-1:123456789012:function:swapgate-poll/' \
		infra/poller.asl.json > .tools/poller.asl.json
	$(ASL_VALIDATOR) --json-path .tools/poller.asl.json

build: $(SAM_STAMP)
	$(SAM_ENV) PIP="$(CURDIR)/$(SAM_VENV)/bin/python -m pip" $(SAM) build

clean:
	rm -rf $(VENV) .venv-py313 .aws-sam .pytest_cache .ruff_cache $(SAM_VENV) .tools
