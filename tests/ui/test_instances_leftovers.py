"""Leftovers on the instances screen, keys only on moto: terminate → the group and key pair show as
leftovers → L cleans them up → gone from moto; D deletes a saved image with its snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.test_leftovers import launch
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.screens.instances import InstancesScreen
from tui.services.cloud import lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.leftovers import IMAGE, KEY_PAIR, SECURITY_GROUP

REGIONS = ["us-east-1", "us-west-2"]


@pytest.fixture(autouse=True)
def two_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    original = InstancesScreen.__init__

    def init(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        original(self, ctx, REGIONS)  # two regions keep the test quick; the default is every region

    monkeypatch.setattr(InstancesScreen, "__init__", init)


def groups(aws: Aws) -> set[str]:
    answer = aws.client("ec2", "us-east-1").describe_security_groups()
    return {g["GroupId"] for g in answer["SecurityGroups"]}


def kinds(screen: InstancesScreen) -> set[str]:
    return {x.kind for x in screen.leftovers.values()}


async def open_instances(pilot: Pilot[Any]) -> InstancesScreen:
    await wait_for_screen(pilot, "RegionStep")
    await pilot.press("ctrl+l")
    await wait_for_screen(pilot, "InstancesScreen")
    screen = pilot.app.screen
    assert isinstance(screen, InstancesScreen)
    await wait_until(pilot, lambda: screen.loaded)
    return screen


async def test_terminate_then_clean_up_the_group_and_key(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    iid, group = launch(aws, "us-east-1", "book", ctx.key_dir)
    app = make_app(ctx)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_instances(pilot)
        await pilot.pause(0.3)
        assert screen.leftovers == {} and screen.check_action("cleanup", ()) is None
        assert not screen.query_one("#leftovers-table").display

        await pilot.press("x")
        await wait_for_screen(pilot, "TypeNameModal")
        await pilot.press(*"book", "enter")
        await wait_for_screen(pilot, "InstancesScreen")
        await wait_until(pilot, lambda: kinds(screen) == {KEY_PAIR, SECURITY_GROUP})
        assert group in {x.resource_id for x in screen.leftovers.values()}
        assert screen.query_one("#leftovers-table").display
        assert screen.check_action("cleanup", ()) is True

        await pilot.press("L")
        await wait_for_screen(pilot, "ConfirmationModal")
        body = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert group in body and "key pair key-book" in body and "private key files stay" in body
        await pilot.press("y")
        await wait_for_screen(pilot, "InstancesScreen")
        await wait_until(pilot, lambda: screen.leftovers == {})
        assert group not in groups(aws)
        assert "key-book" not in str(aws.client("ec2", "us-east-1").describe_key_pairs()["KeyPairs"])
        # The status line moves on with the next refresh; the notification stays a while.
        assert any("Deleted 2 leftover(s)" in n.message for n in app._notifications)
    assert lifecycle.list_managed(aws, REGIONS).instances == []


async def test_clean_up_declined_keeps_everything(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    iid, group = launch(aws, "us-west-2", "west", ctx.key_dir)
    aws.client("ec2", "us-west-2").terminate_instances(InstanceIds=[iid])
    app = make_app(ctx)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_instances(pilot)
        await wait_until(pilot, lambda: bool(screen.leftovers))
        await pilot.press("L")
        await wait_for_screen(pilot, "ConfirmationModal")
        await pilot.press("n")
        await wait_for_screen(pilot, "InstancesScreen")
        await pilot.pause(0.3)
    west = aws.client("ec2", "us-west-2").describe_security_groups()["SecurityGroups"]
    assert group in {g["GroupId"] for g in west}


async def test_delete_a_saved_image_with_d(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    launch(aws, "us-east-1", "book", ctx.key_dir)
    inst = lifecycle.find_instance(aws, "book")
    image_id = lifecycle.create_image(aws, inst, "book-saved", poll_interval=0.01)
    ec2 = aws.client("ec2", "us-east-1")
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    snapshots = {m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m}
    assert snapshots
    app = make_app(ctx)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_instances(pilot)
        await wait_until(pilot, lambda: kinds(screen) == {IMAGE})
        assert screen.check_action("cleanup", ()) is None  # saved images are never bulk-deleted
        await pilot.press("D")
        await wait_for_screen(pilot, "ConfirmationModal")
        body = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "book-saved" in body and "deletes its snapshots" in body
        await pilot.press("y")
        await wait_for_screen(pilot, "InstancesScreen")
        await wait_until(pilot, lambda: screen.leftovers == {})
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    left = {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}
    assert not snapshots & left  # deleted with the image


async def test_instances_option_opens_the_screen_over_the_wizard(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    launch(aws, "us-east-1", "first", ctx.key_dir)
    app = make_app(ctx, instances=True)  # `d2l-tui --instances`
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded)
        assert [r.instance.name for r in screen.rows.values()] == ["first"]
        await pilot.press("escape")
        await wait_for_screen(pilot, "RegionStep")  # where a plain start begins
