# labkit: one command per job, the same here and in CI.
#
#   make lab     set everything up (venv, OS packages), start the lab (`labkit up`: nodes,
#                Prometheus, Alertmanager, alert receiver) and JupyterLab on .lab/lessons/ (the
#                lessons without their exercises' solutions; your work there is kept); prints
#                the lab's addresses, then last the JupyterLab address to open. Ctrl-C stops
#                JupyterLab; the lab runs on until `labkit down`
#   make test    ruff, mypy and pytest (installs whatever the tests need when it is missing)
#   make bench   every benchmark: fleet scrape (1,000 nodes), detection latency and cold start,
#                PromQL-to-DataFrame conversion, a week of history, the live dashboard's cost,
#                validating a 100,000-injection scenario, labs per host (capacity: one lab by
#                component, N labs side by side), one big lab (12 and 1,000 nodes: rule groups
#                and detection), a class on JupyterHub (learners per node: a learner's start-up
#                and footprint on a real hub)
#   make down    stop the lab: runs `labkit down` (the venv's labkit: .venv/bin/labkit down)
#   make hub     JupyterHub on 127.0.0.1:31800 for a class on one host, each learner's server
#                with its own lab (deploy/jupyterhub/jupyterhub_config.py says how, and its
#                settings); any user name, the password in .hub/password. Ctrl-C stops the hub,
#                every learner's server and their labs
#   make k8s-check  deploy/kubernetes/ checked offline: the values merged over Zero to
#                JupyterHub's defaults and validated against the chart's schema, each problem
#                named by its path; the other manifests by `kubernetes-validate --strict`
#   make assignments  the lessons as an nbgrader course in .lab/course/ (COURSE=dir for
#                another): source/ with the solutions, release/ the student versions without;
#                then nbgrader's release, collect, autograde, feedback there (docs/teach.md)
#   make lint    ruff and mypy only
#   make clean   remove the venv, caches and the lab state in .lab/, but not your work:
#                your lessons (.lab/lessons/) and an nbgrader course (.lab/course/) stay
#
# Every target bootstraps .venv by itself on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

HUB_STAMP := $(VENV)/.hub-installed
INSTRUCTOR_STAMP := $(VENV)/.instructor-installed

.PHONY: lab down test lint bench clean os-packages test-packages hub hub-packages k8s-check \
	assignments

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (Python packages; a minute or two the first time)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev,notebooks]'
	@touch $(STAMP)

os-packages:
	@scripts/ensure-os-packages.sh prometheus prometheus-alertmanager

# JupyterHub, jupyter-server-proxy and the idle culler (the `hub` extra), and JupyterHub's
# proxy, configurable-http-proxy, from npm into node_modules/ (package.json, package-lock.json)
$(HUB_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -e '.[dev,notebooks,hub]'
	@touch $(HUB_STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

hub-packages: $(HUB_STAMP) node_modules/.package-lock.json

# nbgrader, for the instructor's cycle (the `instructor` extra)
$(INSTRUCTOR_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -e '.[dev,notebooks,instructor]'
	@touch $(INSTRUCTOR_STAMP)

assignments: $(INSTRUCTOR_STAMP) os-packages
	@$(PY) scripts/assignments.py $(if $(COURSE),--course $(COURSE))

hub: hub-packages os-packages
	@$(PY) -m jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

# the tests also need a browser: Debian's chromium (Playwright drives it; no browser download)
test-packages: os-packages
	@scripts/ensure-os-packages.sh chromium

# JupyterLab's log goes to .lab/logs/jupyterlab.log, its settings and state to .lab/jupyter/
# (no news prompt, no update check); scripts/jupyterlab.py prints the address to open last.
lab: $(STAMP) os-packages
	@$(VENV)/bin/labkit up
	@$(PY) scripts/jupyterlab.py

down: $(STAMP)
	@$(VENV)/bin/labkit down

k8s-check: $(STAMP)
	@$(PY) scripts/check_kubernetes.py

lint: $(STAMP)
	$(VENV)/bin/ruff check labkit tests benchmarks scripts setup.py
	$(VENV)/bin/ruff format --check labkit tests benchmarks scripts setup.py
	$(VENV)/bin/mypy

test: $(STAMP) test-packages hub-packages $(INSTRUCTOR_STAMP) lint
	$(PY) -m pytest

bench: $(STAMP) os-packages hub-packages
	$(PY) -m benchmarks.fleet_scrape
	$(PY) -m benchmarks.detection
	$(PY) -m benchmarks.query_frame
	$(PY) -m benchmarks.history
	$(PY) -m benchmarks.dashboard
	$(PY) -m benchmarks.scenario_validate
	$(PY) -m benchmarks.capacity
	$(PY) -m benchmarks.big_lab
	$(PY) -m benchmarks.class_capacity

clean:
	rm -rf $(VENV) .hub node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	@if [ -d .lab ]; then find .lab -mindepth 1 -maxdepth 1 ! -name lessons ! -name course -exec rm -rf {} +; fi
