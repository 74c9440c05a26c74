"""Helpers for lessons 4 and 5: reading an incident out of a recorded history, moving an alert
rule's threshold and `for`, and grading the exercises.

    directory = ensure(SCENARIOS / "bad-afternoon.yml")   # simulated once, then reused
    lab = Lab.open(directory)                      # a Prometheus over it
    symptoms(prom, lab.history)                    # what the metrics say happened, and when
    sweep(prom, lab.history, rule, thresholds=[60, 80, 90], fors=[0, 15])
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.alert_replay import Rule, replay, spans
from labkit.alerts import catches, watching
from labkit.errors import InvalidInput
from labkit.journal import read_journal
from labkit.recording import HistoryInfo
from labkit.resources import PROJECT
from labkit.score import faults_from_journal, score
from labkit.words import plural

if TYPE_CHECKING:
    import pandas as pd

    from labkit.history import Progress
    from labkit.query import Prom

SCENARIOS = PROJECT / "scenarios"


def ensure(
    scenario_file: Path | str,
    out: Path | str | None = None,
    *,
    start: float | None = None,
    progress: Progress | None = None,
) -> Path:
    """The history of `scenario_file` in `out` (default: .lab/histories/<name>/), written
    unless the same scenario's history is already there. For lessons: run twice, write once."""
    from labkit.history import DEFAULT_START, digest, write_history
    from labkit.scenario import load
    from labkit.settings import Settings

    start = DEFAULT_START if start is None else start
    s = load(scenario_file)
    target = Path(out) if out is not None else Settings.from_env().state_dir / "histories" / s.name
    if (target / "history.json").exists():
        if HistoryInfo.load(target).digest == digest(s, start):
            return target
        from labkit import replay

        replay.stop(target)
        shutil.rmtree(target)
    write_history(s, target, start=start, progress=progress)
    return target


def symptom_conditions() -> dict[str, str]:
    """What an on-call engineer looks for first: one PromQL condition per symptom, at the
    seed alerts' thresholds (labkit.alerts), latency over a minute of requests."""
    cpu, memory = watching("node_cpu_usage_percent"), watching("node_memory_usage_percent")
    errors = watching("node_error_rate")
    latency = watching("node_request_latency_seconds_bucket")
    q = latency.quantile or 0.95
    return {
        f"CPU above {cpu.threshold:g}%": f"node_cpu_usage_percent > {cpu.threshold:g}",
        f"memory above {memory.threshold:g}%": f"node_memory_usage_percent > {memory.threshold:g}",
        f"errors above {errors.threshold * 100:g}%": f"node_error_rate > {errors.threshold:g}",
        f"p{round(q * 100)} latency above {latency.threshold:g} s": (
            f"histogram_quantile({q:g}, sum by (node, le) "
            f"(rate(node_request_latency_seconds_bucket[1m]))) > {latency.threshold:g}"
        ),
        "not answering scrapes": 'up{job="edge-nodes"} == 0',  # not Prometheus' own jobs
    }


def symptoms(
    prom: Prom, info: HistoryInfo, conditions: dict[str, str] | None = None
) -> pd.DataFrame:
    """Every span during which a condition held on a node: symptom, node, from and to (minutes
    into the history), minutes. Sorted by start."""
    import pandas as pd

    rows = []
    for name, expr in (conditions or symptom_conditions()).items():
        frame = prom.range(expr, info.start, info.end, info.step_seconds)
        for labels, first, _, resolved in spans(frame, info.start, info.end, info.step_seconds):
            end = resolved if resolved is not None else info.end
            rows.append({"symptom": name, "node": int(labels["node"]),
                         "from_min": round((first - info.start) / 60, 2),
                         "to_min": round((end - info.start) / 60, 2),
                         "minutes": round((end - first) / 60, 2)})  # fmt: skip
    columns = ["symptom", "node", "from_min", "to_min", "minutes"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["from_min", "node", "symptom"], ignore_index=True)


def ground_truth(directory: Path | str) -> pd.DataFrame:
    """The faults a history's journal records, in minutes from its start."""
    info = HistoryInfo.load(directory)
    faults = faults_from_journal(list(read_journal(Path(directory) / "journal.jsonl")), info.end)
    table = faults.assign(
        node=faults["node"].astype(int),
        from_min=((faults["start"] - info.start) / 60).round(2),
        to_min=((faults["end"] - info.start) / 60).round(2),
    )[["failure", "node", "from_min", "to_min"]]
    return table.sort_values(["from_min", "node"], ignore_index=True)


def grade_incident(answer: Any, directory: Path | str) -> str:
    """Lesson 4's exercise: which nodes had an error burst, and in which minute did it start?
    `answer` = {"nodes": [...], "minute": n}."""
    truth = ground_truth(directory)
    bursts = truth[truth["failure"] == "error_burst"]
    nodes, minute = sorted(bursts["node"].tolist()), float(bursts["from_min"].min())
    if not isinstance(answer, dict) or set(answer) != {"nodes", "minute"}:
        return 'Not yet: put {"nodes": [...], "minute": ...} in `answer`.'
    given = answer["nodes"]
    if not isinstance(given, list) or not all(isinstance(n, int) for n in given):
        return "Not quite: `nodes` is a list of node numbers, such as [3, 5]."
    if sorted(given) != nodes:
        extra = sorted(set(given) - set(nodes))
        missing = sorted(set(nodes) - set(given))
        hints = []
        if extra:
            hints.append(
                f"{plural(len(extra), 'node', number=False)} {extra} never passed 5% errors"
            )
        if missing:
            hints.append(
                f"you missed {plural(len(missing), 'node')}: look at node_error_rate again"
            )
        return "Not quite: " + "; ".join(hints) + "."
    if not isinstance(answer["minute"], int | float) or abs(answer["minute"] - minute) > 1:
        return (f"The nodes are right; the start is not: find the first sample above 5% "
                f"(you said minute {answer['minute']!r}).")  # fmt: skip
    return f"Right: nodes {nodes}, from minute {minute:g}. The journal agrees."


_COMPARISON = re.compile(r"(>=|<=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*$")


def with_threshold(rule: Rule, threshold: float) -> Rule:
    """The rule with the number after its final comparison replaced (`x > 90` -> `x > 80`)."""
    if not _COMPARISON.search(rule.expr):
        raise InvalidInput("rule", rule.name, "a rule whose expression ends in a comparison")
    return rule.with_(expr=_COMPARISON.sub(lambda m: f"{m.group(1)} {threshold!r}", rule.expr))


def sweep(
    prom: Prom,
    info: HistoryInfo,
    directory: Path | str,
    rule: Rule,
    thresholds: Iterable[float],
    fors: Iterable[float] = (0.0,),
    failure: str | None = None,
) -> pd.DataFrame:
    """Precision, recall and detection time of `rule` for every (threshold, for) pair, on
    the same history. Recall and times are for `failure` (default: the rule's intended one)."""
    import pandas as pd

    failure = failure or catches(rule.name)
    if failure is None:
        raise InvalidInput("failure", failure, "a failure mode, for a rule labkit does not know")
    faults = faults_from_journal(list(read_journal(Path(directory) / "journal.jsonl")), info.end)
    rows = []
    for threshold in thresholds:
        for wait in fors:
            variant = with_threshold(rule, threshold).with_(for_seconds=float(wait))
            firings = replay(prom, [variant], info.start, info.end, info.step_seconds, "what-if")
            board = score(firings, faults, end=info.end, controls=info.controls,
                          grace_seconds=60.0, rule_names={"what-if": [rule.name]})  # fmt: skip
            r = board.rules.iloc[0]
            m = board.modes[board.modes["failure"] == failure].iloc[0]
            rows.append({"threshold": threshold, "for_s": float(wait), "firings": int(r.firings),
                         "false_alerts": int(r.false_alerts), "precision": r.precision,
                         "recall": m.recall, "detect_s": m.detect_s})  # fmt: skip
    return pd.DataFrame(rows)


def grade_faster_rule(
    rule_name: str,
    threshold: Any,
    for_seconds: Any,
    prom: Prom,
    info: HistoryInfo,
    directory: Path | str,
) -> str:
    """Lesson 5's exercise: a variant of a seed rule that fires sooner than the seed's own,
    with no false alert and no missed fault."""
    from labkit.alert_replay import load_rules
    from labkit.score import SEED_RULES

    if not isinstance(threshold, int | float) or not isinstance(for_seconds, int | float):
        return "Not yet: set `threshold` and `for_seconds` to numbers."
    if for_seconds < 0:
        return "Not quite: `for` is a duration, 0 or more seconds."
    rules = {r.name: r for r in load_rules(SEED_RULES)}
    if rule_name not in rules:
        raise InvalidInput("rule_name", rule_name, f"one of {', '.join(rules)}")
    rule = rules[rule_name]
    seed_value = float(_COMPARISON.search(rule.expr).group(2))  # type: ignore[union-attr]
    table = sweep(prom, info, directory, rule, [seed_value, threshold], [rule.for_seconds,
                  for_seconds])  # fmt: skip
    seed = table[(table.threshold == seed_value) & (table.for_s == rule.for_seconds)].iloc[0]
    row = table[(table.threshold == threshold) & (table.for_s == for_seconds)].iloc[0]
    problems = []
    if row.false_alerts:
        problems.append(f"{plural(int(row.false_alerts), 'false alert')}: at {threshold:g} the "
                        "fleet gets there with no fault at all")  # fmt: skip
    if row.recall < 1:
        problems.append(f"recall {row.recall:.2f}: a fault shorter than your `for` "
                        f"({for_seconds:g} s) ends before the alert fires")  # fmt: skip
    if not problems and not row.detect_s < seed.detect_s:
        problems.append(f"it fires after {row.detect_s:g} s (median), no sooner than the "
                        f"seed's rule ({seed.detect_s:g} s)")  # fmt: skip
    if problems:
        return "Not quite: " + "; ".join(problems) + "."
    return (f"Right: no false alert, every fault caught, and {row.detect_s:g} s to fire "
            f"against the seed's {seed.detect_s:g} s.")  # fmt: skip
