"""The storage and review steps price the disk at the chosen region's gp3 price: the us-east-1 list
price is painted at once, the region's own once the Pricing API (moto lacks it: answered by botocore
hooks in its real shape) has been read off the UI thread. Each step runs alone, on moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.support.screen_app import ScreenApp
from tests.test_ebs_prices import PRICING, asked_regions, pricing_hooks, today
from tests.ui.driving import build_context, wait_until
from tui.models import GpuType, ImageChoice, ImageKind, KeyChoice, Region
from tui.screens.review import ReviewStep
from tui.screens.storage import StorageStep
from tui.screens.wizard_state import WizardState
from tui.services.cloud.aws import Aws

SIZE = (120, 40)
IMAGE = ImageChoice(
    ImageKind.DLAMI, "ami-0c1a2b3c4d5e6f708", "Deep Learning OSS Nvidia Driver AMI", "x86_64", 75
)
T4 = GpuType("g4dn.xlarge", "g4dn", "T4", 1, 16384, 4, 16.0, "x86_64", ondemand_usd_per_hour=0.587)


def text(pilot: Pilot[Any], selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).render())


async def test_storage_step_prices_the_disk_in_the_chosen_region(aws: Aws, tmp_path: Path) -> None:
    hooks = pricing_hooks()
    state = WizardState(region=Region("eu-west-1"), image=IMAGE)
    screen = StorageStep(build_context(hooks.aws(), tmp_path), state)

    async with ScreenApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "$0.088" in text(pilot, "#disk-cost"))
        line = text(pilot, "#disk-cost")
        assert "About $6.60/month while it exists (at least 75 GiB on this image)." in line  # 75 GiB × $0.088
        assert f"gp3 at $0.088 per GB-month: Pricing API, {today()}." in line
        field = pilot.app.screen.query_one("#disk", Input)
        field.value = ""
        await pilot.press(*"100")
        await wait_until(pilot, lambda: "About $8.80/month" in text(pilot, "#disk-cost"))

    assert asked_regions(hooks) == {"eu-west-1"} and len(hooks.calls[PRICING]) == 3


async def test_review_step_prices_the_disk_in_the_chosen_region(aws: Aws, tmp_path: Path) -> None:
    hooks = pricing_hooks()
    key = KeyChoice("d2l-tui", None, create=True)
    state = WizardState(region=Region("eu-west-1"), gpu_type=T4, image=IMAGE, disk_gib=100, key=key)
    screen = ReviewStep(build_context(hooks.aws(), tmp_path), state)

    async with ScreenApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "$8.80/month for the disk" in text(pilot, "#review-cost"))
        assert "Costs about $0.587/hour" in text(pilot, "#review-cost")

    assert asked_regions(hooks) == {"eu-west-1"}


async def test_instances_screen_prices_a_stopped_disk_in_its_region(aws: Aws, tmp_path: Path) -> None:
    from tests.test_lifecycle import run
    from tui.screens.instances import InstancesScreen

    hooks = pricing_hooks()
    hooked = hooks.aws()
    parked = run(hooked, "eu-west-1", "parked", itype="g4dn.xlarge")
    hooked.client("ec2", "eu-west-1").stop_instances(InstanceIds=[parked])
    screen = InstancesScreen(build_context(hooked, tmp_path), ["eu-west-1"])

    async with ScreenApp(screen).run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: screen.loaded, 30)
        row = screen.rows[parked]
        assert row.disk_gib > 0 and abs(row.disk_usd_per_month - row.disk_gib * 0.088) < 1e-9
        assert screen.shown[parked]["disk"] == f"${row.disk_gib * 0.088:,.2f} (stopped)"
    assert "eu-west-1" in asked_regions(hooks)
