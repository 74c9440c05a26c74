"""labkit from a wheel (issue 16): built from this repository, installed in a fresh virtual
environment in a temporary folder, it starts a lab on free ports from any folder, the lab
detects a fault, and a lesson copied out with `labkit lessons` runs under nbval there.

What is not real here, and why: the fresh environment gets the wheel alone (`--no-deps`);
its third-party dependencies (fastapi, pandas, Voilà, nbval, ...) are the test
environment's, made visible by a .pth file and a link to its share/jupyter (where Voilà's
templates and the kernel spec live), because installing them again from the package index
would take minutes and the network on every run. labkit itself comes only from the wheel:
the first test proves it, and that the checkout is nowhere on the path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.course import student_text
from tests.conftest import REPO, wait_for

pytestmark = pytest.mark.live
#: what a wheel build must not see: the checkout's venv, lab state, caches, git
NOT_SOURCES = (".venv", ".lab", ".git", "build", "dist", "*.egg-info", ".*_cache",
               ".hypothesis", "__pycache__", "results")  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding labkit's wheel, built from a copy of the
    repository (the build writes build/ and *.egg-info beside its sources)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(root / "dist"), "."],
        cwd=source, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("labkit-*.whl")
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(env), "platbase": str(env)})["purelib"])
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (env / "share").mkdir(exist_ok=True)
    (env / "share" / "jupyter").symlink_to(Path(sys.prefix) / "share" / "jupyter")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
         "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    return env


def run(
    venv: Path, cwd: Path, *argv: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """A command of the fresh environment, run in `cwd`, with no hint of the checkout: no
    LABKIT_* variable, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABKIT_", "PYTHON", "JUPYTER"))}  # fmt: skip
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["JUPYTER_RUNTIME_DIR"] = str(cwd / ".jupyter-runtime")
    env["IPYTHONDIR"] = str(cwd / ".ipython")
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_the_wheel_carries_labkit_and_its_lab_files(venv: Path, tmp_path: Path) -> None:
    where = run(venv, tmp_path, "python", "-c",
                "import json, sys, labkit, labkit.resources as r; print(json.dumps("
                "[labkit.__file__, str(r.PROJECT), sys.path]))")  # fmt: skip
    assert where.returncode == 0, where.stderr
    module, project, path = json.loads(where.stdout)
    assert module.startswith(str(venv)) and project == str(Path(module).parent / "_data")
    deps = sysconfig.get_paths()["purelib"]  # the test environment's, maybe in the checkout
    assert not [e for e in path if e.startswith(str(REPO)) and e != deps], path
    files = Path(project)
    for needed in (
        "prometheus/prometheus.yml",
        "prometheus/rules/alerts.yml",
        "prometheus/tests/alerts_test.yml",
        "alertmanager/alertmanager.yml",
        "slo/edge.yml",
        "scenarios/one-of-each.yml",
    ):
        assert (files / needed).read_bytes() == (REPO / needed).read_bytes(), needed  # fmt: skip
    # the lessons as learners get them: no solution anywhere in the installed package
    for lesson in sorted((REPO / "notebooks").glob("0*.ipynb")):
        shipped = (files / "notebooks" / lesson.name).read_text()
        assert shipped == student_text(lesson.read_text()), lesson.name
    leaks = [p for p in Path(module).parent.rglob("*.ipynb") if "BEGIN SOLUTION" in p.read_text()]
    assert (
        not leaks and "BEGIN SOLUTION" in (REPO / "notebooks" / "01_fleet_tour.ipynb").read_text()
    )
    for icon in ("prometheus", "dashboard", "alertmanager"):  # JupyterLab's tiles (labkit.hub)
        assert (Path(module).parent / "share" / "icons" / f"{icon}.svg").is_file(), icon
    compose = run(venv, tmp_path, "labkit", "compose-files")
    assert compose.returncode == 1 and "checkout" in compose.stderr


@pytest.fixture
def lab(venv: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A lab of the wheel's labkit on free ports, started from a folder of lessons."""
    work = tmp_path / "work"
    copied = run(venv, tmp_path, "labkit", "lessons", str(work))
    assert copied.returncode == 0, copied.stderr
    assert "6 lessons" in copied.stdout and (work / "02_failure_injection.ipynb").is_file()
    try:
        up = run(venv, work, "labkit", "up", "--ports", "auto", "--nodes", "6", "--no-past")
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        status = run(venv, work, "labkit", "status", "--json")
        assert status.returncode == 0, status.stderr
        yield work, json.loads(status.stdout)
    finally:
        run(venv, work, "labkit", "down")


def firing(prometheus: str, alertname: str, node: str) -> bool:
    with urllib.request.urlopen(f"{prometheus}/api/v1/alerts", timeout=5) as r:
        alerts = json.load(r)["data"]["alerts"]
    return any(a["labels"]["alertname"] == alertname and a["labels"].get("node") == node
               and a["state"] == "firing" for a in alerts)  # fmt: skip


@pytest.mark.timeout(600)
def test_a_lab_from_the_wheel_detects_a_fault_and_runs_a_lesson(
    venv: Path, lab: tuple[Path, dict[str, Any]]
) -> None:
    work, status = lab
    assert (work / ".lab" / "lab.json").is_file()  # the state folder: ./.lab of the folder
    seed_ports = {"http://127.0.0.1:9090", "http://127.0.0.1:9093", "http://127.0.0.1:9095"}
    assert not seed_ports & {status["prometheus"], status["alertmanager"], status["receiver"]}
    assert status["nodes"][0] != "http://127.0.0.1:8001" and len(status["nodes"]) == 6
    injected = run(venv, work, "labkit", "inject", "--node", "3", "--failure", "error_burst",
                   "--duration", "120")  # fmt: skip
    assert injected.returncode == 0, injected.stderr
    wait_for("HighErrorRate on node 3", lambda: firing(status["prometheus"], "HighErrorRate", "3"),
             timeout=60)  # fmt: skip
    recovered = run(venv, work, "labkit", "recover", "--node", "all")
    assert recovered.returncode == 0, recovered.stderr
    lesson = run(venv, work, "python", "-m", "pytest", "--nbval", "02_failure_injection.ipynb",
                 "-p", "no:cacheprovider", "--nbval-cell-timeout", "120", "-q", "-o",
                 "addopts=", "--rootdir", str(work), timeout=480)  # fmt: skip
    assert lesson.returncode == 0, lesson.stdout[-4000:]
    assert "passed" in lesson.stdout and "failed" not in lesson.stdout
