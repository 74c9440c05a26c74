"""Scenarios: a seed, a fleet, a duration and a timed schedule of injections and no-fault
control periods, in YAML.

    name: one-of-each
    seed: 7
    nodes: 12
    duration: 10m
    schedule:
      - {at: 30s, nodes: [3], failure: cpu_spike, duration: 30s}
      - {at: 2m, nodes: all, failure: latency_spike, duration: 20s}
      - {control: true, at: 5m, duration: 2m}       # nothing may be injected here

`parse` and `load` report every problem at once, each with its line, and refuse:

- a file labkit.yamldoc will not read: not UTF-8 (naming the byte offset), over 16 MB, YAML
  aliases (so no alias bomb), nesting deeper than 64, a key given twice (`schedule:` twice
  names both lines), foreign tags, numbers too long to read, anything but one mapping;
- keys it does not know, at the top level and in schedule entries, with the nearest known
  key ("did you mean 'schedule'?");
- values of the wrong type: `seed` and `nodes` are whole numbers (not `true`, not `3.0`),
  `control` is `true` or `false` (not the string 'false'), `failure` is a mode's name,
  `name` and `description` are text, durations are labkit.durations' (`.nan`, `.inf` and
  text such as `1.5h` are not);
- values out of bounds (BOUNDS below): seed from 0 to 2**64 - 1, nodes from 1 to 5000, a
  scenario from 1 s to 1 y, a step from 1 s to 1 h, an injection from 1 s to 1 h, offsets
  from 0, node ids from 1 to `nodes`, each once;
- a control period that names a failure or nodes (it would lose them), an injection or a
  control period that ends after the scenario, the same fault overlapping itself on a node
  (a scenario may not restart a running fault; different faults may overlap), and a fault
  inside a control period.

Overlaps are found by sorting (per failure and node, by start), not by comparing every pair,
and the usual entry is checked in one go (`_Checker.usual`): a file of 100,000 injections is
read in about 1.1 s and checked in about 0.3 s, in memory about 13 times its size
(benchmarks/scenario_validate.py, docs/benchmarks.md).
"""

from __future__ import annotations

import bisect
import collections
import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from labkit import durations, yamldoc
from labkit.errors import DocumentError, InvalidInput, LabkitError, ScenarioError
from labkit.failures import FAILURE_MODES, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS
from labkit.words import plural

MAX_SEED = 2**64 - 1  # the simulator hashes a seed's 64 bits: every seed here is its own fleet
MAX_NODES = 5000  # as `labkit up --nodes`
MAX_SCENARIO_SECONDS = 365 * 86400.0  # 1y
BOUNDS = {
    "seed": f"a whole number from 0 to {MAX_SEED} (2**64 - 1)",
    "nodes": f"a whole number from 1 to {MAX_NODES}",
    "duration": "a duration from 1s to 1y, such as 10m",
    "step": "a duration from 1s to 1h, such as 15s",
}
TOP_KEYS = ("name", "description", "seed", "nodes", "duration", "step", "schedule")
ENTRY_KEYS = ("at", "nodes", "node", "failure", "duration", "control")
_ENTRY_KEYS = frozenset(ENTRY_KEYS)
_USUAL_KEYS = frozenset(("at", "nodes", "failure", "duration"))
_FAILURES = frozenset(FAILURE_MODES)


class _Span:
    """Something that starts at `at_seconds` into a scenario and lasts `duration_seconds`."""

    __slots__ = ()
    at_seconds: float
    duration_seconds: float

    @property
    def end_seconds(self) -> float:
        return self.at_seconds + self.duration_seconds


@dataclass(frozen=True, slots=True)
class Injection(_Span):
    at_seconds: float
    nodes: tuple[int, ...]
    failure: str
    duration_seconds: float
    line: int = 0


@dataclass(frozen=True, slots=True)
class Control(_Span):
    at_seconds: float
    duration_seconds: float
    line: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    nodes: int
    duration_seconds: float
    injections: tuple[Injection, ...] = field(default_factory=tuple)
    controls: tuple[Control, ...] = field(default_factory=tuple)
    description: str = ""
    step_seconds: float = 15.0


def seconds(value: Any) -> float | None:
    """30, 30s, 1m30s, 1w -> seconds (labkit.durations' grammar); None if not a duration."""
    try:
        return durations.parse(value)
    except InvalidInput:
        return None


def parse(text: str | bytes, path: str = "<scenario>") -> Scenario:
    """A scenario from its YAML (text, or the file's bytes); raises a ScenarioError listing
    every problem, each with its line: the top-level fields', each schedule entry's, then
    the overlaps."""
    with yamldoc.collector_paused():
        return _parse(text, path)


def _parse(text: str | bytes, path: str) -> Scenario:
    try:
        doc = yamldoc.load(text, path)
    except DocumentError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise ScenarioError(path, [where + exc.problem]) from None
    if not isinstance(doc, yamldoc.Mapping):
        got = "an empty file" if doc is None else _shown(doc)
        raise ScenarioError(
            path,
            [f"line {yamldoc.line_of(doc) or 1}: a scenario is a mapping with at least a "
             f"duration (and most often seed, nodes and schedule); got {got}"],
        )  # fmt: skip
    top, problems = _top_level(doc, Path(path).stem)
    checker = _Checker(top.nodes, top.duration_seconds)
    usual = checker.usual
    injections: list[Injection] = []
    controls: list[Control] = []
    for entry, line in zip(top.schedule, top.schedule_lines, strict=True):
        made: Injection | Control | None = usual(entry) if type(entry) is yamldoc.Mapping else None
        if made is None:
            made = _entry(entry, line, checker, problems)
        if isinstance(made, Injection):
            injections.append(made)
        elif made is not None:
            controls.append(made)
    injections.sort(key=_start)
    controls.sort(key=_start)
    problems += _conflicts(injections, controls, top.nodes)
    if problems:
        raise ScenarioError(path, problems)
    return Scenario(
        top.name,
        top.seed,
        top.nodes,
        top.duration_seconds,
        tuple(injections),
        tuple(controls),
        top.description,
        top.step_seconds,
    )


class _TopLevel(NamedTuple):
    name: str
    description: str
    seed: int
    nodes: int
    duration_seconds: float
    step_seconds: float
    schedule: list[Any]
    schedule_lines: list[int]


def _top_level(doc: yamldoc.Mapping, stem: str) -> tuple[_TopLevel, list[str]]:
    """name, description, seed, nodes, duration, step and schedule, each checked (a default
    where it is wrong, so that the schedule can still be checked), and their problems."""
    problems = yamldoc.unknown_keys(doc, TOP_KEYS, "scenario")

    def refuse(key: str, allowed: str) -> None:
        problems.append(_refusal(doc, key, allowed))

    texts = {}
    for key, default in (("name", stem), ("description", "")):
        texts[key] = doc.get(key, default)
        if not isinstance(texts[key], str) or (key == "name" and not texts[key].strip()):
            refuse(key, "text" if key == "description" else "some text (quote a number: '7')")
            texts[key] = default
    seed = doc.get("seed", 0)
    if not _whole(seed, 0, MAX_SEED):
        refuse("seed", BOUNDS["seed"])
        seed = 0
    nodes = doc.get("nodes", 12)
    if not _whole(nodes, 1, MAX_NODES):
        refuse("nodes", BOUNDS["nodes"])
        nodes = MAX_NODES  # unknown: entries are checked against the largest fleet
    total = seconds(doc.get("duration"))
    if "duration" not in doc:
        problems.append(f"line {doc.line}: duration is missing: the scenario's length, such as 10m")
        total = math.inf  # unknown: no entry is said to end after it
    elif total is None or not 1 <= total <= MAX_SCENARIO_SECONDS:
        problems.append(_refusal(doc, "duration", BOUNDS["duration"], duration=True))
        total = math.inf
    step = seconds(doc.get("step", 15))
    if step is None or not 1 <= step <= 3600:
        problems.append(_refusal(doc, "step", BOUNDS["step"], duration=True))
        step = 15.0
    schedule = doc.get("schedule")
    if schedule is None:  # `schedule:` with nothing after it, or none at all: no entries
        schedule = yamldoc.Sequence(doc.line)
    elif not isinstance(schedule, yamldoc.Sequence):
        refuse("schedule", "a list of injections and control periods")
        schedule = yamldoc.Sequence(doc.line)
    _not_missing_but_misspelt(doc, TOP_KEYS, problems, 0)
    lines = schedule.item_lines
    top = _TopLevel(texts["name"], texts["description"], seed, nodes, total, step, schedule, lines)
    return top, problems


def _refusal(mapping: yamldoc.Mapping, key: str, allowed: str, duration: bool = False) -> str:
    """The problem with `mapping[key]`: its line, the key, what is allowed, the value, and
    for a duration, labkit.durations' hint when it has one ("Did you mean 1h30m?")."""
    value = mapping[key]
    problem = f"line {mapping.key_line(key)}: {key} must be {allowed}; got {_shown(value)}"
    if duration:
        try:
            durations.parse(value)
        except InvalidInput as exc:
            problem += f". {exc.hint}" if exc.hint else ""
    return problem


def _whole(value: Any, low: int, high: int) -> bool:
    """A whole number (an int, not a bool or a float) from `low` to `high`."""
    return type(value) is int and low <= value <= high


class _Checker:
    """What a schedule entry is checked against, and what checking the last ones learnt:
    durations already read, the fleet's `all` (one tuple, shared by every entry that says
    `all`), node lists already read."""

    def __init__(self, nodes: int, total: float) -> None:
        self.nodes = nodes
        self.total = total
        self.texts: dict[str, float | None] = {}  # durations already read
        self.numbers: dict[int, float | None] = {}
        self.every = tuple(range(1, nodes + 1))
        self.targets: dict[Any, tuple[int, ...]] = {}
        self.one = [(node,) for node in range(nodes + 1)]  # one[3] is (3,), shared

    def usual(self, entry: yamldoc.Mapping) -> Injection | None:
        """The usual entry checked in one go: an injection written with exactly at, nodes,
        failure and duration, nothing wrong with it. None for anything else, which `_entry`
        checks in full (for what this takes, `_entry` gives the same Injection: tested). A
        100,000-entry schedule is checked in about three fifths of the time."""
        if entry.keys() != _USUAL_KEYS:
            return None
        failure, spec, at, length = entry["failure"], entry["nodes"], entry["at"], entry["duration"]
        if type(failure) is not str or failure not in _FAILURES:
            return None
        texts = self.texts  # most durations are text read before: no call
        start = texts.get(at) if type(at) is str else None
        span = texts.get(length) if type(length) is str else None
        if start is None:
            start = self.duration(at)
        if span is None:
            span = self.duration(length)
        if start is None or span is None or start < 0 or start + span > self.total:
            return None
        if not MIN_DURATION_SECONDS <= span <= MAX_DURATION_SECONDS:
            return None
        nodes = self.nodes
        targets: tuple[int, ...]
        if type(spec) is yamldoc.Sequence:
            if len(spec) == 1:
                node = spec[0]
                if type(node) is not int or not 0 < node <= nodes:
                    return None
                targets = self.one[node]
            else:
                for node in spec:
                    if type(node) is not int or not 0 < node <= nodes:
                        return None
                targets = tuple(sorted(set(spec)))
                if len(targets) != len(spec) or not spec:
                    return None
        elif type(spec) is int and 0 < spec <= nodes:
            targets = self.one[spec]
        elif spec == "all":
            targets = self.every
        else:
            return None
        return Injection(start, targets, failure, span, entry.line)

    def duration(self, value: Any) -> float | None:
        """`seconds(value)`, remembered for text and whole numbers (offsets and lengths
        repeat)."""
        kind = type(value)
        known: dict[Any, float | None]
        if kind is str:
            known = self.texts
        elif kind is int:
            known = self.numbers
        else:
            return seconds(value)
        if value in known:
            return known[value]
        known[value] = made = seconds(value)
        return made


def _entry(
    entry: Any, line: int, checker: _Checker, problems: list[str]
) -> Injection | Control | None:
    """One schedule entry, checked: what it schedules (None when it cannot be used); its
    problems are added to `problems`."""
    if type(entry) is not yamldoc.Mapping:
        problems.append(
            f"line {line}: each schedule entry is a mapping such as "
            f"{{at: 30s, nodes: [1], failure: cpu_spike, duration: 30s}}; got {_shown(entry)}"
        )
        return None
    before = len(problems)
    if not _ENTRY_KEYS.issuperset(entry):
        problems += yamldoc.unknown_keys(entry, ENTRY_KEYS, "schedule entry")
    at = checker.duration(entry.get("at"))
    if at is None or at < 0:
        if "at" in entry:
            allowed = "an offset from the scenario's start, 0 or more, such as 90s or 2m"
            problems.append(_refusal(entry, "at", allowed, duration=True))
        else:
            problems.append(f"line {line}: at is missing: the entry's start, such as 90s")
        at = None
    control = entry.get("control", False)
    usable = type(control) is bool
    if not usable:
        problems.append(
            f"line {entry.key_line('control')}: control must be true or false (unquoted); "
            f"got {_shown(control)}"
        )
        control = not ({"failure", "nodes", "node"} & entry.keys())  # checked as it looks
    if control:
        made: Injection | Control | None = _control(entry, at, checker, problems)
    else:
        made = _injection(entry, at, checker, problems)
    _not_missing_but_misspelt(entry, ENTRY_KEYS, problems, before)
    return made if usable else None


def _not_missing_but_misspelt(
    mapping: yamldoc.Mapping, allowed: tuple[str, ...], problems: list[str], since: int
) -> None:
    """Of `problems[since:]`, drop "line N: duration is missing" where an unknown key was
    taken for `duration` ("did you mean 'duration'?"): that problem says it already."""
    meant = {yamldoc.nearest_key(key, allowed) for key in mapping if key not in allowed}
    said = tuple(f"line {mapping.line}: {key} is missing" for key in meant if key)
    if said:
        problems[since:] = [p for p in problems[since:] if not p.startswith(said)]


def _control(
    entry: yamldoc.Mapping, at: float | None, checker: _Checker, problems: list[str]
) -> Control | None:
    named = [key for key in ("failure", "nodes", "node") if key in entry]
    if named:
        problems.append(
            f"line {entry.key_line(named[0])}: a control period is fault-free, so it names no "
            f"{' or '.join(named)}; got {', '.join(f'{k}: {_shown(entry[k])}' for k in named)}. "
            "Remove them, or make it an injection (control: false)"
        )
    length = _length(entry, checker, problems, control=True)
    if at is None or length is None:
        return None
    if at + length > checker.total:
        problems.append(
            f"line {entry.line}: the control period ends at {at + length:g} s, "
            f"after the scenario ({checker.total:g} s)"
        )
    return Control(at, length, entry.line)


def _injection(
    entry: yamldoc.Mapping, at: float | None, checker: _Checker, problems: list[str]
) -> Injection | None:
    failure = entry.get("failure")
    if type(failure) is not str or failure not in FAILURE_MODES:
        if "failure" not in entry:
            problems.append(
                f"line {entry.line}: failure is missing: one of {', '.join(FAILURE_MODES)}"
            )
        else:
            near = yamldoc.nearest_key(failure, FAILURE_MODES) if type(failure) is str else None
            problems.append(
                f"line {entry.key_line('failure')}: failure must be one of "
                f"{', '.join(FAILURE_MODES)}; got {_shown(failure)}"
                + (f"; did you mean {near!r}?" if near else "")
            )
        failure = None
    length = _length(entry, checker, problems, control=False)
    if at is not None and length is not None and at + length > checker.total:
        problems.append(
            f"line {entry.line}: the injection ends at {at + length:g} s, past the end "
            f"({checker.total:g} s)"
        )
    targets = _targets(entry, checker, problems)
    if failure is None or at is None or length is None or targets is None:
        return None
    return Injection(at, targets, failure, length, entry.line)


def _length(
    entry: yamldoc.Mapping, checker: _Checker, problems: list[str], control: bool
) -> float | None:
    """The entry's `duration` in seconds: above 0 for a control period, from 1 s to 1 h for
    an injection; else None, and a problem."""
    allowed = "a duration above 0, such as 2m" if control else "from 1s to 1h"
    if "duration" not in entry:
        problems.append(f"line {entry.line}: duration is missing: {allowed}")
        return None
    length = checker.duration(entry["duration"])
    if length is None or not (
        length > 0 if control else MIN_DURATION_SECONDS <= length <= MAX_DURATION_SECONDS
    ):
        problems.append(_refusal(entry, "duration", allowed, duration=True))
        return None
    return length


def _targets(
    entry: yamldoc.Mapping, checker: _Checker, problems: list[str]
) -> tuple[int, ...] | None:
    """`nodes:` (or `node:`) as sorted node ids (`all`: every one); None, and a problem,
    unless `all` or ids from 1 to the fleet's size, each once."""
    if "nodes" in entry and "node" in entry:
        problems.append(f"line {entry.key_line('node')}: give nodes or node, not both")
        return None
    key = "node" if "node" in entry else "nodes"
    if key not in entry:
        problems.append(
            f"line {entry.line}: nodes is missing: ids from 1 to {checker.nodes}, or all"
        )
        return None
    spec = entry[key]
    if spec == "all":
        return checker.every
    listed = spec if type(spec) is yamldoc.Sequence else [spec]
    nodes = checker.nodes
    if not listed or not all(type(n) is int and 1 <= n <= nodes for n in listed):
        problems.append(
            f"line {entry.key_line(key)}: {key} must be ids from 1 to {nodes} or all; "
            f"got {_shown(spec)}"
        )
        return None
    shape = tuple(listed)  # whole numbers only: (1,) and (True,) would be the same key
    if shape in checker.targets:  # the same list again (most lists are one or a few nodes)
        return checker.targets[shape]
    ids = tuple(sorted(set(listed)))
    if len(ids) < len(listed):
        twice = sorted(n for n, count in collections.Counter(listed).items() if count > 1)
        problems.append(
            f"line {entry.key_line(key)}: {key} lists node {', '.join(map(str, twice))} more "
            "than once; name each node once"
        )
        return None
    if len(checker.targets) < 10_000:
        checker.targets[shape] = ids
    return ids


_start = operator.attrgetter("at_seconds", "line")  # the order of a schedule


def _conflicts(injections: list[Injection], controls: list[Control], nodes: int) -> list[str]:
    """The same fault overlapping itself on a node, and faults inside control periods, found
    by sorting (`injections` and `controls` come sorted by start): each injection is filed
    under its failure and each of its nodes (an injection on every node, under its failure
    alone), and each list is swept in order against the span that runs longest so far. Every
    injection that overlaps is named at least once, each pair at most once."""
    pairs: dict[tuple[int, int], tuple[Injection, Injection, int]] = {}

    def sweep(spans: list[Injection], node: int) -> None:
        running = spans[0]
        running_end = running.end_seconds
        for span in spans[1:]:
            if span.at_seconds < running_end:
                pairs.setdefault((id(running), id(span)), (running, span, node))
            end = span.end_seconds
            if end > running_end:
                running, running_end = span, end

    fleetwide: dict[str, list[Injection]] = {}
    some: dict[str, list[Injection]] = {}
    per_node: dict[tuple[int, str], list[Injection]] = {}
    for injection in injections:
        if len(injection.nodes) == nodes:
            fleetwide.setdefault(injection.failure, []).append(injection)
        else:
            some.setdefault(injection.failure, []).append(injection)
            for node in injection.nodes:
                per_node.setdefault((node, injection.failure), []).append(injection)
    for (node, _), spans in sorted(per_node.items()):  # lowest node first: the one named
        sweep(spans, node)
    for failure, spans in fleetwide.items():  # on every node: against each other, on node 1,
        sweep(spans, 1)  # and both ways against those on some nodes, on theirs
        others = _Longest(some.get(failure, []))
        longest = _Longest(spans)
        for injection in some.get(failure, []):
            other = longest.overlapping(injection)
            if other is not None:
                pairs.setdefault((id(other), id(injection)), (other, injection, injection.nodes[0]))
        for injection in spans:
            other = others.overlapping(injection)
            if other is not None:
                pairs.setdefault((id(injection), id(other)), (injection, other, other.nodes[0]))
    out = []
    for a, b, node in pairs.values():
        first, second = (a, b) if a.line <= b.line else (b, a)
        out.append(
            (second.line, first.line,
             f"line {second.line}: {second.failure} on node {node} overlaps the one on line "
             f"{first.line}; a scenario may not restart a running fault")
        )  # fmt: skip
    if controls:
        periods = _Longest(controls)
        for injection in injections:
            control = periods.overlapping(injection)
            if control is not None:
                out.append(
                    (injection.line, control.line,
                     f"line {injection.line}: {injection.failure} runs into the control period "
                     f"on line {control.line}, which must be fault-free")
                )  # fmt: skip
    out.sort(key=lambda found: found[:2])
    return [text for _, _, text in out]


class _Longest:
    """Spans sorted by start, and for each, the one that ends last among it and those
    before it: whether a span overlaps any of them is a bisection."""

    def __init__(self, spans: list[Any]) -> None:
        self.starts = [s.at_seconds for s in spans]
        self.last: list[Any] = []
        for span in spans:
            if not self.last or span.end_seconds > self.last[-1].end_seconds:
                self.last.append(span)
            else:
                self.last.append(self.last[-1])

    def overlapping(self, span: _Span) -> Any:
        """One of the spans that overlaps `span` (not one of them), or None."""
        k = bisect.bisect_left(self.starts, span.end_seconds)  # those starting before its end
        if k and self.last[k - 1].end_seconds > span.at_seconds:
            return self.last[k - 1]
        return None


def _shown(value: Any) -> str:
    """`value` as written in a message: its repr (a date as YAML wrote it, 2026-01-01), cut
    short when long."""
    import datetime

    text = value.isoformat() if isinstance(value, datetime.date) else repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text):,} characters)"


def load(path: Path | str) -> Scenario:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(str(p), [f"cannot read it: {exc.strerror}"]) from None
    return parse(data, str(p))


def summary(s: Scenario) -> str:
    faults = sum(len(i.nodes) for i in s.injections)
    return (
        f"{s.name}: {plural(s.nodes, 'node')}, {s.duration_seconds:g} s, seed {s.seed}; "
        f"{plural(len(s.injections), 'injection')} ({plural(faults, 'node-fault')}), "
        f"{plural(len(s.controls), 'control period')}"
    )


def play(s: Scenario, lab: Any, out: Any, clock: Any = None, sleep: Any = None) -> int:
    """Play the schedule against a running lab, with a progress bar; returns injections made.
    Interrupted, it recovers every node it injected before returning."""
    import sys
    import time

    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    if len(lab.fleet.urls) < s.nodes:
        raise LabkitError(
            f"the scenario needs {plural(s.nodes, 'node')} and the lab has {len(lab.fleet.urls)}: "
            f"start it with `labkit up --nodes {s.nodes}`"
        )
    tty = hasattr(out, "isatty") and out.isatty()
    start = clock()
    done = 0
    touched: set[int] = set()

    def bar(now: float, note: str) -> None:
        share = min(1.0, now / s.duration_seconds)
        text = f"[{'#' * round(30 * share):<30}] {now:6.1f}/{s.duration_seconds:g} s  {note}"
        print(("\r" + text) if tty else text, end="" if tty else "\n", file=out, flush=True)

    try:
        for injection in s.injections:
            while (now := clock() - start) < injection.at_seconds:
                if tty:
                    bar(now, f"next: {injection.failure} at {injection.at_seconds:g} s")
                sleep(min(0.5, injection.at_seconds - now))
            lab.inject(list(injection.nodes), injection.failure, injection.duration_seconds)
            touched.update(injection.nodes)
            done += 1
            nodes = (
                "all" if len(injection.nodes) == s.nodes else ",".join(map(str, injection.nodes))
            )
            length = injection.duration_seconds
            bar(clock() - start, f"injected {injection.failure} on node {nodes} for {length:g} s")
        while (now := clock() - start) < s.duration_seconds:
            if tty:
                bar(now, "running to the end")
            sleep(min(0.5, s.duration_seconds - now))
        bar(s.duration_seconds, "done")
        if tty:
            print(file=out)
    except KeyboardInterrupt:
        if touched:
            lab.recover(sorted(touched))
        print(f"\ninterrupted: recovered nodes {sorted(touched)}", file=sys.stderr)
    return done
