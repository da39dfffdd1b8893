"""The review offers the type's name, numbered when the region has an instance of that name already:
the same rule as `d2l-tui launch` without --name (tui/flows/launch_plan.default_name). The review
step alone, on moto."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.support.screen_app import ScreenApp
from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_until
from tests.ui.test_disk_prices import IMAGE, T4
from tui.models import KeyChoice, Region
from tui.screens.review import ReviewStep
from tui.screens.wizard_state import WizardState
from tui.services.cloud.aws import Aws


async def test_a_name_the_region_has_already_is_numbered(aws: Aws, tmp_path: Path) -> None:
    run(aws, "eu-west-1", "d2l-g4dn-xlarge")
    run(aws, "us-east-1", "d2l-g4dn-xlarge-2")  # another region's: no matter here
    key = KeyChoice("d2l-tui", None, create=True)
    state = WizardState(region=Region("eu-west-1"), gpu_type=T4, image=IMAGE, key=key)
    screen = ReviewStep(build_context(aws, tmp_path), state)
    async with ScreenApp(screen).run_test(size=(120, 40)) as pilot:
        name = screen.query_one("#name", Input)
        await wait_until(pilot, lambda: name.value == "d2l-g4dn-xlarge-2")


async def test_a_name_chosen_earlier_stays_and_nothing_is_asked(aws: Aws, tmp_path: Path) -> None:
    run(aws, "eu-west-1", "d2l-g4dn-xlarge")
    key = KeyChoice("d2l-tui", None, create=True)
    state = WizardState(region=Region("eu-west-1"), gpu_type=T4, image=IMAGE, key=key, name="mine")
    screen = ReviewStep(build_context(aws, tmp_path), state)
    async with ScreenApp(screen).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert screen.query_one("#name", Input).value == "mine"
        assert not [w for w in screen.workers if w.group == "free-name"]  # a chosen name: nothing asked
