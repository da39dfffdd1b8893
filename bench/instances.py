"""How the instances screen and `ls` grow with 0, 60 and 300 instances: bench/all.py's second table
(`--only grow`); the first start at 60 and the second start are in its main table.

    .venv/bin/python bench/instances.py [--grow-rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.all import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--only", "grow"]
    raise SystemExit(main())
