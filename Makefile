VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: bootstrap bench-tools test lint typecheck unit integration clean up down status demo

bootstrap:
	@bash scripts/bootstrap.sh

# What only the benches need: valgrind for bench.*_instructions (wrk is in bootstrap).
bench-tools:
	@EXTRA_APT_PACKAGES=valgrind bash scripts/bootstrap.sh

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: bootstrap
	$(BIN)/mypy services blender counter_service pid_controller cdctl tests bench

# pytest exits 5 when it collected nothing: that is a failure here, as any non-zero code.
# Two workers (pytest-xdist): most integration tests wait on servers rather than
# compute, so two at once roughly halve the wall time on a 2-core machine.
# Every test starts its servers on free ports with unique names, so they share nothing.
TEST_WORKERS ?= 2
test: lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

unit: bootstrap
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: bootstrap
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache

# The closed loop on the real local stack, then everything stopped.
demo: bootstrap
	$(BIN)/python -m pid_controller.simulator.demo

# The local stack for manual use: state and logs under .local/stack.
up: bootstrap
	$(BIN)/python -m services.local.stack up

down:
	$(BIN)/python -m services.local.stack down

status:
	$(BIN)/python -m services.local.stack status
