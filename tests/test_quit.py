"""Ctrl+Q while AWS does not answer: the app leaves at once instead of waiting out the call.

The real app in a real pseudo-terminal, its AWS_ENDPOINT_URL on a loopback server that accepts
connections and never answers (what a dead network or a wrong endpoint looks like to botocore).
Before tui/leaving.py, the process outlived its screen by read_timeout × attempts: minutes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while time.monotonic() < deadline and needle not in seen:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child is gone: its side of the terminal closed
                break
    return seen


def _exited_within(pid: int, fd: int, seconds: float) -> int | None:
    """The exit status if the child ends within ``seconds`` (its output drained meanwhile)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        _read_until(fd, b"\0never\0", time.monotonic() + 0.1)
    return None


def test_ctrl_q_leaves_at_once_while_a_call_waits_for_aws(
    silent_endpoint: tuple[str, list[socket.socket]], tmp_path: Path
) -> None:
    endpoint, accepted = silent_endpoint
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, HOME=str(tmp_path / "home"), TERM="xterm-256color")
    status: int | None = None
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, as a person starts it
        os.execvpe(sys.executable, [sys.executable, "-m", "tui", "--instances", "--region", "us-east-1"], env)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        drawn = _read_until(fd, b"Your instances", time.monotonic() + 60)
        assert b"Your instances" in drawn, drawn[-2000:]
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:  # its first AWS call is now waiting
            _read_until(fd, b"\0never\0", time.monotonic() + 0.1)
        assert accepted, "the app never called the endpoint"

        os.write(fd, b"\x11")  # Ctrl+Q
        status = _exited_within(pid, fd, LEAVES_WITHIN_S)
        assert status == 0, f"still running {LEAVES_WITHIN_S} s after Ctrl+Q (status {status})"
    finally:
        if status is None:  # not reaped: still running, or the test failed before Ctrl+Q
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
