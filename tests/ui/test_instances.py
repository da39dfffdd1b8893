"""The instances screen driven with keys only on moto: stop, start, create image, terminate (typing
the name), each checked in moto afterwards; terminate refused without the typed name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.screens.instance_actions import InstanceActions
from tui.screens.instances import InstancesScreen
from tui.services.cloud import images
from tui.services.cloud.aws import Aws

REGIONS = ["us-east-1", "us-west-2"]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only what tests wait on gets faster; the chain of polls is the same.
    monkeypatch.setattr(InstanceActions, "IMAGE_POLL_S", 0.05)
    original = InstancesScreen.__init__

    def init(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        original(self, ctx, REGIONS)  # two regions keep the test quick; the default is every region

    monkeypatch.setattr(InstancesScreen, "__init__", init)


def state(aws: Aws, instance_id: str) -> str:
    answer = aws.client("ec2", "us-east-1").describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def row_state(app: Any, instance_id: str) -> str:
    screen = app.screen
    row = screen.rows.get(instance_id) if isinstance(screen, InstancesScreen) else None
    return row.instance.state if row else ""


async def open_instances(pilot: Pilot[Any]) -> InstancesScreen:
    await wait_for_screen(pilot, "RegionStep")
    await pilot.press("ctrl+l")
    await wait_for_screen(pilot, "InstancesScreen")
    screen = pilot.app.screen
    assert isinstance(screen, InstancesScreen)
    await wait_until(pilot, lambda: screen.loaded and not screen.query_one("#instances-table").loading)
    return screen


async def test_stop_start_image_terminate_with_keys(aws: Aws, tmp_path: Path) -> None:
    iid = run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_instances(pilot)
        assert (
            screen.check_action("stop", ()) is True and screen.check_action("start", ()) is False
        )  # hidden: not for a running one
        table_text = str(screen.query_one("#instances-table").render_line(1))
        assert "book" in table_text

        await pilot.press("s")
        await wait_for_screen(pilot, "ConfirmationModal")
        body = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "disk" in body and "still billed" in body and "public address changes" in body
        await pilot.press("y")
        await wait_until(pilot, lambda: row_state(app, iid) == "stopped")
        assert state(aws, iid) == "stopped"
        assert screen.check_action("start", ()) is True and screen.check_action("stop", ()) is False

        await pilot.press("S")
        await wait_until(pilot, lambda: row_state(app, iid) == "running")
        assert state(aws, iid) == "running"

        await pilot.press("i")
        await wait_for_screen(pilot, "ImageNameModal")
        await pilot.press("enter")  # the prefilled name
        await wait_for_screen(pilot, "InstancesScreen")
        await wait_until(pilot, lambda: bool(images.my_amis(aws, "us-east-1")))
        [saved] = images.my_amis(aws, "us-east-1")  # what the wizard lists under My AMIs
        assert saved.name.startswith("book-") and state(aws, iid) == "running"

        await pilot.press("x")
        await wait_for_screen(pilot, "TypeNameModal")
        await pilot.press(*"book", "enter")
        await wait_for_screen(pilot, "InstancesScreen")
        await wait_until(pilot, lambda: iid not in screen.rows)
        assert state(aws, iid) == "terminated"
        assert screen.query_one("#instances-table").row_count == 0  # type: ignore[attr-defined]

        await pilot.press("escape")
        await wait_for_screen(pilot, "RegionStep")  # back to the wizard


async def test_terminate_refused_without_the_typed_name(aws: Aws, tmp_path: Path) -> None:
    iid = run(aws, "us-east-1", "precious")
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        await open_instances(pilot)
        await pilot.press("x")
        await wait_for_screen(pilot, "TypeNameModal")
        await pilot.press(*"precio", "enter")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "TypeNameModal"
        assert "doesn't match" in str(app.screen.query_one("#terminate-error").render())
        await pilot.press("escape")
        await wait_for_screen(pilot, "InstancesScreen")
    assert state(aws, iid) == "running"


async def test_enter_opens_the_details_with_costs(aws: Aws, tmp_path: Path) -> None:
    run(aws, "us-west-2", "west", itype="g4dn.xlarge")
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        await open_instances(pilot)
        await pilot.press("enter")
        await wait_for_screen(pilot, "CockpitScreen")  # on its Details pane
        text = str(app.screen.query_one("#cockpit-details").render())
        for shown in ("us-west-2", "T4", "GiB gp3", "ubuntu@ec2-"):
            assert shown in text, text
        await pilot.press("c")
        assert app.clipboard.startswith("ssh ") and "StrictHostKeyChecking=ask" in app.clipboard
        await pilot.press("escape")
        await wait_for_screen(pilot, "InstancesScreen")
