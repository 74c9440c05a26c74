"""Alertmanager's routing tree: parsed from the config, drawn as text, and resolved as
Alertmanager resolves it; checked against the real Alertmanager's config and amtool."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

import pytest

from labkit import alertview
from labkit.amtool import Amtool
from labkit.errors import LabkitError
from labkit.lessons import silencing
from labkit.routing import parse_routes, receivers_for, tree_lines
from tests.conftest import REPO

LAB_CONFIG = (REPO / "alertmanager" / "alertmanager.yml").read_text()

NESTED = """
route:
  receiver: root
  group_by: [alertname]
  routes:
    - match: {team: db}
      receiver: db
      continue: true
      group_wait: 5s
      routes:
        - matchers: ['severity=~"crit.*", env!=dev']
          receiver: db-pager
    - match_re: {team: "db|web"}
      receiver: teams
    - matchers: ['{severity="info"}']
      receiver: info
"""

ROUTED = [
    # (config, labels, receivers in Alertmanager's order)
    (LAB_CONFIG, {"alertname": "HighErrorRate", "node": "6", "severity": "critical"}, ["critical"]),
    (LAB_CONFIG, {"alertname": "HighCPUUsage", "node": "6", "severity": "warning"}, ["warning"]),
    (LAB_CONFIG, {"alertname": "Custom", "severity": "info"}, ["default"]),
    (LAB_CONFIG, {"alertname": "NoSeverity"}, ["default"]),  # the root catches everything
    (LAB_CONFIG, {"severity": "Critical"}, ["default"]),  # values are case-sensitive
    (NESTED, {"team": "db"}, ["db", "teams"]),  # continue: the next sibling gets it too
    (NESTED, {"team": "db", "severity": "critical"}, ["db-pager", "teams"]),
    (NESTED, {"team": "db", "severity": "critical", "env": "dev"}, ["db", "teams"]),
    (NESTED, {"team": "web", "severity": "info"}, ["teams"]),  # first match wins, no continue
    (NESTED, {"team": "ops", "severity": "info"}, ["info"]),
    (NESTED, {"team": "dba"}, ["root"]),  # match_re is anchored
]


@pytest.mark.parametrize(("config", "labels", "receivers"), ROUTED)
def test_receivers_follow_alertmanagers_routing(
    config: str, labels: dict[str, str], receivers: list[str]
) -> None:
    assert receivers_for(parse_routes(config), labels) == receivers


def test_children_inherit_what_they_do_not_set() -> None:
    root = parse_routes(NESTED)
    db = root.routes[0]
    assert (db.group_by, db.group_wait, db.group_interval) == (("alertname",), "5s", "5m")
    assert db.routes[0].group_wait == "5s" and db.routes[0].repeat_interval == "4h"


def test_the_tree_reads_as_text() -> None:
    assert tree_lines(parse_routes(LAB_CONFIG)) == [
        "root: every alert  -> receiver default  group_by [alertname, node]  "
        "group_wait 0s, group_interval 1s, repeat_interval 1h",
        '├── {severity="critical"}  -> receiver critical  continue: false',
        '└── {severity="warning"}  -> receiver warning  continue: false',
    ]
    nested = tree_lines(parse_routes(NESTED))
    assert nested[1] == '├── {team="db"}  -> receiver db  group_wait 5s  continue: true'
    assert (
        nested[2]
        == '│   └── {severity=~"crit.*", env!="dev"}  -> receiver db-pager  continue: false'
    )


@pytest.mark.parametrize("config", ["", "route: 3", "receivers: []", "route: [", "- a"])
def test_a_config_without_a_route_is_a_sentence(config: str) -> None:
    with pytest.raises(LabkitError, match=r"route|YAML"):
        parse_routes(config)


# -- against the real Alertmanager ---------------------------------------------------------------

LIVE_LABELS = [
    {"severity": "critical"},
    {"severity": "warning", "alertname": "HighCPUUsage"},
    {"severity": "info"},
    {"alertname": "NodeDown", "node": "3"},
]


@pytest.mark.live
def test_the_real_config_routes_by_severity_as_amtool_says(shared_lab: Any) -> None:
    url = shared_lab.alertmanager_url
    tree = alertview.routes(url)
    assert [r.receiver for r in tree.routes] == ["critical", "warning"]
    # lesson 6 grades its route exercise on the tree from the file, so autograding needs no lab
    assert silencing.lab_routes() == tree
    assert (tree.group_wait, tree.group_interval, tree.repeat_interval) == ("0s", "1s", "1h")
    amtool = Amtool(url, binary="/usr/bin/amtool")
    for labels in LIVE_LABELS:
        run = subprocess.run(
            shlex.split(amtool.routes_test(labels)), capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == ",".join(receivers_for(tree, labels)), labels
    shown = subprocess.run(
        shlex.split(amtool.routes_show()), capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0 and "receiver: critical" in shown.stdout
