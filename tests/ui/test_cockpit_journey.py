"""The whole journey of issue 14 on the demo, with keys only: launch → the cockpit → setup done →
Jupyter (a real HTTP request through the tunnel answers) → GPU samples → Stop (the URL stops
answering, the GPU pane says why) → Start (LaunchTime reset, the panes reconnect) → image →
terminate (nothing of that instance left running here).

moto in-process with the demo's rules, the loopback SSH host that stands in for the instance, the
simulated setup, the demo's stand-in Jupyter and its replaying nvidia-smi: what `d2l-tui --demo` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.widgets import Input, Static
from textual.worker import WorkerState

from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_snapshots import TIMEOUT, WIZARD
from tests.ui.test_tunnel import get, kill_servers, refused
from tui.app import make_app
from tui.demo.cloud import simulated_answers
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import console_hook
from tui.screens.cockpit import SSH_PANES, CockpitScreen
from tui.screens.gpu_panel import GpuPane
from tui.screens.instance_actions import InstanceActions
from tui.screens.provision import SetupPane
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import describe_one
from tui.widgets.instance_header import InstanceHeader
from tui.widgets.pane_tabs import PaneBody


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoHosts]:
    monkeypatch.setenv("D2L_SIM_DELAY", "0")  # the simulated steps print without pausing
    monkeypatch.setattr(InstanceActions, "FAST_S", 0.2)  # the header follows a state change quickly
    monkeypatch.setattr(InstanceActions, "IMAGE_POLL_S", 0.1)
    with mock_aws():
        yield DemoHosts(tmp_path / "hosts")


def waiting_text(screen: CockpitScreen, pane: str) -> str:
    return str(screen.query_one(f"#{pane}", PaneBody).query_one(".pane-waiting", Static).render())


async def test_the_whole_cockpit_journey_with_keys_only(hosts: DemoHosts, tmp_path: Path) -> None:
    def customize(session: Any) -> None:
        simulated_answers(session)
        console_hook(hosts.host_for_instance)(session)

    aws = Aws(region="us-east-1", customize=customize)
    ctx = build_context(aws, tmp_path, simulated=True, provision_after_launch=True)
    ctx.ssh_endpoint = hosts.endpoint
    app = make_app(ctx)
    iid = ""
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            # Launch: the wizard's defaults, then the cockpit opens on its Setup pane.
            for name, ready, keys in WIZARD:
                await wait_for_screen(pilot, name)
                await wait_until(pilot, ready(pilot), TIMEOUT)
                await pilot.press(*keys)
            await wait_for_screen(pilot, "CockpitScreen")
            cockpit = app.screen
            assert isinstance(cockpit, CockpitScreen)
            iid, name = cockpit.instance_id, cockpit.instance.name
            await wait_until(pilot, lambda: bool(cockpit.query(SetupPane)), TIMEOUT)
            setup = cockpit.query_one(SetupPane)
            await wait_until(pilot, lambda: setup.outcome is not None, 90)
            assert setup.outcome is not None and setup.outcome.ok

            # Jupyter: t starts it and forwards it here; its URL answers.
            await pilot.press("t")
            await wait_until(
                pilot, lambda: (s := ctx.tunnels.status(iid)) is not None and s.state == "up", 60
            )
            status = ctx.tunnels.status(iid)
            assert status is not None and status.local_port and status.url
            port, token = status.local_port, status.url.split("token=")[1]
            assert (await asyncio.to_thread(get, port, f"/?token={token}"))[0] == 200

            # GPU: g shows the live panel; samples arrive from the replaying nvidia-smi.
            await pilot.press("g")
            await wait_until(pilot, lambda: bool(cockpit.query(GpuPane)), 10)
            gpu = cockpit.query_one(GpuPane)
            await wait_until(pilot, lambda: gpu.ticks_shown > 0, 30)
            launched = describe_one(aws, "us-east-1", iid)
            assert launched is not None and launched.launch_time is not None

            # Stop (s, y): the tunnel ends (the URL no longer answers), the GPU pane says why.
            await pilot.press("s")
            await wait_for_screen(pilot, "ConfirmationModal")
            await pilot.press("y")
            await wait_until(pilot, lambda: cockpit.instance.state == "stopped", 30)
            assert not ctx.tunnels.is_active(iid) and refused(port)
            assert cockpit.live_pane("gpu") is None and cockpit.live_pane("jupyter") is None
            said = waiting_text(cockpit, "gpu")
            assert f"{name} stopped running." in said and "Press S to start it." in said
            # The status line settles with the header: not "is stopping." under "● stopped".
            line = cockpit.query_one("#instances-status")
            await wait_until(pilot, lambda: str(line.render()) == f"{name} is stopped.", 10)

            # Start (S): LaunchTime reset; the GPU stream and the tunnel come back on their own.
            await asyncio.sleep(1.1)  # LaunchTime has one-second resolution
            await pilot.press("S")
            await wait_until(pilot, lambda: cockpit.instance.state == "running", 30)
            assert cockpit.instance.launch_time is not None
            assert cockpit.instance.launch_time > launched.launch_time
            await wait_until(pilot, lambda: isinstance(cockpit.live_pane("gpu"), GpuPane), 10)
            again = cockpit.live_pane("gpu")
            assert isinstance(again, GpuPane) and again is not gpu
            await wait_until(pilot, lambda: again.ticks_shown > 0, 30)
            await wait_until(
                pilot, lambda: (s := ctx.tunnels.status(iid)) is not None and s.state == "up", 60
            )
            back = ctx.tunnels.status(iid)
            assert back is not None and back.local_port and back.url
            code, _ = await asyncio.to_thread(get, back.local_port, f"/?token={back.url.split('token=')[1]}")
            assert code == 200

            # Image (i, Enter: the default name): an image of this instance is made.
            await pilot.press("i")
            await wait_for_screen(pilot, "ImageNameModal")
            await pilot.press("enter")
            await wait_for_screen(pilot, "CockpitScreen")
            ec2 = aws.client("ec2", "us-east-1")

            def images() -> list[dict[str, Any]]:
                return list(ec2.describe_images(Owners=["self"])["Images"])

            await wait_until(pilot, lambda: any(i["State"] == "available" for i in images()), 30)

            # Terminate (x, type the name): nothing of it left running here.
            await pilot.press("x")
            await wait_for_screen(pilot, "TypeNameModal")
            app.screen.query_one(Input).focus()
            await pilot.press(*name, "enter")
            await wait_until(pilot, lambda: cockpit.gone, 30)
            # What it shows is true at once: terminated in the header and the status line, no key offered.
            assert "terminated" in str(cockpit.query_one(InstanceHeader).render()).splitlines()[0]
            assert "terminated: it no longer exists" in str(
                cockpit.query_one("#instances-status", Static).render()
            )
            assert not any(cockpit.check_action(a, ()) for a in ("stop", "start", "terminate", "image"))
            assert not ctx.tunnels.is_active(iid)
            tunnel = ctx.tunnels.tunnel(iid)
            await wait_until(pilot, lambda: tunnel is None or tunnel.finished.is_set(), 10)
            running = [w.group for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
            assert f"tunnel-{iid}" not in running and "gpu-panel" not in running, running
            assert all(cockpit.live_pane(pane) is None for pane in SSH_PANES)
            assert not app.query(GpuPane) and not app.screen.query(GpuPane)
            assert refused(back.local_port)
            gone = describe_one(aws, "us-east-1", iid)
            assert gone is None or gone.state in ("shutting-down", "terminated")
    finally:
        await ctx.tunnels.close_all()
        await hosts.stop()
        if iid:
            kill_servers(hosts.root / iid / "ubuntu")
