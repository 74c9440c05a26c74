# One image for labkit's own services in the compose stack, built from labkit's wheel:
#   target "wheel": builds the wheel from the repository (its lab files inside, labkit/_data)
#   target "lab":   JupyterLab on the lessons, with the alert receiver beside it, and Debian's
#                   prometheus and prometheus-alertmanager packages (promtool and a replay
#                   Prometheus, which lessons 3-5 run)
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
# the lessons out of the wheel (compose mounts ./notebooks over them, so edits persist)
RUN labkit lessons /app/notebooks
ENV LABKIT_STATE_DIR=/tmp/labkit
EXPOSE 8888 9095
# The receiver (Alertmanager's webhook) in the background, JupyterLab in the foreground.
CMD ["sh", "-c", "labkit receiver --host 0.0.0.0 --port 9095 & exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --notebook-dir=/app/notebooks"]

FROM base AS node
USER labkit
ENV LABKIT_STATE_DIR=/tmp/labkit
EXPOSE 8000
ENTRYPOINT ["labkit", "node"]
CMD ["--id", "1", "--port", "8000", "--host", "0.0.0.0"]
