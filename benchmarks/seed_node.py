"""The baseline: the seed's design of one edge node, for the fleet scrape benchmark.

One process per node: a FastAPI app whose metrics live in a prometheus_client registry, updated
by a background task once a second (about 25 simulated requests, each observed into the
histogram and counter), and served by `generate_latest`. This is how the seed's
edge-node/simulator.py is described (FastAPI + prometheus_client, 12 containers); it is
written here only to be measured.

    python -m benchmarks.seed_node --port 9001 --node 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


def build(node: int) -> FastAPI:
    registry = CollectorRegistry()
    cpu = Gauge("node_cpu_usage_percent", "CPU", registry=registry)
    mem = Gauge("node_memory_usage_percent", "Memory", registry=registry)
    latency = Histogram(
        "node_request_latency_seconds", "Latency", buckets=BUCKETS, registry=registry
    )
    requests = Counter("node_requests_total", "Requests", ["status"], registry=registry)
    uptime = Gauge("node_uptime_seconds", "Uptime", registry=registry)
    error_rate = Gauge("node_error_rate", "Error rate", registry=registry)
    reliability = Gauge("reliability_score", "Reliability", registry=registry)
    budget = Gauge("error_budget_remaining", "Budget", registry=registry)
    rng = random.Random(node)
    started = time.time()

    async def simulate() -> None:
        while True:
            t = time.time() - started
            cpu.set(40 + 15 * math.sin(t / 100) + rng.uniform(-2, 2))
            mem.set(45 + 10 * math.sin(t / 300) + rng.uniform(-1, 1))
            errors = 0
            for _ in range(25):
                latency.observe(rng.lognormvariate(math.log(0.05), 0.6))
                if rng.random() < 0.0001:
                    errors += 1
            requests.labels("success").inc(25 - errors)
            requests.labels("error").inc(errors)
            uptime.set(t)
            error_rate.set(0.0001)
            reliability.set(0.9999)
            budget.set(0.9)
            await asyncio.sleep(1)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(simulate())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--node", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(build(args.node), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
