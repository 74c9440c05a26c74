"""A recording's format: the folder `labkit history` writes and `labkit archive` keeps, as
`labkit replay`, scoring and the lessons read it. No numpy, no simulation: reading a
recording does not load the simulator.

    DIR/history.json      HistoryInfo: scenario name, kind, time range (epoch seconds), step,
                          nodes, seed, control periods, the digest of what made the data
    DIR/journal.jsonl     ground truth, in the live injection journal's format
    DIR/data/             the Prometheus TSDB
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError
from labkit.journal import iso


@dataclass(frozen=True)
class HistoryInfo:
    """What `history.json` records."""

    name: str
    kind: str  # "simulated" | "live"
    start: float  # epoch seconds
    end: float
    step_seconds: float
    nodes: int
    seed: int | None = None
    controls: tuple[tuple[float, float], ...] = ()  # epoch (start, end) of control periods
    digest: str = ""  # sha256 of the scenario as parsed, with the start: what made this data

    @classmethod
    def load(cls, directory: Path | str) -> HistoryInfo:
        path = Path(directory) / "history.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LabkitError(
                f"{directory} is not a labkit history: cannot read {path} ({exc})"
            ) from None
        data["controls"] = tuple(tuple(c) for c in data.get("controls", []))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def save(self, directory: Path) -> None:
        data = {**self.__dict__, "controls": [list(c) for c in self.controls]}
        data["start_iso"], data["end_iso"] = iso(self.start), iso(self.end)
        (directory / "history.json").write_text(json.dumps(data, indent=1) + "\n")
