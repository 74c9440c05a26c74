"""Validating a scenario of 10,000, 30,000 and 100,000 injections: `labkit.scenario.parse`
(what `labkit scenario validate` does once the file is read) against reading the same text
with PyYAML's libyaml loader alone.

Each scenario is generated as text, 500 nodes, one injection a minute on each node (so none
overlaps) and a control period at the end, in two shapes:

  block   one key a line, as people write long files (`- at: 1h23m20s` / `nodes: [37]` /
          ...): every entry takes the quick path for usual entries.
  flow    one entry a line, two nodes each, seconds as numbers (`- {at: 5000, nodes: [3, 4],
          ...}`): every entry is checked in full.

Measured, medians of --repeat runs (the baseline of --baseline-repeat, it is slow):
  parse      labkit.scenario.parse: the whole validation, YAML to Scenario.
  loading    labkit.yamldoc.load alone: the document with its lines, refusals included.
  checking   parse minus loading: types, bounds, the overlap and control checks.
  baseline   yaml.load(text, Loader=yaml.CSafeLoader): what merely reading the file costs
             with libyaml through PyYAML, no check at all. The ratio is baseline / parse.
  pairwise   on 10,000 injections, the overlap and control check as it was before it sorted
             (every pair compared; one run: it takes about half a minute), against the
             sorting one on the same injections.
Peak memory: tracemalloc's peak during one parse (Python's allocations; libyaml's own
buffers are not traced) and, in a fresh process, the growth of its peak RSS; both against
the file's size.

Goal (issue 15): 100,000 injections validated in under 2 s, memory in proportion to the file.

    .venv/bin/python -m benchmarks.scenario_validate [--repeat 5] [--baseline-repeat 3]
Writes benchmarks/results/scenario_validate.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from labkit import durations, scenario, yamldoc
from labkit.failures import FAILURE_MODES
from labkit.scenario import Control, Injection

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 30_000, 100_000)
NODES = 500


def make_text(injections: int, shape: str) -> str:
    """A valid scenario of `injections` injections (see the module's docstring)."""
    lines = ["name: generated", "seed: 7", f"nodes: {NODES}", "duration: DURATION", "schedule:"]
    end = 0
    for i in range(injections):
        node = i % NODES + 1
        at = (i // NODES) * 60 + i % 29
        failure = FAILURE_MODES[i % len(FAILURE_MODES)]
        end = max(end, at + 30)
        if shape == "block":
            lines += [f"  - at: {durations.text_of(at) if at else '0s'}", f"    nodes: [{node}]",
                      f"    failure: {failure}", "    duration: 30s"]  # fmt: skip
        else:
            other = node % NODES + 1
            lines.append(f"  - {{at: {at}, nodes: [{node}, {other}], failure: {failure}, "
                         "duration: 30}")  # fmt: skip
    lines.append(f"  - {{control: true, at: {end + 60}, duration: 60}}")
    lines[3] = f"duration: {end + 180}"
    return "\n".join(lines) + "\n"


def timed(fn: Any, arg: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def pairwise(injections: tuple[Injection, ...], controls: tuple[Control, ...]) -> list[str]:
    """The overlap and control check before issue 15, as it was: every pair compared."""
    out = []
    for i, a in enumerate(injections):
        for b in injections[i + 1 :]:
            shared = set(a.nodes) & set(b.nodes)
            if (a.failure == b.failure and shared and a.at_seconds < b.end_seconds
                    and b.at_seconds < a.end_seconds):  # fmt: skip
                first, second = sorted((a, b), key=lambda x: x.line)
                out.append(f"line {second.line}: {second.failure} on node {min(shared)} "
                           f"overlaps the one on line {first.line}")  # fmt: skip
        for c in controls:
            if a.at_seconds < c.end_seconds and c.at_seconds < a.end_seconds:
                out.append(f"line {a.line}: {a.failure} runs into the control period")
    return out


# VmHWM, the peak RSS of this process' memory (ru_maxrss would start at its parent's: Linux
# keeps it across fork and exec)
RSS = """
import re, sys
from labkit import scenario
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
data = open(sys.argv[1], "rb").read()
before = peak()
scenario.parse(data, sys.argv[1])
print(peak() - before)
"""


def rss_growth(text: str, scratch: Path) -> int:
    """Bytes the peak RSS of a fresh process grows by while it parses `text` (file read)."""
    scratch.write_text(text)
    try:
        run = subprocess.run([sys.executable, "-c", RSS, str(scratch)], capture_output=True,
                             text=True, check=True, cwd=ROOT)  # fmt: skip
    finally:
        scratch.unlink()
    return int(run.stdout.strip())


def measure(size: int, shape: str, args: argparse.Namespace) -> dict[str, Any]:
    text = make_text(size, shape)
    data = text.encode()
    parsed = scenario.parse(data, "generated.yml")
    assert len(parsed.injections) == size and len(parsed.controls) == 1
    total = timed(lambda d: scenario.parse(d, "generated.yml"), data, args.repeat)
    loading = timed(lambda d: yamldoc.load(d, "generated.yml"), data, args.repeat)
    baseline = timed(lambda t: yaml.load(t, Loader=yaml.CSafeLoader), text, args.baseline_repeat)
    tracemalloc.start()
    scenario.parse(data, "generated.yml")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = rss_growth(text, ROOT / "benchmarks" / "results" / f".scenario-{shape}-{size}.yml")
    row = {
        "shape": shape,
        "injections": size,
        "file_bytes": len(data),
        "parse_seconds": round(total, 3),
        "loading_seconds": round(loading, 3),
        "checking_seconds": round(total - loading, 3),
        "baseline_csafeloader_seconds": round(baseline, 3),
        "ratio_baseline_to_parse": round(baseline / total, 1),
        "peak_tracemalloc_bytes": peak,
        "peak_tracemalloc_per_file_byte": round(peak / len(data), 1),
        "peak_rss_growth_bytes": rss,
        "peak_rss_growth_per_file_byte": round(rss / len(data), 1),
    }
    if size == SIZES[0] and shape == "block":
        began = time.perf_counter()
        said = pairwise(parsed.injections, parsed.controls)
        row["pairwise_check_seconds"] = round(time.perf_counter() - began, 2)
        injections, controls = list(parsed.injections), list(parsed.controls)
        sorting = timed(lambda _: scenario._conflicts(injections, controls, NODES), None, 5)
        row["sorting_check_seconds"] = round(sorting, 4)
        row["ratio_pairwise_to_sorting"] = round(row["pairwise_check_seconds"] / sorting)
        assert said == [] == scenario._conflicts(injections, controls, NODES)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-repeat", type=int, default=3)
    args = parser.parse_args()
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    rows = []
    print(f"medians of {args.repeat} runs (baseline: {args.baseline_repeat})")
    print(f"{'shape':<6} {'injections':>10} {'MB':>5} {'parse':>7} {'loading':>8} {'checking':>9} "
          f"{'CSafeLoader':>12} {'ratio':>6} {'peak/file':>10} {'RSS/file':>9}")  # fmt: skip
    for shape in ("block", "flow"):
        for size in SIZES:
            r = measure(size, shape, args)
            rows.append(r)
            memory = (r["peak_tracemalloc_per_file_byte"], r["peak_rss_growth_per_file_byte"])
            print(f"{shape:<6} {size:>10,} {r['file_bytes'] / 1e6:>5.1f} "
                  f"{r['parse_seconds']:>6.3f}s {r['loading_seconds']:>7.3f}s "
                  f"{r['checking_seconds']:>8.3f}s {r['baseline_csafeloader_seconds']:>11.3f}s "
                  f"{r['ratio_baseline_to_parse']:>5.1f}x {memory[0]:>9.1f}x "
                  f"{memory[1]:>8.1f}x", flush=True)  # fmt: skip
            if "pairwise_check_seconds" in r:
                print(f"       overlap and control check on {size:,}: pairwise "
                      f"{r['pairwise_check_seconds']} s, sorting {r['sorting_check_seconds']} s "
                      f"({r['ratio_pairwise_to_sorting']:,}x)", flush=True)  # fmt: skip
    worst = max(r["parse_seconds"] for r in rows if r["injections"] == SIZES[-1])
    met = worst < 2.0
    print(f"goal: {SIZES[-1]:,} injections validated in under 2 s -> "
          f"{'met' if met else 'NOT met'} (slowest shape {worst:.2f} s)")  # fmt: skip
    out = {"rows": rows, "goal_seconds": 2.0, "goal_met": met, "repeat": args.repeat,
           "baseline_repeat": args.baseline_repeat}  # fmt: skip
    path = ROOT / "benchmarks" / "results" / "scenario_validate.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
