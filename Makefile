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

.PHONY: run test test-ci lint format venv migrate stop-redis clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	@scripts/ensure-redis.sh $(REDIS_PORT) data/redis $(BIN)/python
	@echo "Serving on http://$(HOST):$(PORT)  (Swagger UI: http://$(HOST):$(PORT)/docs)"
	@echo "Organiser login: $(ADMIN_EMAIL) / $(ADMIN_PASSWORD)"
	@REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 SEED_DEMO=true \
	ADMIN_EMAIL=$(ADMIN_EMAIL) ADMIN_PASSWORD=$(ADMIN_PASSWORD) LOG_JSON=$${LOG_JSON:-false} \
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 5

TEST_ENV = TEST_REDIS_URL=redis://127.0.0.1:$(TEST_REDIS_PORT)/0 \
	TEST_POSTGRES_URL="$$(scripts/ensure-postgres.sh)"
OTHER_STORES ?= postgres mongo dynamodb

# Everything: the whole suite with the app on SQLite (the store contract runs on all four
# backends there), then the API suite once more on each other backend.
test: venv
	@scripts/ensure-redis.sh $(TEST_REDIS_PORT) .data/redis-test $(BIN)/python
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)
	@for store in $(OTHER_STORES); do \
	  echo "== API suite on $$store =="; \
	  $(TEST_ENV) TEST_STORE=$$store $(BIN)/pytest tests/api -q $(PYTEST_ARGS) || exit 1; \
	done

# One run for a CI matrix entry: TEST_STORE and the servers come from the CI environment.
test-ci: venv
	@scripts/ensure-redis.sh $(TEST_REDIS_PORT) .data/redis-test $(BIN)/python
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/hadolint docker/Dockerfile

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: venv
	$(BIN)/alembic upgrade head

stop-redis:
	-@for f in data/redis/*.pid .data/redis-test/*.pid; do [ -f "$$f" ] && kill "$$(cat $$f)"; done; true

clean: stop-redis
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
