"""The cockpit's auto-stop: the agent's words in the header (read over SSH with the header's polls)
and `a` to change it, on --demo's simulated instance. The instance is launched in moto with the real
user data (the agent's installer), which the demo host runs at its first boot as cloud-init would;
the agent is the repository's, on the host's PATH the replaying nvidia-smi (a busy or idle GPU)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from tests.support.instances import control
from tests.support.screen_app import ScreenApp, demo_cloud
from tests.ui.driving import build_context, wait_until
from tui.demo.hosts import DEMO_BIN, DemoHosts, autostop_environment
from tui.flows.autostop import user_data_for
from tui.models import TAG_MANAGED, TAG_NAME, AutostopSetting, Instance
from tui.screens import cockpit
from tui.screens.autostop_modal import AutostopModal
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import describe_one
from tui.widgets.instance_header import InstanceHeader

SIZE = (120, 36)
AGENT = Path(__file__).resolve().parents[2] / "tui" / "data" / "autostop" / "agent.py"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    with demo_cloud(tmp_path) as both:
        yield both


def launch_with_agent(aws: Aws, setting: AutostopSetting) -> Instance:
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": "Name", "Value": "idle-box"}, {"Key": TAG_NAME, "Value": "idle-box"}]
    answer = ec2.run_instances(
        ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
        UserData=user_data_for(setting),
        TagSpecifications=[{"ResourceType": "instance", "Tags": [*tags, {"Key": TAG_MANAGED, "Value": "true"}]}],
    )  # fmt: skip
    found = describe_one(aws, "us-east-1", answer["Instances"][0]["InstanceId"])
    assert found is not None
    return found


def header(pilot: Pilot[Any]) -> list[str]:
    return str(pilot.app.screen.query_one(InstanceHeader).render()).splitlines()


def status(pilot: Pilot[Any]) -> str:
    return str(pilot.app.screen.query_one("#instances-status").render())


def agent_checks(home: Path) -> None:
    """One run of the agent on the simulated machine, as its timer would start it."""
    env = {**autostop_environment(home), "HOME": str(home), "PATH": f"{DEMO_BIN}:/usr/bin:/bin"}
    subprocess.run([sys.executable, "-I", "-S", str(AGENT)], env=env, check=True, capture_output=True)


async def test_the_header_says_the_agents_words_and_a_changes_them(
    cloud: tuple[Aws, DemoHosts],
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws, hosts = cloud
    instance = launch_with_agent(aws, AutostopSetting(30))
    home = hosts.root / instance.instance_id / "ubuntu"
    ctx = build_context(aws, tmp_path, simulated=True)
    ctx.ssh_endpoint = hosts.endpoint
    monkeypatch.setattr(cockpit, "AUTOSTOP_READ_S", 0.0)  # every poll reads the agent (30 s in use)
    # Reached once before (as the launch's setup does): the host key pinned from the console, and the
    # simulated machine's first boot, whose user data installs the agent, switched on, not checked yet.
    conn = await ctx.instance_link(instance, client_key[0]).connect()
    conn.close()
    config = home / ".d2l-simulated" / "autostop" / "etc" / "d2l-autostop" / "config.json"
    assert '"idle_minutes": 30' in config.read_text()
    app = ScreenApp(cockpit.CockpitScreen(ctx, instance, pane="details", key=client_key[0]))
    try:
        async with app.run_test(size=SIZE) as pilot:
            # The agent has not checked yet: the header stays two lines.
            await pilot.app.workers.wait_for_complete()
            assert len(header(pilot)) == 2

            # The timer's check with a busy GPU, then the header's next poll (r: now).
            control(home, profile="h200")
            await asyncio.to_thread(agent_checks, home)
            await pilot.press("r")
            await wait_until(pilot, lambda: len(header(pilot)) == 3, 30)
            assert re.fullmatch(r"auto-stop: not idle: .*GPU \d+%.* · a to change", header(pilot)[2]), header(
                pilot
            )

            # `a`: bad input is one sentence under the field; 45m goes to the agent and the alarm.
            control(home, profile="a10g")
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, AutostopModal))
            field = pilot.app.screen.query_one("#autostop-idle", Input)
            field.value = "5m"
            await pilot.pause()
            assert "'5m' is too short" in str(pilot.app.screen.query_one("#autostop-error").render())
            field.value = "45m"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "after 45 min idle" in status(pilot), 30)
            assert status(pilot).startswith("The instance stops (its disk stays, and is billed) after 45 min")
            # Idle now (this machine's other work may count as a busy CPU).
            assert re.fullmatch(
                r"auto-stop: (idle 0 of 45 min — stops at \d\d:\d\d|not idle: CPU [\d.]+ cores) · a to change",
                header(pilot)[2],
            ), header(pilot)
            assert '"idle_minutes": 45' in config.read_text()
            [alarm] = aws.client("cloudwatch", "us-east-1").describe_alarms()["MetricAlarms"]
            assert alarm["EvaluationPeriods"] == 18  # the backstop follows: twice 45 minutes

            # Escape leaves it as it is.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, AutostopModal))
            await pilot.press("escape")
            await pilot.pause()
            assert '"idle_minutes": 45' in config.read_text()

            # off: the header says off at once, never the last countdown beside "Off: …" below.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, AutostopModal))
            pilot.app.screen.query_one("#autostop-idle", Input).value = "off"
            await pilot.press("enter")
            await wait_until(pilot, lambda: status(pilot).startswith("Off:"), 30)
            assert header(pilot)[2] == "auto-stop off · a to change", header(pilot)
    finally:
        await hosts.stop()
    assert not os.path.exists(home / ".d2l-simulated" / "autostop" / "shutdown.log")


async def test_a_spot_instance_needs_a_second_enter_to_agree_to_terminate() -> None:
    chosen: list[AutostopSetting | None] = []
    app = ScreenApp(Screen())
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(AutostopModal("spot-box", spot=True), chosen.append)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, AutostopModal))
        note = str(pilot.app.screen.query_one("#autostop-note").render())
        assert note.startswith("The instance terminates (its disk is deleted) after 30 min idle")
        await pilot.press("enter")
        error = str(pilot.app.screen.query_one("#autostop-error").render())
        assert "can't be stopped" in error and "Press Enter again to agree" in error and chosen == []
        await pilot.press("enter")
        await wait_until(pilot, lambda: chosen == [AutostopSetting(30)])
