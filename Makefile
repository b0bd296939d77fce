# LiveGate developer commands. `make dev` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup dev test lint lock check-deploy unit integration faults bench bench-engine fmt stack-up stack-down clean

## setup: install what the machine lacks (system packages with apt-get where allowed, else the
## exact command to run), then the venv; quick when everything is there (scripts/setup.sh)
setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

$(STAMP): pyproject.toml requirements/dev.txt
	@PYTHON=$(PYTHON) scripts/setup.sh --venv-only

## dev: bring the local stack up, run a worker and the simulator, show actions live
dev: setup
	$(BIN)/livegate dev

## test: lint, then the whole test suite against a real local Kafka + Redis
test: setup lint check-deploy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline/domain

## check-deploy: promtool on the Prometheus config, alert rules and their tests; the Helm
## chart (helm lint, and every rendered manifest against the Kubernetes API schemas, offline);
## and `docker compose config` on docker-compose.yml where a compose client exists (no engine)
check-deploy: $(STAMP)
	@if command -v promtool >/dev/null; then \
	  promtool check config config/prometheus/prometheus.yml config/prometheus/prometheus-local.yml && \
	  promtool check rules config/prometheus/alerts.yml && \
	  promtool test rules config/prometheus/alerts.test.yml; \
	elif [ -n "$$CI" ]; then \
	  echo "check-deploy: promtool is missing (apt-get install prometheus)" >&2; exit 1; \
	else \
	  echo "check-deploy: SKIPPED promtool checks: promtool not installed (apt-get install prometheus)"; \
	fi
	@$(BIN)/python deploy/helm/check.py; rc=$$?; \
	if [ $$rc = 2 ] && [ -z "$$CI" ]; then \
	  echo "check-deploy: SKIPPED the Helm chart: helm not installed (scripts/setup.sh builds it)"; \
	elif [ $$rc != 0 ]; then exit 1; fi
	@if docker compose version >/dev/null 2>&1; then \
	  docker compose config -q && echo "check-deploy: docker compose config: OK"; \
	elif command -v docker-compose >/dev/null; then \
	  docker-compose config -q && echo "check-deploy: docker-compose config: OK"; \
	else \
	  echo "check-deploy: SKIPPED docker compose config: no compose plugin (docker compose) here"; \
	fi

## lock: the exact versions, with hashes, that CI, the venv and the image install: after a
## change of pyproject.toml's dependencies (`make lock UPGRADE=--upgrade` moves everything on)
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	  -q $(UPGRADE) -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	  -q $(UPGRADE) --extra dev -o requirements/dev.txt

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

## bench-engine: the processor's own CPU per event, driven with fakes (no broker, no Redis)
bench-engine: $(STAMP)
	$(BIN)/livegate bench-engine

stack-up: $(STAMP)
	$(BIN)/livegate stack up

stack-down: $(STAMP)
	$(BIN)/livegate stack down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .livegate
