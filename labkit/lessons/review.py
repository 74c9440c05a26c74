"""Helpers for lessons 4 and 5: reading an incident out of a recorded history, moving an alert
rule's threshold and `for`, and grading the exercises.

    directory = ensure(SCENARIOS / "bad-afternoon.yml")   # simulated once, then reused
    lab = Lab.open(directory)                      # a Prometheus over it
    symptoms(prom, lab.history)                    # what the metrics say happened, and when
    sweep(prom, lab.history, rule, thresholds=[60, 80, 90], fors=[0, 15])

The graders are pure (`grade_incident(answer, truth)`, `grade_faster_rule(runs)`); their
wrappers fetch the data (`check_incident(answer, directory)`, `check_faster_rule(expr,
for_seconds, [directory, ...])`, which replays the rule with `replay_rule`).
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.alert_replay import Rule, replay, spans
from labkit.alerts import catches, watching
from labkit.errors import InvalidInput
from labkit.journal import read_journal
from labkit.lessons import grading
from labkit.lessons.grading import Feedback, Finding
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
    return fault_minutes(faults, info.start)


def fault_minutes(faults: pd.DataFrame, origin: float) -> pd.DataFrame:
    """Faults (score.faults_from_journal's frame) as failure, node, from_min and to_min:
    minutes from `origin`, the recording's start."""
    table = faults.assign(
        node=faults["node"].astype(int),
        from_min=((faults["start"] - origin) / 60).round(2),
        to_min=((faults["end"] - origin) / 60).round(2),
    )[["failure", "node", "from_min", "to_min"]]
    return table.sort_values(["from_min", "node"], ignore_index=True)


INCIDENT_POINTS = 4.0  # nodes 2, start 1, end 1


def grade_incident(
    answer: Any,
    truth: pd.DataFrame,
    *,
    failure: str = "error_burst",
    tolerance_minutes: float = 1.0,
) -> Feedback:
    """Lesson 4's exercise, pure: which nodes had `failure`, and in which minutes of the
    recording did it start and end? `answer` = {"nodes": [...], "start": m, "end": m};
    `truth` = ground_truth(directory). Nodes are worth 2 points, the start and the end 1 each,
    each within `tolerance_minutes`; how far off a time is, is said roughly, not exactly."""
    faults = truth[truth["failure"] == failure]
    nodes = sorted(int(n) for n in faults["node"])
    first, last = float(faults["from_min"].min()), float(faults["to_min"].max())
    shape = '{"nodes": [...], "start": ..., "end": ...}'
    if answer is None:
        return grading.not_answered(INCIDENT_POINTS, f"Put {shape} in `answer`.")
    if not isinstance(answer, dict) or set(answer) != {"nodes", "start", "end"}:
        return grading.wrong(
            INCIDENT_POINTS,
            "Not yet: the answer is not in the asked shape.",
            Finding("malformed", f"`answer` should be {shape}; got {answer!r}."),
        )
    given, start, end = answer["nodes"], answer["start"], answer["end"]
    if not isinstance(given, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) for n in given
    ):
        return grading.wrong(INCIDENT_POINTS, "Not yet: `nodes` is not a list of node numbers.",
                             Finding("malformed", f"`nodes` is a list such as [3, 5]; got "
                                     f"{given!r}."))  # fmt: skip
    if not all(_number(x) for x in (start, end)):
        return grading.wrong(
            INCIDENT_POINTS,
            "Not yet: `start` and `end` are minutes.",
            Finding(
                "malformed",
                "`start` and `end` are numbers of minutes "
                f"from the recording's start; got {start!r}, {end!r}.",
            ),
        )
    findings = []
    for n in sorted(set(given) - set(nodes)):
        findings.append(
            Finding(
                "wrong value",
                f"node {n} had no {failure}.",
                node=n,
                hint="Its error ratio never left the at-rest range.",
            )
        )
    if missing := set(nodes) - set(given):
        findings.append(
            Finding(
                "miss",
                f"{plural(len(missing), 'node')} with the {failure} missing.",
                hint="Look at node_error_rate for every node again.",
            )
        )
    points = 2.0 if not findings else 0.0
    for name, said, real in (("start", start, first), ("end", end, last)):
        off = float(said) - real
        if abs(off) <= tolerance_minutes:
            points += 1
            continue
        findings.append(
            Finding(
                "wrong value",
                f"the {name} is {_how_far(off)} {'late' if off > 0 else 'early'} "
                f"(more than the {tolerance_minutes:g} minute allowed).",
                float(said),
                hint=f"Find the {'first' if name == 'start' else 'last'} sample above 5 % errors.",
            )
        )
    if not findings:
        return grading.right(INCIDENT_POINTS, f"Right: nodes {nodes}, from minute {first:g} "
                             f"to minute {last:g}. The journal agrees.")  # fmt: skip
    return grading.wrong(INCIDENT_POINTS, "Not quite.", *findings, points=points)


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _how_far(minutes: float) -> str:
    """A distance in time, roughly: the grader says which way and about how far, not the
    answer."""
    m = abs(minutes)
    return "a little" if m <= 3 else "several minutes" if m <= 10 else "more than ten minutes"


def check_incident(answer: Any, directory: Path | str) -> Feedback:
    """Lesson 4's exercise on the recording in `directory`: its journal is the truth."""
    return grade_incident(answer, ground_truth(directory))


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


MEMORY_RULE_POINTS = 4.0
MEMORY_GOAL_SECONDS = 7.0  # a second sooner than the seed's 85 %, 8 s after a leak starts


def replay_rule(
    expr: str, for_seconds: float, directory: Path | str
) -> tuple[pd.DataFrame, pd.DataFrame, HistoryInfo] | str:
    """A rule's firings over the recording in `directory`, with its faults and history.json;
    Prometheus' error as a string when it refuses the expression. Starts the recording's
    replay Prometheus if none serves it, and stops it after."""
    from labkit import replay as replay_mod
    from labkit.errors import QueryError
    from labkit.query import Prom

    info = HistoryInfo.load(directory)
    started = replay_mod.running_url(Path(directory)) is None
    prom = Prom(replay_mod.start(directory))
    try:
        rule = Rule("answer", expr, float(for_seconds))
        firings = replay(prom, [rule], info.start, info.end, info.step_seconds, "answer")
    except QueryError as exc:
        return exc.message
    finally:
        if started:
            replay_mod.stop(directory)
    faults = faults_from_journal(list(read_journal(Path(directory) / "journal.jsonl")), info.end)
    return firings, faults, info


def rule_answer_problem(expr: Any, for_seconds: Any, max_points: float) -> Feedback | None:
    """The Feedback for an answer that is not a rule yet (None when it is one)."""
    if expr is None:
        return grading.not_answered(max_points, "Set `expr` to a PromQL condition and "
                                    "`for_seconds` to a number of seconds.")  # fmt: skip
    if not isinstance(expr, str) or not expr.strip():
        return grading.wrong(
            max_points,
            "Not yet: `expr` is not PromQL.",
            Finding("malformed", f"`expr` is a PromQL text; got {expr!r}."),
        )
    if not _number(for_seconds) or for_seconds < 0:
        return grading.wrong(max_points, "Not yet: `for_seconds` is not a duration.",
                             Finding("malformed", "`for_seconds` is 0 or more seconds; got "
                                     f"{for_seconds!r}."))  # fmt: skip
    return None


def grade_faster_rule(
    runs: Iterable[tuple[pd.DataFrame, pd.DataFrame, HistoryInfo] | str],
    *,
    goal_seconds: float = MEMORY_GOAL_SECONDS,
    failure: str = "memory_leak",
) -> Feedback:
    """Lesson 5's exercise, pure: a rule's firings over each recording (replay_rule's
    results: firings, faults, history.json; or Prometheus' error) graded against the faults:
    every `failure` caught within `goal_seconds`, and no false alarm on any recording."""
    results = []
    for run in runs:
        if isinstance(run, str):
            return grading.wrong(
                MEMORY_RULE_POINTS,
                "Not yet: Prometheus refused `expr`.",
                Finding(
                    "malformed",
                    f"Prometheus says: {run}",
                    hint="Try the expression in a query first.",
                ),
            )
        firings, faults, info = run
        results.append(grading.alert_findings(
            firings, faults, failure=failure, goal_seconds=goal_seconds, origin=info.start,
            grace_seconds=60.0, controls=info.controls, recording=info.name))  # fmt: skip
    return grading.grade_firings(results, max_points=MEMORY_RULE_POINTS, failure=failure)


def check_faster_rule(expr: Any, for_seconds: Any, directories: Sequence[Path | str]) -> Feedback:
    """Lesson 5's exercise: the rule replayed over each recording (alert-quality, quiet-day),
    then graded by grade_faster_rule."""
    problem = rule_answer_problem(expr, for_seconds, MEMORY_RULE_POINTS)
    if problem is not None:
        return problem
    return grade_faster_rule([replay_rule(expr, for_seconds, d) for d in directories])
