# The two commands: `make run` (serve on http://127.0.0.1:8000) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
REDIS_PORT ?= 6379
TEST_REDIS_PORT ?= 6390
ADMIN_EMAIL ?= admin@example.com
ADMIN_PASSWORD ?= admin-password

.PHONY: run test test-ci lint format venv migrate stop-redis clean ui ui-test ui-lint dev-frontend \
	fuzz infra-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# --- the web app (frontend/): built when Node.js 18+ is there, served by the API at / ---------
NPM ?= npm
UI := frontend
HAVE_NODE := $(shell node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
	>/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1 && echo yes)
UI_DEPS := $(UI)/node_modules/.installed
UI_BUILD := $(UI)/dist/index.html
UI_SOURCES := $(shell find $(UI)/src $(UI)/public -type f 2>/dev/null) \
	$(wildcard $(UI)/index.html $(UI)/*.config.* $(UI)/tsconfig.json $(UI)/package.json)

$(UI_DEPS): $(UI)/package.json $(UI)/package-lock.json
	cd $(UI) && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

# Rebuilt only when a source changed: a second `make run` starts at once.
$(UI_BUILD): $(UI_DEPS) $(UI_SOURCES)
	cd $(UI) && $(NPM) run build --silent
	@touch $@

ifeq ($(HAVE_NODE),yes)
ui: $(UI_BUILD)

ui-test: $(UI_DEPS)
	cd $(UI) && $(NPM) test --silent

ui-lint: $(UI_DEPS)
	cd $(UI) && $(NPM) run typecheck --silent && $(NPM) run lint --silent

dev-frontend: $(UI_DEPS)
	@echo "Vite on http://127.0.0.1:5173, API calls forwarded to http://$(HOST):$(PORT) (make run)"
	cd $(UI) && API_URL=http://$(HOST):$(PORT) $(NPM) run dev
else
ui ui-test ui-lint:
	@echo "Node.js 18+ not found: skipping the web app ($@). The API works without it;" \
	  "docs/web-app.md says how to build it."

dev-frontend:
	@echo "dev-frontend needs Node.js 18+ and npm." >&2; exit 1
endif

# A web app that fails to build (offline, say) does not keep the API from starting.
run: venv
	@$(MAKE) --no-print-directory ui || echo "make run: the web app did not build (see above);" \
	  "serving the API only." >&2
	@scripts/ensure-redis.sh $(REDIS_PORT) data/redis $(BIN)/python
	@echo "Serving on http://$(HOST):$(PORT)  (Swagger UI: http://$(HOST):$(PORT)/docs)"
	@echo "Organiser login: $(ADMIN_EMAIL) / $(ADMIN_PASSWORD)"
	@REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 SEED_DEMO=true \
	ADMIN_EMAIL=$(ADMIN_EMAIL) ADMIN_PASSWORD=$(ADMIN_PASSWORD) LOG_JSON=$${LOG_JSON:-false} \
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 5 \
	  --no-proxy-headers

TEST_ENV = TEST_REDIS_URL=redis://127.0.0.1:$(TEST_REDIS_PORT)/0 \
	TEST_POSTGRES_URL="$$(scripts/ensure-postgres.sh)"
OTHER_STORES ?= postgres mongo dynamodb
# The HTTP API's tests: each domain's tests/<domain>/test_api*.py (run again on each other store).
API_SUITE = $(sort $(wildcard tests/*/test_api*.py))

# Everything: the whole suite with the app on SQLite (the store contract runs on all four
# backends there), then the API suite once more on each other backend.
test: venv ui ui-test
	@scripts/ensure-redis.sh $(TEST_REDIS_PORT) .data/redis-test $(BIN)/python
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)
	@for store in $(OTHER_STORES); do \
	  echo "== API suite on $$store =="; \
	  $(TEST_ENV) TEST_STORE=$$store $(BIN)/pytest $(API_SUITE) -q $(PYTEST_ARGS) || exit 1; \
	done

# One run for a CI matrix entry: TEST_STORE and the servers come from the CI environment.
test-ci: venv
	@scripts/ensure-redis.sh $(TEST_REDIS_PORT) .data/redis-test $(BIN)/python
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# The property-based suites with real budgets (`make test` runs them small): Schemathesis over
# every operation and the stateful links (tests/fuzz), the purchase-flow model (tests/model).
# About 15 minutes on two cores; scale with the variables below.
FUZZ_MAX_EXAMPLES ?= 100
FUZZ_STATEFUL_EXAMPLES ?= 300
FUZZ_STATEFUL_STEPS ?= 20
MODEL_EXAMPLES ?= 200
MODEL_STEPS ?= 40
fuzz: venv
	@scripts/ensure-redis.sh $(TEST_REDIS_PORT) .data/redis-test $(BIN)/python
	TEST_REDIS_URL=redis://127.0.0.1:$(TEST_REDIS_PORT)/0 \
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_STATEFUL_EXAMPLES=$(FUZZ_STATEFUL_EXAMPLES) \
	FUZZ_STATEFUL_STEPS=$(FUZZ_STATEFUL_STEPS) MODEL_EXAMPLES=$(MODEL_EXAMPLES) \
	MODEL_STEPS=$(MODEL_STEPS) $(BIN)/pytest tests/fuzz tests/model --timeout=0 $(PYTEST_ARGS)

lint: venv ui-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/hadolint docker/Dockerfile

# The AWS stack (infra/, docs/deploy-aws.md), offline: its own venv (infra/.venv, never the app's),
# then synthesize every stack into infra/cdk.out/, cfn-lint and checkov them, run infra/tests.
# jsii (under the CDK) prints a large end-of-life warning on Node 20; synthesis works on it.
INFRA_VENV := infra/.venv
INFRA_STAMP := $(INFRA_VENV)/.installed
INFRA_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20 \
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1

$(INFRA_STAMP): infra/requirements.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install -q -r infra/requirements.txt
	touch $(INFRA_STAMP)

infra-check: $(INFRA_STAMP)
	rm -rf infra/cdk.out
	$(INFRA_ENV) $(INFRA_VENV)/bin/python infra/app.py
	$(INFRA_VENV)/bin/cfn-lint --config-file infra/.cfnlintrc
	$(INFRA_VENV)/bin/checkov -d infra/cdk.out --framework cloudformation --skip-download \
	  --compact --quiet
	$(INFRA_ENV) $(INFRA_VENV)/bin/pytest infra/tests -q

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: venv
	$(BIN)/alembic upgrade head

stop-redis:
	-@for f in data/redis/*.pid .data/redis-test/*.pid; do [ -f "$$f" ] && kill "$$(cat $$f)"; done; true

clean: stop-redis
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache $(UI)/node_modules $(UI)/dist
