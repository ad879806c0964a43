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

# Unit tests on both cores, then the Docker tests one at a time (they time faults and verdicts); both
# sets always run, and the target fails if either failed.
test: setup
	$(PYTHON) -m pytest -m unit -n 2; unit=$$?; $(PYTHON) -m pytest -m integration; exit $$(( unit || $$? ))

# Pure tests: only the venv, no Docker engine and no images.
test-unit:
	bash scripts/setup.sh --venv-only
	$(PYTHON) -m pytest -m unit

test-integration: setup
	$(PYTHON) -m pytest -m integration

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
