#!/usr/bin/env python3
"""`make assignments`: labkit's lessons as an nbgrader course, and their student versions.

    .venv/bin/python scripts/assignments.py [--course DIR] [--force]
    .venv/bin/python scripts/assignments.py --collect NAME [--homes TEMPLATE] [--course DIR]

The course folder (default .lab/course/) gets, as nbgrader lays a course out:
    nbgrader_config.py          written once (yours to edit after): the course's settings, the
                                stub a solution becomes, autograding without a lab
    source/<lesson>/<lesson>.ipynb   each lesson of notebooks/ as an assignment, solutions in
    release/<lesson>/<lesson>.ipynb  what learners get: `nbgrader generate_assignment`'s output,
                                solutions and hidden tests out, outputs cleared, graded cells locked
    gradebook.db                the assignments and their points (nbgrader's database)

A source notebook that differs from notebooks/ is yours (an edited exercise) and is kept unless
--force. Then `nbgrader release_assignment`, `collect`, `autograde` and `generate_feedback` run
in the course folder as nbgrader's docs say; docs/teach.md walks through the cycle.

--collect NAME is the collect step for labkit's hub on one host, where nothing needs releasing:
each learner's server starts with the lessons in their home (labkit.hub), the same cells
nbgrader releases. It copies each learner's NAME.ipynb from their home (TEMPLATE, with
{username}; default $LABKIT_HUB_HOMES or /tmp/labkit-hub/{username}, `make hub`'s) to
submitted/<username>/NAME/, where `nbgrader autograde NAME` finds it.
Exit codes: 0 done, 1 nbgrader failed (its output is shown) or nothing to collect, 2 bad
arguments or nbgrader missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit.resources import lessons  # noqa: E402
from labkit.words import plural  # noqa: E402

COURSE_ID = "labkit"
CONFIG = '''\
"""nbgrader's settings for labkit's lessons as a course (written by `make assignments`; edit
freely: it is not written again)."""

import os
from pathlib import Path

from nbgrader.preprocessors import (
    CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells, OverwriteKernelspec,
)

HERE = Path(__file__).resolve().parent
c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.root = str(HERE)
c.CourseDirectory.course_id = "{course_id}"

# A solution becomes what `labkit lessons` gives learners too (labkit/course.py: STUB).
c.ClearSolutions.code_stub = {{"python": "{stub}"}}
c.ClearSolutions.text_stub = "{text_stub}"

# Autograding needs no lab: a cell tagged "{tag}" (it needs the running lab) becomes a comment;
# the exercises grade recordings, simulated once for the whole course into .lab/ here.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
    "labkit.course.skip_lab_cells", CheckCellMetadata,
]
os.environ.setdefault("LABKIT_STATE_DIR", str(HERE / ".lab"))
c.Execute.timeout = 600  # seconds a cell may take: a first replay simulates its recording
'''


def config_text() -> str:
    from labkit import course

    return CONFIG.format(
        course_id=COURSE_ID, stub=course.STUB, text_stub=course.TEXT_STUB, tag=course.LAB_TAG
    )


def nbgrader_missing() -> bool:
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return True
    return False


def copy_sources(course: Path, force: bool) -> dict[str, str]:
    """Each lesson into source/<stem>/: name -> copied, unchanged or kept."""
    done = {}
    for src in lessons():
        out = course / "source" / src.stem / src.name
        if out.exists() and out.read_bytes() == src.read_bytes():
            done[src.stem] = "unchanged"
        elif out.exists() and not force:
            done[src.stem] = "kept"
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
            done[src.stem] = "copied"
    return done


def points(notebook: Path) -> float:
    cells = json.loads(notebook.read_text())["cells"]
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
    return sum(float(m.get("points", 0)) for m in meta if m.get("grade"))


def environment() -> dict[str, str]:
    """This Python's bin/ first on PATH: nbgrader runs `alembic` (its database's migrations)."""
    here = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([here, os.environ.get("PATH", os.defpath)])}


#: A learner's notebook larger than this is not read (a lesson with its outputs is under 2 MB).
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: nbgrader's timestamp.txt format (its default CourseDirectory timestamp_format)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


def exercise_cells(notebook: Path) -> set[str]:
    """The grade_ids of a notebook's answer and points cells; empty when it is not a notebook
    (too large, not JSON, not UTF-8)."""
    try:
        if notebook.stat().st_size > MAX_NOTEBOOK_BYTES:
            return set()
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
        metas = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
        return {m["grade_id"] for m in metas if m.get("grade") or m.get("solution")}
    except (OSError, ValueError, AttributeError, KeyError, TypeError, RecursionError):
        return set()


def collect(course: Path, name: str, template: str) -> int:
    """Each learner's lesson `name` from their home into submitted/<username>/<name>/, with
    nbgrader's timestamp.txt (the file's last change); a copy that lacks the lesson's
    exercise cells (an older lesson, or not a notebook) is named and left."""
    known = {p.stem: p for p in lessons()}
    if name not in known:
        print(f"assignments: --collect {name}: not a lesson; the lessons are "
              f"{', '.join(known)}", file=sys.stderr)  # fmt: skip
        return 2
    if template.count("{username}") != 1:
        print(f"assignments: --homes {template}: needs {{username}} once, as in "
              "/home/{username}", file=sys.stderr)  # fmt: skip
        return 2
    wanted = exercise_cells(known[name])
    before, after = template.split("{username}")
    base, _, prefix = before.rpartition("/")
    pattern = re.compile(re.escape(before) + r"(?P<user>[^/]+)" + re.escape(after))
    found, missing, stale = [], [], []
    for home in sorted(Path(base or "/").glob(f"{prefix}*{after}")):
        match = pattern.fullmatch(
            str(home) if Path(before).is_absolute() else os.path.relpath(home)
        )
        if not match or not home.is_dir():
            continue
        user = match["user"]
        lesson = home / f"{name}.ipynb"
        if not lesson.is_file():
            missing.append(user)
            continue
        if not wanted <= exercise_cells(lesson):
            stale.append(user)
            continue
        out = course / "submitted" / user / name / lesson.name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lesson, out)
        changed = datetime.fromtimestamp(lesson.stat().st_mtime, tz=UTC)
        (out.parent / "timestamp.txt").write_text(changed.strftime(TIMESTAMP_FORMAT))
        found.append(user)
    where = template.replace("{username}", "*")
    if stale:
        print(f"assignments: not collected from {', '.join(stale)}: their {name}.ipynb lacks "
              f"the exercise's cells ({', '.join(sorted(wanted))}), an older copy of the lesson "
              "perhaps; nbgrader would grade it 0", file=sys.stderr)  # fmt: skip
    if not found:
        print(f"assignments: no {name}.ipynb to collect in any home matching {where}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"collected {name} from {plural(len(found), 'learner')} ({', '.join(found)}) into "
          f"{course / 'submitted'}" + (f"; none from {', '.join(missing)}" if missing else "")
          + f"; next, in {course}: `nbgrader autograde {name}`")  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="assignments", description=__doc__.split("\n")[0])
    parser.add_argument("--course", type=Path, default=ROOT / ".lab" / "course",
                        help="the course folder (default: .lab/course)")  # fmt: skip
    parser.add_argument("--force", action="store_true",
                        help="overwrite source notebooks you changed")  # fmt: skip
    parser.add_argument("--collect", metavar="NAME",
                        help="copy lesson NAME from each learner's home to submitted/")  # fmt: skip
    homes = os.environ.get("LABKIT_HUB_HOMES") or "/tmp/labkit-hub/{username}"
    parser.add_argument("--homes", metavar="TEMPLATE", default=homes,
                        help="learners' homes, with {username} (default: make hub's)")  # fmt: skip
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if course.exists() and not course.is_dir():
        print(f"assignments: --course {args.course}: not a folder", file=sys.stderr)
        return 2
    if args.collect:
        return collect(course, args.collect, args.homes)
    if nbgrader_missing():
        print("assignments: nbgrader is not installed in this Python "
              f"({sys.executable}); `make assignments` installs it (the `instructor` extra)",
              file=sys.stderr)  # fmt: skip
        return 2
    course.mkdir(parents=True, exist_ok=True)
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(config_text())
        print(f"  wrote      {config}")
    else:
        print(f"  kept       {config}   (yours: not written again)")
    done = copy_sources(course, args.force)
    for stem, what in done.items():
        kept = what == "kept"
        note = "   (yours: differs from notebooks/; --force overwrites it)" if kept else ""
        print(f"  {what:<9}  {course / 'source' / stem}{note}")
    total = 0.0
    for stem in done:
        print(f"generating {stem} ...", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", stem, "--force"],
            cwd=course, env=environment(), capture_output=True, text=True,
        )  # fmt: skip
        if run.returncode != 0:
            print(run.stdout + run.stderr, file=sys.stderr)
            print(f"assignments: `nbgrader generate_assignment {stem}` failed "
                  f"(exit {run.returncode}); its output is above", file=sys.stderr)  # fmt: skip
            return 1
        released = course / "release" / stem / f"{stem}.ipynb"
        worth = points(released)
        total += worth
        print(f"  released   {released}   ({worth:g} points)")
    print(f"assignments: {len(done)} assignments, {total:g} points, in "
          f"{course / 'release'}; next, with the venv on PATH (`. {Path(sys.executable).parent}"
          f"/activate`), in {course}: `nbgrader release_assignment NAME`, "
          "`nbgrader collect NAME`, `nbgrader autograde NAME`, `nbgrader generate_feedback NAME` "
          "(docs/teach.md)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
