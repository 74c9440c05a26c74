"""Detection latency: from an injection to its alert, in the real embedded lab.

For each failure mode, --rounds rounds of one injection on each of 10 nodes (staggered by
0.137 s so they fall at every phase of the 1 s scrape and evaluation cycles). Measured per
injection, from the moment the node applied it (its `started_at`):
  (a) to the alert active in Prometheus: the alert's `activeAt`, the timestamp of the first
      rule evaluation that saw it (no polling error);
  (b) to the notification at the receiver: the time the receiver got it.
The floor beside them: one scrape interval plus one evaluation interval (2 s), the worst case
when the fault lands just after a scrape and the sample just after an evaluation. Rounds are
spaced so Alertmanager has dropped the previous round's groups (see one_round).
Also measured: `labkit up` from cold (no lab process running) to ready, --cold-starts times.

    .venv/bin/python -m benchmarks.detection [--rounds 2] [--cold-starts 5]
Writes benchmarks/results/detection.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from labkit.alerts import INTENDED
from labkit.lab import Lab
from labkit.settings import Settings
from labkit.stack import LabConfig, down, up
from labkit.words import epoch

ROOT = Path(__file__).resolve().parent.parent
FLOOR_SECONDS = 2.0  # scrape_interval + evaluation_interval
NODES_PER_ROUND = 10


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_round(
    lab: Lab, failure: str, nodes: list[int], rng: random.Random
) -> list[dict[str, float]]:
    alertname = INTENDED[failure]
    time.sleep(rng.uniform(0, 1))
    started: dict[int, float] = {}
    for node in nodes:
        result = lab.inject(node, failure, 120)[0]
        started[node] = epoch(result["started_at"])
        time.sleep(0.137)
    since = min(started.values())
    active: dict[int, float] = {}
    notified: dict[int, float] = {}
    deadline = time.monotonic() + 60
    while (len(active) < len(nodes) or len(notified) < len(nodes)) and time.monotonic() < deadline:
        for alert in lab.prometheus_alerts():
            labels = alert["labels"]
            node = int(labels.get("node", 0))
            if labels["alertname"] == alertname and node in started and node not in active:
                active[node] = epoch(alert["activeAt"])
        for note in lab.notifications(since=since):
            node = int(note["node"] or 0)
            if note["alertname"] == alertname and note["status"] == "firing" and node in started:
                notified.setdefault(node, note["ts"])
        time.sleep(0.2)
    lab.recover("all")

    # Every alert resolved and its resolution delivered, then 2.5 group_intervals more, so
    # Alertmanager has dropped the (alertname, node) groups: a new alert in a group that still
    # exists waits for the group's next group_interval tick (see "Re-injections wait up to one
    # group_interval" in docs/benchmarks.md#detection-latency-and-start-up), and this
    # benchmark measures incidents, not re-injections seconds after a recovery.
    def resolved() -> set[int]:
        return {int(n["node"] or 0) for n in lab.notifications(since=since)
                if n["alertname"] == alertname and n["status"] == "resolved"}  # fmt: skip

    while not set(nodes) <= resolved():
        if time.monotonic() > deadline + 60:
            raise RuntimeError(f"{alertname} did not resolve on every node")
        time.sleep(0.2)
    time.sleep(2.5)
    missing = set(nodes) - set(active)
    if missing or set(nodes) - set(notified):
        raise RuntimeError(
            f"{alertname}: no alert for nodes {sorted(missing)} "
            f"or no notification for {sorted(set(nodes) - set(notified))}"
        )
    return [
        {
            "node": n,
            "to_prometheus": active[n] - started[n],
            "to_receiver": notified[n] - started[n],
        }
        for n in nodes
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 10 injections per mode")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--base-port", type=int, default=23001)
    args = parser.parse_args()
    rng = random.Random(7)
    base = args.base_port
    config = LabConfig(
        nodes=12,
        base_port=base,
        prometheus_port=base + 100,
        alertmanager_port=base + 101,
        receiver_port=base + 102,
        dashboard_port=base + 103,
        past=False,  # every start alike; the past's own cost is benchmarks/past.py's
    )
    with tempfile.TemporaryDirectory(prefix="labkit-detect-") as tmp:
        settings = Settings(Path(tmp))
        quiet = io.StringIO()
        cold = []
        for i in range(args.cold_starts):
            ready = up(config, settings, out=quiet)
            cold.append(ready)
            print(f"  cold start {i + 1}: ready in {ready:.2f} s", flush=True)
            if i < args.cold_starts - 1:
                down(settings, out=quiet, quiet=True)
        lab = Lab(config, settings)
        results: dict[str, list[dict[str, float]]] = {}
        try:
            for failure in INTENDED:
                results[failure] = []
                for r in range(args.rounds):
                    results[failure] += one_round(
                        lab, failure, list(range(1, NODES_PER_ROUND + 1)), rng
                    )
                    print(f"  {failure}: round {r + 1} done", flush=True)
        finally:
            down(settings, out=quiet, quiet=True)

    print(
        "\ncold start to ready (every target up, rules loaded): "
        f"median {statistics.median(cold):.2f} s, min {min(cold):.2f} s, "
        f"max {max(cold):.2f} s over {len(cold)} starts"
    )
    print(
        f"\n{'mode':<14} {'alert':<16} {'n':>3}  {'Prometheus p50':>14} {'p95':>6}  "
        f"{'receiver p50':>12} {'p95':>6}  floor"
    )
    summary = {}
    for failure, rows in results.items():
        prom = [r["to_prometheus"] for r in rows]
        recv = [r["to_receiver"] for r in rows]
        s = {
            "alert": INTENDED[failure],
            "n": len(rows),
            "prometheus_p50": quantile(prom, 0.5),
            "prometheus_p95": quantile(prom, 0.95),
            "receiver_p50": quantile(recv, 0.5),
            "receiver_p95": quantile(recv, 0.95),
        }
        summary[failure] = s
        print(
            f"{failure:<14} {s['alert']:<16} {s['n']:>3}  {s['prometheus_p50']:>13.2f}s "
            f"{s['prometheus_p95']:>5.2f}s  {s['receiver_p50']:>11.2f}s "
            f"{s['receiver_p95']:>5.2f}s  {FLOOR_SECONDS:.0f} s"
        )
    claim = all(
        summary[m]["receiver_p95"] < 2.0 for m in ("cpu_spike", "error_burst", "node_crash")
    )
    print(
        f"\nseed's claim (< 2 s, HighCPUUsage, HighErrorRate, NodeDown, p95 at the receiver): "
        f"{'met' if claim else 'NOT met'}"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "detection.json").write_text(
        json.dumps(
            {"cold_start_seconds": cold, "summary": summary, "injections": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
