"""The compose stack, verified without Docker (no engine runs on our machines): the Compose
Specification schema, and the agreement of services, ports, targets, mounts and configs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import compose
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    r = validate(COMPOSE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_schema_check_does_reject_a_broken_file(tmp_path: Path) -> None:
    """So the check above is not vacuous: an unknown service key fails it."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restrat: always\n", 1)
    )
    assert validate(broken).returncode != 0


def test_sixteen_services_twelve_nodes_in_order(spec: dict[str, Any]) -> None:
    services = spec["services"]
    assert len(services) == 16
    nodes = [f"node-{i}" for i in range(1, 13)]
    assert set(services) == {*nodes, "prometheus", "alertmanager", "grafana", "jupyter"}
    for i, name in enumerate(nodes, start=1):
        node = services[name]
        assert node["command"] == ["--id", str(i), "--port", "8000", "--host", "0.0.0.0"]
        assert node["ports"] == [f"127.0.0.1:{8000 + i}:8000"]
        assert node["build"]["target"] == "node"


def test_compose_targets_match_the_node_services(spec: dict[str, Any]) -> None:
    targets = json.loads((REPO / "prometheus/targets/nodes.json").read_text())
    by_target = {t["targets"][0]: t["labels"]["node"] for t in targets}
    expected = {
        f"{name}:8000": name.split("-")[1] for name in spec["services"] if name.startswith("node-")
    }
    assert by_target == expected
    ams = json.loads((REPO / "prometheus/targets/alertmanagers.json").read_text())
    assert ams == [{"targets": ["alertmanager:9093"]}] and "alertmanager" in spec["services"]
    # meta-monitoring: Prometheus scrapes itself by its service name and port
    own = json.loads((REPO / "prometheus/targets/prometheus.json").read_text())
    assert own == [{"targets": ["prometheus:9090"]}] and "prometheus" in spec["services"]
    assert "127.0.0.1:9090:9090" in spec["services"]["prometheus"]["ports"][0]


def test_generated_files_are_up_to_date() -> None:
    assert compose.stale(REPO) == [], "run `labkit compose-files` and commit the result"


def test_published_ports_are_the_seeds_and_bound_to_loopback(spec: dict[str, Any]) -> None:
    published = []
    for name, service in spec["services"].items():
        for mapping in service.get("ports", []):
            host, port, _ = mapping.split(":")
            assert host == "127.0.0.1", (name, mapping)
            published.append(int(port))
    assert sorted(published) == sorted([*range(8001, 8013), 3000, 8888, 9090, 9093])


def test_images_are_pinned_and_configs_mounted_read_only(spec: dict[str, Any]) -> None:
    for name, service in spec["services"].items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest" and re.match(r"v?\d", tag), (name, image)
    mounts = {name: s.get("volumes", []) for name, s in spec["services"].items()}
    assert "./prometheus:/etc/prometheus:ro" in mounts["prometheus"]
    assert "./alertmanager:/etc/alertmanager:ro" in mounts["alertmanager"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts["grafana"]
    named = set(spec["volumes"])
    assert named == {"prometheus-data", "alertmanager-data", "grafana-data", "lessons"}
    # the learner's lessons are the image's copies (no solutions), not the repository's sources
    assert not any(v.startswith("./notebooks") for v in mounts["jupyter"])
    for name, volume in (
        ("prometheus", "prometheus-data"),
        ("alertmanager", "alertmanager-data"),
        ("grafana", "grafana-data"),
        ("jupyter", "lessons"),
    ):
        assert any(v.startswith(volume + ":") for v in mounts[name])


def test_healthchecks_and_dependencies_on_health(spec: dict[str, Any]) -> None:
    services = spec["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services and cond == {"condition": "service_healthy"}, (name, dep)
    assert set(services["prometheus"]["depends_on"]) == {
        "alertmanager",
        *(f"node-{i}" for i in range(1, 13)),
    }
    assert "prometheus" in services["grafana"]["depends_on"]


def test_every_service_has_a_one_line_comment() -> None:
    lines = COMPOSE.read_text().splitlines()
    block = lines[lines.index("services:") : lines.index("volumes:")]
    names = [line for line in block if re.match(r"^  [a-z0-9-]+:", line)]
    assert len(names) == 16
    assert all(re.match(r"^  [a-z0-9-]+:\s+# \S", line) for line in names), names


def test_prometheus_in_compose_reads_the_same_rules_and_config(spec: dict[str, Any]) -> None:
    command = spec["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    config = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]  # /etc/prometheus/rules: the same files


def test_alertmanager_in_compose_notifies_the_receiver_beside_jupyterlab(
    spec: dict[str, Any],
) -> None:
    command = spec["services"]["alertmanager"]["command"]
    assert "--config.file=/etc/alertmanager/alertmanager.compose.yml" in command
    assert "--cluster.listen-address=" in command
    doc = yaml.safe_load((REPO / "alertmanager/alertmanager.compose.yml").read_text())
    urls = {h["url"] for r in doc["receivers"] for h in r["webhook_configs"]}
    assert urls == {f"http://jupyter:9095/notify/{n}" for n in ("default", "critical", "warning")}
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: `make test` installs prometheus-alertmanager"
    r = subprocess.run(
        [amtool, "check-config", str(REPO / "alertmanager/alertmanager.compose.yml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_grafana_has_no_default_credentials_and_anonymous_viewers(spec: dict[str, Any]) -> None:
    env = spec["services"]["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_jupyterlab_is_pointed_at_the_compose_services(spec: dict[str, Any]) -> None:
    env = spec["services"]["jupyter"]["environment"]
    assert env["LABKIT_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert env["LABKIT_NODE_URL"].format(id=3) == "http://node-3:8000"
    from labkit.lab import Endpoints

    endpoints = Endpoints.from_env(env)
    assert endpoints is not None and endpoints.nodes[12] == "http://node-12:8000"
    # the dashboard as the learner's browser sees it: Grafana's published port, this dashboard
    uid = json.loads((REPO / "grafana/provisioning/dashboards/telemetry.json").read_text())["uid"]
    assert endpoints.dashboard == f"http://127.0.0.1:3000/d/{uid}"
    assert "127.0.0.1:3000:3000" in spec["services"]["grafana"]["ports"]


def test_our_containers_do_not_run_as_root() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    final = {s.split()[2]: s for s in stages if " AS " in s.split("\n")[0]}
    for target in ("node", "lab"):
        assert re.search(r"^USER labkit$", final[target], flags=re.M), target
    # Zero to JupyterHub runs the learner image as uid 1000 (singleuser.uid): user jovyan
    assert re.search(r"^RUN useradd .*--uid 1000 .*jovyan$", final["learner"], flags=re.M)
    assert re.search(r"^USER jovyan$", final["learner"], flags=re.M)
    assert dockerfile.rstrip().endswith('CMD ["--id", "1", "--port", "8000", "--host", "0.0.0.0"]')


def test_the_images_install_labkits_wheel_and_the_lab_image_debians_prometheus() -> None:
    """The compose images are built from the wheel (so they find the lab's files as any
    installed labkit does), and the lab image has the binaries lessons 3-5 run (promtool,
    a replay Prometheus). Verified statically: Docker cannot run here."""
    from labkit.resources import SHIPPED

    dockerfile = (REPO / "Dockerfile").read_text()
    stages = {s.split()[2]: s for s in re.split(r"^FROM ", dockerfile, flags=re.M)[1:]}
    assert "pip wheel" in stages["wheel"] and "setup.py" in stages["wheel"]
    for folder in SHIPPED:  # every folder the wheel carries reaches the build
        assert re.search(rf"^COPY {folder} \./{folder}$", stages["wheel"], flags=re.M), folder
    assert "pip install /wheels/labkit-" in stages["base"] and "COPY labkit" not in stages["base"]
    assert re.search(r"apt-get install .*prometheus prometheus-alertmanager", stages["lab"])
    assert "labkit lessons /app/notebooks" in stages["lab"]
    assert "--notebook-dir=/app/notebooks" in stages["lab"]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not set(SHIPPED) & set(ignored) and "setup.py" not in ignored


def test_the_learner_image_is_the_lab_image_for_a_hub_on_kubernetes() -> None:
    """deploy/kubernetes/: the wheel with the notebooks and hub extras (jupyterhub-singleuser,
    jupyter-server-proxy), JupyterHub pinned to the hub's version (a build argument without a
    default: a mismatch is refused at build time, not found in class), Debian's binaries,
    tini as the entrypoint and labkit.hub as the command. Verified statically."""
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = {s.split()[2]: s for s in re.split(r"^FROM ", dockerfile, flags=re.M)[1:]}
    learner = stages["learner"]
    assert learner.startswith("base AS learner")  # labkit's wheel, as every image
    assert re.search(r"apt-get install .*prometheus prometheus-alertmanager tini", learner)
    assert re.search(r"^ARG JUPYTERHUB_VERSION$", learner, flags=re.M)
    assert 'test -n "$JUPYTERHUB_VERSION"' in learner
    assert re.search(
        r'^RUN pip install "\$\(ls /wheels/labkit-\*\.whl\)\[notebooks,hub\]" '
        r'"jupyterhub==\$\{JUPYTERHUB_VERSION\}"$',
        learner,
        flags=re.M,
    )
    assert re.search(r'^ENTRYPOINT \["tini", "-g", "--"\]$', learner, flags=re.M)
    assert re.search(r'^CMD \["python", "-m", "labkit.hub", "--", "jupyterhub-singleuser"\]$',
                     learner, flags=re.M)  # fmt: skip
    assert "--no-lessons" not in learner  # labkit.hub copies the wheel's lessons in
    assert list(stages)[-1] == "node"  # still the default target, which compose builds
