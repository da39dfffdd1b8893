"""AWS not answering: the app and its commands say they are waiting, and leave when asked.

AWS_ENDPOINT_URL points at a loopback server that accepts connections and never answers (what a
dead network or a wrong endpoint looks like to botocore), and the app runs as a person runs it:
in a real pseudo-terminal, or as a command interrupted with Ctrl+C (SIGINT). Before tui/leaving.py
and services/cloud/fanout.py, either outlived its screen or its Ctrl+C by read_timeout × attempts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from textual.widgets import Static

import tui.services.cloud.aws
import tui.widgets.patience
from tests.support.terminal import exited_within, read_until, spawn_app
from tests.support.wizard_choices import app_on
from tests.ui.driving import build_context, loaded, wait_for_screen, wait_until
from tests.ui.test_instances_remembered import on_every_call
from tui.app import make_app
from tui.screens.credentials import CredentialsScreen
from tui.screens.instances import InstancesScreen
from tui.services.cloud.aws import Aws

# Far above the half-second grace, far below the 30 s read timeout the call would wait out.
LEAVES_WITHIN_S = 10.0


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """http://127.0.0.1:PORT that accepts connections and never says a word; the accepted ones."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def quick_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tui.widgets.patience, "NOTICE_AFTER_S", 0.5)  # 3 s for a person
    monkeypatch.setattr(tui.widgets.patience, "TICK_S", 0.25)  # counted every second for a person


@pytest.fixture
def impatient(
    silent_endpoint: tuple[str, list[socket.socket]], quick_notice: None, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[socket.socket]]:
    """The silent endpoint as AWS_ENDPOINT_URL, with shorter waits than a person gets (reads of
    10 s for STS and 30 s for EC2, 2 STS and 6 EC2 attempts): the same sequence, in seconds. One
    attempt each, of 1.5 s: the notices come at the 0.5 s tick, with 1 s to be seen."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_endpoint[0])
    monkeypatch.setattr(tui.services.cloud.aws, "_READ_TIMEOUT_S", {"sts": 1.5, "ec2": 1.5})
    monkeypatch.setitem(tui.services.cloud.aws._ATTEMPTS, "ec2", 1)
    monkeypatch.setitem(tui.services.cloud.aws._ATTEMPTS, "sts", 1)
    return silent_endpoint


def test_ctrl_q_leaves_at_once_while_a_call_waits_for_aws(
    silent_endpoint: tuple[str, list[socket.socket]], tmp_path: Path
) -> None:
    endpoint, accepted = silent_endpoint
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, HOME=str(tmp_path / "home"), TERM="xterm-256color")
    status: int | None = None
    pid, fd = spawn_app(["--instances", "--region", "us-east-1"], env)
    try:
        drawn = read_until(fd, b"Your instances", time.monotonic() + 60)
        assert b"Your instances" in drawn, drawn[-2000:]
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:  # its first AWS call is now waiting
            read_until(fd, b"\0never\0", time.monotonic() + 0.1)
        assert accepted, "the app never called the endpoint"

        os.write(fd, b"\x11")  # Ctrl+Q
        status = exited_within(pid, fd, LEAVES_WITHIN_S)
        assert status == 0, f"still running {LEAVES_WITHIN_S} s after Ctrl+Q (status {status})"
    finally:
        if status is None:  # not reaped: still running, or the test failed before Ctrl+Q
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def test_ls_says_what_it_waits_for_and_ctrl_c_stops_it_at_once(
    silent_endpoint: tuple[str, list[socket.socket]], tmp_path: Path
) -> None:
    endpoint, accepted = silent_endpoint
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, HOME=str(tmp_path / "home"))
    # One region: the call runs in the pool of region threads, which used to be waited for.
    argv = [sys.executable, "-m", "tui", "--region", "us-east-1", "ls"]
    command = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted, "ls never called the endpoint"
        time.sleep(1.5)  # past the one second after which a wait says what it waits for
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=LEAVES_WITHIN_S)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 130, err
    lines = err.splitlines()
    assert lines[0] == "d2l-tui: asking us-east-1 for the instances it launched…"
    assert lines[-1] == "d2l-tui: Interrupted."  # nothing about instances starting: ls starts none
    assert out == "" and "Traceback" not in err


async def test_the_start_up_check_says_what_it_waits_for_then_that_aws_did_not_answer(
    impatient: tuple[str, list[socket.socket]], tmp_path: Path
) -> None:
    endpoint, accepted = impatient
    app = make_app(build_context(Aws(region="us-east-1"), tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one(Static)

        def says(words: str) -> bool:
            return words in str(status.render())

        await wait_until(pilot, lambda: says("AWS has not answered for"), 10)
        assert says("check your network (or AWS_ENDPOINT_URL). Ctrl+Q quits.") and accepted
        await wait_until(pilot, lambda: isinstance(app.screen, CredentialsScreen), 30)
        screen = app.screen
        assert isinstance(screen, CredentialsScreen) and screen.unreachable
        text = " ".join(str(w.render()) for w in screen.query(Static))
        assert f"AWS did not answer in time ({endpoint}" in text and "aws configure" not in text


async def test_the_instances_screen_says_what_it_waits_for_then_why_it_failed(
    impatient: tuple[str, list[socket.socket]], tmp_path: Path
) -> None:
    _, accepted = impatient
    app = make_app(build_context(Aws(region="us-east-1"), tmp_path), instances=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, InstancesScreen), 10)
        status = app.screen.query_one("#instances-status", Static)

        def says(words: str) -> bool:
            return words in str(status.render())

        await wait_until(pilot, lambda: says("AWS has not answered for"), 10)
        assert says("Asking every region for the app's instances… AWS has not answered for") and accepted
        await wait_until(pilot, lambda: status.has_class("error"), 30)
        assert says("Could not reach AWS") and not says("has not answered"), status.render()


async def test_a_wizard_step_loading_for_seconds_says_what_it_waits_for(
    aws: Any, tmp_path: Path, quick_notice: None
) -> None:
    """The region step while DescribeRegions is held (moto in-process): the notice shows under the
    table, and goes once the regions are listed."""
    release = threading.Event()
    on_every_call(aws, "before-call.ec2.DescribeRegions", lambda **_: release.wait(30))
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "RegionStep")
        notice = app.screen.query_one("#step-wait", Static)
        await wait_until(pilot, lambda: notice.has_class("visible"), 10)
        assert str(notice.render()).startswith("AWS has not answered for ")
        release.set()
        await wait_until(pilot, loaded(pilot, "#regions"), 30)
        await wait_until(pilot, lambda: not notice.has_class("visible"), 5)


async def test_a_step_whose_call_times_out_says_so_in_a_sentence(aws: Any, tmp_path: Path) -> None:
    """A read timeout on the key pair step's DescribeKeyPairs (botocore's own exception, injected
    before the call) is the start-up check's sentence, not "something went wrong"."""

    def time_out(**_: Any) -> None:
        raise botocore.exceptions.ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com/")

    on_every_call(aws, "before-call.ec2.DescribeKeyPairs", time_out)
    app = app_on(build_context(aws, tmp_path), "KeyPairStep")  # the earlier steps' defaults chosen
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "KeyPairStep")
        error = app.screen.query_one("#step-error", Static)
        await wait_until(pilot, lambda: error.has_class("visible"), 30)
        assert str(error.render()) == (
            "AWS did not answer in time (https://ec2.us-east-1.amazonaws.com/). "
            "Check your network (a proxy or VPN?) or AWS_ENDPOINT_URL, then try again."
        )
