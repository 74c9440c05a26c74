"""labkit: an SRE lab on a laptop.

A fleet of simulated edge nodes (labkit.model, labkit.node, labkit.service, labkit.fleet),
failure injection (labkit.failures, labkit.client, labkit.cli), the ground truth of what
was injected (labkit_fault_active on every node, and the journal in labkit.journal), and the
embedded lab with the real Prometheus and Alertmanager (labkit.stack, labkit.receiver,
labkit.lab).

The public API is `__all__`: what a lesson's notebook or a script imports from labkit. Classes,
constants and exceptions at the top, functions through their module:

    from labkit import Lab, Prom, plots, tables
    lab = Lab.open()
    plots.error_ratio(Prom(lab.prometheus_url).range("node_error_rate", start, end, 15))

Each name is imported on first use (PEP 562), so `import labkit` loads neither numpy, pandas
nor plotly, and a lone node never loads the stack. The lessons' own helpers are
labkit.lessons (its `__all__`). Every other module is labkit's inside: importable, but free to
change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labkit import (
        alert_replay,
        alerts,
        alertview,
        errors,
        journal,
        plots,
        query,
        routing,
        score,
        slo,
        slo_spec,
        tables,
    )
    from labkit.alertview_widget import AlertmanagerView
    from labkit.amtool import Amtool
    from labkit.dashboard_widget import Dashboard
    from labkit.errors import (
        CredentialsError,
        DocumentError,
        InvalidInput,
        LabkitError,
        LabNotRunning,
        LabNotStarted,
        NodeUnreachable,
        PortInUse,
        PrometheusUnreachable,
        QueryError,
        QueryRefused,
        QueryTimeout,
        ScenarioError,
        ServiceRefused,
        ServiceUnreachable,
        StartTimeout,
        UnreadableAnswer,
    )
    from labkit.failures import FAILURE_MODES
    from labkit.lab import Lab
    from labkit.query import Prom

__version__ = "0.1.0"

# each top-level name and the module it comes from
_HOME = {
    "Lab": "labkit.lab",  # one handle on a running lab, a replayed recording
    "Prom": "labkit.query",  # PromQL into tidy DataFrames
    "Dashboard": "labkit.dashboard_widget",  # the live dashboard, in a notebook
    "AlertmanagerView": "labkit.alertview_widget",  # groups, silences, routes, notifications
    "Amtool": "labkit.amtool",  # each view action as an amtool command line
    "FAILURE_MODES": "labkit.failures",
    **{
        name: "labkit.errors"
        for name in (
            "LabkitError",
            "InvalidInput",
            "DocumentError",
            "ScenarioError",
            "PortInUse",
            "NodeUnreachable",
            "ServiceUnreachable",
            "ServiceRefused",
            "PrometheusUnreachable",
            "QueryTimeout",
            "QueryError",
            "QueryRefused",
            "LabNotRunning",
            "LabNotStarted",
            "CredentialsError",
            "StartTimeout",
            "UnreadableAnswer",
        )
    },
}
_MODULES = (
    "alert_replay",  # alert rules replayed over a recording: load_rules, replay
    "alerts",  # the seed's alerts: names, thresholds, the failure each is meant to catch
    "alertview",  # Alertmanager's v2 API: groups, silences, routes, notifications
    "errors",  # the exception tree
    "journal",  # the injections journal; iso (epoch seconds as ISO 8601)
    "plots",  # plotly figures from DataFrames
    "query",  # Prom, to_frame, wide
    "routing",  # Alertmanager's routing tree: tree_lines, receivers_for
    "score",  # alert rules scored against the ground truth
    "slo",  # SLO maths: budgets, burn rates, the Workbook table
    "slo_spec",  # SLO specs in Sloth's format, their rules
    "tables",  # DataFrames as tables that wrap
)

__all__ = [
    "FAILURE_MODES",
    "AlertmanagerView",
    "Amtool",
    "CredentialsError",
    "Dashboard",
    "DocumentError",
    "InvalidInput",
    "Lab",
    "LabNotRunning",
    "LabNotStarted",
    "LabkitError",
    "NodeUnreachable",
    "PortInUse",
    "Prom",
    "PrometheusUnreachable",
    "QueryError",
    "QueryRefused",
    "QueryTimeout",
    "ScenarioError",
    "ServiceRefused",
    "ServiceUnreachable",
    "StartTimeout",
    "UnreadableAnswer",
    "alert_replay",
    "alerts",
    "alertview",
    "errors",
    "journal",
    "plots",
    "query",
    "routing",
    "score",
    "slo",
    "slo_spec",
    "tables",
]


def __getattr__(name: str) -> Any:
    """A public name, imported on first use (PEP 562)."""
    if name in _MODULES:
        value: Any = importlib.import_module(f"{__name__}.{name}")
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
