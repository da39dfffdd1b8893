"""`kill` (SIGTERM) quits the app as Ctrl+Q does: its cleanup runs, nothing of it stays behind.

The real app with --demo in a real pseudo-terminal; TMPDIR is the test's, so what the simulated
cloud's SSH servers made there (their sandbox) can be checked to be gone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support.terminal import exited_within, read_until, spawn_app
from tests.test_silent_aws import LEAVES_WITHIN_S


def test_sigterm_quits_like_ctrl_q_and_the_demo_sandbox_is_removed(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, HOME=str(tmp_path / "home"), TMPDIR=str(temp), TERM="xterm-256color")
    status: int | None = None
    pid, fd = spawn_app(["--demo"], env)
    try:
        drawn = read_until(fd, b"Choose a region", time.monotonic() + 60)
        assert b"Choose a region" in drawn, drawn[-2000:]
        sandbox = [p.name for p in temp.iterdir()]
        assert any(name.startswith("d2l-demo-hosts-") for name in sandbox), sandbox

        os.kill(pid, signal.SIGTERM)
        status = exited_within(pid, fd, LEAVES_WITHIN_S)
        assert status == 0, f"status {status} after SIGTERM"
        assert not any(p.name.startswith("d2l-demo-hosts-") for p in temp.iterdir())
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
