"""The auto-stop agent as the instance runs it, on the real sshd: each check is one run of
tui/data/autostop/agent.py over SSH (as the systemd timer would start it), with its files under a
temp root, minutes made seconds, and stand-ins on its PATH for what must not really happen here:
`shutdown` and `wall` record their arguments; `nvidia-smi` is the demo's replaying stand-in
(tui/demo/bin/nvidia-smi: real captured rows), told which capture to replay by its control file.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import asyncssh

from tests.support.sshd import OpenSshServer
from tui.models import AutostopConfig, AutostopStatus
from tui.services.remote.autostop import read_status

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "tui" / "data" / "autostop" / "agent.py"
FAKE_NVIDIA_SMI = ROOT / "tui" / "demo" / "bin" / "nvidia-smi"
# Real captures: an A10G at rest (0 %), an H200 under load (100 %).
IDLE_GPU = "a10g"
BUSY_GPU = "h200"
RECORDER = '#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n'


class AutostopHost:
    def __init__(self, server: OpenSshServer, key: Path, minute_s: float = 1.0) -> None:
        self.server = server
        self.key = key
        self.minute_s = minute_s
        self.root = server.root / "autostop"
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True)
        self.config_path = self.root / "etc" / "config.json"
        self.config_path.parent.mkdir()
        self.state_dir = self.root / "state"
        self.gpu_control = self.root / "nvidia-smi.control"
        self.boot_id = self.root / "boot_id"
        self.uptime = self.root / "uptime"
        self.clock = self.root / "clock"
        self.skew = 0.0  # seconds the agent's clock is ahead of this one (see advance_to)
        self.booted_at = time.time() - 3600
        self.boot_id.write_text("boot-1\n")
        for name in ("shutdown", "wall"):
            (self.bin / name).write_text(RECORDER.format(log=self.root / f"{name}.log"))
            (self.bin / name).chmod(0o755)
        (self.bin / "nvidia-smi").symlink_to(FAKE_NVIDIA_SMI)
        self.gpu(IDLE_GPU)
        self.configure(AutostopConfig(idle_minutes=4, warn_minutes=2, cpu_cores=1000))
        self.conn: asyncssh.SSHClientConnection | None = None

    @property
    def jupyter_runtime(self) -> Path:
        return self.server.home / ".local" / "share" / "jupyter" / "runtime"

    @property
    def setup_dir(self) -> Path:
        return self.server.home / ".d2l-tui" / "provision"

    @property
    def bench_dir(self) -> Path:  # the benchmark's run of the same runner
        return self.server.home / ".d2l-tui" / "bench"

    def gpu(self, profile: str) -> None:
        self.gpu_control.write_text(f"profile={profile}\n")

    def configure(self, config: AutostopConfig) -> None:
        self.config_path.write_text(json.dumps(config.__dict__))

    def reboot(self, boot_id: str, uptime_s: float = 10) -> None:
        self.boot_id.write_text(boot_id + "\n")
        self.booted_at = self.now() - uptime_s

    def now(self) -> float:
        """The time on this machine's clock, as the agent reads it."""
        return time.time() + self.skew

    def advance_to(self, epoch: float) -> None:
        """Move the machine's clock just past ``epoch``, as sleeping until then would, at once: the
        agent reads it from D2L_AUTOSTOP_CLOCK_FILE (its idle, warning and cap times, the uptime
        written for it). Signals with times of their own (a kernel's last activity, CPU counters,
        a file's age) still pass in real time: tests of those sleep."""
        self.skew = max(self.skew, epoch + 0.05 - time.time())
        self.clock.write_text(f"{self.skew:.3f}\n")

    def env(self) -> dict[str, str]:
        assert self.server.process is not None
        return {
            "PATH": f"{self.bin}:/usr/bin:/bin:/usr/sbin:/sbin",
            "D2L_AUTOSTOP_MINUTE_S": str(self.minute_s),
            "D2L_AUTOSTOP_CONFIG": str(self.config_path),
            "D2L_AUTOSTOP_STATE_DIR": str(self.state_dir),
            "D2L_AUTOSTOP_JUPYTER": str(self.jupyter_runtime),
            "D2L_AUTOSTOP_SETUP": f"{self.setup_dir}:{self.bench_dir}",
            "D2L_AUTOSTOP_BOOT_ID_FILE": str(self.boot_id),
            "D2L_AUTOSTOP_UPTIME_FILE": str(self.uptime),
            "D2L_AUTOSTOP_CLOCK_FILE": str(self.clock),
            "D2L_AUTOSTOP_SSHD_PID": str(self.server.process.pid),
            "D2L_FAKE_NVIDIA_SMI_CONTROL": str(self.gpu_control),
        }

    def agent_command(self, agent: Path = AGENT) -> str:
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env().items())
        return f"env {assignments} {shlex.quote(sys.executable)} -I -S {shlex.quote(str(agent))}"

    async def connect(self) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(
            "127.0.0.1",
            self.server.port,
            username=self.server.user,
            client_keys=[str(self.key)],
            known_hosts=([asyncssh.import_public_key(self.server.host_public_key)], [], []),
            config=[],
        )

    async def check(self) -> AutostopStatus:
        """One run of the agent (what the timer does every minute), then the status as the app reads it."""
        if self.conn is None:
            self.conn = await self.connect()
        self.uptime.write_text(f"{self.now() - self.booted_at:.2f} 0.00\n")
        result = await self.conn.run(self.agent_command(), check=False)
        assert result.exit_status == 0, result.stderr
        self.journal = str(result.stdout)
        status = await read_status(self.conn, status_path=str(self.state_dir / "status.json"))
        assert status is not None
        return status

    def calls(self, name: str) -> list[str]:
        log = self.root / f"{name}.log"
        return log.read_text().splitlines() if log.exists() else []

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text())

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            await self.conn.wait_closed()
