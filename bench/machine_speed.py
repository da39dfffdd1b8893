"""How fast this machine's CPU is right now, to read a bench's figures by.

The shared 2-core machines these benches run on change speed severalfold within minutes, with no
load and no steal time to show for it (measured 2026-12-03: the loop below took 0.83 s, 1.54 s ten
minutes later, then 0.35 s). A wall-clock target in milliseconds can't be judged from one run without it:
print this before and after, and compare figures taken at similar speeds (or pair old and new code
round by round, as bench/all.py does with its baselines).
"""

from __future__ import annotations

import time

STEPS = 10_000_000


def loop_seconds() -> float:
    """Seconds for a 10-million-step Python loop (0.35 s at the quickest seen here)."""
    start = time.perf_counter()
    total = 0
    for i in range(STEPS):
        total += i
    return time.perf_counter() - start


def speed_line() -> str:
    return f"machine speed: a {STEPS:,}-step Python loop took {loop_seconds():.2f} s (0.35 s at the quickest seen)"


if __name__ == "__main__":
    print(speed_line())
