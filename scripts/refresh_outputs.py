"""Re-run lessons and keep the outputs nbval compares: every lesson is a notebook, edited as a
notebook; this script only refreshes what its kept cells print.

    .venv/bin/python scripts/refresh_outputs.py                 # the offline lessons (4 and 5)
    .venv/bin/python scripts/refresh_outputs.py notebooks/05_alert_quality.ipynb

A kept cell is a code cell with `"keep_output": true` in its metadata and nbval's cell tag
`nbval-check-output` (a tag, not a comment a learner would read): its outputs are deterministic
(a seeded scenario) and nbval checks them on every `make test`. Every other output and execution
count is stripped (tests/test_notebooks.py checks that too). The notebooks run with a temporary
LABKIT_STATE_DIR, so the histories they generate do not stay; a lesson that needs the live lab
(1, 2, 3, 6) keeps no outputs and has nothing to refresh.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ["04_offline_incident_review.ipynb", "05_alert_quality.ipynb"]
KEEP = "nbval-check-output"  # nbval's cell tag for NBVAL_CHECK_OUTPUT


def refresh(path: Path) -> int:
    """Run `path` top to bottom; write it back with only its kept cells' outputs. Returns the
    number of kept cells."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    kept = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("keep_output"):
            if KEEP not in cell.metadata.get("tags", []):
                raise SystemExit(f"{path.name}: a cell keeps its output without the tag {KEEP!r}")
            kept += 1
        else:
            cell.outputs = []
            cell.execution_count = None  # nbval runs a kept cell only if it has a count
        cell.metadata.pop("execution", None)  # run times: noise in every diff
    # the repository's notebook format: sources as lists of lines, one-space indent, UTF-8 as
    # is, a final newline
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return kept


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [ROOT / "notebooks" / name for name in OFFLINE]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"refresh_outputs: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="labkit-lessons-") as tmp:
        os.environ["LABKIT_STATE_DIR"] = tmp
        for path in paths:
            print(f"{path.name}: {refresh(path)} kept cells refreshed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
