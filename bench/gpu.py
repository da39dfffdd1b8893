"""GPU panel figures (issue 6's target: the app under 2% of one core at 1 Hz with 8 GPUs).

(a) parse cost per nvidia-smi line: the app's own query answered by the replaying nvidia-smi from
    real captures (8 x V100S from `-q -x`, and 8 x H100 copies of the CSV capture), parsed and grouped
    into ticks the way the sampler does;
(b) CPU time of the app per sample: the GPU panel in a headless Textual app streaming 8 GPUs at 1 Hz
    with the process list on (read every 5 s) from a real OpenSSH sshd on loopback (another process,
    so the server's and nvidia-smi's CPU don't count), measured with process_time over a window
    after a warm-up: 8 x V100S with steady processes, then 8 x H100 whose processes come and go;
    and the same app on an empty screen, for the share that is Textual idling. Without sshd, the
    in-process SSH host of --demo is used and the figure includes the server side (an upper bound).
(c) the same two as a person sees them: the panel run for real in a 120x40 tmux (so writing to a
    terminal counts too), its CPU time read from /proc.

Prints figures; not a test.

    .venv/bin/python bench/gpu.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App  # noqa: E402
from textual.widgets import Static  # noqa: E402

from tests.support.instances import FAKE_NVIDIA_SMI, SshdLink, control, install_nvidia_smi  # noqa: E402
from tests.support.sshd import SSHD, OpenSshServer, keygen  # noqa: E402
from tui.screens.gpu_panel import GpuPane  # noqa: E402
from tui.services.remote.gpu import GpuSampler  # noqa: E402
from tui.services.remote.gpu_parse import GpuQuery, TickAssembler, parse_help  # noqa: E402

TCSS = Path(__file__).resolve().parents[1] / "tui" / "app.tcss"


def replayed_lines(profile: str, gpus: int) -> tuple[GpuQuery, list[str]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "D2L_FAKE_NVIDIA_SMI_PROFILE": profile,
        "D2L_FAKE_NVIDIA_SMI_GPUS": str(gpus),
    }

    def smi(*args: str) -> str:
        return subprocess.run(
            [sys.executable, str(FAKE_NVIDIA_SMI), *args], env=env, capture_output=True, text=True, check=True
        ).stdout

    query = GpuQuery.for_driver(parse_help(smi("--help-query-gpu")))
    return query, smi(*query.command(1000).split()[1:-2]).splitlines()


def parse_cost() -> None:
    for profile, gpus in (("v100s-x8", 8), ("h100", 8)):
        query, lines = replayed_lines(profile, gpus)
        assert len(lines) == gpus and all(query.parse(line) for line in lines)
        rounds = 20_000
        start = time.perf_counter()
        group = TickAssembler()
        for _ in range(rounds):
            for line in lines:
                sample = query.parse(line)
                if sample is not None:
                    group.feed(sample)
        per_line = (time.perf_counter() - start) / (rounds * len(lines))
        print(
            f"(a) parse + group, {profile} x {gpus} ({query.width} fields, {len(lines[0])} bytes a line): "
            f"{per_line * 1e6:.1f} µs per line, {per_line * gpus * 1e6:.0f} µs per 8-GPU sample"
        )


class BenchApp(App[None]):
    CSS_PATH = str(TCSS)

    def __init__(self, pane: GpuPane | None) -> None:
        super().__init__()
        self.panel = pane

    def compose(self) -> Any:
        yield self.panel if self.panel is not None else Static("idle")


async def measure(screen: GpuPane | None, seconds: float, warmup: float = 4.0) -> tuple[float, int]:
    """(CPU seconds, samples) of this process over `seconds`, after the panel is streaming."""
    app = BenchApp(screen)
    async with app.run_test(size=(120, 40), headless=True) as pilot:
        deadline = time.monotonic() + 30
        while screen is not None and screen.sampler.history.ticks == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no samples: {screen.state}")
            await pilot.pause(0.1)
        await asyncio.sleep(warmup)
        ticks0 = screen.sampler.history.ticks if screen else 0
        cpu0 = time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        ticks = (screen.sampler.history.ticks if screen else 0) - ticks0
    return cpu, ticks


SCENARIOS = (
    ("8 x V100S (the real 8-GPU capture), its processes steady", {"profile": "v100s-x8"}),
    ("8 x H100 (copies), load and idle alternating every 6 s, so the process list changes too", {"gpus": 8}),
)


def app_cpu(seconds: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="d2l-bench-gpu-"))
    key = tmp / "client"
    public = keygen(key)
    server: OpenSshServer | None = None
    if os.path.exists(SSHD):
        root = tmp / "sshd"
        path = f"{root / 'home' / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        server = OpenSshServer(root, public, extra_env={"PATH": path})
        install_nvidia_smi(server.home / "bin")
        server.start()
        link: Any = SshdLink(server, key)
        where = "a real sshd (another process: its CPU and nvidia-smi's don't count)"
    else:
        from tui.demo.hosts import DEMO_BIN
        from tui.demo.ssh_host import LoopbackHost

        host = LoopbackHost(None, extra_path=DEMO_BIN)
        link = _LoopbackLink(host)
        where = "the in-process SSH host (its CPU counts too: an upper bound)"
    print(f"(b) the GPU panel at 1 Hz with processes on, over {where}; {seconds:.0f} s windows:")
    try:
        for title, settings in SCENARIOS:
            control(server.home if server else link.host.home, **settings)
            sampler = GpuSampler(link.connect, lambda _: None, interval_ms=1000)
            cpu, ticks = asyncio.run(measure(GpuPane(link, sampler=sampler), seconds))
            print(
                f"    {title}: {100 * cpu / seconds:.2f}% of one core, "
                f"{1000 * cpu / max(ticks, 1):.1f} ms CPU per sample ({ticks} samples)"
            )
        idle_cpu, _ = asyncio.run(measure(None, seconds))
        print(
            f"    the same app on an empty screen (Textual idling): {100 * idle_cpu / seconds:.2f}% of one core"
        )
    finally:
        if server is not None:
            server.stop()


def terminal_cpu(seconds: float) -> None:
    """The same panel as a person sees it: `App.run()` in a 120x40 tmux, its CPU read from /proc."""
    import shutil

    from bench.startup import pane, pane_pid, wait_for

    if not shutil.which("tmux") or not os.path.exists(SSHD):
        print("(c) skipped: needs tmux and sshd")
        return
    tmp = Path(tempfile.mkdtemp(prefix="d2l-bench-gpu-tty-"))
    key = tmp / "client"
    public = keygen(key)
    root = tmp / "sshd"
    server = OpenSshServer(
        root, public, extra_env={"PATH": f"{root / 'home' / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
    )
    install_nvidia_smi(server.home / "bin")
    server.start()
    session = f"gpubench{os.getpid()}"
    try:
        print(f"(c) the same, in a real terminal (120x40 tmux), {seconds:.0f} s windows:")
        for title, settings in SCENARIOS:
            control(server.home, **settings)
            command = (
                f"{sys.executable} {Path(__file__).resolve()} --serve {server.port} "
                f"{server.host_key}.pub {key} {server.user}"
            )
            subprocess.run(
                ["tmux", "new-session", "-d", "-x", "120", "-y", "40", "-s", session, command], check=True
            )
            try:
                wait_for(session, lambda screen: " GPUs · " in screen, timeout=30)
                time.sleep(4)
                pid = pane_pid(session)
                ticks_per_s = os.sysconf("SC_CLK_TCK")
                before = _cpu_ticks(pid)
                time.sleep(seconds)
                cpu = (_cpu_ticks(pid) - before) / ticks_per_s
                print(f"    {title}: {100 * cpu / seconds:.2f}% of one core")
            except TimeoutError:
                print(pane(session))
                raise
            finally:
                subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    finally:
        server.stop()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def serve(port: int, host_key_pub: str, key: str, user: str) -> None:
    """--serve: the panel for real in this terminal, over the bench's sshd."""

    class Server:
        pass

    server = Server()
    server.port, server.user = port, user  # type: ignore[attr-defined]
    server.host_public_key = Path(host_key_pub).read_text().strip()  # type: ignore[attr-defined]
    link = SshdLink(server, Path(key))
    sampler = GpuSampler(link.connect, lambda _: None, interval_ms=1000)
    BenchApp(GpuPane(link, sampler=sampler)).run()


class _LoopbackLink:
    label = "bench"
    simulated = True

    def __init__(self, host: Any) -> None:
        self.host = host

    async def connect(self, on_wait: Any = None) -> Any:
        import asyncssh

        if not self.host.running:
            await self.host.start()
        return await asyncssh.connect(
            "127.0.0.1",
            self.host.port,
            username="ubuntu",
            known_hosts=None,
            client_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        )

    def trust(self, key_line: str) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--serve", nargs=4, metavar=("PORT", "HOST_KEY_PUB", "KEY", "USER"), help=argparse.SUPPRESS
    )
    opts = parser.parse_args()
    if opts.serve:
        serve(int(opts.serve[0]), *opts.serve[1:])
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    parse_cost()
    app_cpu(opts.seconds)
    terminal_cpu(opts.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
