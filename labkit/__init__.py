"""labkit: an SRE lab on a laptop.

A fleet of simulated edge nodes (labkit.model, labkit.node, labkit.service, labkit.fleet),
failure injection (labkit.failures, labkit.client, labkit.cli) and the ground truth of what
was injected (labkit_fault_active on every node, and the journal in labkit.journal).
"""

from labkit.errors import InvalidInput, LabkitError, NodeUnreachable, PortInUse
from labkit.failures import FAILURE_MODES

__version__ = "0.1.0"
__all__ = ["FAILURE_MODES", "InvalidInput", "LabkitError", "NodeUnreachable", "PortInUse"]
