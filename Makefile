# Two commands do all set-up on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# checkov pins boto3 1.35 and cannot share .venv (boto3 1.44): it gets a virtualenv of its own.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
PORT   ?= 8080

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: install dev test lint unit functional e2e browser bench bench-quick bench-local clean bundle synth checkov deploy destroy openapi chromium fuzz soak

# The virtualenv is rebuilt whenever a requirements file changes.
$(STAMP): requirements-dev.txt requirements-lambda.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

## Run the whole product locally on 127.0.0.1:$(PORT) (embedded moto, real handlers).
## node_modules: /docs and the dashboard's charts serve Swagger UI and uPlot from their npm packages.
dev: install node_modules/.package-lock.json
	PORT=$(PORT) $(BIN)/python -m local_stack

## Install what is missing, lint, synthesize the stack (cdk-nag and checkov must pass), and run every test.
## The tests run in TEST_WORKERS processes (pytest-xdist): one more than the cores, because the e2e,
## bench and browser tests spend a third of their time waiting on a local stack, a lease or a
## browser (on 2 cores, 3 workers took 193 s where 2 took 227 s for the same 299 tests). Each test
## module, and the CDK tests as a whole, stays on one worker, longest first (tests/scheduling.py);
## TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
test: install synth checkov chromium
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports

## One layer of the tests at a time.
unit functional e2e: install
	$(BIN)/python -m pytest -q tests/$@

## The browser test (tests/browser) needs Debian's chromium, driven by Playwright from PyPI
## (Playwright's own browser download does not work here). CI runs as root on a fresh machine.
chromium:
	@test -x /usr/bin/chromium || { echo "installing chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

browser: install chromium node_modules/.package-lock.json
	$(BIN)/python -m pytest -q tests/browser

## docs/benchmarks.md: the full run (~20 minutes on a quiet machine, over an hour at a load of 8:
## the scale model drives 2 x 20,000 jobs); BENCH_PROFILE=quick or small for less.
BENCH_PROFILE ?= full
bench: install
	$(BIN)/python -m bench --profile $(BENCH_PROFILE)

## Only the store's figures (issue 11: write units, claim round trips, contention, measured scale
## model): ~10 minutes on a quiet machine, up to ~35 under load (the scale model stops at 900 s a
## scenario); the make dev parts are carried over from the last latest.json.
bench-quick: install
	$(BIN)/python -m bench --profile quick

## Only the `make dev` figures (request latency, idle CPU, 16-worker throughput), printed.
bench-local: install
	$(BIN)/python -m bench.local_speed

## Issue 12's proofs at full size (docs/reliability.md; `make test` runs them shortened): the job
## lifecycle state machine, AWS fault injection, and schemathesis against `make dev` (>= 2,000
## requests, with and without keys; fails on any 5xx).
fuzz: install
	SPOOLED_PROPERTY_EXAMPLES=200 $(BIN)/python -m pytest -q -s tests/functional/jobs/test_lifecycle_state_machine.py
	SPOOLED_FAULT_JOBS=300 $(BIN)/python -m pytest -q -s tests/functional/jobs/test_fault_injection.py
	$(BIN)/python -m tests.fuzz.run_fuzz --max-examples 5 --min-requests 2000

## 5,000 jobs through 16 SDK worker processes on `make dev`, workers SIGKILLed at random.
soak: install
	SPOOLED_SOAK_JOBS=5000 $(BIN)/python -m pytest -q -s tests/e2e/test_soak_e2e.py

## AWS: the CDK CLI (pinned in package-lock.json) is installed when node_modules is missing.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## Lambda code: dependencies for the Lambda runtime (cached by requirements hash) plus our packages,
## the vendored browser files and a freshly generated OpenAPI document.
bundle: install node_modules/.package-lock.json
	$(BIN)/python -m scripts.build_lambda_bundle

## Regenerate functions/api/openapi.json from the router and the request models (docs/openapi.md).
openapi: install
	$(BIN)/python -m scripts.openapi

## Synthesize the stack into cdk.out/ offline; fails on any unacknowledged cdk-nag finding.
## A no-op while cdk.out/ is newer than everything the template and the bundle are made of (the
## stamp is written only after a passing synth, so a failed one runs again).
SYNTH_INPUTS := app.py cdk.json requirements-lambda.txt package.json package-lock.json \
  $(shell find stacks shared functions scripts dashboard_ui -type f -not -path '*/__pycache__/*' \
    -not -path '*/node_modules/*' -not -name '*.pyc' 2>/dev/null)
SYNTH_STAMP := cdk.out/.synth-stamp
$(SYNTH_STAMP): $(STAMP) node_modules/.package-lock.json $(SYNTH_INPUTS)
	$(BIN)/python -m scripts.build_lambda_bundle
	npx cdk synth --no-notices --quiet
	touch $@

synth: $(SYNTH_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

## checkov on the synthesized template: fails on any finding stacks/checkov.py does not acknowledge.
## --skip-download: offline (no guideline download); the checks themselves ship with the package.
## A no-op until the template (a new synth) or checkov changes.
CHECKOV_RUN := cdk.out/.checkov-stamp
$(CHECKOV_RUN): $(SYNTH_STAMP) $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov $$(printf -- '-f %s ' cdk.out/*.template.json) \
	  --framework cloudformation --compact --quiet --skip-download
	touch $@

checkov: $(CHECKOV_RUN)

## Deploy to the account/region of the current AWS credentials (docs/deploy.md). CDK_ARGS passes
## options through, e.g. CDK_ARGS="-c retain=false --parameters ApiThrottleRateLimit=50".
deploy: bundle node_modules/.package-lock.json
	npx cdk deploy --no-notices $(CDK_ARGS)

destroy: bundle node_modules/.package-lock.json
	npx cdk destroy --no-notices $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out build node_modules .pytest_cache .ruff_cache
