"""What a recovery ended, said in a line (for `Lab.recover` and `labkit recover`).

r = lab.recover("all")
r                  # Recovery: recovered 2 faults on 2 nodes (node 2: cpu_spike;
                   #   node 4: error_burst); 10 nodes had nothing to recover
r.ended            # {2: ["cpu_spike"], 4: ["error_burst"]}: only the nodes that had some
r.faults, r.nodes  # 2, [1, 2, ..., 12]
r[4], dict(r)      # a mapping of every node asked to the faults it ended, as before
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from labkit.words import plural

_SHOWN = 6  # past this many nodes, the line counts them instead of naming each


@dataclass(frozen=True, eq=False)  # Mapping's equality: equal to the same dict
class Recovery(Mapping[int, list[str]]):
    """Per node asked: the failures its recovery ended (empty: nothing to recover)."""

    by_node: dict[int, list[str]] = field(default_factory=dict)

    def __getitem__(self, node_id: int) -> list[str]:
        return self.by_node[node_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self.by_node)

    def __len__(self) -> int:
        return len(self.by_node)

    @property
    def ended(self) -> dict[int, list[str]]:
        """Only the nodes that had something to recover."""
        return {n: modes for n, modes in self.by_node.items() if modes}

    @property
    def nodes(self) -> list[int]:
        return list(self.by_node)

    @property
    def faults(self) -> int:
        return sum(len(m) for m in self.by_node.values())

    def summary(self) -> str:
        """One line: "recovered 2 faults on 2 nodes; 10 nodes had nothing to recover"."""
        return summary(self.faults, len(self.ended), len(self.by_node) - len(self.ended))

    def __str__(self) -> str:
        ended = self.ended
        if not ended or len(ended) > _SHOWN:
            return self.summary()
        named = "; ".join(f"node {n}: {', '.join(m)}" for n, m in ended.items())
        line = summary(self.faults, len(ended), 0) + f" ({named})"
        idle = len(self.by_node) - len(ended)
        return line + (f"; {plural(idle, 'node')} had nothing to recover" if idle else "")

    def __repr__(self) -> str:
        return f"Recovery: {self}"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # IPython's display
        printer.text(repr(self))  # type: ignore[attr-defined]


def summary(faults: int, nodes: int, idle: int) -> str:
    """The line `labkit recover` ends with: "recovered 2 faults on 2 nodes; 10 nodes had
    nothing to recover", "recovered 1 fault on 1 node", "nothing to recover on 12 nodes"."""
    if not nodes:
        return "nothing to recover" + (f" on {plural(idle, 'node')}" if idle > 1 else "")
    line = f"recovered {plural(faults, 'fault')} on {plural(nodes, 'node')}"
    return line + (f"; {plural(idle, 'node')} had nothing to recover" if idle else "")
