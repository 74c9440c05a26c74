"""SLO specs in Sloth's `prometheus/v1` format, and the Prometheus rules they generate.

A spec (YAML; several documents separated by --- make one rule file), as Sloth reads it, so
existing ones carry over:

    version: prometheus/v1
    service: edge
    labels: {team: sre}                       # on every recording rule
    slos:
      - name: requests-availability
        objective: 99.9                       # a percentage, as in Sloth
        description: Requests served without error.
        labels: {tier: "1"}
        sli:
          events:                             # or raw: {error_ratio_query: ...}
            error_query: sum(rate(node_requests_total{status="error"}[{{.window}}]))
            total_query: sum(rate(node_requests_total[{{.window}}]))
        alerting:
          name: EdgeAvailabilityBudgetBurn
          labels: {category: availability}    # on both alerts
          annotations: {runbook: https://...} # on both; title and summary have defaults
          page_alert: {labels: {severity: critical}}
          ticket_alert: {disable: true}

It writes what Sloth writes (labkit.slo_rules): three rule groups per SLO named as Sloth
names them, the SLI error ratio recorded over every window and the period, the SLO's metadata
(objective, budget, current and period burn rates, budget remaining, sloth_slo_info with the
SLO's infoLabels), and two multi-window multi-burn-rate alerts (page: 5m/1h at 14.4x or 30m/6h
at 6x; ticket: 2h/1d at 3x or 6h/3d at 1x, for a 30-day period), each unless disabled, with
Sloth's title and summary templates unless the spec gives its own. Differences: numbers as
decimals (0.001, not 0.0009999999999999432), sloth_version "labkit", one rule file for all the
documents, and an alert name made from the service and SLO when the spec gives none.

Two knobs, both optional. --period (Sloth's --default-slo-period, 30d): the SLO period; the
windows stay and the factors change so each alert still lets 2, 5, 10, 10 % of the budget go
(28d: 13.44, 5.6, 2.8, 0.933); --windows takes Sloth's AlertWindows file instead. --profile
(labkit's own, production): how long the whole period lasts in the lab; lab-day makes it 1 day
and scales every window alike (x 1/30 for 30 days: 5m -> 10s), refused when a window would be
under 4 scrape intervals. Under a lab profile the period's ratio is read through a subquery
stepped by the base window, for the lab's backfilled past; production writes Sloth's
expression. Sloth's -l/--extra-labels, --disable-alerts and --disable-recordings carry over.

Refused, each with the field (and its line) named, exit status 2, nothing written: unknown
keys (with "did you mean"), wrong types (`disable: "yes"`, an objective in quotes), an
objective outside [1, 100) (99.9, not 0.999), names Sloth refuses (letters, digits, . _ -),
two SLOs with one name, label names Prometheus refuses or the ones Sloth sets (sloth_id,
sloth_slo, sloth_window, ...), empty label
values, alert labels and annotations whose templates labkit cannot check, queries without
{{.window}}, with unbalanced brackets or quotes, or (when promtool is installed: it checks
the rules before they are written) that are not PromQL; files that are not UTF-8, YAML
aliases, duplicate keys; Sloth's plugins (slo_plugins, plugins, sli.plugin: labkit runs no
Sloth plugin) and rule group intervals (the lab evaluates every rule each second).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from labkit import promtemplate
from labkit.errors import InvalidInput
from labkit.resources import PROJECT
from labkit.slo_cases import generate_tests as generate_tests
from labkit.slo_rules import (
    RESERVED_LABELS,
    SLO,
    VERSION,
    Alert,
    Options,
    dump,
    ratio_record,
    tile_record,
)
from labkit.slo_rules import generate as generate
from labkit.slo_rules import render as render
from labkit.slo_rules import window_into as window_into
from labkit.slo_windows import (
    ALERT_WINDOWS,
    PERIOD_SECONDS,
    PROFILES,
    SEVERITIES,
    WINDOWS,
    Profile,
    duration,
    parse_duration,
    profile,
)
from labkit.specfields import flag, line_of, load_yaml_all, mapping, number, string_map, text

__all__ = [
    "ALERT_WINDOWS",
    "LAB_SPEC",
    "PERIOD_SECONDS",
    "PROFILES",
    "SEVERITIES",
    "SLO",
    "VERSION",
    "WINDOWS",
    "Alert",
    "Options",
    "Profile",
    "duration",
    "generate",
    "generate_tests",
    "load",
    "parse",
    "parse_all",
    "parse_duration",
    "profile",
    "ratio_record",
    "render",
    "tile_record",
    "window_into",
]

LAB_SPEC = PROJECT / "slo" / "edge.yml"  # the lab's own SLOs
#: Sloth's rule for service and SLO names (its `name` validation).
NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]")
NAME_RULE = (
    "a name of 2 or more letters, digits, '.', '_' or '-', starting and ending with a letter "
    "or digit (Sloth's rule)"
)
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ALERT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
PLUGINS = (
    "absent: labkit runs no Sloth plugin (write what the plugin would add by hand, or "
    "generate with Sloth)"
)

TOP_KEYS = ("version", "service", "labels", "slos", "slo_plugins")
SLO_KEYS = (
    "name",
    "objective",
    "description",
    "labels",
    "infoLabels",
    "sli",
    "alerting",
    "plugins",
    "interval",
)
ALERTING_KEYS = ("name", "labels", "annotations", "page_alert", "ticket_alert")
ALERT_KEYS = ("disable", "labels", "annotations")


def parse(doc: Any, where: str = "") -> list[SLO]:
    """SLOs from one decoded spec document; every problem names its field and what is
    allowed (`where` prefixes the fields of a document that is not a file's only one)."""
    at = f"{where}: " if where else ""
    top = mapping(doc, where, TOP_KEYS, need=True)
    if top.get("version") != VERSION:
        raise InvalidInput(
            f"{at}version", top.get("version"), f'"{VERSION}" (Sloth\'s Prometheus spec)'
        )
    if "slo_plugins" in top:
        raise InvalidInput(f"{at}slo_plugins", _plugin_ids(top["slo_plugins"]), PLUGINS)
    service = _name(top.get("service"), f"{at}service", "service: edge")
    common = _labels(top.get("labels"), f"{at}labels")
    entries = top.get("slos")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{at}slos", entries, "a list of at least one SLO")
    slos = [_slo(entry, f"{at}slos[{i}]", service, common) for i, entry in enumerate(entries)]
    _unique(slos, [f"{at}slos[{i}].name" for i in range(len(slos))])
    return slos


def parse_all(docs: list[Any]) -> list[SLO]:
    """The SLOs of every document of a file, refusing two SLOs with one id anywhere in it."""
    if not docs:
        raise InvalidInput("spec", None, f"a document with version: {VERSION}, service and slos")
    if len(docs) == 1:
        return parse(docs[0])
    slos, fields = [], []
    for d, doc in enumerate(docs):
        found = parse(doc, f"document {d + 1}")
        slos += found
        fields += [f"document {d + 1}: slos[{i}].name" for i in range(len(found))]
    _unique(slos, fields)
    return slos


def _unique(slos: list[SLO], fields: list[str]) -> None:
    seen: dict[str, str] = {}
    for s, field_ in zip(slos, fields, strict=True):
        if s.id in seen:
            raise InvalidInput(
                field_,
                s.name,
                f"a name no other SLO of service {s.service} has "
                f"({seen[s.id]} has it: their rule groups would clash)",
            )
        seen[s.id] = field_


def _name(value: Any, where: str, example: str) -> str:
    name = text(value, where, example)
    if not NAME.fullmatch(name):
        raise InvalidInput(where, name, NAME_RULE)
    return name


def _labels(value: Any, where: str) -> dict[str, str]:
    """Labels of recording rules: names Prometheus accepts and Sloth does not set itself,
    non-empty values."""
    labels = string_map(value, where)
    for key, item in labels.items():
        _label_name(key, where)
        _utf8(item, f"{where}.{key}")
        if not item:
            raise InvalidInput(
                f"{where}.{key}",
                item,
                "a non-empty value (an empty label is no label in Prometheus)",
            )
    return labels


def _label_name(key: str, where: str) -> None:
    if not LABEL_NAME.fullmatch(key) or key == "__name__":
        raise InvalidInput(
            f"{where}.{key}" if LABEL_NAME.fullmatch(key) else where,
            key,
            "a label name: letters, digits and _, not starting with a digit",
        )
    if key in RESERVED_LABELS:
        raise InvalidInput(
            f"{where}.{key}",
            key,
            "a label of your own: sloth_* labels are the generator's "
            f"({', '.join(sorted(RESERVED_LABELS))})",
        )


def _templates(value: Any, where: str, *, labels: bool) -> dict[str, str]:
    """Alert labels or annotations: Prometheus expands their values as templates."""
    out = _labels(value, where) if labels else string_map(value, where)
    for key, item in out.items():
        if not labels:
            if not LABEL_NAME.fullmatch(key):
                raise InvalidInput(where, key, "an annotation name: letters, digits and _")
            _utf8(item, f"{where}.{key}")
        promtemplate.check(item, f"{where}.{key}")
    return out


def _utf8(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            where,
            value,
            f"text (this holds a lone surrogate, {value[exc.start]!r}, which UTF-8 cannot write)",
        ) from None


def _plugin_ids(value: Any) -> Any:
    """What a plugins field names, for a message: its ids when it has a chain, else itself."""
    chain = value.get("chain") if isinstance(value, dict) else None
    if isinstance(chain, list):
        return [p.get("id") if isinstance(p, dict) else p for p in chain]
    return value


def _slo(entry: Any, where: str, service: str, common: dict[str, str]) -> SLO:
    """One entry of `slos:`, at `where` (slos[0]) in the spec."""
    slo = mapping(entry, where, SLO_KEYS, need=True)
    if "plugins" in slo:
        raise InvalidInput(f"{where}.plugins", _plugin_ids(slo["plugins"]), PLUGINS)
    if "interval" in slo:
        raise InvalidInput(
            f"{where}.interval",
            slo["interval"],
            "absent: labkit writes no rule group intervals (the lab evaluates "
            "every rule each second; Prometheus' own interval applies)",
        )
    name = _name(slo.get("name"), f"{where}.name", "name: requests-availability")
    objective = _objective(slo.get("objective"), f"{where}.objective")
    sli = _sli(slo.get("sli"), f"{where}.sli")
    alerting = mapping(slo.get("alerting"), f"{where}.alerting", ALERTING_KEYS)
    alerts = {
        sev: _alert(alerting.get(f"{sev}_alert"), f"{where}.alerting.{sev}_alert")
        for sev in ("page", "ticket")
    }
    alert_name = alerting.get("name")
    if alert_name is None:
        alert_name = f"{_camel(service)}{_camel(name)}BudgetBurn"  # labkit's default
    elif not isinstance(alert_name, str) or not ALERT_NAME.fullmatch(alert_name):
        raise InvalidInput(
            f"{where}.alerting.name",
            alert_name,
            "an alert name (letters, digits, _ . : -, starting with a letter or _)",
        )
    description = slo.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidInput(f"{where}.description", description, "a string")
    info = _labels(slo.get("infoLabels"), f"{where}.infoLabels")
    return SLO(
        service=service,
        name=name,
        objective_percent=objective,
        description=description or "",
        labels={**common, **_labels(slo.get("labels"), f"{where}.labels")},
        info_labels=info,
        alert_name=alert_name,
        alert_labels=_templates(alerting.get("labels"), f"{where}.alerting.labels", labels=True),
        alert_annotations=_templates(
            alerting.get("annotations"), f"{where}.alerting.annotations", labels=False
        ),
        page=alerts["page"],
        ticket=alerts["ticket"],
        where=where,
        **sli,
    )


def _alert(value: Any, where: str) -> Alert:
    alert = mapping(value, where, ALERT_KEYS)
    return Alert(
        disable=flag(alert.get("disable"), f"{where}.disable"),
        labels=_templates(alert.get("labels"), f"{where}.labels", labels=True),
        annotations=_templates(alert.get("annotations"), f"{where}.annotations", labels=False),
    )


def _objective(value: Any, where: str) -> float:
    """The objective, a percentage (99.9); 0.999 is refused with a hint."""
    if value is None:
        raise InvalidInput(where, None, "present: a percentage, for example 99.9")
    objective = number(value, where) if not isinstance(value, str) else None
    if objective is None:
        raise InvalidInput(where, value, "a number (a percentage, for example 99.9), not a string")
    if 0 < objective < 1:
        raise InvalidInput(
            where,
            value,
            "a percentage of at least 1 (99.9 for 99.9 %), not a ratio",
            f"Objectives are percentages: did you mean {objective * 100:g}?",
        )
    if not 0 < objective < 100:
        raise InvalidInput(
            where,
            value,
            "a percentage between 0 and 100 (exclusive: 100 leaves no error budget to burn)",
        )
    return objective


def _sli(value: Any, where: str) -> dict[str, str]:
    """The SLI's queries: events (error_query, total_query) or raw (error_ratio_query)."""
    sli = mapping(value, where, ("events", "raw", "plugin"), need=True)
    if "plugin" in sli:
        plugin = sli["plugin"]
        raise InvalidInput(
            f"{where}.plugin", plugin.get("id") if isinstance(plugin, dict) else plugin, PLUGINS
        )
    kinds = [k for k in ("events", "raw") if k in sli]
    if len(kinds) != 1:
        raise InvalidInput(where, sorted(sli), "one SLI type: events or raw")
    if kinds == ["raw"]:
        raw = mapping(sli["raw"], f"{where}.raw", ("error_ratio_query",), need=True)
        return {"raw_query": _query(raw.get("error_ratio_query"), f"{where}.raw.error_ratio_query")}
    events = mapping(sli["events"], f"{where}.events", ("error_query", "total_query"), need=True)
    out = {q: _query(events.get(q), f"{where}.events.{q}") for q in ("error_query", "total_query")}
    if out["error_query"] == out["total_query"]:
        raise InvalidInput(
            f"{where}.events.total_query",
            out["total_query"],
            "a query other than error_query (their ratio would always be 1)",
        )
    return out


def _query(value: Any, where: str) -> str:
    """A PromQL query with Sloth's {{.window}} placeholder, and no other template action;
    brackets and quotes balanced (labkit does not parse PromQL: promtool does)."""
    query = text(value, where, "sum(rate(http_requests_total[{{.window}}]))")
    _utf8(query, where)
    if not WINDOW.search(query):
        raise InvalidInput(
            where, query, "a query with the {{.window}} placeholder in its range, as Sloth's"
        )
    rest = WINDOW.sub("5m", query)
    if "{{" in rest or "}}" in rest:
        raise InvalidInput(where, query, "a query whose only template action is {{.window}}")
    problem = _unbalanced(rest)
    if problem:
        raise InvalidInput(
            where, query, "a PromQL query with balanced brackets and quotes", f"Here: {problem}."
        )
    return query


def _unbalanced(query: str) -> str:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch in "\"'`":
            end = i + 1
            while end < len(query) and query[end] != ch:
                end += 2 if query[end] == "\\" and ch != "`" else 1
            if end >= len(query):
                return f"the string opened at character {i + 1} is not closed"
            i = end + 1
            continue
        if ch == "#":
            return "a # starts a comment that hides the rest of the query"
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return f"{ch!r} at character {i + 1} closes nothing"
        i += 1
    return f"{stack[-1]!r} is not closed" if stack else ""


def load(path: Path | str) -> list[SLO]:
    """The SLOs of a spec file (every YAML document of it), a problem's message naming the
    file and the line of its field."""
    docs = load_yaml_all(Path(path))
    try:
        return parse_all(docs)
    except InvalidInput as exc:
        line = line_of(docs, exc.field)
        where = f"{path}: line {line}" if line is not None else str(path)
        exc.args = (f"{where}: {exc}",)
        raise


def check_with_promtool(text: str, slos: list[SLO], source: str = "") -> bool:
    """Has promtool check rendered rules, when it is installed (False when it is not). Names,
    labels and templates are checked by labkit itself; this catches a query that is not
    PromQL (labkit checks only its brackets and quotes), naming the SLO it came from."""
    import shutil
    import subprocess
    import tempfile

    tool = shutil.which("promtool")
    if tool is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yml"
        rules.write_text(text, encoding="utf-8")
        run = subprocess.run([tool, "check", "rules", "--lint=none", str(rules)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    if run.returncode == 0:
        return True
    lines = [line.replace(f"{rules}: ", "") for line in (run.stderr or run.stdout).splitlines()
             if line.strip() and "FAILED" not in line]  # fmt: skip
    lines = lines or [f"exit status {run.returncode}"]
    said = lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")
    culprit = next((s for s in slos if f'-{s.id}", rule' in lines[0]), None)
    field, value = source or "SPEC", None
    if culprit is not None:
        field = f"{source}: " * bool(source) + culprit.where + ".sli"
        value = culprit.raw_query or {"error_query": culprit.error_query,
                                      "total_query": culprit.total_query}  # fmt: skip
    raise InvalidInput(field, value,
                       "queries that are PromQL (promtool refused the rules they make)",
                       f"promtool: {said}")  # fmt: skip


def extra_labels(pairs: list[str], field: str = "--extra-labels") -> dict[str, str]:
    """KEY=VALUE pairs (Sloth's -l), checked as the spec's own labels are."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(field, pair, "KEY=VALUE, for example team=sre")
        out.update(_labels({key: value}, field))
    return out


def dump_tests(tests: dict[str, Any]) -> str:
    """promtool test cases (generate_tests) as YAML."""
    return dump(tests)


def _camel(text_: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text_) if part)
