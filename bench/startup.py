"""Start-up figures for `d2l-tui --demo` and `d2l-tui` in a 120x40 tmux, as a person would see them.

Prints, per mode (median of N warm runs): time to the first frame, time until the region step shows
its regions (demo only), and the process's peak RSS (VmHWM). Targets (issue 2): first frame
<= 0.25 s warm, peak memory <= 100 MiB.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("d2l-tui")


def pane(session: str) -> str:
    out = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True)
    return out.stdout


def pane_pid(session: str) -> int:
    out = subprocess.run(
        ["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True
    )
    return int(out.stdout.strip())


def peak_rss_mib(pid: int) -> float:
    # VmHWM is the resident-set high-water mark of the process.
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(session: str, predicate, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate(pane(session)):
            return time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError(f"screen never matched; last screen:\n{pane(session)}")


def one_run(
    args: list[str], first: str, ready: str | None, env: dict[str, str]
) -> tuple[float, float | None, float]:
    session = f"bench{os.getpid()}{time.monotonic_ns()}"
    command = " ".join(args)
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-x", "120", "-y", "40", "-s", session, command], check=True, env=env
    )
    try:
        first_frame = wait_for(session, lambda s: first in s) - start
        ready_at = wait_for(session, lambda s: ready in s) - start if ready else None
        time.sleep(0.3)
        rss = peak_rss_mib(pane_pid(session))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return first_frame, ready_at, rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is not installed (apt-get install tmux)")
        return 1
    home = tempfile.mkdtemp(prefix="d2l-bench-")
    env = dict(os.environ, HOME=home, XDG_STATE_HOME=f"{home}/state", XDG_CACHE_HOME=f"{home}/cache")
    # No credentials for the plain mode: it paints, checks, and shows the credentials screen.
    plain_env = dict(env, AWS_SHARED_CREDENTIALS_FILE=f"{home}/none", AWS_CONFIG_FILE=f"{home}/none")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        plain_env.pop(var, None)
    app = str(BIN)
    bare = [sys.executable, str(Path(__file__).with_name("bare_app.py"))]
    modes = [
        ("bare Textual app", bare, "bare textual app", None, env),
        ("d2l-tui --demo", [app, "--demo"], "Starting the simulated cloud", "us-east-1", env),
        ("d2l-tui", [app], "Checking your AWS credentials", "AWS credentials needed", plain_env),
    ]
    for label, args, first, ready, mode_env in modes:
        one_run(args, first, ready, mode_env)  # warm the page cache and .pyc files
        runs = [one_run(args, first, ready, mode_env) for _ in range(opts.runs)]
        first_frame = statistics.median(r[0] for r in runs)
        readies = [r[1] for r in runs if r[1] is not None]
        ready_text = f"ready ({ready!r}) {statistics.median(readies) * 1000:6.0f} ms" if readies else ""
        rss = max(r[2] for r in runs)
        print(
            f"{label:17} first frame {first_frame * 1000:5.0f} ms   peak RSS {rss:5.1f} MiB   {ready_text}"
            f"   ({opts.runs} warm runs: median time, max RSS)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
