# AfterSail — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AFTERSAIL_DATA_DIR ?= ./var
export AFTERSAIL_PORT ?= 8000

.PHONY: run test test-unit lint format install bench bench-allocation bench-ceiling bench-intake-cpu bench-chat bench-assistant bench-tracking bench-video clean help

help:
	@echo "make run    set up and start AfterSail at http://127.0.0.1:$(AFTERSAIL_PORT) (SQLite, demo data)"
	@echo "make test   set up and run every test tier"
	@echo "make lint   ruff and mypy"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/aftersail migrate
	$(BIN)/aftersail demo --if-empty
	$(BIN)/aftersail serve --no-migrate

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

# Needs PostgreSQL (AFTERSAIL_BENCH_POSTGRES_URL, default the local server), pgbench and wrk; see docs/performance.md.
bench-allocation: $(STAMP)
	$(BIN)/python -m benchmarks.allocation $(BENCH_ARGS)

# The same load against a minimal group-commit server: what any Python intake could reach on this machine.
bench-ceiling: $(STAMP)
	$(BIN)/python -m benchmarks.ceiling $(BENCH_ARGS)

# CPU time per order in one process (steadier than throughput on a shared machine); see docs/performance.md.
bench-intake-cpu: $(STAMP)
	$(BIN)/python -m benchmarks.intake_cpu $(BENCH_ARGS)

# Chat delivery latency (1,000 buyer sockets at 1 msg/s) against a bare WebSocket echo; needs PostgreSQL and Redis.
bench-chat: $(STAMP)
	$(BIN)/python -m benchmarks.chat $(BENCH_ARGS)

# Intent classification on one core, and the assistant's first reply to 1,000 chatting buyers (no model
# provider) against a bare WebSocket echo; needs PostgreSQL. See benchmarks/README.md.
bench-assistant: $(STAMP)
	$(BIN)/python -m benchmarks.assistant $(BENCH_ARGS)

# Carrier webhooks through /webhooks/tracking (bulk and AfterShip pushes, retries, out of order) against pgbench's
# raw allocation transaction; needs PostgreSQL and pgbench. See benchmarks/README.md.
bench-tracking: $(STAMP)
	$(BIN)/python -m benchmarks.tracking $(BENCH_ARGS)

# Click-to-first-remote-frame of video calls through AfterSail's pages and Janus (two headless Chromium, a fake
# camera) against Janus's own EchoTest; needs janus, janus-tools, ffmpeg and Chromium. See benchmarks/README.md.
bench-video: $(STAMP)
	$(BIN)/python -m benchmarks.video $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
