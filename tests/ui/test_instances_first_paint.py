"""The instances screen paints the regions used last time first, then checks every region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.screens.instances import InstancesScreen, cells
from tui.services.aws import Aws
from tui.services.costs import rows_without_costs
from tui.services.lifecycle import describe_one
from tui.services.region_memory import known_regions, remember_regions


async def test_known_regions_first_then_every_region_remembered(aws: Aws, tmp_path: Path) -> None:
    usual = run(aws, "us-east-1", "usual", itype="g4dn.xlarge")
    elsewhere = run(aws, "eu-west-1", "elsewhere", itype="g5.xlarge")  # launched from another machine
    ctx = build_context(aws, tmp_path)
    remember_regions(ctx.cache_dir, ["us-east-1"])
    shown: list[tuple[set[str], bool]] = []
    original = InstancesScreen._show

    def spy(self: InstancesScreen, rows: list[Any], partial: bool = False) -> None:
        shown.append(({r.key for r in rows}, partial))
        original(self, rows, partial)

    InstancesScreen._show = spy  # type: ignore[method-assign]
    try:
        app = make_app(ctx)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for_screen(pilot, "RegionStep")
            await pilot.press("ctrl+l")
            await wait_for_screen(pilot, "InstancesScreen")
            screen = pilot.app.screen
            assert isinstance(screen, InstancesScreen)
            await wait_until(pilot, lambda: screen.loaded, 30)
    finally:
        InstancesScreen._show = original  # type: ignore[method-assign]

    # First the usual region alone (twice: without, then with costs), then everything.
    assert shown[0] == ({usual}, True) and shown[1] == ({usual}, True)
    assert shown[-1] == ({usual, elsewhere}, False)
    assert known_regions(ctx.cache_dir) == ["eu-west-1", "us-east-1"]


def test_rows_before_costs_say_the_costs_are_coming(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    instance = describe_one(aws, "us-east-1", iid)
    assert instance is not None
    (row,) = rows_without_costs([instance])
    values = cells(row)
    assert values["per_hour"] == values["so_far"] == values["disk"] == "…"
    assert values["gpu"] == "T4" and values["name"] == "book"


def test_a_missing_or_broken_memory_means_no_known_regions(tmp_path: Path) -> None:
    assert known_regions(tmp_path) == []
    (tmp_path / "instance-regions.json").write_text("{not json")
    assert known_regions(tmp_path) == []
    remember_regions(tmp_path, ["us-west-2"])
    remember_regions(tmp_path, ["eu-north-1"], add=True)
    assert known_regions(tmp_path) == ["eu-north-1", "us-west-2"]
