"""An interactive shell on a local pseudo-terminal, for the simulated instance's SSH server.

`ssh` without a command (the instances screen's `o`, `d2l-tui ssh NAME`) asks for a PTY and a
shell. Here that is ``bash -i`` on a pty of this machine, in the simulated instance's sandbox HOME:
keystrokes go to the pty's master side, what the shell writes comes back, window size changes are
passed on, and the shell's exit status ends the session as sshd would end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import termios
from collections.abc import Callable, Mapping
from pathlib import Path

import asyncssh

_CHUNK = 64 * 1024
# After the shell exited: how long output still in the pty may take to come out.
_DRAIN_S = 0.3


def _set_window(fd: int, size: tuple[int, int, int, int]) -> None:
    """size: (columns, rows, pixel width, pixel height), as asyncssh reports it."""
    columns, rows, pixel_width, pixel_height = size
    if columns and rows:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, pixel_width, pixel_height))


def _take_controlling_terminal() -> None:
    # In the child, after setsid: the pty on fd 0 becomes its controlling terminal, so job control
    # and Ctrl-C work as on a real login.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def run_login_shell(
    process: asyncssh.SSHServerProcess[bytes],
    env: Mapping[str, str],
    cwd: Path,
    banner: str,
    started: Callable[[asyncio.subprocess.Process], None],
) -> int | None:
    """Run ``bash -i`` on a new pty until it exits or the client goes away; returns its exit status
    (None when the client left first: the caller hangs the shell up). ``started`` hears the process
    as soon as it exists, for the caller's bookkeeping."""
    master, slave = pty.openpty()
    try:
        _set_window(master, process.get_terminal_size())
        environment = dict(env, TERM=process.get_terminal_type() or "xterm-256color")
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            "-i",
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=environment,
            start_new_session=True,
            preexec_fn=_take_controlling_terminal,
        )
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)  # the shell holds it now; EIO on the master means every holder is gone
    started(proc)
    process.stdout.write(banner.encode())
    loop = asyncio.get_running_loop()
    output_done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(master, _CHUNK)
        except OSError:
            data = b""
        if data:
            with contextlib.suppress(OSError, asyncssh.Error):
                process.stdout.write(data)
        else:
            loop.remove_reader(master)
            if not output_done.done():
                output_done.set_result(None)

    async def feed() -> None:
        while True:
            try:
                data = await process.stdin.read(_CHUNK)
            except asyncssh.TerminalSizeChanged as change:
                _set_window(master, (change.width, change.height, change.pixwidth, change.pixheight))
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:
                return
            os.write(master, data)

    loop.add_reader(master, readable)
    feeder = asyncio.ensure_future(feed())
    exited = asyncio.ensure_future(proc.wait())
    closed = asyncio.ensure_future(process.wait_closed())
    try:
        await asyncio.wait({exited, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            return None
        # What the shell printed last may still be in the pty.
        await asyncio.wait({output_done}, timeout=_DRAIN_S)
        return proc.returncode
    finally:
        loop.remove_reader(master)
        for task in (feeder, exited, closed):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(feeder, exited, closed, return_exceptions=True)
        os.close(master)
