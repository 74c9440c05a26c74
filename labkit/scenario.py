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

`load` reports every problem at once, each with its line: unknown modes, nodes out of range,
durations out of bounds, injections past the end, the same fault overlapping itself on a node,
and faults inside control periods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from labkit import durations
from labkit.errors import InvalidInput, LabkitError, ScenarioError
from labkit.failures import FAILURE_MODES, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS
from labkit.words import plural


class _Span:
    """Something that starts at `at_seconds` into a scenario and lasts `duration_seconds`."""

    at_seconds: float
    duration_seconds: float

    @property
    def end_seconds(self) -> float:
        return self.at_seconds + self.duration_seconds


@dataclass(frozen=True)
class Injection(_Span):
    at_seconds: float
    nodes: tuple[int, ...]
    failure: str
    duration_seconds: float
    line: int = 0


@dataclass(frozen=True)
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


class _LineLoader(yaml.SafeLoader):
    """Safe YAML that remembers the line (1-based) each mapping starts on, as `__line__`."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def parse(text: str, path: str = "<scenario>") -> Scenario:
    """A scenario from its YAML; raises a ScenarioError listing every problem, each with its
    line: the top-level fields', each schedule entry's, then the overlaps."""
    doc = _document(text, path)
    top, problems = _top_level(doc)
    injections: list[Injection] = []
    controls: list[Control] = []
    for entry in top.schedule:
        made, said = _entry(entry, int(doc["__line__"]), top.nodes, top.duration_seconds)
        problems += said
        if isinstance(made, Injection):
            injections.append(made)
        elif isinstance(made, Control):
            controls.append(made)
    problems += _conflicts(injections, controls)
    if problems:
        raise ScenarioError(path, problems)
    return Scenario(
        str(doc.get("name", Path(path).stem)),
        top.seed,
        top.nodes,
        top.duration_seconds,
        tuple(sorted(injections, key=lambda i: i.at_seconds)),
        tuple(sorted(controls, key=lambda c: c.at_seconds)),
        str(doc.get("description", "")),
        top.step_seconds,
    )


def _document(text: str, path: str) -> dict[str, Any]:
    """The YAML mapping, each mapping in it with its `__line__`."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise ScenarioError(
            path, ["line 1: a scenario is a mapping with seed, nodes, duration, schedule"]
        )
    return doc


class _TopLevel(NamedTuple):
    seed: int
    nodes: int
    duration_seconds: float
    step_seconds: float
    schedule: list[Any]


def _top_level(doc: dict[str, Any]) -> tuple[_TopLevel, list[str]]:
    """seed, nodes, duration, step and schedule, each checked (a default where it is wrong,
    so that the schedule can still be checked), and their problems."""
    where = f"line {doc['__line__']}"
    problems: list[str] = []

    def top(key: str, check: Any, allowed: str, default: Any = None) -> Any:
        value = doc.get(key, default)
        ok = check(value)
        if not ok:
            problems.append(f"{where}: {key} must be {allowed}; got {value!r}")
        return value if ok else default

    seed = top(
        "seed", lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number", 0
    )
    nodes = top(
        "nodes",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5000,
        "a whole number from 1 to 5000",
        12,
    )
    total = seconds(doc.get("duration"))
    if total is None or total <= 0:
        problems.append(f"{where}: duration must be such as 10m; got {doc.get('duration')!r}")
        total = 0.0
    step = seconds(doc.get("step", 15))
    if step is None or not 1 <= step <= 3600:
        problems.append(f"{where}: step must be from 1s to 1h; got {doc.get('step')!r}")
        step = 15.0
    schedule = doc.get("schedule") or []
    if not isinstance(schedule, list):
        problems.append(f"{where}: schedule must be a list of injections and control periods")
        schedule = []
    return _TopLevel(seed, nodes, total, step, schedule), problems


_ENTRY_FIELDS = {"at", "nodes", "node", "failure", "duration", "control", "__line__"}


def _entry(
    entry: Any, doc_line: int, nodes: int, total: float
) -> tuple[Injection | Control | None, list[str]]:
    """One schedule entry, checked: what it schedules (None when it cannot be used) and its
    problems."""
    line = int(entry["__line__"]) if isinstance(entry, dict) else doc_line
    where = f"line {line}"
    if not isinstance(entry, dict):
        return None, [f"{where}: each schedule entry is a mapping; got {entry!r}"]
    problems = []
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            "allowed: at, nodes, failure, duration, control"
        )
    at = seconds(entry.get("at"))
    length = seconds(entry.get("duration"))
    if at is None or at < 0:
        problems.append(f"{where}: at must be an offset such as 90s or 2m; got {entry.get('at')!r}")
        return None, problems
    made: Injection | Control | None
    if entry.get("control"):
        made, said = _control(entry, at, length, line, total)
    else:
        made, said = _injection(entry, at, length, line, nodes, total)
    return made, problems + said


def _control(
    entry: dict[str, Any], at: float, length: float | None, line: int, total: float
) -> tuple[Control | None, list[str]]:
    where = f"line {line}"
    if length is None or length <= 0:
        return None, [f"{where}: a control period needs a duration; got {entry.get('duration')!r}"]
    problems = []
    if at + length > total:
        problems.append(
            f"{where}: the control period ends at {at + length:g} s, "
            f"after the scenario ({total:g} s)"
        )
    return Control(at, length, line), problems


def _injection(
    entry: dict[str, Any], at: float, length: float | None, line: int, nodes: int, total: float
) -> tuple[Injection | None, list[str]]:
    where = f"line {line}"
    problems = []
    failure = entry.get("failure")
    if failure not in FAILURE_MODES:
        problems.append(
            f"{where}: failure must be one of {', '.join(FAILURE_MODES)}; got {failure!r}"
        )
    if length is None or not MIN_DURATION_SECONDS <= length <= MAX_DURATION_SECONDS:
        problems.append(f"{where}: duration must be from 1s to 1h; got {entry.get('duration')!r}")
        length = None
    elif at + length > total:
        problems.append(
            f"{where}: the injection ends at {at + length:g} s, past the end ({total:g} s)"
        )
    spec = entry.get("nodes", entry.get("node"))
    targets = _targets(spec, nodes)
    if targets is None:
        problems.append(f"{where}: nodes must be ids from 1 to {nodes} or all; got {spec!r}")
    if failure in FAILURE_MODES and length is not None and targets:
        return Injection(at, targets, failure, length, line), problems
    return None, problems


def _targets(spec: Any, nodes: int) -> tuple[int, ...] | None:
    """`nodes:` as sorted node ids (`all`: every one); None unless ids from 1 to `nodes`."""
    if spec == "all":
        return tuple(range(1, nodes + 1))
    listed: list[Any] = spec if isinstance(spec, list) else [spec]
    bad = [
        n for n in listed if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= nodes
    ]
    if bad or not listed:
        return None
    return tuple(sorted(set(listed)))


def _conflicts(injections: list[Injection], controls: list[Control]) -> list[str]:
    out = []
    for i, a in enumerate(injections):
        for b in injections[i + 1 :]:
            shared = set(a.nodes) & set(b.nodes)
            if (
                a.failure == b.failure
                and shared
                and a.at_seconds < b.end_seconds
                and b.at_seconds < a.end_seconds
            ):
                first, second = sorted((a, b), key=lambda x: x.line)
                out.append(
                    f"line {second.line}: {second.failure} on node {min(shared)} overlaps the one "
                    f"on line {first.line}; a scenario may not restart a running fault"
                )
        for c in controls:
            if a.at_seconds < c.end_seconds and c.at_seconds < a.end_seconds:
                out.append(
                    f"line {a.line}: {a.failure} runs into the control period on line {c.line}, "
                    "which must be fault-free"
                )
    return out


def load(path: Path | str) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ScenarioError(str(p), [f"cannot read it: {exc.strerror}"]) from None
    return parse(text, str(p))


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
            f"the scenario needs {s.nodes} nodes and the lab has {len(lab.fleet.urls)}: "
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
