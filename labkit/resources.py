"""Where labkit's own files are: the lab's configs (prometheus/, alertmanager/), its SLO
specs (slo/), the recorded scenarios (scenarios/) and the lessons (notebooks/).

In a checkout of the repository they are its top-level folders. An installed wheel carries a
copy of the same folders as labkit/_data/, made when the wheel is built (setup.py), so the
repository's folders stay the single source, for the embedded lab and for compose alike.

    resources.PROJECT / "prometheus" / "prometheus.yml"
    resources.lessons()   -> the lesson notebooks, in order
"""

from __future__ import annotations

from pathlib import Path

from labkit.errors import InvalidInput, LabkitError

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent  # the repository, when labkit runs from a checkout
BUNDLED = PACKAGE / "_data"  # the copy inside an installed wheel
#: The folders a wheel carries: everything a lab, a lesson or `labkit score` reads.
SHIPPED = ("prometheus", "alertmanager", "slo", "scenarios", "notebooks")


def is_checkout(folder: Path = CHECKOUT) -> bool:
    """A checkout of labkit's repository: its pyproject.toml beside the lab's configs."""
    return (folder / "pyproject.toml").is_file() and (
        folder / "prometheus" / "prometheus.yml"
    ).is_file()


def root(package: Path = PACKAGE) -> Path:
    """The folder holding prometheus/, alertmanager/, slo/, scenarios/ and notebooks/."""
    if is_checkout(package.parent):
        return package.parent
    bundled = package / "_data"
    if (bundled / "prometheus" / "prometheus.yml").is_file():
        return bundled
    raise LabkitError(
        f"labkit's lab files are missing: neither {package.parent} (a checkout) nor "
        f"{bundled} (an installed wheel) holds prometheus/prometheus.yml. Reinstall labkit "
        "from a wheel built with `pip wheel .` in its repository"
    )


PROJECT = root()


def lessons(source: Path = PROJECT) -> list[Path]:
    """The lesson notebooks (01_..., 02_...), in order."""
    return sorted((source / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def copy_lessons(target: Path, force: bool = False, source: Path = PROJECT) -> dict[str, str]:
    """The learner's copy of each lesson (its exercises' solutions taken out: labkit/course.py) into
    `target`, created if needed: name -> "copied", "unchanged" (the same text is there) or
    "kept" (a different text is there: the learner's work, never overwritten unless `force`)."""
    from labkit.course import student_text

    if target.exists() and not target.is_dir():
        raise InvalidInput("DIR", str(target), "a folder (or a path to create one at)")
    files = lessons(source)  # not notebooks/README.md: it is about working on the lessons
    done = {}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for src in files:
            out = target / src.name
            text = student_text(src.read_text(encoding="utf-8")).encode("utf-8")
            if out.exists() and out.read_bytes() == text:
                done[src.name] = "unchanged"
            elif out.exists() and not force:
                done[src.name] = "kept"
            else:
                out.write_bytes(text)
                done[src.name] = "copied"
    except OSError as exc:
        raise InvalidInput(
            "DIR", str(target), "a folder you can write to",
            hint=f"{exc.strerror or exc}: {exc.filename or target}",
        ) from None  # fmt: skip
    return done
