"""--demo's GPU pane follows a training process, as an instance's does: idle before, busy with the
process on the GPU while the benchmark trains (B, then back to the cockpit), idle again once it is
cancelled (x). The process is the benchmark's real Python on the loopback host; the busy row is the
T4's own capture in a real training run's state (tui/demo/gpu_load.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.screen_app import ScreenApp
from tests.ui.driving import demo_instance_set_up, wait_until
from tui.demo import bench_replay
from tui.screens import cockpit
from tui.screens.bench import BenchScreen
from tui.screens.gpu_panel import GpuPane
from tui.widgets.gpu_lines import GpuProcessTable
from tui.widgets.log_view import LogView


def utilisation(pane: GpuPane) -> float | None:
    return pane.tick.samples[0].util_pct if pane.tick else None


async def test_the_demo_gpu_is_busy_while_the_benchmark_trains_and_idle_once_it_ends(
    tmp_path: Path, client_key: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_replay, "REPLAY_DELAY_S", 10.0)  # a run that lasts until cancelled
    async with demo_instance_set_up(tmp_path, client_key[0]) as (ctx, instance):
        app = ScreenApp(cockpit.CockpitScreen(ctx, instance, pane="gpu", key=client_key[0]))
        async with app.run_test(size=(120, 40)) as pilot:
            screen = pilot.app.screen
            gpu = screen.query_one(GpuPane)
            gpu.sampler.process_every_s = 0.5  # the list every 5 s on an instance; sooner here
            procs = screen.query_one(GpuProcessTable)
            await wait_until(pilot, lambda: gpu.tick is not None and procs._read, 30)
            assert utilisation(gpu) == 0 and procs.processes == ()

            await pilot.press("B")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, BenchScreen))
            bench = pilot.app.screen
            assert isinstance(bench, BenchScreen)
            log_view = bench.query_one("#bench-log", LogView)
            await wait_until(pilot, lambda: any("SIMULATED" in line for line in log_view.lines), 30)
            await pilot.press("escape")  # back; the run goes on on the instance
            await wait_until(pilot, lambda: pilot.app.screen is screen)

            await wait_until(pilot, lambda: utilisation(gpu) == 97 and len(procs.processes) == 1, 30)
            (training,) = procs.processes
            sample = gpu.tick.samples[0]  # type: ignore[union-attr]
            assert sample.name == "Tesla T4" and sample.mem_total_mib == 15360
            assert sample.mem_used_mib is not None and 0 < sample.mem_used_mib <= 15360
            assert sample.power_w is not None and sample.power_w <= 70
            assert training.used_mib == sample.mem_used_mib
            assert "--backend" in training.command and training.user  # the benchmark, seen by ps
            os.kill(training.pid, 0)  # a real process on this machine

            await pilot.press("B")  # the run still going: its screen again, where x cancels it
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, BenchScreen))
            await wait_until(pilot, lambda: pilot.app.screen.check_action("cancel_run", ()) is True, 30)
            await pilot.press("x")
            await wait_until(pilot, lambda: pilot.app.screen.outcome is not None, 30)  # type: ignore[attr-defined]
            await pilot.press("escape")
            await wait_until(pilot, lambda: pilot.app.screen is screen)
            await wait_until(pilot, lambda: utilisation(gpu) == 0 and procs.processes == (), 30)
            with pytest.raises(ProcessLookupError):
                os.kill(training.pid, 0)
