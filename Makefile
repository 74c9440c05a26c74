# labkit: one command per job, the same here and in CI.
#
#   make lab     set everything up (venv, OS packages), start the lab (`labkit up`: nodes,
#                Prometheus, Alertmanager, alert receiver) and JupyterLab on notebooks/
#   make test    ruff, mypy and pytest (installs whatever the tests need when it is missing)
#   make bench   every benchmark: fleet scrape (1,000 nodes), detection latency and cold start,
#                PromQL-to-DataFrame conversion, a week of history, the live dashboard's cost
#   make down    stop the lab
#   make lint    ruff and mypy only
#   make clean   remove the venv, caches and the lab state in .lab/
#
# Every target bootstraps .venv by itself on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab down test lint bench clean os-packages test-packages

# JupyterLab keeps its runtime files, settings and kernels' state in .lab/, not in ~.
JUPYTER_ENV := JUPYTER_RUNTIME_DIR=$(CURDIR)/.lab/jupyter/runtime \
	JUPYTER_CONFIG_DIR=$(CURDIR)/.lab/jupyter/config \
	JUPYTER_DATA_DIR=$(CURDIR)/.lab/jupyter/data \
	IPYTHONDIR=$(CURDIR)/.lab/jupyter/ipython

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,notebooks]'
	@touch $(STAMP)

os-packages:
	@scripts/ensure-os-packages.sh prometheus prometheus-alertmanager

# the tests also need a browser: Debian's chromium (Playwright drives it; no browser download)
test-packages: os-packages
	@scripts/ensure-os-packages.sh chromium

lab: $(STAMP) os-packages
	$(VENV)/bin/labkit up
	@echo "JupyterLab on notebooks/ (Ctrl-C stops JupyterLab; the lab keeps running until make down)"
	$(JUPYTER_ENV) $(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks \
		--LabApp.news_url= --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

down: $(STAMP)
	$(VENV)/bin/labkit down

lint: $(STAMP)
	$(VENV)/bin/ruff check labkit tests benchmarks scripts
	$(VENV)/bin/ruff format --check labkit tests benchmarks scripts
	$(VENV)/bin/mypy

test: $(STAMP) test-packages lint
	$(PY) -m pytest

bench: $(STAMP) os-packages
	$(PY) -m benchmarks.fleet_scrape
	$(PY) -m benchmarks.detection
	$(PY) -m benchmarks.query_frame
	$(PY) -m benchmarks.history
	$(PY) -m benchmarks.dashboard

clean:
	rm -rf $(VENV) .lab .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
