"""The GPU sampler end to end over a real OpenSSH sshd on loopback.

The sshd's sessions get PATH=$HOME/bin:… (SetEnv), where a test puts the replaying nvidia-smi
(tui/demo/bin/nvidia-smi) when the "driver" is to appear, and tells it how to fail through its
control file. The app runs plain `nvidia-smi` there, as on a real instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.instances import (
    SshdLink,
    control,
    gpu_sshd_fixture,  # noqa: F401  (the gpu_sshd fixture)
    install_nvidia_smi,
    invocations,
)
from tests.support.sshd import OpenSshServer
from tui.models import GpuProcesses, GpuState, GpuStatus, GpuTick
from tui.services.remote.gpu import GpuSampler, Update

FAST = (0.05,)


class Watch:
    """Runs a sampler against the sshd and keeps what it reports."""

    def __init__(self, server: OpenSshServer, key: Path, **kwargs: object) -> None:
        self.link = SshdLink(server, key)
        self.updates: list[Update] = []
        self.sampler = GpuSampler(
            self.link.connect,
            self.updates.append,
            retry_delays=FAST,
            reconnect_delays=FAST,
            **kwargs,  # type: ignore[arg-type]
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self.task = asyncio.ensure_future(self.sampler.run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    @property
    def states(self) -> list[GpuState]:
        return [u for u in self.updates if isinstance(u, GpuState)]

    @property
    def ticks(self) -> list[GpuTick]:
        return [u for u in self.updates if isinstance(u, GpuTick)]

    async def until(self, condition: Callable[[], object], timeout: float = 15) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert self.task is not None
            if self.task.done():
                self.task.result()  # it ended: show why
            if loop.time() > deadline:
                raise AssertionError(f"timed out; last updates: {self.updates[-5:]}")
            await asyncio.sleep(0.02)

    async def state(self, status: GpuStatus) -> GpuState:
        await self.until(lambda: self.sampler.state.status is status)
        return self.sampler.state


async def test_each_failure_is_a_state_and_the_driver_appearing_ends_it(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    home = gpu_sshd.home
    async with Watch(gpu_sshd, client_key[0]) as watch:
        missing = await watch.state(GpuStatus.NOT_INSTALLED)  # bash: command not found
        assert missing.exit_status == 127 and missing.retry_in_s == FAST[0]
        assert not watch.ticks

        log = home / "calls.log"
        control(home, mode="driver-missing", log=log)
        install_nvidia_smi(home / "bin")
        assert (await watch.state(GpuStatus.NO_DRIVER)).exit_status == 9
        control(home, mode="mismatch", log=log)
        assert (await watch.state(GpuStatus.MISMATCH)).exit_status == 18
        control(home, mode="no-devices", log=log)
        assert (await watch.state(GpuStatus.NO_DEVICES)).exit_status == 6
        assert not watch.ticks  # never a zero shown for a GPU nvidia-smi couldn't read

        control(home, mode="ok", log=log)
        await watch.until(lambda: watch.ticks)
        assert watch.sampler.state.status is GpuStatus.STREAMING
        (sample,) = watch.ticks[0].samples
        assert sample.name == "NVIDIA H100 80GB HBM3" and sample.mem_total_mib == 81559.0
        # One of the two real H100 rows (the replay alternates between the loaded and the idle one).
        assert (sample.util_pct, sample.mem_used_mib, sample.power_w) in {
            (100.0, 19818.0, 631.95),
            (0.0, 0.0, 69.85),
        }
        # The probe ran once nvidia-smi was there; the stream was asked for the portable fields.
        assert invocations(log, "--help-query-gpu")
        stream = invocations(log)[-1]
        assert "power.draw," in stream and "power.draw.average" not in stream and stream.endswith("-lms 1000")


async def test_one_stream_many_samples_mig_a_drop_and_the_history_kept(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    home = gpu_sshd.home
    log = home / "calls.log"
    install_nvidia_smi(home / "bin")
    control(home, gpus=8, log=log)
    async with Watch(gpu_sshd, client_key[0], interval_ms=500, processes=False) as watch:
        await watch.until(lambda: len(watch.ticks) >= 3)
        assert all(len(t.samples) == 8 for t in watch.ticks)
        assert [s.index for s in watch.ticks[0].samples] == list(range(8))
        assert len(invocations(log)) == 1  # one long-lived nvidia-smi, not one per sample

        control(home, gpus=8, mode="mig", log=log)  # read by the running replay at its next sample
        await watch.until(lambda: watch.ticks[-1].samples[0].mig)
        mig = watch.ticks[-1].samples[0]
        assert mig.util_pct is None and mig.mem_used_mib == 11125.0

        before = watch.sampler.history.ticks
        watch.link.conns[-1].abort()  # the network goes away
        await watch.state(GpuStatus.RECONNECTING)
        await watch.until(lambda: watch.sampler.history.ticks > before + 1)
        assert len(watch.link.conns) == 2
        assert len(invocations(log)) == 2  # the stream restarted after the reconnect
        history = watch.sampler.history
        assert len(history.util[0]) == history.ticks == len(watch.ticks)  # nothing lost before the drop


async def test_unreadable_lines_are_skipped_and_counted(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    home = gpu_sshd.home
    install_nvidia_smi(
        home / "bin",
        before='case "$*" in *--query-gpu=*) echo "garbled, line"; echo "0, 1, 2";; esac',
    )
    async with Watch(gpu_sshd, client_key[0], processes=False) as watch:
        await watch.until(lambda: watch.ticks)
        assert watch.sampler.bad_lines == 2 and watch.ticks[0].bad_lines == 2
        assert watch.sampler.state.status is GpuStatus.STREAMING


async def test_processes_with_their_user_from_ps(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    home = gpu_sshd.home
    install_nvidia_smi(home / "bin")
    sleeper = subprocess.Popen(["sleep", "60"])  # a real process on the "instance" for ps to find
    try:
        control(home, profile="l40s", pids=sleeper.pid)  # the capture's first PID becomes this one
        async with Watch(gpu_sshd, client_key[0], process_every_s=0.2) as watch:
            await watch.until(lambda: any(isinstance(u, GpuProcesses) and u.processes for u in watch.updates))
            found = next(u for u in watch.updates if isinstance(u, GpuProcesses) and u.processes).processes
    finally:
        sleeper.kill()
        sleeper.wait()
    by_pid = {p.pid: p for p in found}
    assert {(p.gpu_index, p.pid, p.used_mib) for p in found} == {(0, 20038, 681.0), (0, sleeper.pid, 538.0)}
    mine = by_pid[sleeper.pid]
    assert mine.user == getpass.getuser() and mine.command == "sleep 60"  # ps's view, not nvidia-smi's
    other = by_pid[20038]
    if not os.path.exists("/proc/20038"):  # ps can't see it: nvidia-smi's name and no user
        assert other.command == "ffmpeg" and other.user == ""


async def test_interval_pause_and_resume_restart_the_stream(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    home = gpu_sshd.home
    log = home / "calls.log"
    install_nvidia_smi(home / "bin")
    control(home, log=log)
    async with Watch(gpu_sshd, client_key[0], interval_ms=500, processes=False) as watch:
        await watch.until(lambda: watch.ticks)
        assert watch.sampler.set_interval(200) == 500  # the floor
        assert watch.sampler.set_interval(1000) == 1000
        await watch.until(lambda: len(invocations(log)) == 2)
        assert invocations(log)[-1].endswith("-lms 1000")

        watch.sampler.pause()
        await asyncio.sleep(0.3)
        paused_at = len(watch.ticks)
        await asyncio.sleep(1.5)
        assert len(watch.ticks) == paused_at  # the remote nvidia-smi was closed
        watch.sampler.resume()
        await watch.until(lambda: len(watch.ticks) > paused_at)
        assert len(invocations(log)) == 3 and invocations(log)[-1].endswith("-lms 1000")
        assert len(watch.link.conns) == 1  # all on the one connection
