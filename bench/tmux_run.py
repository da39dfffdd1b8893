"""One program in its own 120x40 tmux, as a person would see it: for the benches.

Each run gets a private tmux server (``tmux -L <socket>``, a socket never used before), so no run
shares a server with another, and the environment is written into the command itself
(``exec env VAR=... program``): a tmux client's own environment is dropped when a server already
runs, and the program would start with whatever the server had. On the way out the server is
killed and waited for, so the next run never races its shutdown.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_RUNS = itertools.count()
_TICK = 1 / os.sysconf("SC_CLK_TCK")


@dataclass
class Seen:
    """What a run measured, seconds from the start of `tmux new-session` (the bare app's start
    includes the same tmux cost, so ratios to it cancel that out)."""

    at: dict[str, float] = field(default_factory=dict)  # label -> seconds after start
    cpu: dict[str, float] = field(default_factory=dict)  # label -> the program's CPU seconds then
    peak_rss_mib: float = float("nan")
    screen: str = ""


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (and its waited-for children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) * _TICK


def peak_rss_mib(pid: int) -> float:
    # VmHWM is the resident-set high-water mark of the process.
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TmuxRun:
    """``with TmuxRun(argv, env) as run: run.wait_for("label", predicate)``."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], *, width: int = 120, height: int = 40):
        self.socket = f"d2lb-{os.getpid()}-{next(_RUNS)}-{time.monotonic_ns()}"
        self.argv = list(argv)
        self.env = dict(env)
        self.size = (width, height)
        self.seen = Seen()
        self.pid = 0
        self.start = 0.0

    def _tmux(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, check=check
        )

    def __enter__(self) -> TmuxRun:
        assignments = [f"{k}={v}" for k, v in self.env.items()]
        # `env -i`: the program sees exactly self.env, whatever the server was started with.
        command = shlex.join(["exec", "env", "-i", *assignments, *self.argv])
        width, height = self.size
        self.start = time.perf_counter()
        self._tmux(
            "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "bench", command, check=True
        )
        out = self._tmux("display-message", "-p", "-t", "bench", "#{pane_pid}", check=True)
        self.pid = int(out.stdout.strip())
        return self

    def pane(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "bench").stdout

    def wait_for(self, label: str, predicate: Callable[[str], bool], timeout: float = 60.0) -> float:
        """Seconds from the start until the screen matches; records them (and the CPU) under label."""
        while True:
            screen = self.pane()
            now = time.perf_counter()
            if predicate(screen):
                self.seen.at[label] = now - self.start
                self.seen.cpu[label] = self.cpu_s()
                self.seen.screen = screen
                return self.seen.at[label]
            if now - self.start > timeout:
                raise TimeoutError(
                    f"{label}: the screen never matched in {timeout:.0f} s; last screen:\n{screen}"
                )
            time.sleep(0.005)

    def cpu_s(self) -> float:
        try:
            return proc_cpu_s(self.pid)
        except OSError:
            return float("nan")

    def settle(self, seconds: float) -> None:
        """Let the program go on (a sweep, a paint) before its peak memory is read."""
        time.sleep(seconds)
        try:
            self.seen.peak_rss_mib = peak_rss_mib(self.pid)
        except OSError:
            pass

    def __exit__(self, *exc: object) -> None:
        if self.seen.peak_rss_mib != self.seen.peak_rss_mib:  # nan: not read yet
            try:
                self.seen.peak_rss_mib = peak_rss_mib(self.pid)
            except OSError:
                pass
        server, _, socket = (
            self._tmux("display-message", "-p", "#{pid} #{socket_path}").stdout.strip().partition(" ")
        )
        self._tmux("kill-server")
        # Wait for the program and the server to be gone: the next run must not overlap them.
        deadline = time.monotonic() + 10
        for pid in (self.pid, int(server) if server.isdigit() else 0):
            while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                if _zombie(pid):
                    break
                time.sleep(0.01)
        if socket:
            Path(socket).unlink(missing_ok=True)  # a killed server may leave its socket file


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
