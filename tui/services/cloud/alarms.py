"""The auto-stop backstop that needs no agent: one CloudWatch alarm per instance that stops it (a
one-time spot instance: terminates it) when its CPU stays near zero for long.

The agent on the instance is what normally stops an idle machine; this alarm is for when the agent
is not running (user data failed, someone disabled it, an image launched elsewhere). It must never
stop a machine that is working, so it is deliberately slow and strict:

- Metric: AWS/EC2 CPUUtilization, Average, the free basic monitoring's 5-minute points.
- Threshold: a quarter of one vCPU's share, at most 2%. A training loop keeps at least one core
  busy (the Python thread feeding the GPU), which on a 192-vCPU p5.48xlarge is only 0.5% of the
  machine: a fixed 1% would stop it mid-run. An idle Ubuntu with its daemons stays far below a
  quarter core. Unknown vCPU count: the lowest (0.1%).
- Window: twice the agent's idle window, at least an hour (the agent acts first), at most one day
  (CloudWatch evaluates an alarm over at most 86,400 s). Every point in it must be low.
- Missing data (a stopped instance sends none) counts as not idle: the alarm goes back to OK while
  stopped, so after the next start it can fire again (actions run only on a change to ALARM).

An alarm costs about $0.10 a month while it exists, so terminate deletes it and the leftovers sweep
reports one whose instance is gone. Its tags are the app's (d2l-tui:managed, d2l-tui:name) plus the
instance id, so it is found even if renamed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

from tui.aws_response import error_code
from tui.logs import log_exception
from tui.models import TAG_MANAGED, TAG_NAME, AutostopSetting, Instance
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, from_client_error

log = logging.getLogger(__name__)

NAME_PREFIX = "d2l-tui-idle-"
TAG_INSTANCE = "d2l-tui:instance"
USD_PER_ALARM_MONTH = 0.10  # a standard-resolution metric alarm, us-east-1 list price
PERIOD_S = 300  # EC2 basic monitoring: one CPUUtilization point per 5 minutes
MIN_WINDOW_MINUTES = 60
MAX_WINDOW_MINUTES = 24 * 60  # CloudWatch: Period × EvaluationPeriods ≤ one day
MAX_THRESHOLD_PCT = 2.0
MIN_THRESHOLD_PCT = 0.1
_GONE_STATES = ("shutting-down", "terminated")


def alarm_name(instance_id: str) -> str:
    return NAME_PREFIX + instance_id


def threshold_pct(vcpus: int | None) -> float:
    """A quarter of one vCPU's share of the machine, between 0.1% and 2% (see the module's why)."""
    if not vcpus:
        return MIN_THRESHOLD_PCT
    return round(min(MAX_THRESHOLD_PCT, max(MIN_THRESHOLD_PCT, 25.0 / vcpus)), 2)


def window_minutes(idle_minutes: int) -> int:
    """Twice the agent's window, at least an hour, at most a day, in whole 5-minute periods."""
    wanted = min(MAX_WINDOW_MINUTES, max(MIN_WINDOW_MINUTES, 2 * idle_minutes))
    return math.ceil(wanted * 60 / PERIOD_S) * PERIOD_S // 60


def action_arn(region: str, spot: bool) -> str:
    # A one-time spot instance can't be stopped (UnsupportedOperation): there idle means terminate,
    # which the launch plan says and the user agreed to.
    return f"arn:aws:automate:{region}:ec2:{'terminate' if spot else 'stop'}"


def alarm_params(instance: Instance, idle_minutes: int, vcpus: int | None) -> dict[str, Any]:
    """The exact PutMetricAlarm parameters for this instance."""
    periods = window_minutes(idle_minutes) * 60 // PERIOD_S
    threshold = threshold_pct(vcpus)
    verb = "terminates" if instance.spot else "stops"
    return {
        "AlarmName": alarm_name(instance.instance_id),
        "AlarmDescription": (
            f"d2l-tui auto-stop backstop: {verb} {instance.name or instance.instance_id} when its CPU stays "
            f"below {threshold:g}% for {periods * PERIOD_S // 60} minutes (the on-instance agent normally "
            "acts first). Deleted when d2l-tui terminates the instance."
        ),
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "InstanceId", "Value": instance.instance_id}],
        "Statistic": "Average",
        "Period": PERIOD_S,
        "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods,
        "Threshold": threshold,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
        "AlarmActions": [action_arn(instance.region, instance.spot)],
        "Tags": [
            {"Key": TAG_MANAGED, "Value": "true"},
            {"Key": TAG_NAME, "Value": instance.name or instance.instance_id},
            {"Key": TAG_INSTANCE, "Value": instance.instance_id},
        ],
    }


def _vcpus(aws: Aws, region: str, instance_type: str) -> int | None:
    try:
        answer = aws.client("ec2", region).describe_instance_types(InstanceTypes=[instance_type])
        types = answer.get("InstanceTypes", [])
        return int(types[0]["VCpuInfo"]["DefaultVCpus"]) if types else None
    except Exception as exc:  # the alarm still goes up, with the strictest threshold
        log_exception(log, exc, f"vCPUs of {instance_type} in {region}")
        return None


def put_for_instance(aws: Aws, instance: Instance, setting: AutostopSetting) -> dict[str, Any] | None:
    """Create or update the instance's alarm to match ``setting`` (idle off: the alarm goes).
    Returns the parameters sent (None when deleted); D2lError when CloudWatch refuses."""
    import botocore.exceptions as bex

    if setting.idle_minutes is None:
        delete_alarm(aws, instance.region, alarm_name(instance.instance_id))
        return None
    params = alarm_params(
        instance, setting.idle_minutes, _vcpus(aws, instance.region, instance.instance_type)
    )
    try:
        aws.client("cloudwatch", instance.region).put_metric_alarm(**params)
    except bex.ClientError as exc:
        raise from_client_error(exc, "PutMetricAlarm") from exc
    log.info("alarm %s in %s: %s", params["AlarmName"], instance.region, params)
    return params


def delete_alarm(aws: Aws, region: str, name: str) -> None:
    """Delete one alarm (an unknown name is no error: DeleteAlarms ignores it)."""
    import botocore.exceptions as bex

    try:
        aws.client("cloudwatch", region).delete_alarms(AlarmNames=[name])
    except bex.ClientError as exc:
        raise from_client_error(exc, "DeleteAlarms") from exc
    log.info("deleted alarm %s in %s", name, region)


def delete_for_instance(aws: Aws, instance: Instance) -> bool:
    """Terminate's clean-up: the instance's alarm goes. Never raises (the instance is terminated
    either way; an alarm left behind is found by the leftovers sweep). True when deleted."""
    try:
        delete_alarm(aws, instance.region, alarm_name(instance.instance_id))
    except Exception as exc:
        log_exception(log, exc, f"deleting the idle alarm of {instance.instance_id}")
        return False
    return True


@dataclass(frozen=True)
class InstanceAlarm:
    name: str
    instance_id: str
    instance_name: str
    region: str
    threshold_pct: float
    window_minutes: int
    action: str  # "stop" | "terminate"
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    arn: str = ""


def _app_alarms(aws: Aws, region: str) -> list[InstanceAlarm]:
    """The region's alarms named as the app names them."""
    import botocore.exceptions as bex

    cw = aws.client("cloudwatch", region)
    found = []
    try:
        for page in cw.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=NAME_PREFIX, AlarmTypes=["MetricAlarm"]
        ):
            for alarm in page.get("MetricAlarms", []):
                dims = {str(d.get("Name")): str(d.get("Value")) for d in alarm.get("Dimensions", [])}
                actions = alarm.get("AlarmActions") or [""]
                found.append(
                    InstanceAlarm(
                        name=str(alarm["AlarmName"]),
                        instance_id=dims.get("InstanceId", ""),
                        instance_name="",
                        region=region,
                        threshold_pct=float(alarm.get("Threshold", 0.0)),
                        window_minutes=int(alarm.get("Period", 0))
                        * int(alarm.get("EvaluationPeriods", 0))
                        // 60,
                        action=str(actions[0]).rsplit(":", 1)[-1],
                        state=str(alarm.get("StateValue", "")),
                        arn=str(alarm.get("AlarmArn", "")),
                    )
                )
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeAlarms") from exc
    return found


def for_instance(aws: Aws, instance: Instance) -> InstanceAlarm | None:
    """The instance's backstop alarm as CloudWatch holds it; None when there is none."""
    wanted = alarm_name(instance.instance_id)
    return next((a for a in _app_alarms(aws, instance.region) if a.name == wanted), None)


def _managed(cw: Any, alarm_arn: str) -> tuple[bool, str]:
    """(whether the alarm carries the app's tag, its d2l-tui:name)."""
    tags = {str(t["Key"]): str(t["Value"]) for t in cw.list_tags_for_resource(ResourceARN=alarm_arn)["Tags"]}
    return tags.get(TAG_MANAGED) == "true", tags.get(TAG_NAME, "")


def orphans(aws: Aws, region: str) -> list[InstanceAlarm]:
    """The app's alarms whose instance is gone (terminated, or never there): each still costs money."""
    import botocore.exceptions as bex

    alarms = _app_alarms(aws, region)
    if not alarms:
        return []
    ec2 = aws.client("ec2", region)
    live: set[str] = set()
    ids = sorted({a.instance_id for a in alarms if a.instance_id})
    try:
        # A filter, not InstanceIds=: an id AWS no longer knows is simply absent, not an error.
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-id", "Values": ids}]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for data in reservation.get("Instances", []):
                    if (data.get("State") or {}).get("Name") not in _GONE_STATES:
                        live.add(str(data.get("InstanceId")))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstances") from exc
    cw = aws.client("cloudwatch", region)
    found = []
    for alarm in alarms:
        if alarm.instance_id in live:
            continue
        try:
            managed, name = _managed(cw, alarm.arn)
        except bex.ClientError as exc:
            if error_code(exc) == "ResourceNotFound":
                continue  # deleted since the listing
            raise from_client_error(exc, "ListTagsForResource") from exc
        if managed:  # named like ours but not tagged as ours: someone else's, left alone
            found.append(replace(alarm, instance_name=name))
    return found


def problem_sentence(exc: D2lError) -> str:
    """Why the backstop could not be set, for a launch's progress line (the launch goes on)."""
    if exc.code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return (
            "No CloudWatch backstop alarm: your AWS identity may not call cloudwatch:PutMetricAlarm. "
            "The on-instance agent still stops the instance when idle."
        )
    return f"No CloudWatch backstop alarm ({exc.what}). The on-instance agent still stops the instance when idle."
