"""A covered instances screen stops polling: while another screen is over it no region is asked;
shown again, it asks at once (a poll fell due meanwhile) and the chain goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen

from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_instances_remembered import on_every_call
from tui.app import make_app
from tui.screens.instance_actions import InstanceActions
from tui.screens.instances import InstancesScreen
from tui.services.cloud.aws import Aws

PERIOD_S = 0.2  # the screen's own poll period, shortened: a few periods fit in a second


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(InstanceActions, "FAST_S", PERIOD_S)
    monkeypatch.setattr(InstanceActions, "SLOW_S", PERIOD_S)
    original = InstancesScreen.__init__

    def init(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        original(self, ctx, ["us-east-1"])  # one region: one DescribeInstances per poll

    monkeypatch.setattr(InstancesScreen, "__init__", init)


async def test_covered_instances_screen_pauses_and_resumes(aws: Aws, tmp_path: Path) -> None:
    run(aws, "us-east-1", "book")
    calls: list[str] = []
    on_every_call(aws, "before-call.ec2.DescribeInstances", lambda **_: calls.append("x"))
    app = make_app(build_context(aws, tmp_path), instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        polled = len(calls)
        await wait_until(pilot, lambda: len(calls) >= polled + 2)  # it polls while shown

        await app.push_screen(Screen())
        await asyncio.sleep(3 * PERIOD_S)  # a poll under way when covered may still land
        covered = len(calls)
        await asyncio.sleep(5 * PERIOD_S)
        assert len(calls) == covered, "a covered instances screen asked AWS"

        app.pop_screen()
        await wait_until(pilot, lambda: len(calls) > covered, 5)  # due meanwhile: asks at once
        resumed = len(calls)
        await wait_until(pilot, lambda: len(calls) >= resumed + 2, 10)  # and the chain goes on
