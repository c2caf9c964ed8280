# The two commands a newcomer needs: `make run` and `make test`. Every target installs what it
# needs first (a virtualenv in .venv from the hashed requirements.lock).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
MEMBERS := libs/contracts libs/auth libs/runtime services/tickets services/notifier \
	services/ws-gateway devmode clients/python
MEMBER_NAMES := incident-contracts incident-auth incident-runtime incident-tickets \
	incident-notifier incident-ws-gateway incident-devmode incident-notify
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test test-unit test-integration lint format lock schemas readme clean stack

install: $(STAMP)

$(STAMP): requirements.lock $(addsuffix /pyproject.toml,$(MEMBERS))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation \
		$(addprefix -e ,$(MEMBERS))
	@touch $@

## run: the whole system in one process on http://localhost:8000 (SQLite, in-process broker)
run: install
	$(BIN)/python -m incident_devmode

## test: the whole suite (unit + integration; integration needs DATABASE_URL, REDIS_URL, AMQP_URL)
test: install
	$(BIN)/python -m incident_contracts.schema_export --check
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: install
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/contracts/src libs/auth/src libs/runtime/src services/tickets/src \
		services/notifier/src services/ws-gateway/src devmode/src clients/python/src tests bench \
		scripts
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## lock: recompile requirements.lock from the members' pyproject.toml and requirements-dev.in
lock:
	@test -x $(UV) || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet uv; }
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11 --no-header \
		$(foreach p,$(MEMBER_NAMES),--no-emit-package $(p)) \
		requirements.in -o requirements.lock

## schemas: rewrite libs/contracts/schemas from the models
schemas: install
	$(BIN)/python -m incident_contracts.schema_export

## readme: rewrite README.md's configuration tables from the services' Settings classes
readme: install
	$(BIN)/python scripts/settings_table.py --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

## stack: the distributed mode for real on this machine: tickets, notifier (api + consumer), two
## ws-gateways and nginx on http://127.0.0.1:8080, against DATABASE_URL/AMQP_URL/REDIS_URL
## (default: the local servers). Options: make stack STACK_ARGS="--port 9000 --free-ports"
STACK_ARGS ?=
stack: install
	$(BIN)/python scripts/stack.py $(STACK_ARGS)

## bench: issue 8's benchmark suite against a stack of its own (docs/benchmarks/README.md).
## Shorter: make bench BENCH_ARGS="--rates 5,10,20,30 --step-seconds 10"
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench.suite $(BENCH_ARGS)
.PHONY: bench

## chaos: the distributed stack with 200 users over WebSocket and ticket lifecycles driven
## through the API while RabbitMQ, Redis (a private one), the notifier consumer, a gateway
## (SIGKILL, then SIGTERM) and tickets are restarted in turn; prints the audit table and fails
## on anything missing, duplicated or out of order. Options: make chaos CHAOS_ARGS="--users 50"
CHAOS_ARGS ?=
chaos: install
	DATABASE_URL=$${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	AMQP_URL=$${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/} \
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)
.PHONY: chaos
