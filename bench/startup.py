"""Start-up figures (first frames, peak memory) beside the bare Textual app: bench/all.py's table.

    .venv/bin/python bench/startup.py [--rounds 5]

Kept as a name for habit; the figures, their interleaving and ratios are bench/all.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.all import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--only", "table"]
    raise SystemExit(main())
