"""The instance's idle auto-stop, from the laptop's side: install it, read it, change it.

The agent itself (tui/data/autostop/agent.py) runs on the instance from a systemd timer, every
minute, whether or not the app is open; it stops the instance with a shutdown. This module:
- ``autostop_user_data(config)``: the bash lines that install it, for the launch's user data (run
  by cloud-init as root); the agent travels gzipped, so the fragment stays a few KB of the 16 KB;
- ``read_status(conn)``: its status file and the instance's clock, in one SSH command;
- ``describe(status)``: "idle 12 of 30 min — stops at 15:42", or why it is not idle;
- ``write_config(conn, config)``: change the setting on a running instance, then run one check so
  the status shows the new setting at once;
- ``install(conn, config)``: the user-data lines over SSH, for an instance launched without them.
"""

from __future__ import annotations

import ast
import base64
import gzip
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from importlib import resources
from typing import TYPE_CHECKING, Any

from tui.models import AutostopConfig, AutostopStatus
from tui.services.errors import D2lError

if TYPE_CHECKING:
    import asyncssh

# EC2's limit on user data (the raw bytes, before the API's base64).
USER_DATA_LIMIT = 16 * 1024
CONFIG_PATH = "/etc/d2l-autostop/config.json"
STATUS_PATH = "/var/lib/d2l-autostop/status.json"
# One check now, as the timer would run it (the agent's lock keeps it from overlapping the timer's).
AGENT_COMMAND = "sudo -n /usr/bin/python3 -I -S /opt/d2l-tui/autostop/agent.py"
# Where the instance's own login session says they are: on an instance these variables are unset
# (the paths above); the tests' sshd and the demo's hosts set them to a temp root, the agent's
# own D2L_AUTOSTOP_CONFIG / _STATE_DIR included, as no root nor sudo is there. Expanded there.
INSTANCE_CONFIG = f'"${{D2L_AUTOSTOP_CONFIG:-{CONFIG_PATH}}}"'
INSTANCE_STATUS = '"${D2L_AUTOSTOP_STATE_DIR:-/var/lib/d2l-autostop}/status.json"'
INSTANCE_SUDO = "${D2L_AUTOSTOP_SUDO-sudo -n}"
# A command line in shell words (eval'd: the demo's may have quoted paths with spaces in them).
INSTANCE_AGENT = f'eval "${{D2L_AUTOSTOP_AGENT:-{AGENT_COMMAND}}}"'
_NOW_MARK = "::d2l-autostop-now::"
_STATES = ("idle", "busy", "capped", "warning", "stopping", "off")


class AutostopUnavailable(D2lError):
    """The instance's auto-stop could not be read or changed (no sudo, not installed)."""


class AgentNotInstalled(AutostopUnavailable):
    """The instance was launched without the agent (before d2l-tui installed it at every launch)."""


def _data(name: str) -> str:
    return resources.files("tui.data").joinpath("autostop", name).read_text("utf-8")


def agent_script() -> str:
    return _data("agent.py")


def check_config(config: AutostopConfig) -> AutostopConfig:
    """The setting, or ValueError with a sentence (the agent ignores values out of these bounds)."""
    if not 0 <= config.idle_minutes <= 7 * 24 * 60:
        raise ValueError("The idle time must be between 0 (off) and a week.")
    if not 0 <= config.max_hours <= 24 * 365:
        raise ValueError("The cap must be between 0 (none) and a year, in hours.")
    if not 0 <= config.warn_minutes <= 60:
        raise ValueError("The warning must come between 0 and 60 minutes before the stop.")
    if not 0 <= config.gpu_percent <= 100 or config.cpu_cores < 0:
        raise ValueError("The GPU threshold is a percentage and the CPU one a number of cores.")
    if config.on_shutdown not in ("stop", "terminate"):
        raise ValueError("A shutdown either stops or terminates the instance.")
    return config


def config_json(config: AutostopConfig) -> str:
    return json.dumps(asdict(check_config(config)), sort_keys=True)


def packed_agent() -> str:
    """The agent as it travels: the same code without its comments and docstrings (the repository's
    copy keeps them), which halves what it takes of the user data."""
    tree = ast.parse(agent_script())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return (
        "#!/usr/bin/env python3\n# d2l-tui idle auto-stop agent (commented source: d2l-tui, tui/data/autostop/agent.py)\n"
        + ast.unparse(tree)
        + "\n"
    )


def _uncommented(text: str) -> str:
    """A shell script's or unit file's lines without its comment lines (the repository keeps them)."""
    return "\n".join(line for line in text.rstrip("\n").splitlines() if not line.startswith("#")) + "\n"


def install_script(config: AutostopConfig) -> str:
    """install.sh with the agent (gzip + base64), the units and the setting filled in; comments
    are left out, as every byte counts against the user data's 16 KB."""
    agent = base64.b64encode(gzip.compress(packed_agent().encode(), 9, mtime=0)).decode()
    wrapped = "\n".join(agent[i : i + 76] for i in range(0, len(agent), 76))
    settings = config_json(config)  # JSON of numbers and two words: no single quote in it
    return (
        _uncommented(_data("install.sh"))
        .replace("@AGENT@", wrapped)
        .replace("@SERVICE@", _uncommented(_data("d2l-autostop.service")).rstrip("\n"))
        .replace("@TIMER@", _uncommented(_data("d2l-autostop.timer")).rstrip("\n"))
        .replace("@CONFIG@", settings)
    )


def autostop_user_data(config: AutostopConfig) -> str:
    """The bash fragment for the launch's user data (a ``#!/bin/bash`` script run once as root)."""
    return install_script(config)


# --- reading it ----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_status(text: str, instance_now: float) -> AutostopStatus | None:
    """The agent's status.json; None when it is missing or not the agent's."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("state") not in _STATES or _number(raw.get("checked_at")) is None:
        return None
    last: dict[str, Any] = raw["last_stop"] if isinstance(raw.get("last_stop"), dict) else {}
    idle = _number(raw.get("idle_minutes"))
    return AutostopStatus(
        state=raw["state"],
        idle_minutes=int(idle) if idle is not None else None,
        idle_of_minutes=int(_number(raw.get("idle_of_minutes")) or 0),
        reason=" ".join(str(raw.get("reason") or "").split()),
        stop_at=_number(raw.get("stop_at")),
        stop_why=str(raw.get("stop_why") or ""),
        checked_at=float(raw["checked_at"]),
        instance_now=instance_now,
        minute_s=_number(raw.get("minute_s")) or 60,
        max_hours=_number(raw.get("max_hours")) or 0,
        on_shutdown=str(raw.get("on_shutdown") or "stop"),
        last_stop_at=_number(last.get("at")),
        last_stop_why=str(last.get("why") or ""),
    )


def _local_clock(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def describe(status: AutostopStatus | None, clock: Callable[[float], str] = _local_clock) -> str:
    """One line for the instances list, the instance screen and ``d2l-tui autostop NAME status``."""
    if status is None:
        return "auto-stop not installed"
    if status.stale:
        return f"auto-stop not checking (last check {clock(status.checked_at)})"
    terminate = status.on_shutdown == "terminate"
    verb = "terminates" if terminate else "stops"
    at = clock(status.stop_at) if status.stop_at is not None else ""
    if status.state == "off":
        text = "auto-stop off"
    elif status.state == "stopping":
        text = f"{'terminating' if terminate else 'stopping'} now ({status.stop_why})"
    elif status.state == "warning":
        text = f"{verb} at {at} ({status.stop_why}), users warned"
    elif status.state == "busy":
        text = f"not idle: {status.reason or 'in use'}"
        if at:
            text += f" — {status.stop_why} {verb} it at {at}"
    elif status.state == "capped":
        text = f"{verb} at {at} ({status.stop_why})"
    else:
        text = f"idle {status.idle_minutes} of {status.idle_of_minutes} min"
        if at:
            text += f" — {verb} at {at}" + (
                f" ({status.stop_why})" if status.stop_why.startswith("cap") else ""
            )
    if status.minute_s != 60 and status.state != "off":  # a countdown's unit; nothing counts when off
        text += f" (a minute is {status.minute_s:g} s here)"
    return text


def _on_instance(path: str | None, default: str) -> str:
    """A path for the shell: the given one quoted, or where the instance's session says."""
    return default if path is None else shlex.quote(path)


def _status_command(status_path: str | None) -> str:
    where = _on_instance(status_path, INSTANCE_STATUS)
    return f"cat {where} 2>/dev/null; echo; echo {_NOW_MARK} $(date +%s.%N)"


def _split_now(out: str) -> tuple[str, float]:
    text, _, now = out.rpartition(_NOW_MARK)
    try:
        return text, float(now.strip())
    except ValueError:
        return text, time.time()


async def read_status(
    conn: asyncssh.SSHClientConnection, *, status_path: str | None = None
) -> AutostopStatus | None:
    """The agent's status (None: not installed, or it has not checked yet)."""
    result = await conn.run(_status_command(status_path), check=False)
    text, now = _split_now(str(result.stdout or ""))
    return parse_status(text, now)


def _refused(what: str, out: str) -> AutostopUnavailable:
    if "password is required" in out or "a terminal is required" in out:
        return AutostopUnavailable(
            f"The instance's login user can't {what}: sudo asks for a password there.",
            "Images d2l-tui launches (Ubuntu, Deep Learning AMIs) allow it; on another image, "
            "change /etc/d2l-autostop/config.json by hand.",
        )
    last = " ".join(out.strip().splitlines()[-1:])[:200]
    return AutostopUnavailable(
        f"Could not {what} on the instance ({last or 'no output'}).", "See the log file for details."
    )


async def write_config(
    conn: asyncssh.SSHClientConnection,
    config: AutostopConfig,
    *,
    config_path: str | None = None,
    status_path: str | None = None,
    sudo: str = INSTANCE_SUDO,
    agent_command: str = INSTANCE_AGENT,
) -> AutostopStatus | None:
    """Write the setting (the JSON travels on stdin: nothing of it on a command line), run one check,
    and return the status that check wrote. Paths left out are where the instance says."""
    quoted = _on_instance(config_path, INSTANCE_CONFIG)
    # The setting is read from stdin first, whatever follows: a script that exits before reading it
    # (no agent there) closes the channel under the app's write (BrokenPipeError, seen in the suite).
    script = (
        "setting=$(cat)\n"
        f"test -e {quoted} || {{ echo '::not-installed::'; exit 3; }}\n"
        f"printf '%s\\n' \"$setting\" | {sudo} tee {quoted}.new >/dev/null && {sudo} mv {quoted}.new {quoted} || exit 4\n"
        f"{agent_command} >/dev/null 2>&1\n" + _status_command(status_path)
    )
    result = await conn.run("bash -c " + shlex.quote(script), input=config_json(config) + "\n", check=False)
    out = str(result.stdout or "") + str(result.stderr or "")
    if "::not-installed::" in out:
        raise AgentNotInstalled(
            "This instance has no auto-stop agent (it was launched without it).",
            "`d2l-tui autostop NAME 30m` installs it over SSH.",
        )
    if result.exit_status:
        raise _refused("change the auto-stop setting", out)
    text, now = _split_now(str(result.stdout or ""))
    return parse_status(text, now)


async def install(
    conn: asyncssh.SSHClientConnection,
    config: AutostopConfig,
    *,
    sudo: str = INSTANCE_SUDO,
    env: dict[str, str] | None = None,
) -> None:
    """Install the agent on a running instance (the same lines as the user data), as root."""
    assigned = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    command = " ".join([sudo, *(["env", *assigned] if assigned else []), "bash", "-s"]).strip()
    result = await conn.run(command, input=install_script(config), check=False)
    if result.exit_status:
        raise _refused("install the auto-stop agent", str(result.stdout or "") + str(result.stderr or ""))


def config_from_json(text: str) -> AutostopConfig:
    """A config file's setting (unknown keys ignored, missing ones the defaults)."""
    raw = json.loads(text)
    known = {f.name for f in fields(AutostopConfig)}
    return AutostopConfig(**{k: v for k, v in raw.items() if k in known})
