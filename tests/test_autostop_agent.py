"""The idle auto-stop agent end to end on the real sshd, as an ordinary process (minutes made
seconds): each check is a run over SSH, as the instance's timer starts it, and the status is read
back the way the app reads it (tests/support/autostop_host.py has the stand-ins). Waits for the
agent's own times (idle, warning, cap) move its clock on (host.advance_to) instead of sleeping;
waits for signals with times of their own (a kernel, CPU counters, logins) are slept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.autostop_host import BUSY_GPU, IDLE_GPU, AutostopHost
from tests.support.sshd import OpenSshServer
from tui.models import AutostopConfig
from tui.services.remote.autostop import describe


def clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


@pytest.fixture
async def host(sshd: OpenSshServer, client_key: tuple[Path, str]) -> AsyncIterator[AutostopHost]:
    h = AutostopHost(sshd, client_key[0])
    yield h
    await h.close()


async def test_idle_machine_is_warned_then_stopped(host: AutostopHost) -> None:
    """Idle GPU (a real capture at 0 %), no kernel, login or setup: counts up, warns with `wall`
    two "minutes" before, then runs `shutdown -h now`."""
    first = await host.check()
    assert first.state == "idle" and first.idle_minutes == 0 and first.idle_of_minutes == 4
    assert first.stop_at is not None and first.stop_at == pytest.approx(host.now() + 4, abs=1.5)
    assert (
        describe(first, clock) == f"idle 0 of 4 min — stops at {clock(first.stop_at)} (a minute is 1 s here)"
    )
    assert host.calls("wall") == [] and host.calls("shutdown") == []

    host.advance_to(first.stop_at - 2)
    warned = await host.check()
    assert warned.state == "warning" and warned.idle_minutes == 2
    assert describe(warned, clock).startswith(
        f"stops at {clock(warned.stop_at or 0)} (idle 4 min), users warned"
    )
    [message] = host.calls("wall")
    assert "stops at" in message and "(idle 4 min)" in message
    assert host.calls("shutdown") == []

    again = await host.check()  # still warning: one wall message per warning, not one per check
    assert again.state == "warning" and len(host.calls("wall")) == 1

    host.advance_to(warned.stop_at or 0)
    stopping = await host.check()
    assert stopping.state == "stopping" and stopping.last_stop_why == "idle 4 min"
    assert host.calls("shutdown") == ["-h now d2l-tui auto-stop: idle 4 min"]
    assert "shutting down: idle 4 min" in host.journal  # the journal (stdout under systemd)


async def test_busy_gpu_keeps_it_up_and_idle_counts_from_when_it_went_quiet(host: AutostopHost) -> None:
    host.gpu(BUSY_GPU)  # a real H200 capture at 100 %
    busy = await host.check()
    assert busy.state == "busy" and busy.reason == "GPU 100%" and busy.stop_at is None
    assert describe(busy, clock) == "not idle: GPU 100% (a minute is 1 s here)"
    host.advance_to(host.now() + 5)  # past the whole idle window: busy all along, so nothing happens
    still = await host.check()
    assert still.state == "busy" and host.calls("wall") == [] and host.calls("shutdown") == []

    host.gpu(IDLE_GPU)
    quiet_from = host.now()
    idle = await host.check()
    assert idle.state == "idle" and idle.idle_minutes == 0
    assert idle.stop_at == pytest.approx(quiet_from + 4, abs=1.5)


async def test_a_higher_gpu_threshold_lets_a_busy_gpu_count_as_idle(host: AutostopHost) -> None:
    host.gpu("v100s-x8")  # eight real V100S rows, the busiest at 99 %
    assert (await host.check()).reason == "GPU 99%"
    host.configure(AutostopConfig(idle_minutes=4, warn_minutes=2, gpu_percent=99, cpu_cores=1000))
    assert (await host.check()).state == "idle"


async def test_state_survives_a_restart_of_the_agent_and_a_reboot(host: AutostopHost) -> None:
    """Each check is a new process: the idle clock lives in state.json. After a reboot the idle clock
    starts over (a boot is a start), and the record of the stop that ended the last boot is kept."""
    first = await host.check()
    host.advance_to(host.now() + 1.05)
    later = await host.check()
    assert later.idle_minutes == 1 and later.stop_at == first.stop_at  # counted on, not restarted

    host.advance_to((later.stop_at or 0) - 2)
    assert (await host.check()).state == "warning"
    host.advance_to((later.stop_at or 0) + 0.5)
    stopped = await host.check()
    assert stopped.state == "stopping" and len(host.calls("shutdown")) == 1

    host.reboot("boot-2")
    after = await host.check()
    assert after.state == "idle" and after.idle_minutes == 0
    assert after.last_stop_at == stopped.last_stop_at and after.last_stop_why == "idle 4 min"
    assert "warned_at" not in host.state() and host.state()["boot_id"] == "boot-2"
    assert len(host.calls("shutdown")) == 1


async def test_cap_stops_a_busy_machine_after_a_warning(host: AutostopHost) -> None:
    host.gpu(BUSY_GPU)
    host.reboot("boot-2", uptime_s=1)
    # 0.1 h of one-second minutes = 6 s after boot; the warning 2 s before.
    host.configure(AutostopConfig(idle_minutes=4, warn_minutes=2, max_hours=0.1, cpu_cores=1000))
    busy = await host.check()
    assert busy.state == "busy" and busy.stop_why == "cap 0.1 h"
    assert busy.stop_at == pytest.approx(host.booted_at + 6, abs=0.5)
    assert describe(busy, clock).startswith(
        f"not idle: GPU 100% — cap 0.1 h stops it at {clock(busy.stop_at or 0)}"
    )

    host.advance_to(host.booted_at + 4)
    warned = await host.check()
    assert warned.state == "warning" and warned.reason == "GPU 100%" and len(host.calls("wall")) == 1
    host.advance_to(warned.stop_at or 0)
    stopping = await host.check()
    assert stopping.state == "stopping" and host.calls("shutdown") == ["-h now d2l-tui auto-stop: cap 0.1 h"]


async def test_a_cap_already_passed_still_warns_first(host: AutostopHost) -> None:
    """Setting a cap on a machine up for longer than it: no stop without the full warning."""
    host.configure(AutostopConfig(idle_minutes=0, warn_minutes=2, max_hours=0.01))  # 0.6 s, long past
    first = await host.check()
    assert first.state == "warning" and host.calls("shutdown") == [] and len(host.calls("wall")) == 1
    assert first.stop_at == pytest.approx(host.now() + 2, abs=1)
    host.advance_to(first.stop_at or 0)
    assert (await host.check()).state == "stopping"
    assert len(host.calls("shutdown")) == 1


async def test_activity_during_the_warning_cancels_it(host: AutostopHost) -> None:
    host.configure(AutostopConfig(idle_minutes=2, warn_minutes=2, cpu_cores=1000))  # warned at once
    assert (await host.check()).state == "warning"
    host.gpu(BUSY_GPU)
    back = await host.check()
    assert back.state == "busy" and host.calls("wall")[-1].startswith("d2l-tui auto-stop: cancelled")
    assert host.calls("shutdown") == []


async def test_off_does_nothing(host: AutostopHost) -> None:
    host.configure(AutostopConfig(idle_minutes=0, max_hours=0))
    off = await host.check()
    assert off.state == "off" and off.stop_at is None and describe(off, clock).startswith("auto-stop off")


async def test_an_interactive_login_keeps_it_up_but_the_apps_own_sessions_do_not(host: AutostopHost) -> None:
    """A shell on a terminal is a person; the app's GPU stream (a command without a terminal) and
    its tunnel (a port forward) are not."""
    conn = await host.connect()
    try:
        stream = await conn.create_process("sleep 30")  # as the GPU stream runs nvidia-smi: no pty
        listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", host.server.port)
        assert (await host.check()).state == "idle"

        shell = await conn.create_process(term_type="xterm")  # `ssh instance`: a login shell on a pty
        await asyncio.sleep(0.5)
        login = await host.check()
        assert login.state == "busy" and login.reason == "ssh login"
        assert describe(login, clock).startswith("not idle: ssh login")
        shell.close()
        await shell.wait_closed()
        await asyncio.sleep(0.5)
        assert (await host.check()).reason == ""
        stream.close()
        listener.close()
    finally:
        conn.close()


@pytest.mark.parametrize("run", ["setup", "benchmark"])
async def test_a_setup_or_benchmark_run_in_progress_keeps_it_up(host: AutostopHost, run: str) -> None:
    """The app's real runner (tui/data/runner.sh) holding its lock while a step runs: the setup's, or
    the benchmark's (whose data download and warm-up leave the GPU quiet)."""
    runner_dir = host.setup_dir if run == "setup" else host.bench_dir
    (runner_dir / "steps").mkdir(parents=True)
    runner = Path(__file__).resolve().parents[1] / "tui" / "data" / "runner.sh"
    (runner_dir / "runner.sh").write_text(runner.read_text())
    (runner_dir / "plan.tsv").write_text("wait\twait-1\t60\t0\t0\tA long install\t\n")
    (runner_dir / "steps" / "wait.sh").write_text("sleep 30\n")
    process = subprocess.Popen(
        ["setsid", "bash", str(runner_dir / "runner.sh")],
        env=dict(os.environ, HOME=str(host.server.home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # until the step runs
            if "step-start" in ((runner_dir / "log").read_text() if (runner_dir / "log").exists() else ""):
                break
            await asyncio.sleep(0.05)
        running = await host.check()
        assert running.state == "busy" and running.reason == f"{run} running"
    finally:
        # The step runs under `timeout`, in a process group of its own: every process of this run
        # (each has the run's unique folder on its command line) is ended by its id.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                if str(runner_dir) in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass
        await asyncio.sleep(0.2)
    # The runner was killed with "running" still in its status: the lock is free, but the status file
    # is recent, so it counts until one idle window has passed (a run's step may be between locks).
    (runner_dir / "status").write_text("running\n")
    old = time.time() - 10
    os.utime(runner_dir / "status", (old, old))
    assert (await host.check()).reason == ""


async def test_cpu_busy_keeps_it_up(host: AutostopHost) -> None:
    host.configure(AutostopConfig(idle_minutes=4, warn_minutes=2, cpu_cores=0.05))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        await host.check()  # the first check takes the CPU counters the next one compares with
        await asyncio.sleep(1.0)
        busy = await host.check()
    finally:
        spinner.kill()
        spinner.wait()
    assert busy.state == "busy" and busy.reason.startswith("CPU ") and busy.reason.endswith(" cores")


def runtime_info(runtime: Path) -> dict[str, Any] | None:
    """The server's runtime file, once it holds the whole JSON."""
    for path in runtime.glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
        except ValueError:
            return None
        return info if isinstance(info, dict) and "port" in info else None
    return None


@pytest.fixture
def jupyter(host: AutostopHost, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real Jupyter server (jupyter_server, as Notebook 7 runs it) with its runtime file where
    the instance user's would be."""
    runtime = host.jupyter_runtime
    runtime.mkdir(parents=True)
    token = "autostop-test-token-0123456789"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_TOKEN=token, HOME=str(host.server.home))
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", "--port=0", "--allow-root",
         f"--ServerApp.root_dir={tmp_path}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "jupyter.log", "w"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # jupyter_server creates its runtime file, then writes it: one seen empty is not ready yet.
        while (info := runtime_info(runtime)) is None:
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "jupyter.log"
            ).read_text()
            time.sleep(0.1)
        yield {"url": f"http://127.0.0.1:{info['port']}", "token": token, "runtime": str(runtime)}
    finally:
        process.terminate()
        process.wait(timeout=20)


def api(jupyter: dict[str, str], method: str, path: str) -> object:
    import urllib.request

    request = urllib.request.Request(
        jupyter["url"] + path, method=method, data=b"{}" if method == "POST" else None
    )
    request.add_header("Authorization", f"token {jupyter['token']}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


async def test_a_kernel_executing_keeps_it_up_and_idle_counts_from_its_last_activity(
    host: AutostopHost, jupyter: dict[str, str]
) -> None:
    from jupyter_client import BlockingKernelClient

    kernel = api(jupyter, "POST", "/api/kernels")
    assert isinstance(kernel, dict)
    client = BlockingKernelClient(
        connection_file=str(Path(jupyter["runtime"]) / f"kernel-{kernel['id']}.json")
    )
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        # One empty cell: its busy/idle status messages reach the server. On a loaded machine the
        # kernel can announce "idle" before the server listens, which then reports "starting" (that
        # is, busy) until the kernel's next message (seen: still "kernel busy" 30 s later).
        client.execute("")
        client.get_shell_msg(timeout=30)
        await asyncio.sleep(2)  # the start-up's own activity is older than a "minute" now
        quiet = await host.check()
        # On a slow moment (a loaded suite) the last activity may still be recent after those 2 s:
        # it settles idle, which is all this first check is for.
        for _ in range(150):
            if quiet.state == "idle":
                break
            await asyncio.sleep(0.2)
            quiet = await host.check()
        assert quiet.state == "idle" and quiet.reason == "", quiet

        client.execute("import time; time.sleep(4)")
        for _ in range(100):
            if api(jupyter, "GET", f"/api/kernels/{kernel['id']}")["execution_state"] == "busy":  # type: ignore[index]
                break
            await asyncio.sleep(0.05)
        busy = await host.check()
        assert busy.state == "busy" and busy.reason == "kernel busy"
        await asyncio.sleep(2.5)  # two "minutes" of sleeping: still busy, the idle clock held at zero
        assert (await host.check()).reason == "kernel busy"

        client.get_shell_msg(timeout=30)  # the execute_reply: the cell has finished
        done_at = time.time()
        await asyncio.sleep(1.2)
        # On a loaded machine the server may record the kernel's last activity a moment after the
        # reply: the clock then starts from that moment, never from before the cell ended.
        after = await host.check()
        for _ in range(40):
            if after.state != "busy":
                break
            await asyncio.sleep(0.2)
            after = await host.check()
        # Idle now (or already warned, on a machine slow enough to pass 2 of the 4 "minutes"):
        # either way the stop is counted from the cell's end, not from before it.
        assert after.state in ("idle", "warning") and after.reason == "", after
        assert after.stop_at is not None and done_at + 3 <= after.stop_at <= time.time() + 6, after
    finally:
        client.stop_channels()
        api(jupyter, "DELETE", f"/api/kernels/{kernel['id']}")
