# Thin entry points; the logic lives in scripts/setup.sh.
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup demo doctor test test-unit test-integration bench bench-pytest clean distclean

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/chaos demo

doctor:
	$(VENV)/bin/chaos doctor

# Unit tests on both cores; then the integration tests on two workers, a whole file to a worker (a module-scoped
# system starts once), then those marked `alone` (they time things tightly) one at a time. Every
# set always runs, and the target fails if any failed. --durations: every log shows where the time went.
# INTEGRATION_WORKERS=2 runs the first integration set on two workers: not the default until two runs on a quiet
# machine pass (on a machine busy with other jobs, latency verdicts of tests side by side failed).
INTEGRATION_TESTS := tests/integration tests/e2e
INTEGRATION_WORKERS ?= 0
PYTEST_SHARED := $(PYTHON) -m pytest $(INTEGRATION_TESTS) -m "integration and not alone" -n $(INTEGRATION_WORKERS) --dist loadfile
PYTEST_ALONE := $(PYTHON) -m pytest $(INTEGRATION_TESTS) -m "integration and alone"

test: setup
	$(PYTHON) -m pytest tests/unit -m unit -n 2 --durations=25; unit=$$?; \
	$(PYTEST_SHARED) --durations=25; shared=$$?; \
	$(PYTEST_ALONE) --durations=25; exit $$(( unit || shared || $$? ))

# Pure tests: only the venv, no Docker engine and no images.
test-unit:
	bash scripts/setup.sh --venv-only
	$(PYTHON) -m pytest -m unit

test-integration: setup
	$(PYTEST_SHARED); shared=$$?; $(PYTEST_ALONE); exit $$(( shared || $$? ))

# Benchmarks of the harness against baselines measured in the same run (not part of `make test`).
# BENCH_ARGS: e.g. --quick, --only capacity, --no-record (see `python -m bench --help`).
bench: setup
	$(PYTHON) -m bench $(BENCH_ARGS)

bench-pytest: setup
	$(PYTHON) -m pytest bench/ --benchmark-only

# Generated files in this checkout; keeps the venv, reports and Docker images.
clean:
	rm -rf .cache .pytest_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Also the venv. Images stay: remove them with `docker rmi` if wanted.
distclean: clean
	rm -rf $(VENV)
