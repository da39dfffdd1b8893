"""`d2l-tui launch --autostop … [--max-hours N]` and `d2l-tui autostop NAME 45m|off|status` as real
subprocesses against a moto server on loopback, checked in moto after each."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.test_cli import (  # noqa: F401
    LAUNCH,
    assert_nothing_created,
    assert_one_line_failure,
    d2l,
    ec2,
    endpoint,
    instances,
)
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


def test_launch_status_change_and_terminate(endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    env = subprocess_env(endpoint, tmp_path / "home")
    launched = d2l(env, *LAUNCH, "--name", "idle-box", "--autostop", "45m", "--max-hours", "8", "--yes")
    assert launched.returncode == 0, launched.stderr
    assert "after 45 min idle" in launched.stderr and "8 h after each start" in launched.stderr
    [data] = instances()
    iid = data["InstanceId"]
    assert {t["Key"]: t["Value"] for t in data["Tags"]}[TAG_AUTOSTOP] == "45m max 8h"
    raw = ec2().describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    assert b"IDLE_MINUTES=45" in base64.b64decode(raw) and b"MAX_HOURS=8" in base64.b64decode(raw)
    behaviour = ec2().describe_instance_attribute(
        InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    [alarm] = alarms()
    assert alarm["EvaluationPeriods"] == 18 and alarm["Dimensions"] == [{"Name": "InstanceId", "Value": iid}]

    status = d2l(env, "autostop", "idle-box", "status")
    assert status.stdout.splitlines() == [
        "Launched with: --autostop 45m max 8h",
        f"Backstop: CloudWatch alarm d2l-tui-idle-{iid} ({alarm['StateValue']}) will stop it if its CPU "
        "stays below 2% for 90 min",
    ]
    # The agent's own status comes with the on-instance part: until then, said in one line.
    assert_one_line_failure(status, 1, "not available yet")

    change = d2l(env, "autostop", "idle-box", "30m")
    assert_one_line_failure(change, 1, "not available yet", "--autostop")
    [alarm] = alarms()
    assert alarm["EvaluationPeriods"] == 18  # the agent could not be changed: neither is the backstop

    bad = d2l(env, "autostop", "idle-box", "abc")
    assert bad.returncode == 2 and "'abc' is not a duration" in bad.stderr

    assert d2l(env, "terminate", "idle-box", "--yes").returncode == 0
    assert alarms() == []
