# LiveGate developer commands. `make dev` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint unit integration faults bench fmt stack-up stack-down clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

## dev: bring the local stack up, run a worker and the simulator, show actions live
dev: $(STAMP)
	$(BIN)/livegate dev

## test: lint, then the whole test suite against a real local Kafka + Redis
test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline/domain

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration tests/e2e

faults: $(STAMP)
	$(BIN)/pytest -m faults

bench: $(STAMP)
	$(BIN)/livegate bench

stack-up: $(STAMP)
	$(BIN)/livegate stack up

stack-down: $(STAMP)
	$(BIN)/livegate stack down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .livegate
