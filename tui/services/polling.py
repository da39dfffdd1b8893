"""Waiting that a worker can cancel: no boto3 waiters (they can't be interrupted)."""

from __future__ import annotations

import time
from collections.abc import Callable


def cancellable_sleep(seconds: float, cancelled: Callable[[], bool]) -> bool:
    """Sleep up to ``seconds`` in short slices; True when cancelled meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        if cancelled():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, 0.2))
