"""The GPU panel, driven with keys, against the simulated instance's SSH host and a real sshd.

The instance is in moto and is reached through InstanceLink exactly as a real one (address from
DescribeInstances, host key pinned from the console output); its host is the in-process asyncssh
server --demo uses, with the replaying nvidia-smi (tui/demo/bin) on its PATH, told how to behave
through the control file in its HOME. One test uses the real OpenSSH sshd, where nvidia-smi is
really missing until the test installs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.support.instances import (
    SshdLink,
    control,
    gpu_sshd_fixture,  # noqa: F401  (the gpu_sshd fixture)
    install_nvidia_smi,
    make_instance,
)
from tests.support.screen_app import ScreenApp, demo_cloud
from tests.support.sshd import OpenSshServer
from tests.ui.driving import wait_until
from tui.demo.hosts import DemoHosts
from tui.models import GpuStatus
from tui.screens.gpu_panel import GpuPane
from tui.services.cloud.aws import Aws
from tui.services.remote.gpu import GpuSampler
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.instance_link import InstanceLink
from tui.widgets.gpu_lines import GpuProcessTable, GpuStateLine, GpuSummaryLine

SIZE = (120, 40)
TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"
# PIDs no process can have (above any pid_max): ps finds none, so snapshots never show a local user.
NO_SUCH_PIDS = "4194301,4194302,4194303"


class PanelApp(ScreenApp):
    """Just the GPU panel (the class name is the title the snapshots show)."""


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    with demo_cloud(tmp_path) as both:
        yield both


def panel(
    cloud: tuple[Aws, DemoHosts],
    key: Path,
    tmp_path: Path,
    *,
    retry_delays: tuple[float, ...] = (0.1,),
    processes: bool = True,
    **settings: object,
) -> tuple[GpuPane, Path]:
    """The panel for a fresh simulated instance whose replay is told `settings`; and its HOME."""
    aws, hosts = cloud
    instance = make_instance(aws)
    home = hosts.root / instance.instance_id / "ubuntu"
    home.mkdir(parents=True)
    # Not the instance type's T4: these pictures are H100s, their loaded and idle captures taking turns
    # (load=capture), not the demo's idle-until-a-process-trains (load=follow, tests/test_demo_gpu_load.py).
    control(home, **{"profile": "h100", "load": "capture", **settings})
    link = InstanceLink(
        aws,
        instance,
        key,
        KnownHosts(tmp_path / "known_hosts"),
        endpoint_for=hosts.endpoint,
        console_timeout_s=5,
    )
    sampler = GpuSampler(
        link.connect,
        lambda _: None,
        retry_delays=retry_delays,
        reconnect_delays=(0.1,),
        processes=processes,
        process_every_s=0.5,
    )
    return GpuPane(link, sampler=sampler), home


def state_text(screen: GpuPane) -> str:
    return str(screen.query_one(GpuStateLine).render())


def summary_text(screen: GpuPane) -> str:
    return str(screen.query_one(GpuSummaryLine).render())


def row_text(screen: GpuPane, index: int) -> str:
    return str(screen.rows[index].text())


def showing(screen: GpuPane, status: GpuStatus) -> Callable[[], bool]:
    return lambda: screen.state.status is status


async def test_eight_gpus_their_processes_and_the_keys(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path
) -> None:
    screen, _ = panel(cloud, client_key[0], tmp_path, gpus=8)
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(screen.rows) == 8 and screen.ticks_shown >= 2, 30)
        assert (
            not screen.query_one(GpuStateLine).display
            or "-streaming" in screen.query_one(GpuStateLine).classes
        )
        for index in range(8):
            text = row_text(screen, index)
            assert text.startswith(f"{index:>2} H100 80GB HBM3")
            assert ("100%" in text and "19.4/79.6 GiB" in text) or ("  0%" in text and "0.0/79.6 GiB" in text)
            assert not screen.rows[index].has_class("-tall")  # eight fit: the compact rows
        summary = summary_text(screen)
        assert summary.startswith("8 GPUs · ") and "/ 637.2 GiB" in summary and "/ 5,600 W" in summary

        table = screen.query_one(GpuProcessTable)
        await wait_until(pilot, lambda: bool(table.processes), 15)
        pids = {row[1] for row in table.rows}
        assert pids <= {"11327", "11328", "11345"} and pids  # the capture's processes

        await pilot.press("p")
        assert not table.display and screen.sampler.processes is False
        await pilot.press("p")
        assert table.display and screen.sampler.processes is True

        await pilot.press("minus")
        assert screen.sampler.interval_ms == 500 and "every 500 ms" in summary_text(screen)
        await pilot.press("minus")
        assert screen.sampler.interval_ms == 500  # nvidia-smi's own window is the floor
        await pilot.press("plus", "plus")
        assert screen.sampler.interval_ms == 2000

        await pilot.press("space")
        assert screen.sampler.paused and "Paused" in state_text(screen)
        assert "-streaming" not in screen.query_one(GpuStateLine).classes
        await pilot.press("plus")  # paused, a change says it applies once sampling again
        assert screen.sampler.paused and screen.sampler.interval_ms == 5000
        notes = [n.message for n in pilot.app._notifications]
        assert "Paused: space samples again, every 5 s." in notes, notes
        await pilot.press("space")
        assert not screen.sampler.paused

        host = pilot.app.screen
        await pilot.press("escape")  # leaving removes the pane: its stream ends with it
        await wait_until(pilot, lambda: pilot.app.screen is not host)
    await cloud[1].stop()


async def test_each_failure_is_said_and_r_tries_again(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path
) -> None:
    # A long backoff: only r makes the panel try again within the test.
    screen, home = panel(cloud, client_key[0], tmp_path, retry_delays=(60.0,), mode="driver-missing")
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, showing(screen, GpuStatus.NO_DRIVER), 30)
        text = state_text(screen)
        assert "couldn't communicate with the NVIDIA driver" in text and "reboot step" in text
        assert "Trying again in 60 s." in text and "-problem" in screen.query_one(GpuStateLine).classes
        assert not screen.rows  # no zeros for GPUs nobody could read

        for mode, status, words in (
            ("mismatch", GpuStatus.MISMATCH, "driver/library version mismatch"),
            ("no-devices", GpuStatus.NO_DEVICES, "found no GPU"),
            ("not-installed", GpuStatus.NOT_INSTALLED, "isn't installed on the instance yet"),
        ):
            control(home, mode=mode)
            await pilot.press("r")
            await wait_until(pilot, showing(screen, status), 15)
            assert words in state_text(screen)

        control(home, mode="mig", gpus=2)  # the driver is there, with MIG on
        await pilot.press("r")
        await wait_until(pilot, lambda: len(screen.rows) == 2, 15)
        assert screen.rows[0].has_class("-tall")
        assert "n/a: MIG on" in row_text(screen, 0) and "utilization is per MIG instance" in row_text(
            screen, 0
        )
        assert "10.9/79.6 GiB" in row_text(screen, 1)
        assert "busy: n/a under MIG" in summary_text(screen)

        control(home, mode="driver-missing")  # the driver goes away under a running stream
        await wait_until(pilot, showing(screen, GpuStatus.NO_DRIVER), 15)
        assert all(row.has_class("-stale") for row in screen.rows.values())
        assert "last sample at" in summary_text(screen)
    await cloud[1].stop()


async def test_a_dropped_connection_reconnects_and_keeps_the_history(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path
) -> None:
    screen, _ = panel(cloud, client_key[0], tmp_path, processes=False)
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: screen.sampler.history.ticks >= 2, 30)
        row = screen.rows[0]
        (host,) = cloud[1].hosts.values()
        await host.stop()  # every connection cut; the next connect starts it again ("rebooted")
        await wait_until(pilot, showing(screen, GpuStatus.RECONNECTING), 15)
        before = screen.sampler.history.ticks
        await wait_until(pilot, lambda: screen.sampler.history.ticks >= before + 2, 30)
        assert screen.rows[0] is row and len(screen.sampler.history.util[0]) == screen.sampler.history.ticks
        assert screen.state.status is GpuStatus.STREAMING
    await cloud[1].stop()


class GatedLink(SshdLink):
    """The sshd, after SSH "comes up": until then connect only reports that it is waiting."""

    def __init__(self, server: object, key: Path) -> None:
        super().__init__(server, key)
        self.gate = asyncio.Event()

    async def connect(self, on_wait: Callable[[str], None] | None = None) -> asyncssh.SSHClientConnection:
        if on_wait is not None and not self.gate.is_set():
            on_wait("SSH not up yet (connection refused), retrying in 2 s… 0:04 elapsed")
        await self.gate.wait()
        return await super().connect(on_wait)


async def test_over_real_sshd_waits_for_ssh_then_for_the_driver(
    gpu_sshd: OpenSshServer,
    client_key: tuple[Path, str],
) -> None:
    link = GatedLink(gpu_sshd, client_key[0])
    sampler = GpuSampler(link.connect, lambda _: None, retry_delays=(0.1,))
    screen = GpuPane(link, sampler=sampler)
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "SSH not up yet" in state_text(screen), 15)
        assert state_text(screen).startswith("Waiting for SSH: ")

        link.gate.set()
        await wait_until(pilot, showing(screen, GpuStatus.NOT_INSTALLED), 15)  # really not on the PATH
        assert "isn't installed" in state_text(screen) and not screen.rows

        install_nvidia_smi(gpu_sshd.home / "bin")  # provisioning installed the driver
        await wait_until(pilot, lambda: bool(screen.rows), 15)  # on its own, no key pressed
        assert screen.state.status is GpuStatus.STREAMING and "H100 80GB HBM3" in row_text(screen, 0)
        assert not screen.query_one("#step-error", Static).has_class("visible")


# --- snapshots: 1 GPU, 8 GPUs, MIG, driver missing ------------------------------------------------


def snapshot(
    snap_compare: Any,
    cloud: tuple[Aws, DemoHosts],
    key: Path,
    tmp_path: Path,
    ready: Callable[[GpuPane], bool],
    **settings: object,
) -> None:
    screen, _ = panel(cloud, key, tmp_path, retry_delays=(30.0,), **settings)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: ready(screen), 30)
        await pilot.pause()

    try:
        assert snap_compare(PanelApp(screen), terminal_size=SIZE, run_before=run_before)
    finally:
        asyncio.run(cloud[1].stop())


def replayed(ticks: int, processes: int) -> Callable[[GpuPane], bool]:
    """Every replayed sample is shown, and the process list has been read."""

    def ready(screen: GpuPane) -> bool:
        table = screen.query_one(GpuProcessTable)
        return (
            screen.sampler.history.ticks == ticks
            and screen.tick is screen.sampler.latest
            and len(table.processes) == processes
            and "Processes on the GPUs" in str(table.border_title)
            and (processes > 0 or "none running" in str(table.border_title))
        )

    return ready


# 16 samples: 6 loaded, 6 idle, 4 loaded again (per GPU, offset by index), all at once (burst).
def test_snapshot_one_gpu(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path, snap_compare: Any
) -> None:
    snapshot(
        snap_compare,
        cloud,
        client_key[0],
        tmp_path,
        replayed(16, 3),
        ticks=16,
        burst="yes",
        pids=NO_SUCH_PIDS,
    )


def test_snapshot_eight_gpus(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path, snap_compare: Any
) -> None:
    snapshot(
        snap_compare,
        cloud,
        client_key[0],
        tmp_path,
        replayed(16, 15),  # GPUs 0, 1, 5, 6, 7 end loaded, with the capture's 3 processes each
        gpus=8,
        ticks=16,
        burst="yes",
        pids=NO_SUCH_PIDS,
    )


def test_snapshot_mig(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path, snap_compare: Any
) -> None:
    # A p4d's shape: eight A100-SXM4-40GB with MIG on (the real capture has one; seven are copies).
    snapshot(
        snap_compare,
        cloud,
        client_key[0],
        tmp_path,
        replayed(4, 0),
        profile="a100-mig",
        gpus=8,
        ticks=4,
        burst="yes",
    )


def test_snapshot_driver_missing(
    cloud: tuple[Aws, DemoHosts], client_key: tuple[Path, str], tmp_path: Path, snap_compare: Any
) -> None:
    snapshot(
        snap_compare,
        cloud,
        client_key[0],
        tmp_path,
        lambda screen: screen.state.status is GpuStatus.NO_DRIVER,
        mode="driver-missing",
    )
