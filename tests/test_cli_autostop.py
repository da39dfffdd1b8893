"""`d2l-tui launch --autostop … [--max-hours N]` and `d2l-tui autostop NAME 45m|off|status` as real
subprocesses against a moto server on loopback, checked in moto after each."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.autostop_host import AGENT
from tests.support.sshd import OpenSshServer, point_host_at
from tests.test_cli import (  # noqa: F401
    LAUNCH,
    assert_nothing_created,
    assert_one_line_failure,
    d2l,
    ec2,
    endpoint,
    instances,
)
from tests.test_cli_provision import console_shows
from tui.demo.ssh_host import console_output_for
from tui.models import TAG_AUTOSTOP
from tui.services.cloud.aws import Aws


def alarms() -> list[dict[str, Any]]:
    return list(Aws(region="us-east-1").client("cloudwatch", "us-east-1").describe_alarms()["MetricAlarms"])


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--autostop", "0"], "'0' is too short"),
        (["--autostop", "-5m"], "'-5m' is not a duration: type one like 30m, 2h or 90 (minutes), or off."),
        (["--autostop", "abc"], "'abc' is not a duration"),
        (["--autostop", "100000h"], "'100000h' is too long"),
        (["--max-hours", "0"], "the cap must be more than 0 and at most 168 hours"),
        (["--max-hours", "1000"], "at most 168 hours"),
    ],
)
def test_bad_auto_stop_is_refused_before_anything_is_sent(
    endpoint: str,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    args: list[str],
    sentence: str,
) -> None:
    home = tmp_path / "home"
    result = d2l(subprocess_env(endpoint, home), *LAUNCH, *args, "--yes")
    assert result.returncode == 2 and sentence in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_created(home)


def test_spot_with_auto_stop_needs_its_own_agreement(endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    home = tmp_path / "home"
    env = subprocess_env(endpoint, home)
    refused = d2l(env, *LAUNCH, "--spot", "--yes")
    assert_one_line_failure(
        refused, 2, "can't be stopped", "terminate", "--terminate-when-idle", "--autostop off"
    )
    assert_nothing_created(home)

    agreed = d2l(env, *LAUNCH, "--spot", "--terminate-when-idle", "--yes")
    assert agreed.returncode == 0, agreed.stderr
    assert "Auto-stop: The instance terminates (its disk is deleted) after 30 min idle" in agreed.stderr
    [alarm] = alarms()
    assert alarm["AlarmActions"] == ["arn:aws:automate:us-east-1:ec2:terminate"]


# The agent's first check with the new setting: idle, or (this machine's other work counts) CPU busy.
AGENT_SAYS = r"Agent: (idle 0 of {minutes} min — stops at \d\d:\d\d|not idle: CPU [\d.]+ cores)"


@pytest.fixture
def instance_sshd(tmp_path: Path, client_key: tuple[Path, str]) -> Iterator[OpenSshServer]:
    """The instance as a real sshd whose login sessions say where the agent's files are (a temp root,
    no sudo: tui/services/remote/autostop.py's INSTANCE_* variables); the agent runs from the
    repository, with stand-ins for `systemctl` (the install) and `shutdown` (never reached here)."""
    from tests.support.sshd import SSHD

    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH sshd is not installed (the CI installs openssh-server)")
    root = tmp_path / "sshd"
    agent = root / "agent"
    (agent / "bin").mkdir(parents=True)
    for name in ("systemctl", "shutdown", "wall"):
        (agent / "bin" / name).write_text(f'#!/bin/sh\necho "$*" >> {agent / name}.log\n')
        (agent / "bin" / name).chmod(0o755)
    env = {
        "PATH": f"{agent / 'bin'}:/usr/bin:/bin",
        "D2L_AUTOSTOP_CONFIG": str(agent / "etc" / "d2l-autostop" / "config.json"),
        "D2L_AUTOSTOP_STATE_DIR": str(agent / "state"),
        "D2L_AUTOSTOP_ROOT": str(agent),  # the installer's files, so CONFIG above is its config
        "D2L_AUTOSTOP_SUDO": "",
        "D2L_AUTOSTOP_AGENT": shlex.join([sys.executable, "-I", "-S", str(AGENT)]),
        "D2L_AUTOSTOP_JUPYTER": str(agent / "none"),
        "D2L_AUTOSTOP_SETUP": str(agent / "none"),
    }
    server = OpenSshServer(root, client_key[1], extra_env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def reach(home: Path, data: dict[str, Any], server: OpenSshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launched instance's DNS name leads to the sshd, which accepts the key the launch made and
    whose host key the console shows (as cloud-init prints it)."""
    point_host_at(home, data["PublicDnsName"], server)
    [pem] = (home / ".ssh" / "d2l-tui").glob("*.pem")
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(pem)], capture_output=True, text=True, check=True)
    with open(server.authorized_keys, "a") as keys:
        keys.write(public.stdout)
    console_shows(monkeypatch, console_output_for(server.host_public_key))


def test_launch_status_change_and_terminate(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
    instance_sshd: OpenSshServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    env = subprocess_env(endpoint, home)
    launched = d2l(env, *LAUNCH, "--name", "idle-box", "--autostop", "45m", "--max-hours", "8", "--yes")
    assert launched.returncode == 0, launched.stderr
    assert "after 45 min idle" in launched.stderr and "8 h after each start" in launched.stderr
    [data] = instances()
    iid = data["InstanceId"]
    assert {t["Key"]: t["Value"] for t in data["Tags"]}[TAG_AUTOSTOP] == "45m max 8h"
    raw = ec2().describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    user_data = base64.b64decode(raw).decode()
    assert user_data.startswith("#!/bin/bash\n") and '"idle_minutes": 45' in user_data
    assert '"max_hours": 8' in user_data
    behaviour = ec2().describe_instance_attribute(
        InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    [alarm] = alarms()
    assert alarm["EvaluationPeriods"] == 18 and alarm["Dimensions"] == [{"Name": "InstanceId", "Value": iid}]

    # The instance boots: cloud-init runs the user data (here, in the sshd's temp root).
    agent = instance_sshd.root / "agent"
    run_env = dict(os.environ, D2L_AUTOSTOP_ROOT=str(agent), PATH=f"{agent / 'bin'}:{os.environ['PATH']}")
    subprocess.run(["bash", "-eu"], input=user_data, text=True, env=run_env, check=True)
    reach(home, data, instance_sshd, monkeypatch)

    status = d2l(env, "autostop", "idle-box", "status")
    assert status.returncode == 0, status.stderr
    # The agent has not checked yet (its timer's first run is a minute after boot).
    assert status.stdout.splitlines() == [
        "Launched with: --autostop 45m max 8h",
        f"Backstop: CloudWatch alarm d2l-tui-idle-{iid} ({alarm['StateValue']}) will stop it if its CPU "
        "stays below 2% for 90 min",
        "Agent: auto-stop not installed",
    ]

    change = d2l(env, "autostop", "idle-box", "30m")
    assert change.returncode == 0, change.stderr
    said = change.stdout.splitlines()
    assert said[0].startswith("The instance stops (its disk stays, and is billed) after 30 min idle")
    assert re.fullmatch(AGENT_SAYS.format(minutes=30), said[1]), said
    config = json.loads((agent / "etc" / "d2l-autostop" / "config.json").read_text())
    assert (config["idle_minutes"], config["max_hours"]) == (30, 0)
    [alarm] = alarms()
    assert alarm["EvaluationPeriods"] == 12  # the backstop follows the agent: twice 30 minutes

    again = d2l(env, "autostop", "idle-box", "status")
    assert again.stdout.splitlines()[-1] == said[1]

    off = d2l(env, "autostop", "idle-box", "off")
    assert off.returncode == 0, off.stderr
    assert off.stdout.splitlines() == [
        "Off: the instance runs, and is billed, until you stop it.",
        "Agent: auto-stop off",
    ]
    assert alarms() == []
    assert not (agent / "shutdown.log").exists()

    # An instance launched without the agent (before d2l-tui installed it at every launch): installed
    # over SSH, then set.
    (agent / "etc" / "d2l-autostop" / "config.json").unlink()
    (agent / "systemctl.log").unlink()
    installed = d2l(env, "autostop", "idle-box", "45m")
    assert installed.returncode == 0, installed.stderr
    assert re.fullmatch(AGENT_SAYS.format(minutes=45), installed.stdout.splitlines()[1]), installed.stdout
    assert (agent / "systemctl.log").read_text().splitlines() == [
        "daemon-reload",
        "enable --now d2l-autostop.timer",
    ]

    bad = d2l(env, "autostop", "idle-box", "abc")
    assert bad.returncode == 2 and "'abc' is not a duration" in bad.stderr

    assert d2l(env, "terminate", "idle-box", "--yes").returncode == 0
    assert alarms() == []
