"""Build lessons 4 and 5 from the cells below, run them once, and keep the outputs of the cells
marked `keep` (deterministic: they come from a seeded scenario) so nbval can compare them.
Every other output is stripped.

    .venv/bin/python scripts/build_lessons.py      # rewrites notebooks/04_*.ipynb, 05_*.ipynb

It runs with a temporary LABKIT_STATE_DIR, so the histories it generates do not stay.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
KEEP = "# NBVAL_CHECK_OUTPUT"

LESSON_4 = [
    (
        "md",
        """# Lesson 4: Offline incident review

Monday morning. Over the weekend the fleet had a bad afternoon, and nobody watched it live. What
you have is the recording: two hours of twelve nodes, one sample every 15 s, in a Prometheus
TSDB. Your job is the one of any incident review: **what happened, when, and to which nodes**,
read from the metrics alone. At the end you compare your reading with the ground truth.

The recording is a *simulated history*: `labkit history` plays a scenario
(`scenarios/bad-afternoon.yml`) through the same node model as the live lab, on a virtual clock,
and backfills it with `promtool`. It takes a second or two, needs no running lab, and gives the
same samples every time. Do not open the scenario file yet: it is the answer.""",
    ),
    (
        "code",
        f"""from labkit import Lab, plots
from labkit.journal import iso
from labkit.lessons import review
from labkit.query import Prom

directory = review.ensure(review.SCENARIOS / "bad-afternoon.yml")  # written once, then reused
lab = Lab.open(directory)  # a Prometheus of its own over the recording, on loopback
prom = Prom(lab.prometheus_url)
info = lab.history
{KEEP}
print(f"{{info.name}}: {{info.nodes}} nodes, a sample every {{info.step_seconds:g}} s, "
      f"{{(info.end - info.start) / 3600:g}} h from {{iso(info.start)}} to {{iso(info.end)}}")""",
        True,
    ),
    (
        "md",
        """## First look: the whole fleet

Start wide. CPU and memory for every node over the two hours (one point a minute is plenty
for a first look; the dotted lines are the seed's alert thresholds).""",
    ),
    (
        "code",
        """start, end = info.start, info.end
cpu = prom.range("node_cpu_usage_percent", start, end, 60)
memory = prom.range("node_memory_usage_percent", start, end, 60)
plots.fleet_resources(cpu, memory)""",
    ),
    (
        "md",
        """Then what users felt: the share of failing requests per node, and the latency
quantiles of the whole fleet, computed from the histogram over 1-minute windows.""",
    ),
    ("code", """plots.error_ratio(prom.range("node_error_rate", start, end, 15))"""),
    (
        "code",
        """import pandas as pd

quantiles = pd.concat([
    prom.range(f"histogram_quantile({q}, sum by (le) (rate(node_request_latency_seconds_bucket[1m])))",
               start, end, 15).assign(quantile=str(q))
    for q in (0.5, 0.95, 0.99)
])
plots.latency_quantiles(quantiles)""",
    ),
    (
        "md",
        """## When, and where: a symptom timeline

The charts say *something* happened around minutes 10 to 55. To be precise, turn each symptom
into a PromQL condition and list the spans in which it held, node by node. These are the
conditions (`review.symptom_conditions()`); `review.symptoms` runs each as a range query at the
recording's step and joins consecutive samples into spans.""",
    ),
    (
        "code",
        """for name, expr in review.symptom_conditions().items():
    print(f"{name:<24} {expr}")""",
    ),
    (
        "code",
        f"""{KEEP}
timeline = review.symptoms(prom, info)
print(timeline.to_string(index=False))""",
        True,
    ),
    (
        "md",
        """Read it like an incident channel:

- **Minute 10**: every node's p95 latency goes above 1 s at once. A fleet-wide symptom points at
  something shared (a dependency, the network), not at one node.
- **Minute 12-13**: node 7's memory climbs past 85 %, and nodes 2 and 9 start failing requests.
- **Minute 40**: node 4 stops answering scrapes (`up{job="edge-nodes"} == 0`) for three
  minutes; a few minutes later its CPU is pinned above 90 %.

Two things to keep in mind when you read backfilled data:

1. A symptom computed over a window (the latency uses `rate(...[1m])`) starts a little after
   the cause and ends up to a window later. The spans are the symptom, not the fault.
2. A live Prometheus marks a node's series *stale* the moment a scrape fails. A backfilled TSDB
   has no staleness markers, so while node 4 was down an instant query still returns its last
   values for up to 5 minutes (the lookback). `up == 0` is the honest signal for a crash:
   the recording writes `up 0` and nothing else for every sample the node missed.""",
    ),
    (
        "code",
        """node4 = prom.range('node_uptime_seconds{node="4"}', start + 38 * 60, start + 46 * 60, 15)
node4.assign(minute=(node4.timestamp - node4.timestamp.iloc[0]).dt.total_seconds() / 60 + 38)[["minute", "value"]].iloc[::4]""",
    ),
    (
        "md",
        """Uptime falls back to zero after the gap: the node restarted. (The table shows every
fourth sample: one a minute.)

## Exercise

Which nodes had an **error burst**, and in which minute of the recording did it start? Use
PromQL (`node_error_rate`) or the timeline above. Put your answer in `answer`, for example
`{"nodes": [3, 5], "minute": 20}`, and run the cell.""",
    ),
    (
        "code",
        """answer = None  # {"nodes": [...], "minute": ...}
review.grade_incident(answer, directory)""",
    ),
    (
        "md",
        """## The ground truth

Now open the answer: the injection journal the history was made from (the same format the
live lab writes to `.lab/journal/injections.jsonl`), in minutes from the start. Compare it
with the timeline: what did the symptoms get right, and where were they late?""",
    ),
    (
        "code",
        f"""{KEEP}
print(review.ground_truth(directory).to_string(index=False))""",
        True,
    ),
    (
        "md",
        """The latency symptom started 15-30 s after the fault and outlasted it by up to a
minute (its 1-minute window), and node 4's crash showed only as missing scrapes. Lesson 5 turns this
comparison into numbers: precision, recall and time to detect, per alert rule.""",
    ),
    (
        "code",
        """lab.stop()  # stops the replay's Prometheus; the recording stays in .lab/histories/""",
    ),
]

LESSON_5 = [
    (
        "md",
        """# Lesson 5: Alert quality

An alert rule is a bet: "when this expression is true for `for`, something is wrong". Good
rules fire for every real problem (**recall**), fire only for real problems (**precision**),
and fire fast (**time to detect**). You can only measure that against faults you know
happened, which is what the lab has: every injection is journalled.

Here you score the lab's two rule sets on the same recording: the seed's seven threshold
rules, and the SLO burn-rate alerts generated from `slo/edge.yml`. Then you move a threshold
and a `for` and watch the three numbers trade against each other.

The recording is `scenarios/alert-quality.yml`: every failure mode two to four times, some
faults only 5-15 s long, then a 15-minute control period in which nothing is injected, all at
one sample a second (so that the seed's 5 s latency window works).""",
    ),
    (
        "code",
        f"""from labkit import Lab, score, tables
from labkit.alert_replay import load_rules
from labkit.lessons import review
from labkit.query import Prom

directory = review.ensure(review.SCENARIOS / "alert-quality.yml")
lab = Lab.open(directory)
prom = Prom(lab.prometheus_url)
info = lab.history
{KEEP}
print(review.ground_truth(directory).to_string(index=False))""",
        True,
    ),
    (
        "md",
        """## Replaying alerts

Prometheus cannot backfill alerts: the `ALERTS` series only exists for rules it evaluated
live. So labkit evaluates each rule's expression as a range query at the evaluation step and
applies `for` the way the rule manager does (pending from the first evaluation that returns
the series, firing once it has been returned for `for`, resolved at the first evaluation
that does not return it). The live tests check this replay against the `ALERTS` that a real
Prometheus wrote.

## The scoreboard

`score.score_history` replays both rule sets and scores them against the journal. A firing
*detects* a fault when it is on the fault's node (or has no node label) and starts between
the fault's start and 60 s after its end; a firing that detects nothing is a false alert.""",
    ),
    (
        "code",
        f"""{KEEP}
board = score.score_history(directory, prom)
print(board.text())""",
        True,
    ),
    (
        "md",
        """What the board says:

- The seed's intended rules (`HighCPUUsage` for `cpu_spike`, ...) catch every fault of their
  mode within seconds. `LowReliabilityScore` catches four modes out of five, because the
  reliability score mixes errors, latency and saturation: one rule, many causes, and the
  on-call has to find out which.
- `ErrorBudgetBurn` keeps firing for 600 s after an error burst: the node's budget window is
  10 minutes, and a rule on *remaining budget* says the budget is spent, not that something is
  wrong now.
- The SLO burn-rate alerts see errors and latency only (that is what the SLOs measure), fire a
  little later, and stay on for many minutes: their long windows remember the burst. The
  fleet-wide `EdgeAvailabilityBudgetBurn` misses the 10 s burst entirely: one node failing
  for 10 s is too little of the fleet's budget to page anyone, which is the point of an SLO.
- The `notify` column is `-` everywhere (and `notify_s` is NaN in `board.modes` below): it is
  the time until the alert receiver got Alertmanager's notification, and a simulated recording
  has no Alertmanager, so nothing was notified. Score an archive of a live lab (`labkit archive`,
  then `labkit score`) and the column fills in.

The same numbers as DataFrames, for your own analysis: `board.rules`, `board.modes`,
`board.faults` and `board.firings`.""",
    ),
    ("code", """tables.wrap(board.modes[board.modes.detected > 0], precision=2)"""),
    (
        "md",
        """## Moving a threshold and a `for`

`review.sweep` replays one rule with every combination of thresholds and `for` durations and
scores each. Start with `HighCPUUsage` (`node_cpu_usage_percent > 90`, `for: 0s`) and the four
CPU spikes of 10 s, 20 s, 1 min and 2 min.""",
    ),
    (
        "code",
        f"""{KEEP}
rules = {{r.name: r for r in load_rules(score.SEED_RULES)}}
cpu = review.sweep(prom, info, directory, rules["HighCPUUsage"], thresholds=[60, 75, 90], fors=[0, 15, 30])
print(cpu.round(2).to_string(index=False))""",
        True,
    ),
    (
        "md",
        """Two trade-offs in one table:

- **Threshold down, precision down.** At 60 % the rule fires dozens of times with no fault at
  all: CPU at rest drifts between 10 % and 85 %. Above the at-rest range, the threshold costs
  nothing here, because a spike jumps straight to 95-100 %.
- **`for` up, recall down and detection later.** `for: 15s` never fires for the 10 s spike,
  `for: 30s` misses the 20 s one as well, and every detection is at least `for` late. A `for`
  buys quiet against flapping; the price is short incidents and minutes of detection.

Memory behaves differently: a leak *climbs*, so the threshold decides how early you see it.""",
    ),
    (
        "code",
        f"""{KEEP}
mem = review.sweep(prom, info, directory, rules["HighMemoryUsage"], thresholds=[70, 80, 85], fors=[0, 10])
print(mem.round(2).to_string(index=False))""",
        True,
    ),
    (
        "md",
        """## Exercise

Make `HighMemoryUsage` fire **sooner than the seed's rule** (85 %, `for: 0s`) while keeping
every leak caught and **no false alert**. Choose `threshold` and `for_seconds` and run the cell:
the grader replays your rule over the recording and tells you what went wrong, if anything.
(Hint: at rest, memory stays between 20 % and 75 %.)""",
    ),
    (
        "code",
        """threshold = None    # percent
for_seconds = None  # seconds
review.grade_faster_rule("HighMemoryUsage", threshold, for_seconds, prom, info, directory)""",
    ),
    (
        "md",
        """Scoring is only as honest as its ground truth and its definitions: the grace period,
what counts as "on the node", and what a control period promises are all in
`labkit/score.py`'s docstring, and `labkit score DIR` prints the same board from the command
line (for a live session too: `labkit archive` it first).""",
    ),
    ("code", """lab.stop()"""),
]


def build(cells: list[tuple], path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"}, "language_info": {"name": "python"}}  # fmt: skip
    for kind, source, *keep in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if keep:
                cell.metadata["keep_output"] = True
            nb.cells.append(cell)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not cell.metadata.get("keep_output"):
            cell.outputs = []
            cell.execution_count = None  # nbval runs a kept cell only if it has a count
    nbformat.write(nb, path)
    print(f"wrote {path}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-lessons-") as tmp:
        os.environ["LABKIT_STATE_DIR"] = tmp
        build(LESSON_4, ROOT / "notebooks" / "04_offline_incident_review.ipynb")
        build(LESSON_5, ROOT / "notebooks" / "05_alert_quality.ipynb")


if __name__ == "__main__":
    sys.exit(main())
