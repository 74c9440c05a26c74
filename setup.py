"""labkit's build, beside pyproject.toml (which holds everything else): a wheel carries the
repository's prometheus/, alertmanager/, slo/, scenarios/ and notebooks/ folders as
labkit/_data/ (labkit.resources finds them there), copied at build time so they are kept
once. An editable install reads them from the checkout instead.

The lessons go in as a learner gets them: labkit/course.py's student_version takes each
exercise's solution out (nbgrader's source notebooks stay in the repository, for instructors)."""

import ast
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def shipped_folders() -> tuple[str, ...]:
    """labkit.resources.SHIPPED, read from its source (the build cannot import labkit)."""
    tree = ast.parse((ROOT / "labkit" / "resources.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SHIPPED":
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("labkit/resources.py names no SHIPPED folders")


def shipped_files() -> list[Path]:
    """Every file of the shipped folders but hidden ones and caches, relative to ROOT."""
    return sorted(
        path.relative_to(ROOT)
        for folder in shipped_folders()
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and not any(
            part.startswith(".") or part == "__pycache__" for part in path.relative_to(ROOT).parts
        )
    )


def student_text():
    """labkit.course.student_text, loaded from its file (standard library only)."""
    spec = importlib.util.spec_from_file_location("_labkit_course", ROOT / "labkit" / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.student_text


class BuildWithLabFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "labkit" / "_data"
        student = student_text()
        for rel in shipped_files():
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if rel.parts[0] == "notebooks" and rel.suffix == ".ipynb":
                out.write_text(student((ROOT / rel).read_text(encoding="utf-8")), encoding="utf-8")
            else:
                shutil.copyfile(ROOT / rel, out)


setup(cmdclass={"build_py": BuildWithLabFiles})
