"""Provisioning-log throughput: a remote step prints 200k lines and the app follows them over SSH.

Method. A one-step recipe (`seq -f '<a 65-byte line>' 1 N`) is installed and run by the real
detached runner on a loopback "instance": OpenSSH's sshd when /usr/sbin/sshd exists (the CI's
tests/support/sshd.py OpenSshServer, a separate process, as a real instance would be), else the
in-process asyncssh LoopbackHost that --demo uses (which then shares the app's event loop and
CPU). The app reads the runner's log with `tail -F` exactly as it does for a real instance. The
step writes its 12.5 MiB at once, so this is the worst burst the log path can get.

(1) Service level: `follow_run` with a sink that counts lines. Lines/s end to end (follow_run called
    -> it returns after the run-end marker: connect, install, start, read) and for the read path
    alone (first line received -> last line received).
(2) UI level: the same run through the cockpit's SetupPane (its LogView is a Textual Log with
    max_lines=MAX_LINES) in a headless 120x40 Textual app on the app's stylesheet:
    - lines/s until LogView.total_lines reaches N (from the screen's mount, and first -> last line);
    - frame time, approximated by the worst event-loop stall while streaming: a task sleeps 5 ms in
      a loop and records how late it wakes. Nothing can paint while the loop is busy, and paints run
      on the loop too, so the worst lateness is the longest a person could wait for a frame;
    - the worst paint itself: each screen update timed (Screen._on_timer_update / _refresh_layout:
      layout, compositor update, rendering the dirty lines) including what headless Textual skips,
      turning the update into terminal escape sequences (CompositorUpdate.render_segments);
    - memory: RSS (and how many Textual workers are alive) when 25/50/75/100 % of the lines have
      arrived (flat = bounded), RSS after and peak (VmHWM), the LogView's line count against its
      max_lines, and the bytes its lines hold.
Each run (both passes) is a fresh process, since RSS only grows within one; lines/s are the median
of the runs, stalls and paints the median run's worst and the worst of all.
Targets (the issue): >= 50k lines/s, no frame over 50 ms, memory bounded by the log's line limit.
Prints figures; not a test (exits 0 once it has figures). About 10 s a run on 2 CPUs.

    .venv/bin/python bench/provision_log.py [--lines 200000] [--runs 3] [--host auto|openssh|loopback] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.models import Recipe, RecipeStep  # noqa: E402

LINE_FORMAT = "line %g of the benchmark output, padded to a realistic length"  # ~70 bytes a line
SIZE = (120, 40)
TCSS = ROOT / "tui" / "app.tcss"
STALL_TICK_S = 0.005
TARGET_LPS = 50_000
TARGET_FRAME_MS = 50.0


def recipe(lines: int) -> Recipe:
    step = RecipeStep("print", f"Print {lines} lines", f"seq -f '{LINE_FORMAT}' 1 {lines}")
    return Recipe(steps=(step,), env=(("D2L_RETRY_PAUSE", "0"),))


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the loopback instance -------------------------------------------------------------------------


class Target:
    """The SSH host the app talks to: OpenSSH sshd (a process) or LoopbackHost (in this process)."""

    def __init__(self, kind: str, root: Path) -> None:
        from tests.support.sshd import keygen

        self.kind = kind
        self.root = root
        self.key = root / "client" / "bench.pem"
        self.key.parent.mkdir(parents=True)
        public = keygen(self.key)
        self.key.chmod(0o400)
        self.sshd: Any = None
        self.loopback: Any = None
        if kind == "openssh":
            from tests.support.sshd import OpenSshServer

            self.sshd = OpenSshServer(root / "sshd", public)
            self.sshd.start()
            self.host_key, self.port, self.user = self.sshd.host_public_key, self.sshd.port, self.sshd.user
        else:
            from tui.demo.ssh_host import LoopbackHost

            self.loopback = LoopbackHost(public, home=root / "loopback" / "ubuntu")
            self.host_key, self.port, self.user = self.loopback.host_public_key, 0, "ubuntu"

    @property
    def label(self) -> str:
        if self.kind == "openssh":
            return "OpenSSH sshd on 127.0.0.1 (a separate process)"
        return "in-process asyncssh LoopbackHost (shares this process's event loop and CPU)"

    async def up(self) -> None:
        """Start the in-process host on the running loop (each pass has its own loop)."""
        if self.loopback is not None:
            await self.loopback.start()
            self.port = self.loopback.port

    async def down(self) -> None:
        if self.loopback is not None and self.loopback.running:
            await self.loopback.stop()

    async def connect(self) -> Any:
        import asyncssh

        return await asyncssh.connect(
            "127.0.0.1",
            self.port,
            username=self.user,
            client_keys=[str(self.key)],
            known_hosts=([asyncssh.import_public_key(self.host_key)], [], []),
            config=[],
        )

    def close(self) -> None:
        if self.sshd is not None:
            self.sshd.stop()


class BenchLink:
    """The screen's Link (tui.screens.provision.Link) straight to the target: no EC2 lookup or key
    pinning, which only happen at connect time and aren't part of the log path."""

    label = "bench-instance"
    simulated = False

    def __init__(self, target: Target) -> None:
        self.target = target

    async def connect(self, on_wait: Any = None) -> Any:
        return await self.target.connect()

    def trust(self, key_line: str) -> None:
        pass


# --- (1) service level ------------------------------------------------------------------------------


async def service_pass(target: Target, lines: int, remote: Path) -> dict[str, Any]:
    from tui.services.remote.provision import follow_run

    await target.up()
    seen = batches = 0
    first = last = 0.0
    sizes: list[int] = []

    def sink(update: Any) -> None:
        nonlocal seen, batches, first, last
        if not isinstance(update, list):
            return
        count = sum(1 for item in update if isinstance(item, str))
        if count:
            now = time.perf_counter()
            first = first or now
            last = now
            seen += count
            batches += 1
            sizes.append(count)

    try:
        start = time.perf_counter()
        outcome, _ = await asyncio.wait_for(
            follow_run(target.connect, sink, recipe=recipe(lines), mode="fresh", remote_dir=str(remote)),
            timeout=120,
        )
        end = time.perf_counter()
    finally:
        await target.down()
    return {
        "ok": outcome.ok,
        "lines": seen,
        "end_to_end_s": end - start,
        "setup_s": first - start,
        "read_s": last - first,
        "batches": batches,
        "batch_median": statistics.median(sizes) if sizes else 0,
    }


# --- (2) UI level ---------------------------------------------------------------------------------


class Probe:
    """Everything the UI pass measures, filled in by the hooks below."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.final_line = LINE_FORMAT.replace("%g", str(lines))
        self.view: Any = None
        self.mounted = 0.0
        self.first = 0.0
        self.last = 0.0
        self.shown = 0.0  # end of the first paint after the LogView's last line is the final one
        self.add_calls = 0
        self.marks: list[tuple[int, float, int]] = []  # (lines so far, RSS MiB, Textual workers alive)
        self._next_mark = 1
        self.done = asyncio.Event()
        self.stalls: list[tuple[float, float]] = []  # (when, lateness)
        self.paints: list[tuple[float, float, float]] = []  # (when it ended, wall s, CPU s of this thread)
        self.gcs: list[tuple[float, int, float]] = []  # (when it ended, generation, s)
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            now = time.perf_counter()
            self.gcs.append((now, info["generation"], now - self._gc_start))
        self.segments_s = 0.0
        self.running = True


def install_hooks(probe: Probe) -> tuple[type, type, Any]:
    """A LogView.add_lines that records arrivals, a screen whose updates are timed, and an app that
    turns each update into terminal output as a real terminal driver would. Returns an undo."""
    from textual._compositor import CompositorUpdate
    from textual.app import App
    from textual.screen import Screen

    from tui.screens.provision import SetupPane
    from tui.widgets.log_view import LogView

    original_add = LogView.add_lines

    def add_lines(self: LogView, lines: Any) -> None:
        original_add(self, lines)
        now = time.perf_counter()
        probe.view = self
        probe.first = probe.first or now
        probe.last = now
        probe.add_calls += 1
        while probe._next_mark <= 4 and self.total_lines >= probe.lines * probe._next_mark // 4:
            probe.marks.append((self.total_lines, rss_mib(), len(self.app.workers)))
            probe._next_mark += 1
        if self.total_lines >= probe.lines:
            probe.done.set()

    LogView.add_lines = add_lines  # type: ignore[method-assign]

    def undo() -> None:
        LogView.add_lines = original_add  # type: ignore[method-assign]

    class TimedScreen(Screen[None]):
        """The setup pane alone on a screen, the screen's repaints timed."""

        _depth = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__()
            self.pane = SetupPane(*args, **kwargs)

        def compose(self) -> Any:
            yield self.pane

        def _timed(self, method: Any, *args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1
                if not self._depth:
                    end = time.perf_counter()
                    probe.paints.append((end, end - start, time.thread_time() - cpu))
                    view = probe.view
                    if not probe.shown and probe.done.is_set() and view is not None:
                        if view.lines and view.lines[-1] == probe.final_line:
                            probe.shown = end

        def _on_timer_update(self) -> None:
            self._timed(super()._on_timer_update)

        def _refresh_layout(self, *args: Any, **kwargs: Any) -> None:
            self._timed(super()._refresh_layout, *args, **kwargs)

        def on_mount(self) -> None:
            probe.mounted = time.perf_counter()

    class BenchApp(App[None]):
        CSS_PATH = str(TCSS)

        def __init__(self, screen: Screen[None]) -> None:
            super().__init__()
            self.first_screen = screen

        def on_mount(self) -> None:
            self.push_screen(self.first_screen)
            self.run_worker(self._stall_probe(), exclusive=False, group="bench")

        async def _stall_probe(self) -> None:
            while probe.running:
                start = time.perf_counter()
                await asyncio.sleep(STALL_TICK_S)
                now = time.perf_counter()
                probe.stalls.append((now, now - start - STALL_TICK_S))

        def _display(self, screen: Any, renderable: Any) -> None:
            if self.is_headless and isinstance(renderable, CompositorUpdate):
                start = time.perf_counter()
                renderable.render_segments(self.console)  # what a terminal driver would write
                probe.segments_s += time.perf_counter() - start
            super()._display(screen, renderable)

    return TimedScreen, BenchApp, undo


async def ui_pass(target: Target, lines: int, remote: Path) -> dict[str, Any]:
    from tui.screens.provision import MAX_LINES
    from tui.widgets.log_view import LogView

    probe = Probe(lines)
    screen_type, app_type, undo = install_hooks(probe)
    gc.callbacks.append(probe.on_gc)
    await target.up()
    rss_before = rss_mib()
    try:
        screen = screen_type(BenchLink(target), recipe=recipe(lines), mode="fresh", remote_dir=str(remote))  # type: ignore[arg-type]
        app = app_type(screen)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(probe.done.wait(), timeout=120)
            deadline = time.perf_counter() + 30
            while screen.pane.outcome is None and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
            await pilot.pause(0.3)  # a few frames after the last line
            probe.running = False
            view = screen.query_one("#provision-log", LogView)
            shown = list(view.lines)
            result = {
                "ok": screen.pane.outcome is not None and screen.pane.outcome.ok,
                "total_lines": view.total_lines,
                "view_lines": len(view.lines),
                "kept": len(view.kept),
                "max_lines": MAX_LINES,
                "last_line_ok": bool(shown) and shown[-1] == probe.final_line,
                "held_mib": (sum(sys.getsizeof(s) for s in shown) + sum(sys.getsizeof(s) for s in view.kept))
                / 2**20,
                "rss_after": rss_mib(),
            }
    finally:
        undo()
        gc.callbacks.remove(probe.on_gc)
        await target.down()

    def streaming(when: float) -> bool:
        return probe.first <= when <= probe.last + 0.05

    window = [late for when, late in probe.stalls if streaming(when)]
    paints = [(took, cpu) for when, took, cpu in probe.paints if streaming(when)]
    gcs = [took for when, _, took in probe.gcs if streaming(when)]
    result.update(
        {
            "rss_before": rss_before,
            "rss_peak": rss_mib("VmHWM"),
            "marks": probe.marks,
            "end_to_end_s": probe.last - probe.mounted,
            "setup_s": probe.first - probe.mounted,
            "read_s": probe.last - probe.first,
            "shown_s": (probe.shown - probe.first) if probe.shown else float("nan"),
            "add_calls": probe.add_calls,
            "stall_max_ms": max(window, default=0.0) * 1000,
            "stall_median_ms": statistics.median(window) * 1000 if window else 0.0,
            "ticks": len(window),
            "paint_max_ms": max((p[0] for p in paints), default=0.0) * 1000,
            "paint_max_cpu_ms": max((p[1] for p in paints), default=0.0) * 1000,
            "gc_count": len(gcs),
            "gc_max_ms": max(gcs, default=0.0) * 1000,
            "paints": len(paints),
            "segments_ms": probe.segments_s * 1000,
        }
    )
    return result


# --- report ---------------------------------------------------------------------------------------


def output_bytes(lines: int) -> int:
    digits = sum(len(str(i)) for i in range(1, lines + 1))
    return lines * (len(LINE_FORMAT) - 2 + 1) + digits


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(label: str, lines: int, svcs: list[dict[str, Any]], uis: list[dict[str, Any]]) -> None:
    med = statistics.median
    size = output_bytes(lines)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"host: {label}\n{lines:,} lines, {size / 2**20:.1f} MiB ({size / lines:.0f} bytes a line); "
        f"{len(uis)} run{'s' if len(uis) != 1 else ''}, each in a fresh process; {os.cpu_count()} CPUs, load average {load}"
    )
    for n, (svc, ui) in enumerate(zip(svcs, uis, strict=True), 1):
        marks = ", ".join(f"{m[0] // 1000}k: {m[1]:.0f} MiB / {m[2]}" for m in ui["marks"])
        print(
            f"run {n}: service ok={svc['ok']}: {svc['lines']:,} lines in {svc['batches']} batches "
            f"(median {svc['batch_median']:.0f} lines), setup {svc['setup_s'] * 1000:.0f} ms, "
            f"read {svc['read_s'] * 1000:.0f} ms\n"
            f"       ui ok={ui['ok']}: {ui['total_lines']:,} lines in {ui['add_calls']} add_lines calls, setup "
            f"{ui['setup_s'] * 1000:.0f} ms, read {ui['read_s'] * 1000:.0f} ms; the last line painted "
            f"{ui['shown_s'] * 1000:.0f} ms after the first (and right: {ui['last_line_ok']}); "
            f"{ui['ticks']} probe ticks (median lateness {ui['stall_median_ms']:.1f} ms), "
            f"{ui['paints']} paints ({ui['segments_ms']:.0f} ms of them making escape codes, the longest "
            f"{ui['paint_max_ms']:.0f} ms wall / {ui['paint_max_cpu_ms']:.0f} ms CPU); {ui['gc_count']} GC "
            f"collections, the longest {ui['gc_max_ms']:.0f} ms\n"
            f"       RSS before {ui['rss_before']:.0f} MiB; as lines arrive (RSS / Textual workers alive): {marks}"
        )
    print()
    svc_e2e = [s["lines"] / s["end_to_end_s"] for s in svcs]
    svc_read = [s["lines"] / max(s["read_s"], 1e-9) for s in svcs]
    ui_e2e = [u["total_lines"] / u["end_to_end_s"] for u in uis]
    ui_read = [u["total_lines"] / max(u["read_s"], 1e-9) for u in uis]
    stall = [u["stall_max_ms"] for u in uis]
    paint = [u["paint_max_ms"] for u in uis]
    last = uis[-1]
    growth = [u["marks"][-1][1] - u["marks"][1][1] for u in uis if len(u["marks"]) == 4]
    rows = [
        (
            "service: lines/s end to end (connect, install, start, read)",
            f"{med(svc_e2e):,.0f}",
            ">= 50,000",
            med(svc_e2e) >= TARGET_LPS,
        ),
        (
            "service: lines/s read path (first -> last line)",
            f"{med(svc_read):,.0f}",
            ">= 50,000",
            med(svc_read) >= TARGET_LPS,
        ),
        (
            "ui: lines/s into LogView, end to end (from screen mount)",
            f"{med(ui_e2e):,.0f}",
            ">= 50,000",
            med(ui_e2e) >= TARGET_LPS,
        ),
        (
            "ui: lines/s into LogView, first -> last line",
            f"{med(ui_read):,.0f}",
            ">= 50,000",
            med(ui_read) >= TARGET_LPS,
        ),
        (
            "ui: worst event-loop stall while streaming, ms (median run / worst)",
            f"{med(stall):.0f} / {max(stall):.0f}",
            "<= 50",
            max(stall) <= TARGET_FRAME_MS,
        ),
        (
            "ui: worst paint while streaming, ms (median run / worst)",
            f"{med(paint):.0f} / {max(paint):.0f}",
            "<= 50",
            max(paint) <= TARGET_FRAME_MS,
        ),
        (
            "ui: LogView lines held / kept copy / max_lines",
            f"{last['view_lines']:,} / {last['kept']:,} / {last['max_lines']:,}",
            "<= max_lines",
            last["view_lines"] <= last["max_lines"] and last["kept"] <= last["max_lines"],
        ),
        ("ui: what those lines hold, MiB", f"{last['held_mib']:.1f}", "", True),
        (
            "ui: RSS growth from 50% to 100% of the lines, MiB (worst run)",
            f"{max(growth):+.1f}" if growth else "n/a",
            "~0",
            bool(growth) and max(growth) < 5,
        ),
        (
            "ui: RSS after / peak, MiB (median of the runs)",
            f"{med(u['rss_after'] for u in uis):.0f} / {med(u['rss_peak'] for u in uis):.0f}",
            "",
            True,
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':{width}}  {'value':>22}  {'target':>12}")
    for name, value, target, ok in rows:
        print(f"{name:{width}}  {value:>22}  {target:>12}  {check(ok) if target else ''}")


def one_run(opts: argparse.Namespace) -> dict[str, Any]:
    """One service pass and one UI pass, in this (fresh) process, against a fresh host."""
    home = Path(tempfile.mkdtemp(prefix="d2l-bench-log-"))
    for var, sub in (("HOME", "home"), ("XDG_STATE_HOME", "state"), ("XDG_CONFIG_HOME", "config")):
        os.environ[var] = str(home / sub)
    target = Target(opts.host, home)
    try:
        svc = asyncio.run(service_pass(target, opts.lines, home / "remote-service"))
        profiler = cProfile.Profile() if opts.profile else None
        if profiler:
            profiler.enable()
        ui = asyncio.run(ui_pass(target, opts.lines, home / "remote-ui"))
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return {"label": target.label, "service": svc, "ui": ui}
    finally:
        target.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="each in a fresh process (RSS is per process)")
    parser.add_argument("--host", choices=("auto", "openssh", "loopback"), default="auto")
    parser.add_argument("--profile", action="store_true", help="cProfile the first UI pass; print the top 30")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.host == "auto":
        from tests.support.sshd import SSHD

        opts.host = "openssh" if os.path.exists(SSHD) else "loopback"
    if opts.child:
        print("RESULT " + json.dumps(one_run(opts)))
        return 0

    results: list[dict[str, Any]] = []
    for n in range(opts.runs):
        argv = [sys.executable, __file__, "--child", "--lines", str(opts.lines), "--host", opts.host]
        if opts.profile and n == 0:
            argv.append("--profile")
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        found = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode != 0 or not found:
            print(f"run {n + 1} failed (exit {out.returncode}):\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
            return 0 if results else 1
        if opts.profile and n == 0:
            print(out.stdout.replace(found[0], "").strip() + "\n")
        results.append(json.loads(found[0][len("RESULT ") :]))
    report(results[0]["label"], opts.lines, [r["service"] for r in results], [r["ui"] for r in results])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
