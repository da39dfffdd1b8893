"""Waiting that a worker can cancel: no boto3 waiters (they can't be interrupted)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


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


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` up to ``timeout`` seconds; True when it was set.

    Not ``asyncio.wait_for``: before Python 3.12 it can swallow a cancellation that arrives as its
    timeout fires, and a loop that waits this way then never ends when its task is cancelled (seen
    as a hung test). ``asyncio.wait`` lets the cancellation through."""
    import asyncio  # here: the headless commands that only sleep never load it

    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()
