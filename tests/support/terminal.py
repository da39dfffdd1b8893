"""Driving the real app in a pseudo-terminal: read what it draws, wait for it to exit."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def spawn_app(args: list[str], env: dict[str, str]) -> tuple[int, int]:
    """`python -m tui ARGS` on a new 120x40 pseudo-terminal, as a person starts it: (pid, its fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execvpe(sys.executable, [sys.executable, "-m", "tui", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return pid, fd


def read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while time.monotonic() < deadline and needle not in seen:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child is gone: its side of the terminal closed
                break
    return seen


def exited_within(pid: int, fd: int, seconds: float) -> int | None:
    """The exit status if the child ends within ``seconds`` (its output drained meanwhile)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        read_until(fd, b"\0never\0", time.monotonic() + 0.1)
    return None
