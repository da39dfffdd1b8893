"""Helpers to drive the app with keys and wait for what a person would wait for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from textual.pilot import Pilot

from tui.context import AppContext
from tui.models import Instance
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


@contextlib.asynccontextmanager
async def demo_instance_set_up(
    tmp_path: Path, key: Path, name: str = "demo-box", instance_type: str = "g4dn.xlarge"
) -> AsyncIterator[tuple[AppContext, Instance]]:
    """A --demo instance whose setup finished (a real, tiny run of the setup's runner on its loopback
    host, so "setup finished" checks pass as on an instance), and the context to open it with."""
    from tests.support.instances import make_instance
    from tests.support.screen_app import demo_cloud
    from tui.models import Recipe, RecipeStep
    from tui.services.remote.provision import follow_run

    with demo_cloud(tmp_path) as (aws, hosts):
        instance = make_instance(aws, name, instance_type)
        ctx = build_context(aws, tmp_path, simulated=True)
        ctx.ssh_endpoint = hosts.endpoint
        link = ctx.instance_link(instance, key)
        setup = Recipe(
            steps=(RecipeStep(name="ready", title="Ready", script="echo ready\n"),), framework="pytorch"
        )
        try:
            outcome, _ = await follow_run(link.connect, lambda _: None, recipe=setup, mode="fresh")
            assert outcome.ok
            yield ctx, instance
        finally:
            await hosts.stop()
