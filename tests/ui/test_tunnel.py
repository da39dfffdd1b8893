"""The tunnel screen, driven with keys, and pictures of its states.

The flow runs against --demo's simulated instance: an instance in moto reached through InstanceLink
(host key pinned from the console output) on the in-process loopback SSH host, whose PATH has the
demo's stand-in `jupyter` (tui/demo/bin/jupyter). The page it serves comes through the same forward
a real Jupyter would.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.instances import make_instance
from tests.support.screen_app import PaneScreen, demo_cloud
from tests.ui.driving import build_context, wait_until
from tui.context import AppContext
from tui.demo.hosts import DemoHosts
from tui.models import Instance, TunnelStatus
from tui.screens.cockpit import CockpitScreen
from tui.screens.tunnel import JupyterPane, confirm_stop_jupyter
from tui.services.cloud.aws import Aws
from tui.services.remote.tunnel_registry import TunnelRegistry
from tui.services.secrets import SecretStore

SIZE = (120, 36)
TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    with demo_cloud(tmp_path) as both:
        yield both


class TunnelApp(App[None]):
    """Just what `t` on the instances screen does: the instance's cockpit on its Jupyter pane, the
    tunnel starting."""

    CSS_PATH = str(TCSS)

    def __init__(self, ctx: AppContext, instance: Instance, key: Path) -> None:
        super().__init__()
        self.ctx = ctx
        self.instance = instance
        self.key = key

    def on_mount(self) -> None:
        self.push_screen(
            CockpitScreen(self.ctx, self.instance, pane="jupyter", start_tunnel=True, key=self.key)
        )


def jupyter(app: App[Any]) -> JupyterPane:
    return app.screen.query_one(JupyterPane)


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def text(pilot: Pilot[Any], selector: str) -> str:
    return str(jupyter(pilot.app).query_one(selector, Static).render())


async def test_the_demo_tunnel_end_to_end(
    cloud: tuple[Aws, DemoHosts],
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aws, hosts = cloud
    instance = make_instance(aws, "d2l-nb")
    ctx = build_context(aws, tmp_path, simulated=True)
    ctx.ssh_endpoint = hosts.endpoint
    registry = ctx.tunnels
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    iid = instance.instance_id

    def state() -> str:
        status = registry.status(iid)
        return status.state if status else ""

    app = TunnelApp(ctx, instance, client_key[0])
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: state() == "up", 30)
            status = registry.status(iid)
            assert status is not None and status.local_port and status.url
            port, token = status.local_port, status.url.split("token=")[1]
            assert status.url == f"http://localhost:{port}/?token={token}"
            assert "● up" in text(pilot, "#tunnel-state") and f"localhost:{port}" in text(
                pilot, "#tunnel-state"
            )
            assert status.url in text(pilot, "#tunnel-url")
            assert "memory only" in text(pilot, "#tunnel-notice")  # the tests' keyring is the null one
            assert "Simulated instance" in text(pilot, "#tunnel-help")

            code, page = await asyncio.to_thread(get, port, f"/?token={token}")
            assert code == 200 and "Jupyter (simulated)" in page
            assert (await asyncio.to_thread(get, port, "/api/status"))[0] == 403

            await pilot.press("u")
            assert app.clipboard == status.url
            await pilot.press("b")
            await wait_until(pilot, lambda: opened == [status.url])

            # Leaving the cockpit leaves the tunnel running; `t` on the instance opens it again.
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, CockpitScreen) and state() == "up"
            assert (await asyncio.to_thread(get, port, f"/api/status?token={token}"))[0] == 200
            app.push_screen(
                CockpitScreen(ctx, instance, pane="jupyter", start_tunnel=True, key=client_key[0])
            )
            await wait_until(pilot, lambda: bool(app.screen.query(JupyterPane)))
            assert registry.status(iid) == status  # the same tunnel, not a second one

            await pilot.press("t")  # stop the tunnel
            await wait_until(pilot, lambda: state() == "down")
            assert refused(port) and "keeps running" in text(pilot, "#tunnel-detail")
            assert jupyter(app).check_action("copy_url", ()) is None  # greyed out: no URL

            await pilot.press("t")  # and start it again: Jupyter was still running
            await wait_until(pilot, lambda: state() == "up", 30)
            again = registry.status(iid)
            assert again is not None and again.reused and again.url == status.url

            await pilot.press("J")
            await pilot.pause()
            await pilot.press("y")
            await wait_until(pilot, lambda: state() == "down" and not jupyter(app).stopping_jupyter, 30)
            runtime = hosts.root / iid / "ubuntu" / ".local" / "share" / "jupyter" / "runtime"
            await wait_until(pilot, lambda: not list(runtime.glob("jpserver-*.json")), 10)
            assert refused(port)
            said = str(jupyter(app).query_one("#tunnel-detail").render())
            assert "t starts it again" in said and "keeps running" not in said, said

            # t starts Jupyter again, with the token it had: the URL the person kept still works.
            await pilot.press("t")
            await wait_until(pilot, lambda: state() == "up", 30)
            fresh = registry.status(iid)
            assert fresh is not None and not fresh.reused and fresh.url == status.url

            # The instances screen's "Stop Jupyter" (no tunnel screen needed).
            await pilot.press("escape")
            link = ctx.instance_link(instance, client_key[0])
            confirm_stop_jupyter(app, ctx.tunnels, link, instance.instance_id)
            await pilot.pause()
            await pilot.press("y")
            await wait_until(
                pilot, lambda: state() == "down" and not list(runtime.glob("jpserver-*.json")), 30
            )
    finally:
        await registry.close_all()
        await hosts.stop()
        kill_servers(hosts.root / iid / "ubuntu")  # when the test failed before J stopped it


def kill_servers(home: Path) -> None:
    import json
    import os
    import signal

    for path in (home / ".local" / "share" / "jupyter" / "runtime").glob("jpserver-*.json"):
        try:
            os.kill(int(json.loads(path.read_text())["pid"]), signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


# --- pictures of the states ------------------------------------------------------------------------

TOKEN = "3f2a9c1e7b5d4a6f8e0c2b4d6f8a0c2e4b6d8f0a2c4e6b8d"
IID = "i-0a1b2c3d4e5f67890"


class StubLink:
    label = "d2l-g4dn-xlarge-3f9a"
    simulated = False

    async def connect(self, on_wait: Any = None) -> Any:
        raise AssertionError("the pictures connect to nothing")

    def trust(self, key_line: str) -> None:
        raise AssertionError("not here")


class PictureApp(App[None]):
    CSS_PATH = str(TCSS)

    def __init__(self, status: TunnelStatus | None) -> None:
        super().__init__()
        self.registry = TunnelRegistry(SecretStore())
        if status is not None:
            self.registry.update(status)

    def on_mount(self) -> None:
        self.push_screen(PaneScreen(JupyterPane(self.registry, StubLink(), IID)))


UP = TunnelStatus(
    IID,
    "up",
    local_port=8889,
    url=f"http://localhost:8889/?token={TOKEN}",
    detail="Forwarding localhost:8889 to Jupyter on d2l-g4dn-xlarge-3f9a (port 8888, started by d2l-tui).",
    remote_port=8888,
    root_dir="/home/ubuntu/d2l-en/pytorch",
)
STATES = {
    "starting": TunnelStatus(
        IID,
        "starting",
        local_port=8889,
        detail="Starting Jupyter on d2l-g4dn-xlarge-3f9a (this takes a few seconds)…",
    ),
    "up": UP,
    "up_memory_only": TunnelStatus(
        **{
            **UP.__dict__,
            "notice": "No keyring is available on this computer, so the Jupyter token is kept in memory "
            "only: it is gone when d2l-tui exits (the tunnel reads it from the server again next time).",
        }
    ),
    "reconnecting": TunnelStatus(
        **{
            **UP.__dict__,
            "state": "reconnecting",
            "detail": "Connection lost (the SSH connection closed); reconnecting in 4 s. "
            "localhost:8889 stays reserved.",
        }
    ),
    "down": TunnelStatus(
        IID,
        "down",
        failed=True,
        detail="Jupyter isn't installed on d2l-g4dn-xlarge-3f9a yet (~/d2l/bin/jupyter is missing). Set the "
        "instance up for the book first: l on the instances screen, or `d2l-tui provision d2l-g4dn-xlarge-3f9a`.",
    ),
}


@pytest.mark.parametrize("name", list(STATES))
def test_tunnel_state(name: str, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PaneScreen))

    assert snap_compare(PictureApp(STATES[name]), terminal_size=SIZE, run_before=run_before)
