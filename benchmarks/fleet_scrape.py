"""Fleet scrape benchmark: can one labkit process serve 1,000 nodes scraped at 1 Hz?

Runs, one after the other, each scraped at 1 Hz per node for --seconds by benchmarks.scraper
(a separate process):
  1. labkit: `labkit fleet --nodes N` (default 1,000): the goal's figures;
  2. labkit at the baseline's size (--baseline-nodes, default 40);
  3. the baseline, the seed's design (benchmarks.seed_node: FastAPI + prometheus_client's
     generate_latest, one process per node) at --baseline-nodes. One process per node costs
     ~50 MB each, so 1,000 of them do not fit this machine; the ratios compare 2 and 3.
Prints failed scrapes, scrape latency p50/p99, fleet CPU seconds per scrape, cores used, and
resident memory per node (RSS, and PSS which does not double-count shared pages), then the
ratios. Writes benchmarks/results/fleet_scrape.json.

    make bench            (or: .venv/bin/python -m benchmarks.fleet_scrape [--seconds 60])
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOAL = {"nodes": 1000, "failed": 0, "p99_ms": 100.0, "cores": 0.5}


def wait_ready(ports: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"port {port} did not answer within {timeout:.0f} s"
                    ) from None
                time.sleep(0.1)


def start_labkit(nodes: int, base: int, state: Path) -> list[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labkit.cli",
            "fleet",
            "--nodes",
            str(nodes),
            "--base-port",
            str(base),
        ],
        env={**os.environ, "LABKIT_STATE_DIR": str(state)},
        stderr=subprocess.DEVNULL,
    )
    return [proc]


def start_seed(nodes: int, base: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.seed_node",
                "--port",
                str(base + i),
                "--node",
                str(i + 1),
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        for i in range(nodes)
    ]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(
    name: str, procs: list[subprocess.Popen[bytes]], ports: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    try:
        started = time.monotonic()
        wait_ready(ports, timeout=180)
        print(
            f"  {name}: {len(ports)} nodes ready in {time.monotonic() - started:.1f} s; "
            f"scraping for {args.seconds:g} s ...",
            flush=True,
        )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.scraper",
                "--ports",
                f"{ports[0]}-{ports[-1]}",
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
                "--pids",
                ",".join(str(p.pid) for p in procs),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=args.seconds + args.warmup + 120,
        )
    finally:
        stop(procs)
    r: dict[str, Any] = json.loads(out.stdout)
    r["name"] = name
    r["cpu_ms_per_scrape"] = 1000 * r["cpu_seconds"] / max(r["scrapes_ok"], 1)
    r["rss_mib_per_node"] = r["rss_kib"] / 1024 / r["targets"]
    r["pss_mib_per_node"] = r["pss_kib"] / 1024 / r["targets"]
    return r


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "run",
        "nodes",
        "failed",
        "p50 ms",
        "p99 ms",
        "CPU ms/scrape",
        "cores",
        "RSS MiB/node",
        "PSS MiB/node",
    )
    lines = [head]
    for r in rows:
        lines.append(
            (
                r["name"],
                str(r["targets"]),
                str(r["scrapes_failed"]),
                f"{r['latency_p50_ms']:.2f}",
                f"{r['latency_p99_ms']:.2f}",
                f"{r['cpu_ms_per_scrape']:.3f}",
                f"{r['cores']:.2f}",
                f"{r['rss_mib_per_node']:.2f}",
                f"{r['pss_mib_per_node']:.2f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--baseline-nodes", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--base-port", type=int, default=20001)
    args = parser.parse_args()
    b = args.baseline_nodes
    base = args.base_port
    print(
        f"fleet scrape benchmark: 1 Hz per node, {args.seconds:g} s each, on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        state = Path(tmp)
        big = measure(
            "labkit",
            start_labkit(args.nodes, base, state),
            list(range(base, base + args.nodes)),
            args,
        )
        small = measure("labkit", start_labkit(b, base, state), list(range(base, base + b)), args)
        seed = measure("seed design", start_seed(b, base), list(range(base, base + b)), args)
    rows = [big, small, seed]
    print()
    print(table(rows))
    ratios = {
        "cpu_per_scrape": seed["cpu_ms_per_scrape"] / small["cpu_ms_per_scrape"],
        "rss_per_node": seed["rss_mib_per_node"] / small["rss_mib_per_node"],
        "pss_per_node": seed["pss_mib_per_node"] / small["pss_mib_per_node"],
        "p99_latency": seed["latency_p99_ms"] / small["latency_p99_ms"],
    }
    print(
        f"\nseed design / labkit at {b} nodes: CPU per scrape x{ratios['cpu_per_scrape']:.1f}, "
        f"RSS per node x{ratios['rss_per_node']:.1f}, PSS per node x{ratios['pss_per_node']:.1f}, "
        f"p99 latency x{ratios['p99_latency']:.1f}"
    )
    met = (
        big["targets"] >= GOAL["nodes"]
        and big["scrapes_failed"] == GOAL["failed"]
        and big["latency_p99_ms"] < GOAL["p99_ms"]
        and big["cores"] < GOAL["cores"]
    )
    print(f"goal (1,000 nodes, 0 failed, p99 < 100 ms, < 0.5 core): {'met' if met else 'NOT met'}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "fleet_scrape.json").write_text(
        json.dumps({"runs": rows, "ratios": ratios, "goal_met": met}, indent=1)
    )


if __name__ == "__main__":
    main()
