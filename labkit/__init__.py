"""labkit: an SRE lab on a laptop.

A fleet of simulated edge nodes (labkit.model, labkit.node, labkit.service, labkit.fleet),
failure injection (labkit.failures, labkit.client, labkit.cli), the ground truth of what
was injected (labkit_fault_active on every node, and the journal in labkit.journal), and the
embedded lab with the real Prometheus and Alertmanager (labkit.stack, labkit.receiver,
labkit.lab: `from labkit import Lab`).
"""

from typing import TYPE_CHECKING, Any

from labkit.errors import InvalidInput, LabkitError, NodeUnreachable, PortInUse
from labkit.failures import FAILURE_MODES

if TYPE_CHECKING:
    from labkit.lab import Lab

__version__ = "0.1.0"
__all__ = ["FAILURE_MODES", "InvalidInput", "Lab", "LabkitError", "NodeUnreachable", "PortInUse"]


def __getattr__(name: str) -> Any:
    if name == "Lab":  # imported on first use: a lone node never loads the stack code
        from labkit.lab import Lab

        return Lab
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
