"""Every address labkit prints or shows opens a page that exists: Prometheus' classic or new UI
found out by probing, the dashboard and Alertmanager lines of `labkit up`, `labkit status
--json`; and meta-monitoring (Prometheus scrapes itself and Alertmanager)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from labkit.addresses import (
    address_lines,
    probe_classic_ui,
    prometheus_page,
    prometheus_pages,
    status_document,
)
from labkit.errors import InvalidInput
from labkit.lab import Endpoints, Lab
from labkit.settings import Settings
from labkit.stack import LabConfig, LabPaths, recorded_classic_ui
from tests.conftest import LABKIT, free_ports, serving

# -- stand-ins for a Prometheus ----------------------------------------------------------------


def stand_in(pages: dict[str, Any]) -> contextlib.AbstractContextManager[str]:
    """A tiny HTTP server answering 200 with `pages[path]` (JSON for a dict or list, else
    text) and 404 "404 page not found" for any other path, as Prometheus does."""

    def respond(path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if path not in pages:
            return 404, "text/plain", b"404 page not found\n"
        page = pages[path]
        if isinstance(page, dict | list):
            return 200, "application/json", json.dumps(page).encode()
        return 200, "text/html", str(page).encode()

    return serving(respond)


# An upstream Prometheus serves the React UI at /alerts, /targets, ...: we cannot run one here
# (only Debian's 2.42 is installed, which has the classic UI alone), so this stands in for it.
NEW_UI = {f"/{p}": "<html>React UI</html>" for p in ("graph", "alerts", "targets", "rules")}
# Debian's package as it answers: the classic pages under /classic/, 404 at /alerts.
CLASSIC_UI = {f"/classic/{p}": "<html>classic</html>" for p in ("graph", "alerts", "targets")}


def status_code(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


# -- the pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classic", "page", "url"),
    [
        (True, "alerts", "http://p:9090/classic/alerts"),
        (True, "targets", "http://p:9090/classic/targets"),
        (False, "alerts", "http://p:9090/alerts"),
        (False, "graph", "http://p:9090/graph"),
    ],
)
def test_prometheus_page_under_classic_or_at_the_root(classic: bool, page: str, url: str) -> None:
    assert prometheus_page("http://p:9090/", page, classic) == url


def test_an_unknown_page_is_refused_naming_the_pages() -> None:
    with pytest.raises(InvalidInput, match="page must be one of graph, alerts, targets"):
        prometheus_page("http://p:9090", "alert", classic=True)


def test_with_the_ui_unknown_only_the_root_is_given() -> None:
    assert prometheus_pages("http://p:9090", None) == {"graph": "http://p:9090"}


@pytest.mark.parametrize(("pages", "classic"), [(NEW_UI, False), (CLASSIC_UI, True), ({}, None)],
                         ids=["new UI (stand-in)", "classic only", "neither"])  # fmt: skip
def test_the_probe_tells_the_two_uis_apart(pages: dict[str, Any], classic: bool | None) -> None:
    with stand_in(pages) as url:
        assert probe_classic_ui(url) is classic


def test_the_probe_of_a_prometheus_that_does_not_answer_is_none() -> None:
    assert probe_classic_ui(f"http://127.0.0.1:{free_ports(1)}", timeout=1) is None


@pytest.mark.parametrize(("pages", "path"), [(NEW_UI, "/alerts"), (CLASSIC_UI, "/classic/alerts")],
                         ids=["new UI (stand-in)", "classic"])  # fmt: skip
def test_a_lab_labkit_did_not_start_probes_lazily(
    monkeypatch: pytest.MonkeyPatch, pages: dict[str, Any], path: str
) -> None:
    with stand_in(pages) as url:
        monkeypatch.setenv("LABKIT_PROMETHEUS_URL", url)
        monkeypatch.setenv("LABKIT_DASHBOARD_URL", "http://127.0.0.1:3000/d/labkit-telemetry")
        lab = Lab.connect()
        assert lab.prometheus_page("alerts") == url + path
        assert status_code(lab.urls["prometheus_alerts"]) == 200
        assert lab.urls["dashboard"] == "http://127.0.0.1:3000/d/labkit-telemetry"
    # the answer is kept: asked once, not on every call
    assert lab.prometheus_page("targets").endswith(path.replace("alerts", "targets"))


def test_endpoints_from_the_environment_default_the_dashboard_to_the_lab_default() -> None:
    endpoints = Endpoints.from_env({"LABKIT_PROMETHEUS_URL": "http://prometheus:9090"})
    assert endpoints is not None
    assert endpoints.dashboard == "http://127.0.0.1:9096/voila/render/dashboard.ipynb"
    assert (
        Endpoints.of(LabConfig(dashboard_port=19096)).dashboard
        == "http://127.0.0.1:19096/voila/render/dashboard.ipynb"
    )


# -- what `labkit up` and `labkit status --json` print -----------------------------------------


def test_up_prints_the_dashboard_the_classic_pages_and_the_alertmanager_api() -> None:
    config = LabConfig(base_port=18001, prometheus_port=19090, alertmanager_port=19093,
                       receiver_port=19095, dashboard_port=19096)  # fmt: skip
    lines = address_lines(config, classic=True)
    assert "  dashboard      http://127.0.0.1:19096/voila/render/dashboard.ipynb" in lines
    assert any(line.startswith("  Prometheus     http://127.0.0.1:19090/classic/graph")
               for line in lines)  # fmt: skip
    assert "    alerts       http://127.0.0.1:19090/classic/alerts" in lines
    assert "    targets      http://127.0.0.1:19090/classic/targets" in lines
    am = "http://127.0.0.1:19096/voila/render/alertmanager.ipynb"
    assert any(line.startswith(f"  Alertmanager   {am}  ") for line in lines)
    assert "    API          http://127.0.0.1:19093/api/v2/alerts" in lines
    new = address_lines(config, classic=False)
    assert "    alerts       http://127.0.0.1:19090/alerts" in new
    assert not [line for line in new if "/classic/" in line]


def test_status_document_has_the_addresses_scripts_need() -> None:
    config = LabConfig(nodes=3, base_port=18001, dashboard_port=19096)
    rows = [{"component": "prometheus", "pid": 42, "state": "running",
             "url": "http://127.0.0.1:9090/-/ready"}]  # fmt: skip
    doc = status_document(config, True, rows)
    assert doc["prometheus"] == "http://127.0.0.1:9090"
    assert doc["alertmanager"] == "http://127.0.0.1:9093"
    assert doc["receiver"] == "http://127.0.0.1:9095"
    assert doc["dashboard"] == "http://127.0.0.1:19096/voila/render/dashboard.ipynb"
    assert doc["nodes"] == [f"http://127.0.0.1:{p}" for p in (18001, 18002, 18003)]
    assert doc["prometheus_ui"] == "classic"
    assert doc["prometheus_pages"]["alerts"] == "http://127.0.0.1:9090/classic/alerts"
    assert doc["alertmanager_api"] == "http://127.0.0.1:9093/api/v2"
    assert doc["components"]["prometheus"]["state"] == "running"
    json.dumps(doc)  # plain JSON


def test_status_json_without_a_lab_exits_1_with_a_sentence_and_no_json(tmp_path: Path) -> None:
    r = subprocess.run([*LABKIT, "--state-dir", str(tmp_path), "status", "--json"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1 and r.stdout == ""
    assert "no lab is running" in r.stderr and "labkit up" in r.stderr
    assert "{" not in r.stderr and "Traceback" not in r.stderr


def test_the_start_up_timeout_names_the_classic_targets_page(tmp_path: Path) -> None:
    from labkit.errors import StartTimeout
    from labkit.stack import Progress, _wait_targets, render_prometheus

    answers = {
        "/api/v1/targets": {"status": "success", "data": {"activeTargets": [
            {"labels": {"job": "edge-nodes", "node": "1"}, "health": "down"},
            {"labels": {"job": "prometheus"}, "health": "up"},
        ]}},
        "/api/v1/rules": {"status": "success", "data": {"groups": [{"rules": [{}] * 3}]}},
        "/api/v1/alertmanagers": {"status": "success", "data": {"activeAlertmanagers": []}},
    }  # fmt: skip
    with stand_in(answers) as url:
        port = int(url.rsplit(":", 1)[1])
        config = LabConfig(nodes=2, base_port=18001, prometheus_port=port)
        paths = LabPaths(tmp_path)
        render_prometheus(config, paths)
        with pytest.raises(StartTimeout) as err:
            _wait_targets(config, paths, 0.0, Progress(io.StringIO()), classic=True)
    message = str(err.value)
    assert f"{url}/classic/targets" in message
    assert "0 of 2 nodes up" in message and "alertmanager not scraped yet" in message
    assert "loaded 3 of the 7 rules" in message and "7 seed alerts" in message


# -- on the real Prometheus 2.42 (Debian's package) and Alertmanager 0.25 ----------------------


@pytest.mark.live
def test_debians_prometheus_serves_the_classic_ui_only_and_up_recorded_it(
    shared_lab: Lab,
) -> None:
    url = shared_lab.prometheus_url
    assert probe_classic_ui(url) is True
    assert recorded_classic_ui(LabPaths(shared_lab.settings.state_dir)) is True
    assert status_code(f"{url}/alerts") == 404  # what the learner met
    for page in ("graph", "alerts", "targets", "rules", "status", "config", "flags"):
        assert status_code(shared_lab.prometheus_page(page)) == 200, page


@pytest.mark.live
def test_every_address_labkit_up_prints_answers(shared_lab: Lab) -> None:
    printed = (shared_lab.settings.state_dir / "up.txt").read_text()
    config = shared_lab.config
    assert config is not None
    assert f"\n  dashboard      {config.dashboard_page}\n" in printed
    urls = set(re.findall(r"https?://[^\s)]+", printed.split("ready in", 1)[1]))
    last = re.search(r"/metrics \.\.\. :(\d+)", printed)
    assert last, printed
    urls.add(f"{config.url(int(last.group(1)))}/metrics")
    checked = sorted(urls)
    assert config.dashboard_page in checked and config.alertmanager_page in checked
    assert len(checked) >= 8, printed
    assert {u: status_code(u) for u in checked} == dict.fromkeys(checked, 200)
    assert "/classic/alerts" in printed and "/api/v2/alerts" in printed


@pytest.mark.live
def test_up_says_what_it_loaded_in_the_lessons_words(shared_lab: Lab) -> None:
    printed = (shared_lab.settings.state_dir / "up.txt").read_text()
    assert "  rules         7 seed alerts, 8 SLO burn-rate alerts, " in printed
    assert re.search(r"\d+ SLO recording rules loaded\n", printed), printed
    loaded = shared_lab._get(f"{shared_lab.prometheus_url}/api/v1/rules")["data"]["groups"]
    records = sum(1 for g in loaded for r in g["rules"] if r["type"] == "recording")
    assert f", {records} SLO recording rules loaded" in printed


@pytest.mark.live
def test_status_json_on_a_running_lab(shared_lab: Lab) -> None:
    r = subprocess.run([*LABKIT, "--state-dir", str(shared_lab.settings.state_dir), "status",
                        "--json"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["prometheus"] == shared_lab.prometheus_url
    assert doc["alertmanager"] == shared_lab.alertmanager_url
    assert doc["receiver"] == shared_lab.receiver_url
    assert doc["dashboard"] == shared_lab.dashboard_url
    assert doc["nodes"] == [shared_lab.node_url(i) for i in range(1, 7)]
    assert doc["prometheus_ui"] == "classic"
    assert {c["state"] for c in doc["components"].values()} == {"running"}
    for url in [*doc["prometheus_pages"].values(), doc["alertmanager_api"] + "/alerts",
                doc["notifications"], *(n + "/metrics" for n in doc["nodes"])]:  # fmt: skip
        assert status_code(url) == 200, url
    jobs = {t["job"] for t in doc["targets"]}
    assert jobs == {"edge-nodes", "prometheus", "alertmanager"}


@pytest.mark.live
def test_status_shows_the_same_addresses_and_the_meta_monitoring_targets(shared_lab: Lab) -> None:
    r = subprocess.run([*LABKIT, "--state-dir", str(shared_lab.settings.state_dir), "status"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"    alerts       {shared_lab.prometheus_url}/classic/alerts\n" in r.stdout
    assert "  also scraped   prometheus (up), alertmanager (up)" in r.stdout


@pytest.mark.live
def test_status_refuses_a_node_it_does_not_have_before_printing_anything(shared_lab: Lab) -> None:
    r = subprocess.run([*LABKIT, "--state-dir", str(shared_lab.settings.state_dir), "status",
                        "--node", "99"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "--node must be a node id from 1 to" in r.stderr
    assert r.stdout == ""


@pytest.mark.live
def test_prometheus_scrapes_itself_and_alertmanager(shared_lab: Lab) -> None:
    for job in ("prometheus", "alertmanager"):
        assert [s["value"][1] for s in shared_lab.query(f'up{{job="{job}"}}')] == ["1"], job
    # rule evaluation: one series per rule group (the seed's and the SLOs'), and missed runs
    groups = shared_lab.query("prometheus_rule_group_last_duration_seconds")
    assert len(groups) >= 2 and all(s["metric"]["job"] == "prometheus" for s in groups)
    assert shared_lab.query("prometheus_rule_group_iterations_missed_total")
    # notifications, by integration (the lab's are webhooks)
    sent = shared_lab.query('alertmanager_notifications_total{integration="webhook"}')
    failed = shared_lab.query('alertmanager_notifications_failed_total{integration="webhook"}')
    assert sent and failed
    # the nodes stay the nodes: targets() and NodeDown's selector see only them
    assert {t["job"] for t in shared_lab.targets()} == {"edge-nodes"}
    assert {t["job"] for t in shared_lab.targets(job=None)} == {
        "edge-nodes", "prometheus", "alertmanager"
    }  # fmt: skip
    assert len(shared_lab.query('up{job="edge-nodes"}')) == 6


@pytest.mark.live
def test_lab_urls_open(shared_lab: Lab) -> None:
    urls = shared_lab.urls
    assert urls["dashboard"] == shared_lab.config.dashboard_page  # type: ignore[union-attr]
    for key in ("prometheus", "prometheus_alerts", "prometheus_targets", "alertmanager_api"):
        assert status_code(urls[key]) == 200, key
    assert urls["prometheus_alerts"].endswith("/classic/alerts")


def test_a_lab_started_by_an_older_labkit_is_probed(tmp_path: Path) -> None:
    """lab.json without the answer: Lab asks Prometheus on first use."""
    with stand_in(NEW_UI) as url:
        port = int(url.rsplit(":", 1)[1])
        config = LabConfig(nodes=2, base_port=18001, prometheus_port=port)
        (tmp_path / "lab.json").write_text(json.dumps({"config": config.__dict__}))
        lab = Lab(config, Settings(tmp_path))
        assert lab.prometheus_page("alerts") == f"{url}/alerts"
