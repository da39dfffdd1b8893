"""Auto-stop on moto: the launch sends the agent's user data and the shutdown behaviour, and puts up
the CloudWatch backstop alarm; terminate deletes it; the leftovers sweep reports (and cleans up) one
whose instance is gone. A refusal moto can't give (no cloudwatch permission) is a botocore hook
answering with the real error shape."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_launch import CIDR, REGION, client_error, hooked_aws, spec_for
from tui.flows import autostop
from tui.models import TAG_MANAGED, TAG_NAME, AutostopConfig, AutostopSetting, KeyChoice
from tui.services.cloud import alarms, leftovers, lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.launch import USER_DATA_LIMIT_BYTES, run_and_follow
from tui.services.remote.autostop import autostop_user_data, config_json, packed_agent


@pytest.fixture
def prepared(aws: Aws) -> tuple[KeyChoice, str]:
    """A key pair and an SSH security group made in moto directly (as tests/test_launch.py does)."""
    ec2 = aws.client("ec2", REGION)
    ec2.create_key_pair(KeyName="made-in-test")
    sg = ec2.create_security_group(GroupName="ssh-test", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": CIDR}]}],
    )
    return KeyChoice(name="made-in-test", private_key_path="/nonexistent/made-in-test.pem"), sg


def launched(
    aws: Aws, prepared: tuple[KeyChoice, str], setting: AutostopSetting, *, spot: bool = False
) -> Any:
    key, sg = prepared
    messages: list[str] = []
    spec = autostop.with_autostop(spec_for(key, spot=spot), setting)
    instance = run_and_follow(aws, spec, sg, lambda p: messages.append(p.message), poll_interval=0)
    return instance, messages


def the_alarms(aws: Aws) -> list[dict[str, Any]]:
    return list(aws.client("cloudwatch", REGION).describe_alarms()["MetricAlarms"])


def run_as_cloud_init(user_data: str, tmp_path: Path) -> dict[str, Any]:
    """The user data run as cloud-init would (bash, as root) with its files under a temp root and a
    stand-in systemctl that records its calls; what it installed."""
    root, bin_dir = tmp_path / "root", tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/systemctl.log\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = dict(os.environ, D2L_AUTOSTOP_ROOT=str(root), PATH=f"{bin_dir}:{os.environ['PATH']}")
    subprocess.run(["bash", "-eu"], input=user_data, text=True, env=env, check=True)
    return {
        "config": (root / "etc" / "d2l-autostop" / "config.json").read_text(),
        "agent": (root / "opt" / "d2l-tui" / "autostop" / "agent.py").read_text(),
        "systemctl": (tmp_path / "systemctl.log").read_text().splitlines(),
    }


def test_launch_sends_the_installer_and_puts_up_the_backstop(
    aws: Aws, prepared: tuple[KeyChoice, str], tmp_path: Path
) -> None:
    instance, messages = launched(aws, prepared, autostop.DEFAULT_AUTOSTOP)
    ec2 = aws.client("ec2", REGION)
    raw = ec2.describe_instance_attribute(InstanceId=instance.instance_id, Attribute="userData")["UserData"]
    user_data = base64.b64decode(raw["Value"]).decode()
    assert user_data == "#!/bin/bash\n" + autostop_user_data(AutostopConfig(idle_minutes=30))
    assert len(user_data.encode()) <= USER_DATA_LIMIT_BYTES
    installed = run_as_cloud_init(user_data, tmp_path)
    assert json.loads(installed["config"]) == {
        **json.loads(config_json(AutostopConfig())),
        "idle_minutes": 30,
    }
    assert installed["agent"] == packed_agent() and installed["systemctl"] == [
        "daemon-reload",
        "enable --now d2l-autostop.timer",
    ]
    behaviour = ec2.describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"

    [alarm] = the_alarms(aws)
    assert alarm["AlarmName"] == f"d2l-tui-idle-{instance.instance_id}"
    assert alarm["AlarmActions"] == [f"arn:aws:automate:{REGION}:ec2:stop"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/EC2",
        "CPUUtilization",
        "Average",
    )
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": instance.instance_id}]
    # g4dn.xlarge has 4 vCPUs: a quarter core is 6.25% of it, capped at 2%. 30 min idle: an hour.
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 2.0)
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (300, 12, 12)
    assert alarm["TreatMissingData"] == "notBreaching"
    tags = aws.client("cloudwatch", REGION).list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        TAG_MANAGED: "true",
        TAG_NAME: "d2l-test",
        alarms.TAG_INSTANCE: instance.instance_id,
    }
    assert any(
        m.startswith("Backstop: CloudWatch alarm d2l-tui-idle-") and "below 2% for 60 min" in m
        for m in messages
    )
    assert messages[-1] == "Ready"


def test_spot_means_terminate_in_the_alarm_and_the_shutdown(
    aws: Aws, prepared: tuple[KeyChoice, str]
) -> None:
    instance, _ = launched(aws, prepared, AutostopSetting(45), spot=True)
    behaviour = aws.client("ec2", REGION).describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    [alarm] = the_alarms(aws)
    assert alarm["AlarmActions"] == [f"arn:aws:automate:{REGION}:ec2:terminate"]
    assert alarm["EvaluationPeriods"] == 18  # twice 45 minutes
    raw = aws.client("ec2", REGION).describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="userData"
    )["UserData"]["Value"]
    # The agent says "terminates" (its status, the warning) where a shutdown does.
    assert '"on_shutdown": "terminate"' in base64.b64decode(raw).decode()


def test_off_installs_the_agent_switched_off_and_puts_up_no_alarm(
    aws: Aws, prepared: tuple[KeyChoice, str]
) -> None:
    instance, _ = launched(aws, prepared, AutostopSetting())
    raw = aws.client("ec2", REGION).describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="userData"
    )
    config = json.loads(config_json(AutostopConfig(idle_minutes=0, max_hours=0)))
    assert (
        config["idle_minutes"] == 0
        and json.dumps(config, sort_keys=True) in base64.b64decode(raw["UserData"]["Value"]).decode()
    )
    assert the_alarms(aws) == []


def test_a_cap_alone_installs_the_agent_but_no_idle_alarm(aws: Aws, prepared: tuple[KeyChoice, str]) -> None:
    instance, _ = launched(aws, prepared, AutostopSetting(None, 8))
    raw = aws.client("ec2", REGION).describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="userData"
    )
    assert '"max_hours": 8' in base64.b64decode(raw["UserData"]["Value"]).decode()
    assert the_alarms(aws) == []


def test_cloudwatch_refusing_is_said_and_the_launch_goes_on(prepared: tuple[KeyChoice, str]) -> None:
    def denied(**_: Any) -> Any:
        return client_error(
            "AccessDenied", "User is not authorized to perform: cloudwatch:PutMetricAlarm", 403
        )

    aws = hooked_aws(**{"before-call__cloudwatch__PutMetricAlarm": denied})
    instance, messages = launched(aws, prepared, autostop.DEFAULT_AUTOSTOP)
    assert instance.state == "running" and messages[-1] == "Ready"
    assert any("cloudwatch:PutMetricAlarm" in m and "agent still stops" in m for m in messages)
    assert the_alarms(aws) == []


@pytest.mark.parametrize(
    ("vcpus", "pct"), [(4, 2.0), (8, 2.0), (48, 0.52), (96, 0.26), (192, 0.13), (None, 0.1)]
)
def test_threshold_is_a_quarter_core(vcpus: int | None, pct: float) -> None:
    assert alarms.threshold_pct(vcpus) == pct


@pytest.mark.parametrize(("idle", "window"), [(10, 60), (30, 60), (37, 75), (45, 90), (720, 1440)])
def test_window_is_twice_the_idle_within_an_hour_and_a_day(idle: int, window: int) -> None:
    assert alarms.window_minutes(idle) == window


def test_terminate_deletes_the_alarm(aws: Aws, prepared: tuple[KeyChoice, str]) -> None:
    instance, _ = launched(aws, prepared, autostop.DEFAULT_AUTOSTOP)
    assert len(the_alarms(aws)) == 1
    lifecycle.terminate(aws, instance)
    assert the_alarms(aws) == []


def test_terminate_goes_on_when_the_alarm_cannot_be_deleted(prepared: tuple[KeyChoice, str]) -> None:
    def denied(**_: Any) -> Any:
        return client_error("AccessDenied", "not authorized: cloudwatch:DeleteAlarms", 403)

    aws = hooked_aws(**{"before-call__cloudwatch__DeleteAlarms": denied})
    instance, _ = launched(aws, prepared, autostop.DEFAULT_AUTOSTOP)
    assert lifecycle.terminate(aws, instance).state in ("shutting-down", "terminated")
    assert len(the_alarms(aws)) == 1  # left for the leftovers sweep


def test_an_orphaned_alarm_is_a_leftover_and_cleanup_deletes_it(
    aws: Aws, prepared: tuple[KeyChoice, str], tmp_path: Path
) -> None:
    gone, _ = launched(aws, prepared, autostop.DEFAULT_AUTOSTOP)
    live, _ = launched(aws, prepared, AutostopSetting(60))
    cw = aws.client("cloudwatch", REGION)
    # Named like ours but not tagged as ours: someone else's alarm, never reported.
    cw.put_metric_alarm(
        **{**alarms.alarm_params(gone, 30, 4), "AlarmName": "d2l-tui-idle-theirs", "Tags": []},
    )
    # Terminated outside the app (console, or an image made with --terminate before this existed).
    aws.client("ec2", REGION).terminate_instances(InstanceIds=[gone.instance_id])

    found = [x for x in leftovers.find_leftovers(aws, [REGION]).items if x.kind == leftovers.ALARM]
    assert [(x.resource_id, x.name, x.usd_per_month) for x in found] == [
        (f"d2l-tui-idle-{gone.instance_id}", "d2l-test", alarms.USD_PER_ALARM_MONTH)
    ]
    assert gone.instance_id in found[0].detail and found[0].label.startswith("idle alarm d2l-test (")
    assert found[0] in leftovers.bulk(found)  # part of a bulk clean-up: nothing else needs it

    [result] = leftovers.clean_up(aws, found)
    assert result.error is None
    names = {a["AlarmName"] for a in the_alarms(aws)}
    assert names == {f"d2l-tui-idle-{live.instance_id}", "d2l-tui-idle-theirs"}


def test_no_cloudwatch_permission_costs_only_the_alarms_in_the_sweep(prepared: tuple[KeyChoice, str]) -> None:
    def denied(**_: Any) -> Any:
        return client_error("AccessDenied", "not authorized: cloudwatch:DescribeAlarms", 403)

    aws = hooked_aws(**{"before-call__cloudwatch__DescribeAlarms": denied})
    ec2 = aws.client("ec2", REGION)
    ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=8,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": TAG_MANAGED, "Value": "true"}]}],
    )
    listing = leftovers.find_leftovers(aws, [REGION])
    assert listing.complete and [x.kind for x in listing.items] == [leftovers.VOLUME]
