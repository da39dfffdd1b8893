"""The instances screen when some regions do not answer: it names them, never says "No instances",
keeps what it last saw there, and does not remember the incomplete list as the whole one.

The app talks to the moto server through the real TCP fault proxy (tests/support/fault_proxy.py),
which drops every request signed for the silent regions; one EC2 attempt instead of six.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

import tui.services.cloud.aws
from tests.support.fault_proxy import FaultProxy
from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_instances_remembered import idle, scope
from tui.app import make_app
from tui.screens.instances import InstancesScreen
from tui.services import instance_memory
from tui.services.cloud.aws import Aws

DOWN = frozenset({"eu-west-1", "ap-south-1"})
GAP = "ap-south-1, eu-west-1 did not answer (connection dropped): the list may be incomplete."


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as faulty:
        monkeypatch.setenv("AWS_ENDPOINT_URL", faulty.url)
        monkeypatch.setitem(tui.services.cloud.aws._ATTEMPTS, "ec2", 1)
        yield faulty


def eight_instances(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """instance id -> region: two in us-east-1, three in each region that will be silent."""
    with monkeypatch.context() as straight:
        straight.setenv("AWS_ENDPOINT_URL", endpoint)  # made on moto directly, not through the proxy
        seeding = Aws(region="us-east-1")
        counts = {"us-east-1": 2, "eu-west-1": 3, "ap-south-1": 3}
        return {run(seeding, r, f"{r}-{n}"): r for r, count in counts.items() for n in range(count)}


def status_of(screen: InstancesScreen) -> str:
    return str(screen.query_one("#instances-status", Static).render())


async def test_silent_regions_are_named_and_the_list_is_not_remembered(
    proxy: FaultProxy, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    where = eight_instances(moto_endpoint, monkeypatch)
    proxy.regions = DOWN
    aws = Aws(region="us-east-1")
    ctx = build_context(aws, tmp_path)
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        assert set(screen.rows) == {i for i, r in where.items() if r == "us-east-1"}
        assert status_of(screen) == f"2 instance(s); {GAP} It retries by itself; r retries now."
        assert screen.query_one("#instances-status").has_class("error")
        title = screen.query_one("#leftovers-title", Static)
        await wait_until(pilot, lambda: idle(screen), 30)
        assert title.display and str(title.render()) == f"Leftovers: none in the regions that answered. {GAP}"
    assert set(proxy.faulted) == DOWN
    assert instance_memory.recall(ctx.cache_dir, scope(aws)) is None  # not "what was running"


async def test_a_region_that_stops_answering_keeps_its_rows_and_the_remembered_list(
    proxy: FaultProxy, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    where = eight_instances(moto_endpoint, monkeypatch)
    aws = Aws(region="us-east-1")
    ctx = build_context(aws, tmp_path)
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded and set(screen.rows) == set(where), 30)
        await wait_until(pilot, lambda: idle(screen), 30)
        remembered = instance_memory.recall(ctx.cache_dir, scope(aws))
        assert remembered is not None and len(remembered.rows) == 8

        proxy.regions = DOWN
        await pilot.press("r")
        await wait_until(pilot, lambda: "did not answer" in status_of(screen), 30)
        assert set(screen.rows) == set(where)  # not seen is not gone
        assert (
            status_of(screen)
            == f"8 instance(s) (6 shown as last seen); {GAP} It retries by itself; r retries now."
        )
        await wait_until(pilot, lambda: idle(screen), 30)
        again = instance_memory.recall(ctx.cache_dir, scope(aws))
        assert again is not None and again.saved_at == remembered.saved_at

        proxy.regions = frozenset()
        await pilot.press("r")
        await wait_until(pilot, lambda: status_of(screen).startswith("8 instance(s); running:"), 30)
        assert not screen.query_one("#instances-status").has_class("error")
        await wait_until(pilot, lambda: idle(screen), 30)
