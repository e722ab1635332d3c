# streamapp — the two commands: `make demo` (the main job) and `make test faults` (the whole
# suite: `make test` is everything but the long runs, which are `make faults`: the
# fault-injection campaign and the promise tests on a Redis Cluster). Both install what is
# missing: a venv with the Python deps, the Kafka jars (Maven Central),
# Debian's redis-server and kcat.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := .stack

.PHONY: demo test faults unit up down deps venv lint bench clean constraints

# Every version pinned by constraints.txt, the versions CI tests (`make constraints` renews it).
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

# After a change of pyproject.toml's dependencies: install them unpinned, then pin what came.
constraints:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -U -e '.[dev]'
	@{ sed -n '1,/^# a change/p' constraints.txt; $(BIN)/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	touch $(BIN)/.installed

deps: venv
	@bash deploy/deps.sh

up: deps
	@bash deploy/kafka/kafka.sh up
	@bash deploy/redis/redis.sh up
	@$(BIN)/streamapp topics apply

down:
	@bash deploy/kafka/kafka.sh down
	@bash deploy/redis/redis.sh down

# The data set is checked before the stack starts: without it there is nothing to show.
demo: venv
	@$(BIN)/streamapp datasets $${DEMO_DATASET:-rees46} >/dev/null
	@$(MAKE) --no-print-directory up
	@bash deploy/demo.sh

lint: venv
	$(BIN)/ruff check streamapp tests
	$(BIN)/ruff format --check streamapp tests
	$(BIN)/mypy streamapp
	$(BIN)/lint-imports

# The fast loop: lint, types and every test that needs no service (no Debian packages, no
# Kafka), in well under a minute.
unit: lint
	$(BIN)/pytest tests/unit streamapp

# Everything but the long runs, on one Redis: under 15 minutes on our machines.
test: deps lint
	$(BIN)/pytest --ignore=tests/faults

# The long runs: the fault campaign, then every promise test (the integration tests' and the
# campaign's: workers killed and frozen, the broker restarted) again on a three-master Redis
# Cluster (deploy/redis/cluster.sh).
faults: deps
	$(BIN)/pytest tests/faults
	STREAMAPP_TEST_REDIS=cluster $(BIN)/pytest -m promise tests/integration tests/faults

bench: up
	$(BIN)/streamapp bench

clean: down
	rm -rf $(VENV) $(STACK)
