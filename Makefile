# Two commands do all set-up on a fresh machine: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8080

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: install dev test lint unit functional e2e bench clean bundle synth deploy destroy fuzz soak

# The virtualenv is rebuilt whenever a requirements file changes.
$(STAMP): requirements-dev.txt requirements-lambda.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

## Run the whole product locally on 127.0.0.1:$(PORT) (embedded moto, real handlers).
dev: install
	PORT=$(PORT) $(BIN)/python -m local_stack

## Install what is missing, lint, synthesize the stack (cdk-nag must pass), and run every test.
test: install synth
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports

## One layer of the tests at a time.
unit functional e2e: install
	$(BIN)/python -m pytest -q tests/$@

bench: install
	$(BIN)/python -m bench

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

## Lambda code: dependencies for the Lambda runtime (cached by requirements hash) plus our packages.
bundle: install
	$(BIN)/python -m scripts.build_lambda_bundle

## Synthesize the stack into cdk.out/ offline; fails on any unacknowledged cdk-nag finding.
synth: bundle node_modules/.package-lock.json
	npx cdk synth --no-notices --quiet

## Deploy to the account/region of the current AWS credentials (docs/deploy.md). CDK_ARGS passes
## options through, e.g. CDK_ARGS="-c retain=false --parameters ApiThrottleRateLimit=50".
deploy: bundle node_modules/.package-lock.json
	npx cdk deploy --no-notices $(CDK_ARGS)

destroy: bundle node_modules/.package-lock.json
	npx cdk destroy --no-notices $(CDK_ARGS)

clean:
	rm -rf $(VENV) cdk.out build node_modules .pytest_cache .ruff_cache
