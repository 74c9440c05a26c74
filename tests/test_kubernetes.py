"""deploy/kubernetes/ verified offline (issue 17, point 3): no cluster and no Docker engine run
here. Zero to JupyterHub's values merged over the chart's defaults as Helm merges them and
validated against the chart's schema (tests/data/zero-to-jupyterhub), a typo named with its
path; the plain manifests, and the learner pod the values make, by `kubernetes-validate
--strict`; and what the values must carry: the lab started by the server's command, resources
derived from the measured capacity, storage, network policy, culling, a class quota that
agrees with them."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

VALUES = REPO / "deploy" / "kubernetes" / "values.yaml"
CLASS = REPO / "deploy" / "kubernetes" / "class.yaml"
CHART = REPO / "tests" / "data" / "zero-to-jupyterhub"
SCRIPT = REPO / "scripts" / "check_kubernetes.py"
CLASS_SIZE = 30


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_kubernetes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check = _script()


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


@pytest.fixture(scope="module")
def merged(values: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = check.helm_merge(yaml.safe_load((CHART / "values.yaml").read_text()),
                                              values)  # fmt: skip
    return merged


def memory_bytes(spec: str | int) -> int:
    """KubeSpawner's reading of singleuser.memory (JupyterHub's ByteSpecification: M = MiB)."""
    from jupyterhub.traitlets import ByteSpecification  # type: ignore[import-untyped]

    return int(ByteSpecification().validate(None, spec))


QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?")
SUFFIX = {None: 1, "m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str) -> float:
    """A Kubernetes quantity of the forms class.yaml uses: 9990m, 60, 23040Mi, 61Gi."""
    match = QUANTITY.fullmatch(str(text))
    assert match, f"not a quantity this test reads: {text!r}"
    return float(match.group(1)) * SUFFIX[match.group(2)]


# -- the values, as Helm and the chart's schema see them ---------------------------------------


def test_the_charts_own_defaults_pass_its_schema() -> None:
    """So the validator, its draft and the schema's references work as the chart's do."""
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert check.schema_problems(yaml.safe_load((CHART / "values.yaml").read_text()), schema) == []


@pytest.mark.parametrize(
    ("defaults", "values", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": 3, "d": 4}}, {"a": {"b": 1, "c": 3, "d": 4}}),
        ({"a": [1, 2, 3]}, {"a": [9]}, {"a": [9]}),  # a list is replaced, not merged
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}, {"a": {"c": 2}}),  # null deletes
        ({"a": {"b": 1}}, {"a": None, "z": None}, {}),
        ({"a": {"b": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({"a": 1}, {"a": {"b": {"c": None, "d": 2}}}, {"a": {"b": {"d": 2}}}),
    ],
)
def test_values_merge_over_defaults_as_helm_merges_them(
    defaults: dict[str, Any], values: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = (repr(defaults), repr(values))
    assert check.helm_merge(defaults, values) == expected
    assert (repr(defaults), repr(values)) == before


def test_the_values_pass_the_charts_schema_with_a_secrets_file_after_them(tmp_path: Path) -> None:
    assert check.check_values([VALUES]) == []
    secrets = tmp_path / "secrets.yaml"  # as docs/teach.md has the teacher write it
    secrets.write_text("hub:\n  config:\n    SharedPasswordAuthenticator:\n"
                       "      user_password: a-class-password\n"
                       "      admin_password: a-much-longer-password-for-the-teacher\n")  # fmt: skip
    assert check.check_values([VALUES, secrets]) == []


TYPOS = [
    ("    guarantee: 0.333\n", "    gurantee: 0.333\n",
     "singleuser.cpu: 'gurantee' is not allowed; did you mean 'guarantee'?"),
    ("  memory:\n", "  memroy:\n", "singleuser: 'memroy' is not allowed; did you mean 'memory'?"),
    ("  timeout: 3600\n", "  timout: 3600\n", "cull: 'timout' is not allowed; did you mean 'timeout'?"),
    ("      nonPrivateIPs: false\n", "      nonPrivateIP: false\n",
     "singleuser.networkPolicy.egressAllowRules: 'nonPrivateIP' is not allowed; did you mean 'nonPrivateIPs'?"),
    ("    limit: 2\n", '    limit: "2"\n', "singleuser.cpu.limit: '2' is not of type 'number', 'null'"),
    ("    type: dynamic\n", "    type: dynamc\n",
     "singleuser.storage.type: 'dynamc' is not one of ['dynamic', 'static', 'none']"),
    ("  activeServerLimit: 30", "  activeServerLimit: 30.5",
     "hub.activeServerLimit: 30.5 is not of type 'integer', 'null'"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "said"), TYPOS, ids=[t[2].split(":")[0] for t in TYPOS])
def test_a_typo_fails_the_schema_naming_its_path_and_line(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    text = VALUES.read_text()
    assert text.count(old) == 1, old
    broken = tmp_path / "values.yaml"
    broken.write_text(text.replace(old, new))
    line = text[: text.index(old)].count("\n") + 1
    assert check.check_values([broken]) == [f"{broken}: line {line}: {said}"]


def test_the_check_command_says_ok_or_each_problem_and_exits_0_1_or_2(tmp_path: Path) -> None:
    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(SCRIPT), *map(str, files)], cwd=REPO,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    good = run()
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout == "ok: deploy/kubernetes/values.yaml, deploy/kubernetes/class.yaml\n"
    typo = tmp_path / "values.yaml"
    typo.write_text(VALUES.read_text().replace("  memory:\n", "  memroy:\n"))
    bad = run(typo)
    assert bad.returncode == 1
    assert "singleuser: 'memroy' is not allowed; did you mean 'memory'?" in bad.stdout
    assert bad.stdout.endswith("1 problem in " + f"{typo}, deploy/kubernetes/class.yaml\n")
    twice = tmp_path / "twice.yaml"
    twice.write_text("cull:\n  enabled: true\ncull:\n  enabled: false\n")
    unread = run(twice)
    assert unread.returncode == 2 and "gives the key 'cull' twice" in unread.stderr


# -- what the values carry -------------------------------------------------------------------


def dockerfile_stage(name: str) -> str:
    stages = re.split(r"^FROM ", (REPO / "Dockerfile").read_text(), flags=re.M)[1:]
    return next(s for s in stages if s.split()[2] == name)


def test_the_server_command_starts_the_lab_then_the_single_user_server(
    values: dict[str, Any],
) -> None:
    from labkit import hub

    cmd = values["singleuser"]["cmd"]
    assert cmd == ["python", "-m", "labkit.hub", "--", "jupyterhub-singleuser"]
    learner = dockerfile_stage("learner")
    assert re.search(rf"^CMD {re.escape(json.dumps(cmd))}$", learner, re.M)
    # the server's own arguments (KubeSpawner appends them), as on one host
    one_host = (REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py").read_text()
    args = values["hub"]["config"]["KubeSpawner"]["args"]
    assert args and all(f'"{arg}"' in one_host for arg in args)
    # the server may take as long as labkit.hub waits before it answers
    waited = hub.LOCK_WAIT_SECONDS + hub.UP_KILL_AFTER_SECONDS
    assert values["hub"]["config"]["KubeSpawner"]["http_timeout"] >= waited
    assert values["singleuser"]["startTimeout"] >= waited


def test_the_image_the_values_name_is_the_learner_target(values: dict[str, Any]) -> None:
    single = values["singleuser"]
    learner = dockerfile_stage("learner")
    version = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert version and single["image"]["tag"] == version.group(1)
    assert single["image"]["name"].startswith("registry.example.org/")  # a placeholder, said so
    uid = re.search(r"useradd .*--uid (\d+) --gid (\d+) jovyan", learner)
    assert uid and (int(uid.group(1)), int(uid.group(2))) == (single["uid"], single["fsGid"])
    home = single["storage"]["homeMountPath"]
    assert re.search(rf"^WORKDIR {home}$", learner, re.M)  # labkit.hub works in the home folder


def capacity_figures() -> tuple[float, float, dict[int, int]]:
    """docs/benchmarks.md's capacity: a lab's cores and peak RSS (MiB) during lesson 2, and
    the labs that fit per host's cores."""
    page = (REPO / "docs" / "benchmarks.md").read_text()
    section = page.split("## Capacity: labs per host", 1)[1]
    row = re.search(r"^\| \*\*the lab\*\* \|.*$", section, re.M)
    assert row, "the capacity table's row for the whole lab"
    cells = [c.strip() for c in row.group(0).strip("|").split("|")]
    cores = float(cells[3].strip("*").split()[0])
    rss = float(cells[6].split()[0])
    fits = {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^\| (\d+) cores, \d+ GiB \|.*\| \*\*(\d+)\*\* \|", section, re.M)}  # fmt: skip
    return cores, rss, fits


def test_the_resources_follow_the_measured_capacity(values: dict[str, Any]) -> None:
    """CPU guarantee: lesson 2's cores over the capacity table's headroom, so a node holds the
    table's number of learners; limits above guarantees; memory above lesson 2's peak."""
    from benchmarks.capacity import HEADROOM

    cores, rss_mib, fits = capacity_figures()
    assert (cores, rss_mib) == (0.250, 420.0)  # the figures values.yaml's comments quote
    cpu, memory = values["singleuser"]["cpu"], values["singleuser"]["memory"]
    assert cpu["guarantee"] == math.floor(1000 * cores / HEADROOM) / 1000
    assert fits == {2: 6, 4: 12, 16: 48}
    assert {c: math.floor(c / cpu["guarantee"]) for c in fits} == fits
    assert cpu["guarantee"] < 1 <= cpu["limit"]  # room for promtool and a replay's bursts
    assert rss_mib * 2**20 < memory_bytes(memory["guarantee"]) < memory_bytes(memory["limit"])
    assert memory_bytes(memory["limit"]) == 2 * memory_bytes(memory["guarantee"])


def test_storage_network_policy_and_culling(values: dict[str, Any]) -> None:
    single = values["singleuser"]
    storage = single["storage"]
    assert storage["type"] == "dynamic" and quantity(storage["capacity"]) >= 2**30
    state = Path(single["extraEnv"]["LABKIT_STATE_DIR"])
    assert state == Path(storage["homeMountPath"]) / ".lab"  # on the learner's volume
    assert single["lifecycleHooks"]["preStop"]["exec"]["command"] == ["labkit", "down"]
    assert values["hub"]["config"]["KubeSpawner"]["delete_grace_period"] >= 10
    for where in (single, values["hub"], values["proxy"]["chp"]):
        assert where["networkPolicy"]["enabled"] is True
    egress = single["networkPolicy"]["egressAllowRules"]
    assert not egress["nonPrivateIPs"] and not egress["privateIPs"]
    assert not egress["cloudMetadataServer"] and not single["cloudMetadata"]["blockWithIptables"]
    cull = values["cull"]
    assert cull["enabled"] is True and cull["every"] < cull["timeout"] == 3600  # as `make hub`


def test_signing_in_needs_passwords_kept_out_of_the_values(values: dict[str, Any]) -> None:
    config = values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "shared-password"
    assert "SharedPasswordAuthenticator" not in config  # its passwords: the secrets file

    def keys(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [*node, *(k for v in node.values() for k in keys(v))]
        return [k for v in node for k in keys(v)] if isinstance(node, list) else []

    assert not [k for k in keys(values) if "password" in k.lower() or "secret" in k.lower()]


# -- the class: its quota, the learner pod -----------------------------------------------------


@pytest.fixture(scope="module")
def quotas() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(CLASS.read_text()) if d}


def test_the_class_quota_is_thirty_learners_worth_of_the_values(
    merged: dict[str, Any], quotas: dict[str, dict[str, Any]]
) -> None:
    single = merged["singleuser"]
    klass = single["extraPodConfig"]["priorityClassName"]
    assert quotas[klass]["kind"] == "PriorityClass" and quotas[klass]["value"] == 0
    learners = quotas["labkit-learners"]["spec"]
    assert learners["scopeSelector"]["matchExpressions"] == [
        {"scopeName": "PriorityClass", "operator": "In", "values": [klass]}
    ]
    hard = {k: quantity(v) for k, v in learners["hard"].items()}
    assert hard["pods"] == CLASS_SIZE == merged["hub"]["activeServerLimit"]
    assert hard["requests.cpu"] == pytest.approx(CLASS_SIZE * single["cpu"]["guarantee"])
    assert hard["limits.cpu"] == CLASS_SIZE * single["cpu"]["limit"]
    assert hard["requests.memory"] == CLASS_SIZE * memory_bytes(single["memory"]["guarantee"])
    assert hard["limits.memory"] == CLASS_SIZE * memory_bytes(single["memory"]["limit"])
    storage = {k: quantity(v) for k, v in quotas["labkit-storage"]["spec"]["hard"].items()}
    assert storage["persistentvolumeclaims"] == CLASS_SIZE + 1  # and the hub's database
    hub_db = quantity(merged["hub"]["db"]["pvc"]["storage"])
    assert (
        storage["requests.storage"] == CLASS_SIZE * quantity(single["storage"]["capacity"]) + hub_db
    )


def validate_strictly(tmp_path: Path, *documents: dict[str, Any]) -> list[str]:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    problems: list[str] = check.check_manifests([path])
    return problems


def test_the_manifests_pass_kubernetes_validate_strict() -> None:
    assert check.manifests() == [CLASS]  # every manifest but the chart's values
    assert check.check_manifests([CLASS]) == []


def test_strict_validation_refuses_an_unknown_field_that_plain_validation_lets_through(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "class.yaml"
    broken.write_text(CLASS.read_text().replace("globalDefault:", "globalDefualt:"))
    said = check.check_manifests([broken])
    assert said and "'globalDefualt' was unexpected" in " ".join(said)
    plain = subprocess.run([check.KUBERNETES_VALIDATE, "--quiet", str(broken)],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert plain.returncode == 0, plain.stdout + plain.stderr


def learner_pod(merged: dict[str, Any]) -> dict[str, Any]:
    """The parts of the pod KubeSpawner makes from the values that the chart's schema passes
    through unchecked (lifecycleHooks, extraPodConfig) or that are Kubernetes' own (resources,
    the container's args), in the pod's shape (kubespawner.objects.make_pod)."""
    single = merged["singleuser"]
    resources = {
        "requests": {"cpu": str(single["cpu"]["guarantee"]),
                     "memory": str(memory_bytes(single["memory"]["guarantee"]))},
        "limits": {"cpu": str(single["cpu"]["limit"]),
                   "memory": str(memory_bytes(single["memory"]["limit"]))},
    }  # fmt: skip
    container = {
        "name": "notebook",
        "image": f"{single['image']['name']}:{single['image']['tag']}",
        "args": [*single["cmd"], *merged["hub"]["config"]["KubeSpawner"]["args"]],
        "env": [{"name": k, "value": v} for k, v in single["extraEnv"].items()],
        "lifecycle": single["lifecycleHooks"],
        "resources": resources,
        "ports": [{"name": "notebook-port", "containerPort": 8888}],
        "volumeMounts": [{"name": "home", "mountPath": single["storage"]["homeMountPath"]}],
    }
    spec = {
        "containers": [container],
        "securityContext": {"runAsUser": single["uid"], "fsGroup": single["fsGid"]},
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-ada"}}],
        **single["extraPodConfig"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-ada"}, "spec": spec}


def test_the_learner_pod_passes_kubernetes_validate_strict(
    tmp_path: Path, merged: dict[str, Any]
) -> None:
    assert validate_strictly(tmp_path, learner_pod(merged)) == []
    hooks = merged["singleuser"]["lifecycleHooks"]
    broken = {**merged, "singleuser": {**merged["singleuser"],
                                       "lifecycleHooks": {"preStop": {"exce": hooks["preStop"]["exec"]}}}}  # fmt: skip
    said = validate_strictly(tmp_path, learner_pod(broken))
    assert said and "'exce' was unexpected" in " ".join(said)
