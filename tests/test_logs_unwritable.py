"""A log file that can't be written (a full disk, a state dir that can't exist) costs the log, not the
command: one line on stderr, the command's own outcome, never logging's "--- Logging error ---"."""

from __future__ import annotations

import errno
import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.cli_run import run_cli as run_command
from tui.logs import setup_logging, working_log_file
from tui.services.cloud.aws import as_d2l_error
from tui.services.errors import local_file_error


def full_disk_at(path: Path) -> Path:
    """A file at ``path`` every write to which fails with ENOSPC: a /dev/full node of our own when we
    may make one (so nothing can touch the system's), else a link to /dev/full."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except OSError:
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full here")
        path.symlink_to("/dev/full")
    return path


def run_cli(tmp_path: Path, state: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command against the moto server: `--demo` would do as well, at 4 s of CPU for its
    in-process cloud where this costs 1."""
    env = dict(os.environ)
    env.update({"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(state), "AWS_ENDPOINT_URL": endpoint})
    return run_command(env, *args)  # in this process, as `python -m tui` runs it


def test_a_full_disk_gives_one_line_and_the_commands_outcome(tmp_path: Path, moto_endpoint: str) -> None:
    state = tmp_path / "state"
    log_file = full_disk_at(state / "d2l-tui" / "d2l-tui.log")
    mode_before = os.stat(log_file).st_mode
    result = run_cli(tmp_path, state, moto_endpoint, "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No instances launched by d2l-tui in any enabled region."
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "log" in line]
    assert lines == [
        f"d2l-tui: cannot write logs to {log_file} (No space left on device); going on without a log file."
    ]
    assert os.stat(log_file).st_mode == mode_before  # a device is never chmod-ed


def test_a_state_dir_that_cannot_exist_gives_one_line(tmp_path: Path, moto_endpoint: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(tmp_path, blocker / "state", moto_endpoint, "ls")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    log_file = blocker / "state" / "d2l-tui" / "d2l-tui.log"
    assert result.stderr.splitlines()[0] == (
        f"d2l-tui: cannot write logs to {log_file} (Not a directory); going on without a log file."
    )


def test_writing_stops_after_the_first_failure(
    tmp_path: Path, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    said: list[str] = []
    log_file = full_disk_at(tmp_path / "logs" / "d2l-tui.log")
    assert setup_logging(log_file, say=said.append) == log_file  # it opens: the writes fail
    assert working_log_file() == log_file
    for n in range(5):
        logging.getLogger("tui.test").error("record %d", n)
    assert said == [
        f"d2l-tui: cannot write logs to {log_file} (No space left on device); going on without a log file."
    ]
    assert working_log_file() is None  # so no message says "Details are in" an empty log
    setup_logging(tmp_path / "elsewhere" / "d2l-tui.log", say=said.append)  # closing the old one is quiet
    assert capfd.readouterr() == ("", "")


def test_unwritable_setup_returns_none_and_keeps_warnings_off_the_terminal(
    tmp_path: Path, restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    said: list[str] = []
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert setup_logging(blocker / "d2l-tui.log", say=said.append) is None
    assert said and "(Not a directory)" in said[0]
    logging.getLogger("tui.test").warning("a warning with nowhere to go")
    assert capfd.readouterr() == ("", "")


def test_file_errors_become_sentences_naming_the_file() -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/home/u/.ssh/d2l-tui/config")
    err = as_d2l_error(full, None)
    assert err.what == "Could not write /home/u/.ssh/d2l-tui/config: No space left on device."
    assert err.next_step == "Free some disk space, then try again."
    denied = local_file_error(PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/x/known_hosts"))
    assert denied is not None and denied.what == "Could not use /x/known_hosts: Permission denied."
    assert local_file_error(OSError("no file named")) is None
    assert local_file_error(ValueError("x")) is None
