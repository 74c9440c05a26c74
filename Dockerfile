# One image for labkit's own services in the compose stack:
#   target "lab":  JupyterLab on notebooks/, with the alert receiver beside it
#   target "node": one simulated edge node (`labkit node`); the default, being last
FROM python:3.11.10-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 labkit
WORKDIR /app
COPY pyproject.toml README.md ./
COPY labkit ./labkit
COPY prometheus ./prometheus
COPY alertmanager ./alertmanager
COPY slo ./slo
RUN pip install .

FROM base AS lab
RUN pip install ".[notebooks]"
COPY --chown=labkit notebooks ./notebooks
USER labkit
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
