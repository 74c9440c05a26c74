"""The cost of a lab's past: `labkit up` from cold on a fresh state folder, with the past
backfilled (the default on a first start) against `--no-past` (the baseline), in the same
run, alternating, --rounds times each. Ready means every target up and every rule loaded.

    .venv/bin/python -m benchmarks.past [--rounds 3] [--nodes 12]
Writes benchmarks/results/past.json.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from labkit.past import Past
from labkit.settings import Settings
from labkit.stack import LabConfig, LabPaths, down, up

ROOT = Path(__file__).resolve().parent.parent


def cold_start(config: LabConfig) -> tuple[float, Past | None]:
    with tempfile.TemporaryDirectory(prefix="labkit-past-") as tmp:
        settings = Settings(Path(tmp))
        try:
            ready = up(config, settings, out=io.StringIO())
            path = LabPaths(settings.state_dir).past
            return ready, Past.load(path) if path.exists() else None
        finally:
            down(settings, out=io.StringIO(), quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--base-port", type=int, default=24001)
    args = parser.parse_args()
    base, n = args.base_port, args.nodes
    config = LabConfig(nodes=n, base_port=base, prometheus_port=base + n,
                       alertmanager_port=base + n + 1, receiver_port=base + n + 2,
                       dashboard_port=base + n + 3)  # fmt: skip
    with_past: list[float] = []
    without: list[float] = []
    backfills: list[dict[str, float]] = []
    for r in range(args.rounds):
        ready, past = cold_start(replace(config, past=False))
        without.append(ready)
        ready, past = cold_start(config)
        with_past.append(ready)
        assert past is not None
        backfills.append({"samples": past.samples, "seconds": past.seconds})
        print(f"  round {r + 1}: --no-past {without[-1]:.2f} s, with the past {ready:.2f} s "
              f"({past.samples:,} samples backfilled in {past.seconds:.2f} s)",
              flush=True)  # fmt: skip
    a, b = statistics.median(with_past), statistics.median(without)
    print(
        f"\n`labkit up` from cold, {n} nodes, medians of {args.rounds} rounds:\n"
        f"  --no-past (baseline)   {b:.2f} s\n"
        f"  with the past          {a:.2f} s   ({a / b:.2f}x the baseline, +{a - b:.2f} s; "
        f"goal <= 2x: {'met' if a <= 2 * b else 'NOT met'})\n"
        f"  backfill alone         {statistics.median(x['seconds'] for x in backfills):.2f} s, "
        f"{statistics.median(x['samples'] for x in backfills):,.0f} samples"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "past.json").write_text(json.dumps({
        "nodes": n, "rounds": args.rounds, "with_past_seconds": with_past,
        "no_past_seconds": without, "ratio": a / b, "backfills": backfills,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
