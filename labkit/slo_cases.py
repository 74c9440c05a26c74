"""promtool test cases (`promtool test rules`) for the alerts labkit.slo_rules generates, fed
with recorded error ratios: each alert fires when one window pair burns at twice its factor
(or stays silent when the spec disables it), and stays silent when every window is just below
the smallest factor, or when only the page's short window burns.

    cases = generate_tests(slos, prof, "rules.yml")     a promtool test file, as a dict
"""

from __future__ import annotations

from typing import Any

from labkit.errors import InvalidInput
from labkit.slo_rules import SLO, annotations_of, factor_text, ratio_record
from labkit.slo_windows import Profile, duration


def _input_series(
    ident: dict[str, str], windows: dict[float, str], values: dict[float, float]
) -> list[dict[str, str]]:
    out = []
    for w, text_ in windows.items():
        labels = {**ident, "sloth_window": text_}
        text = ",".join(f"{k}={_quoted(v)}" for k, v in sorted(labels.items()))
        value = min(1.0, values.get(w, 0.0))
        out.append({"series": f"{ratio_record(text_)}{{{text}}}", "values": f"{value!r}x10"})
    return out


def _quoted(value: str) -> str:
    """A label value in a promtool series selector: a double-quoted Go string."""
    import json

    return json.dumps(value, ensure_ascii=False)


def _expanded(text: str, labels: dict[str, str], where: str) -> str:
    """A label or annotation template as Prometheus expands it for an alert whose series has
    `labels`: only `{{ $labels.<name> }}` is expanded here (Sloth's title and summary use
    nothing else); a test of anything else would be a guess, so it is refused."""
    import re

    out = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), text)
    if "{{" in out:
        raise InvalidInput(
            where,
            text,
            "a template of {{ $labels.<name> }} actions only, for --tests (labkit cannot "
            "predict what other actions expand to; generate the rules without --tests)",
        )
    return out


def _expected(s: SLO, ident: dict[str, str], severity: str) -> dict[str, Any]:
    """The alert promtool should see: the series' labels and the rule's, templates expanded."""
    rule = {"sloth_severity": severity, **s.alert_labels, **s.alert(severity).labels}
    where = f"{s.id} {severity} alert"
    return {
        "exp_labels": {
            **ident,
            **{k: _expanded(v, ident, f"{where} label {k}") for k, v in rule.items()},
        },
        "exp_annotations": {
            k: _expanded(v, ident, f"{where} annotation {k}")
            for k, v in annotations_of(s, severity).items()
        },
    }


def generate_tests(slos: list[SLO], prof: Profile, rules_file: str) -> dict[str, Any]:
    """promtool test cases for the generated alerts, fed with the recorded error ratios: each
    alert fires when one window pair burns at twice its factor, and stays silent when every
    window is just below the smallest factor, or when only the short window burns. An
    alert the spec disables gets a case showing it silent at twice its factor."""
    windows = {w: duration(prof.window(w)) for w in prof.window_seconds}
    tests = []
    for s in slos:
        budget = float(s.budget_text)
        ident = {**s.labels, "sloth_id": s.id, "sloth_service": s.service, "sloth_slo": s.name}
        cases: list[tuple[str, dict[float, float], list[dict[str, Any]]]] = []
        for severity, pairs in prof.alert_windows.items():
            short, long_, factor = pairs[0]
            burning = {short: 2 * factor * budget, long_: 2 * factor * budget}
            off = s.alert(severity).disable
            cases.append(
                (
                    f"{severity} {'stays silent (disabled)' if off else 'fires'} at 2x "
                    f"its {factor_text(factor)}x burn rate",
                    burning,
                    [] if off else [_expected(s, ident, severity)],
                )
            )
        smallest = min(f for pairs in prof.alert_windows.values() for _, _, f in pairs)
        below = dict.fromkeys(windows, 0.9 * smallest * budget)
        cases.append(("silent just below the smallest factor", below, []))
        page_short, page_long, page_factor = prof.alert_windows["page"][0]
        short_only = {page_short: 2 * page_factor * budget, page_long: 0.5 * smallest * budget}
        cases.append(("silent when only the short window burns", short_only, []))
        if s.page.disable and s.ticket.disable:
            cases = [c for c in cases if not c[2]][:1]
        for name, values, alerts in cases:
            check = {"eval_time": "5m", "alertname": s.alert_name, "exp_alerts": alerts}
            tests.append(
                {
                    "name": f"{s.id}: {name}",
                    "interval": "1m",
                    "input_series": _input_series(ident, windows, values),
                    "alert_rule_test": [check],
                }
            )
    return {"rule_files": [rules_file], "evaluation_interval": "1m", "tests": tests}
