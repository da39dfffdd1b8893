"""`d2l-tui open NAME` through the real entry (`python -m tui`): the app starts on that instance's
cockpit; a name it can't open is one line and an exit status, with no app started."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.conftest import subprocess_env
from tests.support.terminal import exited_within, read_until, spawn_app
from tests.test_cli import assert_one_line_failure, d2l, ec2
from tests.test_lifecycle import run
from tui.services.cloud.aws import Aws


def test_open_starts_the_app_on_the_instances_cockpit(moto_endpoint: str, tmp_path: Path) -> None:
    iid = run(Aws(region="us-east-1"), "us-east-1", "open-box")
    env = dict(subprocess_env(moto_endpoint, tmp_path / "home"), TERM="xterm-256color")
    status: int | None = None
    pid, fd = spawn_app(["--region", "us-east-1", "open", "open-box"], env)
    try:
        # The cockpit's Details pane (its id line) and its panes' tabs, not the wizard's first step.
        drawn = read_until(fd, iid.encode(), time.monotonic() + 60)
        drawn += read_until(fd, b"Jupyter (t)", time.monotonic() + 10)
        assert iid.encode() in drawn and b"Jupyter (t)" in drawn, drawn[-2000:]
        assert b"Choose a region" not in drawn
        os.write(fd, b"\x11")  # Ctrl+Q
        # Quitting stops nothing on AWS: the terminal is given back with what was seen running.
        said = read_until(fd, b"See them all", time.monotonic() + 15)
        assert b"still running when you left, and billed by the hour" in said, said[-2000:]
        assert b"  open-box  " in said and b" in us-east-1, running at " in said
        assert b"d2l-tui stop open-box" in said
        status = exited_within(pid, fd, 15)
        assert status == 0
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def test_open_refuses_what_it_cannot_open_in_one_line(moto_endpoint: str, tmp_path: Path) -> None:
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    assert_one_line_failure(
        d2l(env, "open", "nobody", "--region", "us-east-1"), 1, "No instance named 'nobody'", "d2l-tui ls"
    )
    iid = run(Aws(region="us-east-1"), "us-east-1", "gone-box")
    ec2().terminate_instances(InstanceIds=[iid])
    assert_one_line_failure(
        d2l(env, "open", "gone-box", "--region", "us-east-1"), 1, "No instance named 'gone-box'"
    )


def test_open_says_when_the_region_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on: every call is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = subprocess_env(f"http://127.0.0.1:{port}", tmp_path / "home")
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_MAX_ATTEMPTS="1")
    assert_one_line_failure(
        d2l(env, "open", "box", "--region", "us-east-1"), 1, "Could not reach AWS", "network"
    )


def test_open_on_the_demo_says_its_cloud_starts_empty(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["HOME"] = str(tmp_path / "home")
    line = assert_one_line_failure(d2l(env, "--demo", "open", "book"), 2, "new, empty simulated cloud")
    assert "'book'" in line and "d2l-tui --demo" in line
