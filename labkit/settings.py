"""Where labkit keeps its state, read once from the environment by the CLI.

The state folder (pids, logs, journals, TSDB) is `.lab/` in the project: the nearest folder
at or above the working directory that holds labkit's pyproject.toml, else the working
directory. `LABKIT_STATE_DIR` overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def project_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and (folder / "labkit").is_dir():
            return folder
    return None


@dataclass(frozen=True)
class Settings:
    state_dir: Path

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Settings:
        env = os.environ if environ is None else environ
        if env.get("LABKIT_STATE_DIR"):
            return cls(Path(env["LABKIT_STATE_DIR"]).expanduser().resolve())
        here = (cwd or Path.cwd()).resolve()
        return cls((project_root(here) or here) / ".lab")

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal" / "injections.jsonl"

    @property
    def notifications_path(self) -> Path:
        """The alert receiver's journal: every alert of every notification it got."""
        return self.state_dir / "journal" / "notifications.jsonl"

    @property
    def lab_json_path(self) -> Path:
        """The running lab's configuration (labkit.stack.LabPaths.lab_json)."""
        return self.state_dir / "lab.json"

    @property
    def fleet_state_path(self) -> Path:
        return self.state_dir / "fleet.json"
