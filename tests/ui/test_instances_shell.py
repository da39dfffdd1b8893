"""`o` on the instances screen: the host key pinned from the console, then the real `ssh` client
run with the terminal to itself, against the simulated instance's loopback host.

The headless test driver can't hand a terminal over, so Textual's App.suspend is the one part
replaced (by a plain context); stdin is /dev/null, as a terminal nobody types into.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.app import App
from textual.pilot import Pilot

from tests.support.instances import make_instance
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.demo.cloud import simulated_answers
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import LoopbackHost, console_hook
from tui.models import Instance
from tui.screens.instances import InstancesScreen
from tui.services.cloud.aws import Aws
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.sshconfig import known_hosts_path

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[DemoHosts]:
    with mock_aws():
        yield DemoHosts(tmp_path / "hosts")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """App.suspend as a plain context, and fd 0 on /dev/null for the ssh child."""
    monkeypatch.setattr(App, "suspend", lambda self: contextlib.nullcontext())
    saved = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(null)


@contextlib.asynccontextmanager
async def demo_instances(
    hosts: DemoHosts,
    tmp_path: Path,
    client_key: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    pin: str | None,
) -> AsyncIterator[tuple[Pilot[Any], InstancesScreen, Instance]]:
    """The instances screen listing one simulated instance, served by the demo's loopback host."""

    def customize(session: Any) -> None:
        simulated_answers(session)
        console_hook(hosts.host_for_instance)(session)

    aws = Aws(region="us-east-1", customize=customize)
    instance = make_instance(aws, "d2l-shell")
    if pin is not None:
        KnownHosts(known_hosts_path()).pin(instance.instance_id, [pin], source="console")
    ctx = build_context(aws, tmp_path, simulated=True)
    ctx.ssh_endpoint = hosts.endpoint
    monkeypatch.setattr(InstancesScreen, "key_path", lambda self, inst: client_key[0])
    original = InstancesScreen.__init__
    monkeypatch.setattr(InstancesScreen, "__init__", lambda self, c, r=None: original(self, c, ["us-east-1"]))
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        yield pilot, screen, instance
    await hosts.stop()


async def open_shell(
    hosts: DemoHosts,
    tmp_path: Path,
    client_key: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    pin: str | None,
) -> str:
    """Press o on the only instance; the status line afterwards."""
    async with demo_instances(hosts, tmp_path, client_key, monkeypatch, pin) as (pilot, screen, instance):
        app = pilot.app
        status = screen.query_one("#instances-status")
        await pilot.press("o")

        def shell_done() -> bool:
            shells = [w for w in app.workers if w.group == "shell"]
            return not shells or all(w.is_finished for w in shells)

        await pilot.pause(0.1)
        await wait_until(pilot, shell_done, 30)
        said = [n.message for n in app._notifications]
        text = str(status.render()) if status.has_class("error") else " ".join(said)
        pinned = KnownHosts(known_hosts_path()).keys_for(instance.instance_id)
        assert pinned, "the host key is pinned before ssh runs"
    return text


async def test_o_pins_the_key_then_runs_ssh_and_comes_back(
    hosts: DemoHosts,
    tmp_path: Path,
    client_key: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: None,
) -> None:
    text = await open_shell(hosts, tmp_path, client_key, monkeypatch, pin=None)
    assert text == "Back from the shell on d2l-shell."


async def test_o_says_when_ssh_could_not_connect(
    hosts: DemoHosts,
    tmp_path: Path,
    client_key: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: None,
) -> None:
    wrong = LoopbackHost(home=tmp_path / "elsewhere").host_public_key  # pinned, but not this host's key
    text = await open_shell(hosts, tmp_path, client_key, monkeypatch, pin=wrong)
    assert text.startswith("ssh could not connect (exit 255)") and "press o to try again" in text


async def test_c_in_the_demo_copies_a_command_that_reaches_the_simulated_instance(
    hosts: DemoHosts,
    tmp_path: Path,
    client_key: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with demo_instances(hosts, tmp_path, client_key, monkeypatch, pin=None) as (pilot, _, instance):
        await pilot.press("c")
        await wait_until(pilot, lambda: pilot.app.clipboard.startswith("ssh "), 30)
        copied = shlex.split(pilot.app.clipboard)
        assert copied[-1] == "ubuntu@127.0.0.1" and "StrictHostKeyChecking=yes" in copied
        # Run as another terminal would, while the app (and so the loopback server) runs.
        argv = [copied[0], "-o", "BatchMode=yes", *copied[1:], "echo", "reached", "$HOME"]
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == "reached"
        assert KnownHosts(known_hosts_path()).keys_for(instance.instance_id)
