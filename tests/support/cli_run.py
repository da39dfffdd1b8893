"""`d2l-tui COMMAND …` run inside the test's process, answering as `subprocess.run` would.

A subprocess costs about 0.9 s of CPU before the command does anything (an interpreter, botocore,
tui), and the suite ran about a hundred of them; in the test's process the same command costs about
0.3 s. What runs is what `python -m tui COMMAND` runs after its start-up: `cli.parse_args` then
`cli.run` (tui/__main__.py), with this call's environment, argv, stdout and stderr, and the exit
status argparse or the command gives. What the process would have reset by ending is put back:
the environment, the root logger's handlers and levels, Python's warnings capture, the current
directory.

Left to real subprocesses (their tests say so): signals and Ctrl+C, the interactive app (`open`,
no command), `ssh` (it becomes the ssh process), leaving with calls still in flight (tui/leaving.py
exits the process), and what a fresh interpreter imports.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping

_ONE_AT_A_TIME = threading.Lock()  # the environment and sys.stdout are the process's
# A process waits tui/leaving.py's GRACE_S for its threads, then exits without them. In the test's
# process they must end (a stalled region's call ends at its read timeout) or run into the next test.
THREADS_GRACE_S = 10.0


def run_process(env: Mapping[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """A real `python -m tui COMMAND …` process: for the tests whose subject is the process itself."""
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )


def run_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command's exit status, stdout and stderr; ``env`` replaces the environment for the call."""
    from tui import cli

    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME, _restored_process_state(env, args):
        before = set(threading.enumerate())
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                parsed = cli.parse_args(list(args))
                if parsed.command is None:
                    raise AssertionError("the interactive app: run it as a subprocess")
                status = cli.run(parsed)
                if parsed.command == "open" and status == 0:  # its refusals are the CLI's
                    raise AssertionError(
                        "`open` found the instance and the app would start: use a subprocess"
                    )
            except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _wait_for_threads_started_since(before, args)
    return subprocess.CompletedProcess(["d2l-tui", *args], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _restored_process_state(env: Mapping[str, str], args: tuple[str, ...]) -> Iterator[None]:
    saved_env = dict(os.environ)
    saved_argv = sys.argv
    saved_cwd = os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    warnings_were_captured = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["d2l-tui", *args]
    saved_exec = {name: getattr(os, name) for name in _EXECS}
    for name in _EXECS:  # it would replace the test's process
        setattr(os, name, _refuse_exec)
    try:
        yield
    finally:
        for name, function in saved_exec.items():
            setattr(os, name, function)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()  # the command's log file
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        if not warnings_were_captured:
            logging.captureWarnings(False)


_EXECS = ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe")


def _refuse_exec(*args: object) -> None:
    raise AssertionError(f"the command execs {args[0]!r}: run it as a subprocess")


def _wait_for_threads_started_since(before: set[threading.Thread], args: tuple[str, ...]) -> None:
    """A process would wait for them at exit (or leave them, tui/leaving.py): here a thread left
    running would go on into the next test, so the command must have ended its own."""
    deadline = time.monotonic() + THREADS_GRACE_S
    while True:
        running = [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]
        if not running:
            return
        if time.monotonic() > deadline:
            names = ", ".join(t.name for t in running)
            raise AssertionError(f"`d2l-tui {' '.join(args)}` left threads running: {names}")
        time.sleep(0.02)
