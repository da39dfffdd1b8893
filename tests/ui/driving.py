"""Helpers to drive the app with keys and wait for what a person would wait for."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from tui.context import AppContext
from tui.services.cloud.aws import Aws

# Fixed "measured" latencies: the region step sorts by them, so tests know which row is first.
LATENCIES = {"us-east-1": 11.0, "us-west-2": 64.0, "eu-west-1": 80.0}


async def fixed_latencies(regions: object) -> dict[str, float | None]:
    return {name: LATENCIES.get(name, 150.0 + len(name)) for name in regions}  # type: ignore[attr-defined]


def build_context(
    aws: Aws, tmp_path: Path, *, simulated: bool = False, provision_after_launch: bool = False
) -> AppContext:
    """A context on moto; the launch tests stop at the launch view unless provision_after_launch."""
    return AppContext(
        provision_after_launch=provision_after_launch,
        aws=aws,
        simulated=simulated,
        key_dir=tmp_path / "ssh" / "d2l-tui",
        cache_dir=tmp_path / "cache",
        probe_latencies=fixed_latencies,
        detect_public_ip=lambda: "198.51.100.23",
    )


async def wait_until(pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Pause until ``condition()`` holds; the wizard's own worker never completes, so
    ``workers.wait_for_complete()`` can't be used."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)
    await pilot.pause()


def screen_name(pilot: Pilot[object]) -> str:
    return type(pilot.app.screen).__name__


async def wait_for_screen(pilot: Pilot[object], name: str) -> None:
    await wait_until(pilot, lambda: screen_name(pilot) == name)


def loaded(pilot: Pilot[object], selector: str) -> Callable[[], bool]:
    """The widget exists on the current screen and is no longer loading."""

    def check() -> bool:
        screen = pilot.app.screen
        found = screen.query(selector)
        # The instances screen's leftovers sweep waits for a quiet moment before its worker starts.
        busy = getattr(screen, "leftovers_due", False) or any(
            w.node is screen and not w.is_finished for w in pilot.app.workers
        )
        return bool(found) and not found.first().loading and not busy

    return check
