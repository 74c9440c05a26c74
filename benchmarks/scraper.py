"""A lean load generator: scrape N targets once a second each, over keep-alive HTTP/1.1.

Runs in its own process so its CPU is not billed to the fleet. Targets are spread evenly over
the second, as Prometheus spreads them. A scrape fails when it errors, answers other than
200, or takes longer than the interval (Prometheus' scrape_timeout may not exceed it).
While measuring, it reads the CPU time of the processes under test from /proc.

    python -m benchmarks.scraper --ports 8001-9000 --seconds 60 --warmup 5 --pids 123
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time

INTERVAL = 1.0
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: labkit-bench\r\n\r\n"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over the processes, KiB."""
    rss = pss = 0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


class Target:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def scrape(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(REQUEST)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def reset(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run(
    ports: list[int], seconds: float, warmup: float, pids: list[int]
) -> dict[str, object]:
    latencies: list[float] = []
    failures = 0
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.5
    measure_from = begin + warmup
    measure_to = measure_from + seconds
    window: dict[str, float] = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(measure_from - loop.time())
        window["cpu0"], window["self0"], window["wall0"] = (
            cpu_seconds(pids),
            _self_cpu(),
            time.perf_counter(),
        )
        await asyncio.sleep(measure_to - loop.time())
        window["cpu1"], window["self1"], window["wall1"] = (
            cpu_seconds(pids),
            _self_cpu(),
            time.perf_counter(),
        )

    async def scrape_loop(i: int, target: Target) -> None:
        nonlocal failures
        at = begin + INTERVAL * i / len(ports)
        while at < measure_to:
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(target.scrape(), INTERVAL)
                ok = status == 200
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                target.reset()
            elapsed = time.perf_counter() - t0
            if measure_from <= at < measure_to:
                if ok:
                    latencies.append(elapsed)
                else:
                    failures += 1
            at += INTERVAL

    targets = [Target(p) for p in ports]
    await asyncio.gather(sample_cpu(), *(scrape_loop(i, t) for i, t in enumerate(targets)))
    for t in targets:
        t.reset()
    rss, pss = memory_kib(pids)
    latencies.sort()
    n = len(latencies)
    wall = window["wall1"] - window["wall0"]

    def q(p: float) -> float:
        return latencies[min(n - 1, int(p * n))] if n else float("nan")

    return {
        "targets": len(ports),
        "seconds": wall,
        "scrapes_ok": n,
        "scrapes_failed": failures,
        "latency_p50_ms": q(0.50) * 1000,
        "latency_p99_ms": q(0.99) * 1000,
        "cpu_seconds": window["cpu1"] - window["cpu0"],
        "cores": (window["cpu1"] - window["cpu0"]) / wall,
        "scraper_cores": (window["self1"] - window["self0"]) / wall,
        "rss_kib": rss,
        "pss_kib": pss,
    }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True, help="FIRST-LAST")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--pids", required=True, help="comma-separated")
    args = parser.parse_args()
    first, last = (int(p) for p in args.ports.split("-"))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    pids = [int(p) for p in args.pids.split(",")]
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(list(range(first, last + 1)), args.seconds, args.warmup, pids))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
