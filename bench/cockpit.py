"""Cockpit figures on the demo (issue 14's targets):

(a) time from Enter on an instance in the instances list to the cockpit's first painted pane
    (target <= 100 ms): the instances screen listing one simulated instance (moto in-process, as
    `d2l-tui --demo` runs it), Enter pressed, the clock stopped when the first frame showing the
    header's name and the Details pane's first line is handed to the terminal (turned into the
    terminal's bytes here, as a real terminal would need); also "settled" (a call_after_refresh on
    the cockpit: every message the push queued handled and painted again). Escape, and again. Also
    `g` (the GPU pane, which starts its SSH stream) for comparison. D2L_BENCH_PROFILE=FILE saves a
    cProfile of the Enter runs (Enter to first frame) to FILE.
(b) the app's memory with the cockpit open and its GPU pane streaming 8 GPUs at 1 Hz (the
    replaying nvidia-smi's 8 x H100 profile) for --seconds: this process's RSS before the cockpit,
    once 8 GPUs show, after streaming, and its peak (ru_maxrss). The process holds what --demo
    holds: the app, moto and the loopback SSH host (nvidia-smi runs in child processes, not counted).

Prints figures; not a test. Medians of N runs, in-process (headless Textual, no terminal). Beside
each wall-clock median, the CPU time per open: this process's (all threads: moto and the loopback SSH
host run here too) and the event loop's thread alone (Textual's work), which other processes on a busy
machine slow less than the wall clock. And the load average, to read the wall figures by.

    .venv/bin/python bench/cockpit.py [--runs 20] [--seconds 20] [--timing-only]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Never the reader's own files: known_hosts pins, logs and caches go to a scratch HOME.
_HOME = tempfile.mkdtemp(prefix="d2l-bench-cockpit-")
for var, sub in (
    ("HOME", ""),
    ("XDG_STATE_HOME", "state"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_CONFIG_HOME", "config"),
):
    os.environ[var] = str(Path(_HOME) / sub)
os.environ["D2L_SIM_DELAY"] = "0"

# The collector as the app's entry point sets it (tui/__main__.py, tui/start_gc.py): fewer young
# passes, and what the imports made left out of later ones; measured otherwise, a full pass over
# Textual's and moto's start-up objects lands in some opens (the max figures) that the app never pays.
from tui.start_gc import fewer_collections, freeze_once  # noqa: E402

fewer_collections()

from textual import events  # noqa: E402
from textual.app import App  # noqa: E402

from tests.support.instances import control, make_instance  # noqa: E402
from tests.support.screen_app import demo_cloud  # noqa: E402
from tests.support.sshd import keygen  # noqa: E402
from tests.ui.driving import build_context  # noqa: E402
from tui.screens.cockpit import CockpitScreen  # noqa: E402
from tui.screens.gpu_panel import GpuPane  # noqa: E402
from tui.screens.instances import InstancesScreen  # noqa: E402

freeze_once("imports")

# D2L_BENCH_PROFILE=FILE: cProfile from each Enter to the first frame showing the pane, saved to FILE.
PROFILE = None
if os.environ.get("D2L_BENCH_PROFILE"):
    import cProfile

    PROFILE = cProfile.Profile()

TCSS = Path(__file__).resolve().parents[1] / "tui" / "app.tcss"
SIZE = (120, 40)


class BenchApp(App[None]):
    CSS_PATH = str(TCSS)

    def __init__(self, first: object) -> None:
        super().__init__()
        self.first = first

    def on_mount(self) -> None:
        self.push_screen(self.first)  # type: ignore[arg-type]


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_now_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:5.1f} ms  "
        f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"
    )


class GcPauses:
    """Seconds the garbage collector held the process (its callbacks mark each collection)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0
        gc.callbacks.append(self._mark)

    def _mark(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def cpu_ms(process: list[float], thread: list[float], gc_pauses: list[float]) -> str:
    return (
        f"CPU per open: process median {statistics.median(process) * 1000:.1f} ms, "
        f"event-loop thread median {statistics.median(thread) * 1000:.1f} ms "
        f"(min {min(thread) * 1000:.1f}); "
        f"garbage collection per open median {statistics.median(gc_pauses) * 1000:.1f} ms "
        f"(max {max(gc_pauses) * 1000:.1f})"
    )


async def until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {condition}")
        await asyncio.sleep(0.001)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class FirstFrame:
    """When the first frame showing the cockpit's pane was handed to the terminal.

    Wraps the app's _display, which each compositor refresh calls with the frame to write. Headless,
    Textual skips turning the frame into the terminal's bytes: done here, so the figure includes what
    writing to a real terminal costs. The frame counts once it shows the header's name and the
    Details pane's first line (the text on screen, escape codes taken out)."""

    def __init__(self, app: App[None]) -> None:
        self.app = app
        self.marks: tuple[str, ...] = ()
        self.armed = False
        self.at = 0.0
        self.write_s = 0.0  # turning the first frame into the terminal's bytes
        self.frames = 0  # frames written for the cockpit, up to the one that showed the pane
        self._display = app._display
        app._display = self  # type: ignore[method-assign]

    def arm(self, marks: tuple[str, ...]) -> None:
        """Watch for the next frame showing every one of ``marks``."""
        self.marks, self.armed, self.at, self.frames = marks, True, 0.0, 0

    def __call__(self, screen: object, renderable: object) -> None:
        self._display(screen, renderable)  # type: ignore[arg-type]
        if not self.armed or renderable is None or not isinstance(screen, CockpitScreen):
            return
        began = time.perf_counter()
        written = renderable.render_segments(self.app.console)  # type: ignore[attr-defined]
        self.write_s = time.perf_counter() - began
        self.frames += 1
        text = ANSI.sub("", written)
        if all(mark in text for mark in self.marks):
            self.at, self.armed = time.perf_counter(), False
            if PROFILE is not None:
                PROFILE.disable()


async def painted(app: App[None]) -> None:
    """The cockpit is the screen, and it has been painted once since (settled: every message the
    push and the mount queued handled, and the screen refreshed after them)."""
    await until(lambda: isinstance(app.screen, CockpitScreen) and app.screen.is_mounted)
    done = asyncio.Event()
    app.screen.call_after_refresh(done.set)
    await asyncio.wait_for(done.wait(), 30)


def send_key(app: App[None], key: str) -> None:
    """The key as the terminal driver delivers it."""
    event = events.Key(key, "\r" if key == "enter" else key)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


async def enter_to_cockpit(runs: int, tmp: Path) -> None:
    tmp.mkdir(parents=True)
    with demo_cloud(tmp) as (aws, hosts):
        instance = make_instance(aws, "d2l-bench")
        ctx = build_context(aws, tmp, simulated=True)
        ctx.ssh_endpoint = hosts.endpoint
        listing = InstancesScreen(ctx, ["us-east-1"])
        app = BenchApp(listing)
        # What the first frame must show: the header's name and the pane's first line.
        marks = {
            "enter": ("d2l-bench", f"Id            {instance.instance_id}"),
            "g": ("d2l-bench", "GPUs on d2l-bench"),
        }
        frame = FirstFrame(app)
        first_frame: dict[str, list[float]] = {"enter": [], "g": []}
        frames_before: dict[str, list[int]] = {"enter": [], "g": []}
        write_ms: dict[str, list[float]] = {"enter": [], "g": []}
        figures: dict[str, list[float]] = {"enter": [], "g": []}
        process_cpu: dict[str, list[float]] = {"enter": [], "g": []}
        thread_cpu: dict[str, list[float]] = {"enter": [], "g": []}
        gc_time: dict[str, list[float]] = {"enter": [], "g": []}
        pauses = GcPauses()
        try:
            async with app.run_test(size=SIZE, headless=True) as pilot:
                await until(lambda: listing.loaded and any(True for _ in listing.shown_rows()))
                for n in range(runs + 1):  # the first is a warm-up (imports, CSS for new widgets)
                    for key in ("enter", "g"):
                        start = time.perf_counter()
                        cpu0, thread0, gc0 = time.process_time(), time.thread_time(), pauses.total
                        frame.arm(marks[key])
                        if PROFILE is not None and key == "enter" and n:
                            PROFILE.enable()
                        send_key(app, key)  # not pilot.press: it also waits for every queue to be idle
                        await painted(app)
                        if frame.armed:
                            raise AssertionError(
                                f"{key}: no frame showed {marks[key]} by the time it settled"
                            )
                        if n:
                            first_frame[key].append(frame.at - start)
                            frames_before[key].append(frame.frames)
                            write_ms[key].append(frame.write_s)
                            figures[key].append(time.perf_counter() - start)
                            process_cpu[key].append(time.process_time() - cpu0)
                            thread_cpu[key].append(time.thread_time() - thread0)
                            gc_time[key].append(pauses.total - gc0)
                        if key == "g":
                            await until(lambda: bool(app.screen.query(GpuPane)))
                        await pilot.press("escape")
                        await until(lambda: app.screen is listing)
                        await pilot.pause()
        finally:
            await ctx.tunnels.close_all()
            await hosts.stop()
    print(
        "(a) Enter on an instance -> the first frame showing the cockpit's pane (header and Details) "
        f"written: {ms(first_frame['enter'])}  (target <= 100 ms); it was frame "
        f"{statistics.median(frames_before['enter']):.0f} of the cockpit (median); writing it "
        f"(the frame as the terminal's bytes) {ms(write_ms['enter'])}"
    )
    print(f"    ... -> settled (every queued message handled, painted again after): {ms(figures['enter'])}")
    print(f"    {cpu_ms(process_cpu['enter'], thread_cpu['enter'], gc_time['enter'])}  (until settled)")
    print(
        "    g on an instance -> the first frame showing the GPU pane (stream starting): "
        f"{ms(first_frame['g'])}; settled: {ms(figures['g'])}"
    )
    print(f"    {cpu_ms(process_cpu['g'], thread_cpu['g'], gc_time['g'])}")
    if PROFILE is not None:
        PROFILE.dump_stats(os.environ["D2L_BENCH_PROFILE"])
    print(f"    load average while measured (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


async def memory_streaming(seconds: float, tmp: Path) -> None:
    tmp.mkdir(parents=True)
    key = tmp / "client" / "d2l-bench.pem"
    key.parent.mkdir()
    keygen(key)
    key.chmod(0o400)  # as the app keeps key files
    with demo_cloud(tmp) as (aws, hosts):
        instance = make_instance(aws, "d2l-bench-8gpu", "p5.48xlarge")
        home = hosts.root / instance.instance_id / "ubuntu"
        home.mkdir(parents=True)
        control(home, profile="h100", gpus=8)
        ctx = build_context(aws, tmp, simulated=True)
        ctx.ssh_endpoint = hosts.endpoint
        before = rss_now_mib()
        cockpit = CockpitScreen(ctx, instance, pane="gpu", key=key)
        app = BenchApp(cockpit)
        try:
            async with app.run_test(size=SIZE, headless=True):
                await until(lambda: isinstance(cockpit.live_pane("gpu"), GpuPane), 30)
                pane = cockpit.live_pane("gpu")
                assert isinstance(pane, GpuPane)
                await until(lambda: len(pane.rows) == 8, 60)
                opened = rss_now_mib()
                ticks0 = pane.ticks_shown
                await asyncio.sleep(seconds)
                ticks = pane.ticks_shown - ticks0
                streaming = rss_now_mib()
                assert len(pane.rows) == 8
        finally:
            await ctx.tunnels.close_all()
            await hosts.stop()
    print(
        f"(b) RSS of this process (app + moto + loopback SSH host): {before:.0f} MiB before the cockpit, "
        f"{opened:.0f} MiB once its GPU pane showed 8 GPUs, {streaming:.0f} MiB after {seconds:.0f} s "
        f"streaming ({ticks} samples shown); peak (ru_maxrss) {rss_peak_mib():.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--timing-only", action="store_true", help="only (a): skip the memory run")
    opts = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)  # the simulated cloud's chatter would bury the figures
    base = Path(tempfile.mkdtemp(prefix="d2l-bench-cockpit-run-"))
    # Memory first: the timing runs would raise the peak.
    if not opts.timing_only:
        asyncio.run(memory_streaming(opts.seconds, base / "memory"))
    from bench.machine_speed import speed_line

    print(speed_line(), "(before)")
    asyncio.run(enter_to_cockpit(opts.runs, base / "enter"))
    print(speed_line(), "(after)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
