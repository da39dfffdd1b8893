"""wait_event: a loop that waits with it always ends when its task is cancelled."""

from __future__ import annotations

import asyncio
import random

from tui.services.polling import wait_event


async def test_wait_event_returns_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True


async def test_a_waiting_loop_is_always_cancellable() -> None:
    """asyncio.wait_for (before 3.12) can swallow a cancellation arriving as its timeout fires; the
    GPU sampler's retry loop then ran forever and hung a CI run. Cancel such a loop at many
    moments near its timeouts: every time it must end."""
    event = asyncio.Event()

    async def retry_loop() -> None:
        while True:
            await wait_event(event, 0.001)

    rng = random.Random(7)
    for _ in range(200):
        task = asyncio.ensure_future(retry_loop())
        await asyncio.sleep(rng.uniform(0, 0.003))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1)
        assert task in done and task.cancelled()
