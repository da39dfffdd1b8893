"""Launching from a saved image, keys only on moto: `n` on the image's row in the instances screen
opens the wizard with the image's region and the image (under My AMIs) chosen, through to review."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Static

from tests.test_leftovers import launch
from tests.ui.driving import build_context, loaded, wait_for_screen, wait_until
from tui.app import make_app
from tui.screens.instances import InstancesScreen
from tui.services.cloud import lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.leftovers import IMAGE

REGIONS = ["us-east-1", "us-west-2"]


@pytest.fixture(autouse=True)
def two_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    original = InstancesScreen.__init__

    def init(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        original(self, ctx, REGIONS)  # two regions keep the test quick; the default is every region

    monkeypatch.setattr(InstancesScreen, "__init__", init)


def saved_image(aws: Aws, key_dir: Path) -> str:
    """An image of an instance in us-west-2, made by the app's own service (so it carries its tags)."""
    launch(aws, "us-west-2", "book", key_dir)
    return lifecycle.create_image(aws, lifecycle.find_instance(aws, "book"), "book-saved", poll_interval=0.01)


async def press_n_on_the_image(pilot: Pilot[Any]) -> None:
    await wait_for_screen(pilot, "InstancesScreen")
    screen = pilot.app.screen
    assert isinstance(screen, InstancesScreen)
    await wait_until(pilot, lambda: {x.kind for x in screen.leftovers.values()} == {IMAGE})
    assert screen.check_action("launch_from_image", ()) is True
    await pilot.press("n")


def review_text(pilot: Pilot[Any]) -> str:
    """The review table as a person reads it (a Rich table, printed)."""
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(pilot.app.screen.query_one("#review-table", Static).content)
    return console.export_text()


def region_highlighted(pilot: Pilot[Any]) -> str:
    table = pilot.app.screen.query_one("#regions", DataTable)
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def test_n_on_a_saved_image_opens_the_wizard_with_it(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    image_id = saved_image(aws, ctx.key_dir)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "RegionStep")
        await wait_until(pilot, loaded(pilot, "#regions"))
        assert region_highlighted(pilot) == "us-east-1"  # the nearest, before the image is chosen
        await pilot.press("ctrl+l")
        await press_n_on_the_image(pilot)

        await wait_for_screen(pilot, "RegionStep")
        await wait_until(
            pilot, lambda: loaded(pilot, "#regions")() and region_highlighted(pilot) == "us-west-2"
        )
        await pilot.press("enter")
        await wait_for_screen(pilot, "LimitsStep")
        await wait_until(pilot, loaded(pilot, "#quotas"))
        await pilot.press("enter")
        await wait_for_screen(pilot, "GpuTypeStep")
        await wait_until(pilot, loaded(pilot, "#gpu-types"))
        await pilot.press("enter")  # g4dn.xlarge, recommended: x86_64 like the image

        await wait_for_screen(pilot, "ImageStep")
        await wait_until(pilot, loaded(pilot, "#images"))
        options = app.screen.query_one("#images", OptionList)
        assert options.highlighted is not None
        highlighted = options.get_option_at_index(options.highlighted)
        assert highlighted.id == image_id and "My AMI" in str(highlighted.prompt)
        await pilot.press("enter")

        await wait_for_screen(pilot, "StorageStep")
        await pilot.press("enter")
        await wait_for_screen(pilot, "KeyPairStep")
        await wait_until(pilot, loaded(pilot, "#keys"))
        await pilot.press("enter", "enter")
        await wait_for_screen(pilot, "ReviewStep")
        assert f"book-saved ({image_id})" in review_text(pilot)
        assert app.state.region is not None and app.state.region.name == "us-west-2"


async def test_n_from_a_later_step_walks_the_wizard_back_to_the_region(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    image_id = saved_image(aws, ctx.key_dir)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "RegionStep")
        await wait_until(pilot, loaded(pilot, "#regions"))
        await pilot.press("enter")  # us-east-1
        await wait_for_screen(pilot, "LimitsStep")
        await wait_until(pilot, loaded(pilot, "#quotas"))
        await pilot.press("ctrl+l")
        await press_n_on_the_image(pilot)

        # The limits shown were us-east-1's: the wizard goes back to where the region is chosen.
        await wait_for_screen(pilot, "RegionStep")
        await wait_until(
            pilot, lambda: loaded(pilot, "#regions")() and region_highlighted(pilot) == "us-west-2"
        )
        assert app.state.image is not None and app.state.image.image_id == image_id
        assert app.state.quotas == []
