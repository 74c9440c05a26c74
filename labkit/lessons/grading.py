"""The lessons' graders' common parts: a `Feedback` (points, a verdict, findings), and two pure
graders over data the caller fetched (no I/O here):

    grade_firings(firings, faults, failure=..., goal_seconds=..., origin=...)
        an alert rule's replayed firings against a recording's faults: each fault of the mode
        missed or caught late, each firing that catches none of them (a false alarm)
    grade_values(answer, expected, origin=..., alternatives={"the p50": frame})
        a query's range result against the right one, node by node, within a tolerance

A finding says what is wrong and where (the minute of the recording, the node), and a hint
that does not give the answer away. `Feedback` shows itself as an HTML table in a notebook and
as plain text in `print`; `points` is what nbgrader's test cell reads (a float, partial credit).

Kinds of finding: miss, false alarm, late, wrong value, malformed, too wide, not answered.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.words import plural

if TYPE_CHECKING:
    import pandas as pd

CODE = re.compile(r"`([^`]+)`")  # `code` in a finding's text, shown as code in HTML
KINDS = ("not answered", "malformed", "miss", "false alarm", "late", "wrong value", "too wide")


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an answer: its kind (KINDS), what (a sentence), where (the minute
    of the recording and the node, when it has them; `recording` names it when a grader reads
    several) and a hint."""

    kind: str
    what: str
    minute: float | None = None
    node: int | None = None
    hint: str = ""
    recording: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"finding kind must be one of {', '.join(KINDS)}; got {self.kind!r}")

    def where(self) -> str:
        """ "5 min 15 s, node 2", "node 2", "" as a reader wants it."""
        parts = [self.recording] if self.recording else []
        if self.minute is not None:
            parts.append(when(self.minute))
        if self.node is not None:
            parts.append(f"node {self.node}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Feedback:
    """A grader's answer: `points` out of `max_points`, a one-line verdict, the findings."""

    points: float
    max_points: float
    verdict: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 0 <= self.points <= self.max_points:
            raise ValueError(f"points must be from 0 to {self.max_points:g}; got {self.points}")

    @property
    def full_marks(self) -> bool:
        return self.points == self.max_points

    def kinds(self) -> list[str]:
        """The findings' kinds, in order (for tests and for a quick look)."""
        return [f.kind for f in self.findings]

    def __str__(self) -> str:
        lines = [f"{self.verdict} ({self.points:g}/{self.max_points:g} points)"]
        for f in self.findings:
            where = f" [{f.where()}]" if f.where() else ""
            lines.append(f"- {f.kind}{where}: {f.what}" + (f" Hint: {f.hint}" if f.hint else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def e(text: str) -> str:  # escaped, with `code` as code
            return CODE.sub(r"<code>\1</code>", html.escape(text))

        colour = "#1b5e20" if self.full_marks else "#8a4b00"
        head = (
            f'<div class="labkit-feedback"><p style="color:{colour}"><b>{e(self.verdict)}</b> '
            f"({self.points:g}/{self.max_points:g} points)</p>"
        )
        if not self.findings:
            return head + "</div>"
        cell = 'style="text-align:left;vertical-align:top;padding:2px 8px"'
        table = [(f.kind, f.where(), f.what, f.hint) for f in self.findings]
        shown = [i for i in range(4) if any(row[i] for row in table)]  # an empty column: out
        rows = "".join(
            "<tr>" + "".join(f"<td {cell}>{e(row[i])}</td>" for i in shown) + "</tr>"
            for row in table
        )
        names = ("kind", "where", "what", "hint")
        header = "".join(f"<th {cell}>{names[i]}</th>" for i in shown)
        return (
            f'{head}<table class="labkit-findings"><thead><tr>{header}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )


def right(max_points: float, verdict: str) -> Feedback:
    return Feedback(float(max_points), float(max_points), verdict)


def not_answered(max_points: float, how: str) -> Feedback:
    """No answer yet: no points, and how to give one."""
    return Feedback(0.0, float(max_points), "Not answered yet.", (Finding("not answered", how),))


def wrong(max_points: float, verdict: str, *findings: Finding, points: float = 0.0) -> Feedback:
    return Feedback(float(points), float(max_points), verdict, tuple(findings))


def when(minutes: float) -> str:
    """A minute of a recording as people read it: "3 min", "22 min 30 s"."""
    whole, seconds = divmod(round(minutes * 60), 60)
    return f"{whole} min" + (f" {seconds} s" if seconds else "")


def minute(t: float, origin: float) -> float:
    """Epoch seconds as the minute of a recording that starts at `origin` (2 decimals)."""
    return round((t - origin) / 60, 2)


def _node(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- alert rules, replayed ------------------------------------------------------------------------


def alert_findings(
    firings: pd.DataFrame,
    faults: pd.DataFrame,
    *,
    failure: str,
    goal_seconds: float,
    origin: float,
    grace_seconds: float = 60.0,
    controls: Iterable[tuple[float, float]] = (),
    resolve_goal_seconds: float | None = None,
    recording: str = "",
) -> tuple[list[Finding], int, int]:
    """The findings of one rule's firings (alert_replay.replay's frame) over one recording
    against its faults (score.faults_from_journal's frame), with how many faults of
    `failure` there were and how many were caught within `goal_seconds`.

    A fault of `failure` is caught by a firing on its node (or without a node label) that
    starts from its start to its end + `grace_seconds`: none is a miss, a first one after
    `goal_seconds` is late; with `resolve_goal_seconds`, its firings still on longer than that
    after the fault's end are late too. A firing that catches no fault of `failure` is a false
    alarm (a fault of another mode included: the rule is for `failure`)."""
    controls = list(controls)
    targets = faults[faults["failure"] == failure]
    fired = [
        (
            _node(x.node),
            float(x.fired_at),
            None if _missing(x.resolved_at) else float(x.resolved_at),
        )
        for x in firings.itertuples()
    ]
    findings: list[Finding] = []
    in_time = 0
    caught_by: set[int] = set()
    for f in targets.itertuples():
        node = _node(f.node)
        hits = [
            i
            for i, (n, t, _) in enumerate(fired)
            if (n is None or n == node) and f.start <= t < f.end + grace_seconds
        ]
        caught_by.update(hits)
        at = minute(f.start, origin)
        if not hits:
            already = [t for n, t, r in fired if (n is None or n == node)
                       and t < f.start and (r is None or r > f.start)]  # fmt: skip
            if already:  # firing since before the fault: it never tells the fault apart
                findings.append(Finding(
                    "miss", f"misses the {failure} that starts at {when(at)} "
                    f"({f.end - f.start:g} s long): it was already firing there since "
                    f"{when(minute(min(already), origin))}, so nothing is sent for this fault.",
                    at, node, "A condition that holds with no fault cannot tell one: look at "
                    "the series' range at rest.", recording,
                ))  # fmt: skip
                continue
            findings.append(Finding(
                "miss", f"misses the {failure} that starts at {when(at)} "
                f"({f.end - f.start:g} s long).", at, node,
                "Is the condition ever true during this fault? Query its expression over the "
                "fault's minutes.", recording,
            ))  # fmt: skip
            continue
        first = min(hits, key=lambda i: fired[i][1])
        delay = fired[first][1] - f.start
        if delay > goal_seconds:
            findings.append(Finding(
                "late", f"fires {delay:g} s after the {failure} starts; the goal is "
                f"{goal_seconds:g} s.", at, node,
                "A `for`, a long range or a high threshold each add delay.", recording,
            ))  # fmt: skip
        else:
            in_time += 1
        if resolve_goal_seconds is not None:  # the last of its firings to end (one may flap)
            ends = [fired[i][2] for i in hits]
            after = max(math.inf if x is None else x for x in ends) - f.end
            if after > resolve_goal_seconds:
                still = "until the end" if after == math.inf else f"{after:g} s"
                findings.append(Finding(
                    "late", f"still fires {still} after the {failure} ends; the goal is to "
                    f"stop within {resolve_goal_seconds:g} s.", minute(f.end, origin), node,
                    "A short window forgets the fault soon after it ends.", recording,
                ))  # fmt: skip
    for i, (n, t, _) in enumerate(fired):
        if i in caught_by:
            continue
        quiet = any(a <= t < b for a, b in controls)
        other = _other_fault(n, t, faults, grace_seconds)
        why = (
            "in the quiet period, where no fault is injected"
            if quiet
            else f"during another fault ({other}), not a {failure}"
            if other
            else f"with no {failure} on {'the fleet' if n is None else 'the node'}"
        )
        hint = (
            f"The rule is for {failure}: what else moves the series it reads?"
            if other
            else "At rest the fleet gets there too: look at the series' range with no fault."
        )
        findings.append(Finding("false alarm", f"fires {why}.", minute(t, origin), n, hint,
                                recording))  # fmt: skip
    return findings, len(targets), in_time


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _other_fault(node: int | None, t: float, faults: pd.DataFrame, grace: float) -> str | None:
    for f in faults.itertuples():
        if (node is None or _node(f.node) == node) and f.start <= t < f.end + grace:
            return str(f.failure)
    return None


SHOWN_PER_KIND = 5  # findings of one kind on one recording shown; the rest are counted


def capped(findings: Iterable[Finding], shown: int = SHOWN_PER_KIND) -> list[Finding]:
    """At most `shown` findings of each kind on each recording, in order of their minute; the
    rest counted in one more finding ("and 1,953 more like these, on nodes 1, 3, 7")."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.kind, f.recording), []).append(f)
    out: list[Finding] = []
    for (kind, recording), group in groups.items():
        ordered = sorted(group, key=lambda f: (f.minute is None, f.minute or 0.0))
        out += ordered[:shown]
        rest = ordered[shown:]
        if rest:
            nodes = sorted({f.node for f in rest if f.node is not None})
            on = f", on {plural(len(nodes), 'node', number=False)} " if nodes else ""
            on += ", ".join(map(str, nodes[:8])) + (" and more" if len(nodes) > 8 else "")
            out.append(Finding(kind, f"and {len(rest):,} more like these{on}.",
                               hint=rest[0].hint, recording=recording))  # fmt: skip
    return out


def grade_firings(
    results: Iterable[tuple[list[Finding], int, int]],
    *,
    max_points: float,
    failure: str,
) -> Feedback:
    """One Feedback from `alert_findings` over one or more recordings. Half the points for the
    faults caught in time (shared between them), half for no false alarm at all; a rule that
    does both but is late to stop gets three quarters. Five findings of a kind per recording
    are shown, the rest counted (`capped`)."""
    findings: list[Finding] = []
    faults = in_time = 0
    for found, n, ok in results:
        findings += found
        faults, in_time = faults + n, in_time + ok
    share = in_time / faults if faults else 1.0
    false = sum(f.kind == "false alarm" for f in findings)
    points = max_points / 2 * share + (max_points / 2 if not false else 0.0)
    if not findings:
        return right(max_points, f"Right: every {failure} caught in time, no false alarm.")
    if any(f.kind == "late" for f in findings) and not false and share == 1:
        points = max_points * 0.75  # caught in time, but it keeps firing: not full marks
    parts = [f"{in_time} of {plural(faults, failure)} caught in time"]
    if false:
        parts.append(plural(false, "false alarm"))
    return wrong(max_points, "Not yet: " + ", ".join(parts) + ".", *capped(findings),
                 points=round(points, 2))  # fmt: skip


# -- query results, compared ---------------------------------------------------------------------


def grade_values(
    answer: pd.DataFrame | str | None,
    expected: pd.DataFrame,
    *,
    origin: float,
    max_points: float,
    what: str,
    alternatives: Mapping[str, pd.DataFrame] | None = None,
    rel_tolerance: float = 0.02,
) -> Feedback:
    """A query's range result (`answer`: a frame with `timestamp`, `value` and a `node`
    label; a string: the error Prometheus gave) against `expected`, one series per node.
    Each node's values must be within `rel_tolerance` of the right ones at every timestamp.
    `alternatives` are frames of known wrong answers ("the p50"): a node whose values match
    one of them says so. Points: the share of nodes right; none when every node that is off
    matches one alternative (the query is that wrong one, whatever nodes it gets right)."""
    if answer is None:
        return not_answered(max_points, f"Set `answer` to a PromQL query: {what}.")
    if isinstance(answer, str):
        return wrong(max_points, "Not yet: Prometheus refused the query.", Finding(
            "malformed", f"Prometheus says: {answer}",
            hint="Check the brackets and the function's arguments, in order."))  # fmt: skip
    if answer.empty:
        return wrong(max_points, "Not yet: the query returns no series.", Finding(
            "malformed", "No series over the whole window.",
            hint="histogram_quantile needs the `le` label of the buckets: keep it when you "
                 "aggregate."))  # fmt: skip
    if "node" not in answer.columns or answer["node"].isna().all():
        series = answer.drop(columns=["timestamp", "value"]).drop_duplicates()
        if len(series) > 1:  # grouped by something else: `instance`, say
            kept = [c for c in series.columns if series[c].notna().any()]
            return wrong(max_points, "Not yet: the series have no `node` label.", Finding(
                "malformed", f"{len(series)} series, told apart by "
                f"{', '.join(f'`{c}`' for c in kept) or 'nothing'}, not by `node`.",
                hint="The question asks for each node, named by its `node` label: keep that "
                     "one in the aggregation's `by`."))  # fmt: skip
        return wrong(max_points, "Not yet: one series for the whole fleet.", Finding(
            "malformed", "The result has no `node` label: the fleet is one series.",
            hint="An aggregation drops every label it is not told to keep `by`."))  # fmt: skip
    expected_nodes = sorted({int(n) for n in expected["node"]})
    per_node = _by_node(answer)
    findings: list[Finding] = []
    doubled = sorted(n for n, frame in per_node.items() if frame["timestamp"].duplicated().any())
    for n in doubled:
        findings.append(
            Finding(
                "malformed",
                "several series for this node.",
                node=n,
                hint="Aggregate to one series per node; which labels does the result keep?",
            )
        )
    missing = [n for n in expected_nodes if n not in per_node]
    extra = [n for n in per_node if n not in expected_nodes]
    for n in missing:
        findings.append(Finding("miss", "no value for this node.", node=n,
                                hint="A selector or a filter leaves it out."))  # fmt: skip
    for n in extra:
        findings.append(Finding("wrong value", "this node should not be in the result.", node=n))
    truth = _by_node(expected)
    ok = 0
    off_nodes: list[tuple[int, float, float, float, str]] = []  # node, minute, mine, right, like
    for n in expected_nodes:
        if n not in per_node or n in doubled:
            continue
        off = _first_off(per_node[n], truth[n], rel_tolerance)
        if off is None:
            ok += 1
            continue
        t, mine, right_value = off
        alike = [name for name, alt in (alternatives or {}).items()
                if n in _by_node(alt) and _first_off(per_node[n], _by_node(alt)[n],
                                                     rel_tolerance) is None]  # fmt: skip
        off_nodes.append((n, minute(t, origin), mine, right_value, alike[0] if alike
                          else ""))  # fmt: skip
    likes = {like for *_, like in off_nodes}
    # every node that is off is off as one known wrong query is: the query is that one, and
    # the nodes it gets right agree by chance (at rest the ranges, say, barely differ)
    systematic = bool(off_nodes) and len(likes) == 1 and "" not in likes
    if systematic:
        worst = max(_off_percent(mine, right_value) for _, _, mine, right_value, _ in off_nodes)
        k = len(off_nodes)
        said = (f"every node is off, by up to {worst:.0f} %." if k == len(expected_nodes)
                else f"{k} of {plural(len(expected_nodes), 'node')} {'is' if k == 1 else 'are'} "
                f"off, by up to {worst:.0f} %; the others match by chance.")  # fmt: skip
        findings.append(
            Finding(  # the same mistake everywhere: one finding says it
                "wrong value",
                said,
                hint=f"These are the values of {next(iter(likes))}: is that what the question "
                "asks?",
            )
        )
    else:
        for n, at, mine, right_value, lookalike in off_nodes:
            how = _relative(mine, right_value)
            hint = (
                f"These are the values of {lookalike}: is that what the question asks?"
                if lookalike
                else "Check the quantile, the range in brackets and what is summed."
            )
            findings.append(Finding("wrong value", f"{how} from {when(at)} on.", at, n, hint))
    if not findings:
        return right(max_points, f"Right: {what}, for every node, over the whole window.")
    share = 0.0 if systematic or not expected_nodes else ok / len(expected_nodes)
    if extra or doubled:
        share = min(share, 0.5)
    return wrong(max_points, f"Not yet: {ok} of {plural(len(expected_nodes), 'node')} right.",
                 *findings, points=round(max_points * share, 2))  # fmt: skip


def _by_node(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    out = {}
    for node, part in frame.groupby("node", observed=True):
        n = _node(node)
        if n is not None:
            out[n] = part.sort_values("timestamp")
    return out


def _first_off(
    mine: pd.DataFrame, truth: pd.DataFrame, rel: float
) -> tuple[float, float, float] | None:
    """The first timestamp (epoch seconds) where `mine` is off `truth`, with both values;
    a timestamp missing from `mine` counts as off (its value NaN)."""
    joined = truth[["timestamp", "value"]].merge(
        mine[["timestamp", "value"]], on="timestamp", how="left", suffixes=("_truth", "_mine")
    )
    for row in joined.itertuples():
        a, b = float(row.value_mine), float(row.value_truth)
        if math.isnan(a) and math.isnan(b):
            continue
        if math.isnan(a) or math.isnan(b) or not math.isclose(a, b, rel_tol=rel, abs_tol=1e-9):
            return row.timestamp.timestamp(), a, b
    return None


def _off_percent(mine: float, truth: float) -> float:
    """How far `mine` is from `truth`, in percent of it (inf when it cannot say)."""
    if math.isnan(mine) or math.isnan(truth) or truth == 0:
        return math.inf
    return abs(mine / truth - 1) * 100


def _relative(mine: float, truth: float) -> str:
    """How far off, in words that do not give the value away."""
    if math.isnan(mine):
        return "no value"
    if math.isnan(truth) or truth == 0:
        return "a value where there should be none"
    ratio = mine / truth
    off = abs(ratio - 1) * 100
    how = f"{off:.1f}" if off < 10 else f"{off:.0f}"  # 2.4 %, not a "2 %" within 2 %
    return f"{how} % too {'high' if ratio > 1 else 'low'}"
