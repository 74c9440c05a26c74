"""Where labkit finds its own files (labkit.resources): the checkout's folders, or the copy a
wheel carries; and `labkit lessons`, which puts the lessons where a learner works."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from labkit import resources
from labkit.course import student_text
from labkit.errors import InvalidInput, LabkitError
from tests.conftest import LABKIT, REPO


def test_in_a_checkout_the_files_are_the_repositorys() -> None:
    assert resources.PROJECT == REPO and resources.is_checkout(REPO)
    assert [p.name for p in resources.lessons()] == sorted(
        p.name for p in (REPO / "notebooks").glob("*.ipynb")
    )


def test_an_installed_package_reads_its_bundled_copy(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    package = site / "labkit"
    (package / "_data" / "prometheus").mkdir(parents=True)
    with pytest.raises(LabkitError, match=r"lab files are missing.*pip wheel"):
        resources.root(package)
    (package / "_data" / "prometheus" / "prometheus.yml").write_text("global: {}\n")
    assert resources.root(package) == package / "_data"
    (site / "pyproject.toml").write_text("[project]\n")  # not a checkout: no prometheus/ beside
    assert resources.root(package) == package / "_data"


def test_the_wheel_ships_every_folder_the_code_reads() -> None:
    """setup.py copies resources.SHIPPED (it reads the tuple from resources.py), the source
    distribution carries each folder, and each exists."""
    import runpy
    from unittest import mock

    with mock.patch("setuptools.setup"):  # setup.py's module body, without building
        build = runpy.run_path(str(REPO / "setup.py"))
    assert build["shipped_folders"]() == resources.SHIPPED
    shipped = {p.parts[0] for p in build["shipped_files"]()}
    assert shipped == set(resources.SHIPPED)
    manifest = (REPO / "MANIFEST.in").read_text().split()
    for folder in resources.SHIPPED:
        assert (REPO / folder).is_dir() and folder in manifest


def test_lessons_are_copied_and_a_learners_own_text_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "work"
    first = resources.copy_lessons(target)
    assert set(first.values()) == {"copied"} and len(first) == len(resources.lessons())
    assert not (target / "README.md").exists()  # the developers' notes on the lessons stay
    mine = target / "02_failure_injection.ipynb"
    mine.write_text("my answers")
    again = resources.copy_lessons(target)
    assert again["02_failure_injection.ipynb"] == "kept" and mine.read_text() == "my answers"
    assert again["01_fleet_tour.ipynb"] == "unchanged"
    forced = resources.copy_lessons(target, force=True)
    assert forced["02_failure_injection.ipynb"] == "copied"
    assert mine.read_text() == student_text((REPO / "notebooks" / mine.name).read_text())


def test_lessons_into_a_file_is_bad_input(tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    with pytest.raises(InvalidInput, match="DIR must be a folder"):
        resources.copy_lessons(afile)
    r = subprocess.run([*LABKIT, "lessons", str(afile)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "DIR must be a folder" in r.stderr and str(afile) in r.stderr
    inside = afile / "lessons"  # a folder that cannot be made: a message, not a traceback
    r = subprocess.run(
        [*LABKIT, "lessons", str(inside)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "a folder you can write to" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_labkit_lessons_says_what_it_did(tmp_path: Path) -> None:
    r = subprocess.run([*LABKIT, "lessons", "here"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "copied" in r.stdout and "6 lessons in here" in r.stdout
    (tmp_path / "here" / "03_slo_burn.ipynb").write_text("{}")
    r = subprocess.run([*LABKIT, "lessons", "here"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert "kept" in r.stdout and "--force" in r.stdout
    shutil.rmtree(tmp_path / "here")
