"""A cockpit whose instance stops without a key pressed there says who else can have stopped it
(its idle auto-stop, the console, AWS), so a reader back at the screen is not left guessing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from textual.widgets import Static

from tests.ui.driving import wait_until
from tests.ui.test_cockpit_snapshots import CockpitApp, cockpit_on


@pytest.fixture
def aws_mocked() -> Iterator[None]:
    with mock_aws():
        yield


def waiting_text(app: CockpitApp, pane: str) -> str:
    return str(app.screen.query_one(f"#{pane}").query_one(".pane-waiting", Static).render())


@pytest.mark.parametrize("from_here", [False, True])
async def test_a_stop_from_elsewhere_is_named_as_such(
    from_here: bool,
    aws_mocked: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cockpit = cockpit_on("details", tmp_path, monkeypatch)
    cockpit.opened.add("setup")  # the person had the setup log open
    app = CockpitApp(cockpit)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: cockpit.row is not None and cockpit.instance.state == "running", 30)
        if from_here:
            await pilot.press("s")
            await pilot.pause()
            await pilot.press("y")
        else:  # the agent's shutdown, or the console: AWS says stopped, nobody asked here
            cockpit.ctx.aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[cockpit.instance_id])
            cockpit.refresh_soon()
        await wait_until(pilot, lambda: cockpit.instance.state != "running", 30)
        await pilot.pause()
        cockpit.refresh_soon()  # a later poll keeps the reason on the line
        await pilot.pause(0.5)
        said = waiting_text(app, "setup")
        assert "stopped running" in said and "Press S to start it" in said
        assert ("not from here" in said and "auto-stop" in said) is not from_here, said


async def test_a_pane_that_finds_it_stopped_makes_the_header_ask_aws_at_once(
    aws_mocked: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.widgets.instance_header import InstanceHeader
    from tui.widgets.pane_tabs import PaneBody
    from tui.widgets.ssh_failure import SshFailure

    cockpit = cockpit_on("details", tmp_path, monkeypatch)
    app = CockpitApp(cockpit)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: cockpit.row is not None and cockpit.instance.state == "running", 30)
        # Stopped elsewhere; the cockpit's own poll is not due for a while. A pane's link then fails
        # (as the GPU stream's does when it finds the instance stopped): the header follows at once.
        cockpit.ctx.aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[cockpit.instance_id])
        failure = SshFailure()  # a pane's error line (the Details pane has none of its own)
        await cockpit.query_one("#details", PaneBody).mount(failure)
        failure.post_message(SshFailure.LinkFailed())
        await wait_until(pilot, lambda: cockpit.instance.state != "running", 5)
        assert "stopp" in str(cockpit.query_one(InstanceHeader).render()).splitlines()[0]
