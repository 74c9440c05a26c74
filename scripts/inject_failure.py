#!/usr/bin/env python3
"""The seed's failure injection CLI, kept with its exact flags; a thin wrapper over labkit.

    python scripts/inject_failure.py --node 3 --failure cpu_spike --duration 30
    python scripts/inject_failure.py --node all --failure latency_spike --duration 20

Same as `labkit inject ...`: see `labkit inject --help`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from labkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["inject", *sys.argv[1:]]))
