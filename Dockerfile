# One image for labkit's own services in the compose stack, built from labkit's wheel:
#   target "wheel": builds the wheel from the repository (its lab files inside, labkit/_data)
#   target "lab":   JupyterLab on the lessons, with the alert receiver beside it, and Debian's
#                   prometheus and prometheus-alertmanager packages (promtool and a replay
#                   Prometheus, which lessons 3-5 run)
#   target "learner": a learner's server on Kubernetes (Zero to JupyterHub,
#                   deploy/kubernetes/): the wheel with its notebooks and hub extras, the
#                   hub's JupyterHub version (build argument JUPYTERHUB_VERSION), Debian's
#                   prometheus and prometheus-alertmanager, tini; user jovyan, uid 1000
#   target "node":  one simulated edge node (`labkit node`); the default, being last
FROM python:3.11.10-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY labkit ./labkit
COPY prometheus ./prometheus
COPY alertmanager ./alertmanager
COPY slo ./slo
COPY scenarios ./scenarios
COPY notebooks ./notebooks
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11.10-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 labkit
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/labkit-*.whl

FROM base AS lab
RUN apt-get update \
    && apt-get install --yes --no-install-recommends prometheus prometheus-alertmanager \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "$(ls /wheels/labkit-*.whl)[notebooks]"
RUN mkdir /app && chown labkit /app
USER labkit
WORKDIR /app
# the lessons out of the wheel, without their solutions (compose keeps them in a named
# volume, the learner's work with them)
RUN labkit lessons /app/notebooks
ENV LABKIT_STATE_DIR=/tmp/labkit
EXPOSE 8888 9095
# The receiver (Alertmanager's webhook) in the background, JupyterLab in the foreground.
CMD ["sh", "-c", "labkit receiver --host 0.0.0.0 --port 9095 & exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --notebook-dir=/app/notebooks"]

FROM base AS learner
# jupyterhub-singleuser must be of the hub's JupyterHub (its major version at least): the
# chart's appVersion (`helm show chart jupyterhub/jupyterhub --version V`); no default
ARG JUPYTERHUB_VERSION
RUN test -n "$JUPYTERHUB_VERSION" \
    || { echo "set --build-arg JUPYTERHUB_VERSION=<the chart's appVersion>" >&2; exit 1; }
RUN apt-get update \
    && apt-get install --yes --no-install-recommends prometheus prometheus-alertmanager tini \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "$(ls /wheels/labkit-*.whl)[notebooks,hub]" "jupyterhub==${JUPYTERHUB_VERSION}"
# the chart runs the server as uid 1000 with fsGroup 100 (singleuser.uid, singleuser.fsGid) and
# mounts the learner's volume on /home/jovyan; the lessons come out of the wheel at each start
# (python -m labkit.hub copies them in, keeping the learner's changes)
RUN useradd --create-home --uid 1000 --gid 100 jovyan
USER jovyan
WORKDIR /home/jovyan
EXPOSE 8888
# tini reaps the lab's orphaned processes; KubeSpawner sets the container's args (singleuser.cmd)
# and keeps this entrypoint
ENTRYPOINT ["tini", "-g", "--"]
CMD ["python", "-m", "labkit.hub", "--", "jupyterhub-singleuser"]

FROM base AS node
USER labkit
ENV LABKIT_STATE_DIR=/tmp/labkit
EXPOSE 8000
ENTRYPOINT ["labkit", "node"]
CMD ["--id", "1", "--port", "8000", "--host", "0.0.0.0"]
