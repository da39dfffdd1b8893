"""`t` on the instances screen: the tunnel starts, its state shows in the table, `t` again stops it.

The whole app on moto in-process with --demo's parts: the instance is the loopback SSH host with
the stand-in `jupyter` on its PATH, reached through InstanceLink (host key from the console).
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tests.support.instances import make_instance
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.demo.cloud import simulated_answers
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import console_hook
from tui.screens.instances import InstancesScreen
from tui.services.cloud.aws import Aws


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[DemoHosts]:
    with mock_aws():
        yield DemoHosts(tmp_path / "hosts")


def cell(screen: InstancesScreen, instance_id: str) -> str:
    return screen.shown.get(instance_id, {}).get("tunnel", "")


async def test_t_starts_and_stops_the_tunnel_from_the_table(
    hosts: DemoHosts, tmp_path: Path, client_key: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def customize(session: Any) -> None:
        simulated_answers(session)
        console_hook(hosts.host_for_instance)(session)

    aws = Aws(region="us-east-1", customize=customize)
    instance = make_instance(aws, "d2l-notebooks")
    ctx = build_context(aws, tmp_path, simulated=True)
    ctx.ssh_endpoint = hosts.endpoint
    # The instance's key pair, where the app looks for it.
    monkeypatch.setattr(InstancesScreen, "key_path", lambda self, inst: client_key[0])
    original = InstancesScreen.__init__
    monkeypatch.setattr(InstancesScreen, "__init__", lambda self, c, r=None: original(self, c, ["us-east-1"]))

    app = make_app(ctx)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "RegionStep")
        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, "InstancesScreen")
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        assert cell(screen, instance.instance_id) == "-"

        await pilot.press("t")
        await wait_for_screen(pilot, "CockpitScreen")  # on its Jupyter pane, the tunnel starting
        registry = ctx.tunnels
        assert registry is not None
        await wait_until(
            pilot, lambda: (s := registry.status(instance.instance_id)) is not None and s.state == "up", 30
        )
        status = registry.status(instance.instance_id)
        assert status is not None and status.url.startswith(f"http://localhost:{status.local_port}/?token=")
        # From a thread: the forward is served by this same event loop.
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(status.url, timeout=10).read().decode())
        assert page  # the demo's stand-in page, through the forward

        await pilot.press("escape")
        await wait_for_screen(pilot, "InstancesScreen")
        assert cell(screen, instance.instance_id) == f"up :{status.local_port}"

        await pilot.press("t")  # again: stops the tunnel (Jupyter stays on the instance)
        await wait_until(pilot, lambda: not registry.is_active(instance.instance_id), 15)
        await wait_until(pilot, lambda: cell(screen, instance.instance_id) == "-", 15)
    await hosts.stop()
