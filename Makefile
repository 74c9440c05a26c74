# labkit: one command per job, the same here and in CI.
#
#   make lab     set everything up (venv, OS packages) and start the lab (the fleet, for now)
#   make test    ruff, mypy and pytest (installs whatever the tests need when it is missing)
#   make bench   the fleet scrape benchmark (1,000 nodes at 1 Hz against the seed's design)
#   make lint    ruff and mypy only
#   make clean   remove the venv, caches and the lab state in .lab/
#
# Every target bootstraps .venv by itself on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab test lint bench clean os-packages

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

os-packages:
	@scripts/ensure-os-packages.sh prometheus

lab: $(STAMP)
	$(VENV)/bin/labkit fleet

lint: $(STAMP)
	$(VENV)/bin/ruff check labkit tests benchmarks scripts
	$(VENV)/bin/ruff format --check labkit tests benchmarks scripts
	$(VENV)/bin/mypy

test: $(STAMP) os-packages lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks.fleet_scrape

clean:
	rm -rf $(VENV) .lab .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
