"""LaunchSpec -> RunInstances, exactly once, then follow the instance until it is reachable.

Exactly once: every launch carries a client token (a uuid4 unless the caller resumes one). The
instance is tagged with it, and before each RunInstances (the first and every retry after a lost
response) we look for an instance with that tag and adopt it instead of launching a second one.
AWS also deduplicates on ClientToken itself; the tag makes it hold on emulators that don't.
No capacity in a zone: failover.py tries the others.

Following: DescribeInstances until the state is running with a public DNS name, then
DescribeInstanceStatus until both status checks are ok. No boto3 waiters: the loop sleeps in small
slices and checks ``cancelled()`` so a UI can stop waiting at any moment.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.aws_response import error_code
from tui.models import (
    TAG_AUTOSTOP,
    TAG_CLIENT_TOKEN,
    TAG_MANAGED,
    TAG_NAME,
    Instance,
    LaunchProgress,
    LaunchSpec,
)
from tui.services.cloud import alarms, failover, keys, network
from tui.services.cloud.aws import Aws
from tui.services.errors import CapacityError, D2lError, from_client_error
from tui.services.polling import cancellable_sleep

log = logging.getLogger(__name__)

MAX_RUN_ATTEMPTS = 3
RETRY_BACKOFF_S = (1.0, 3.0)  # waits before the 2nd and 3rd attempt
# How long to follow an instance before giving up on it (it keeps running; the message says so).
RUNNING_TIMEOUT_S, STATUS_TIMEOUT_S = 15 * 60, 20 * 60
_GONE_STATES = ("shutting-down", "terminated", "stopping", "stopped")
# RunInstances refuses user data over 16 KB, counted before its base64 encoding.
USER_DATA_LIMIT_BYTES = 16 * 1024


class LaunchCancelled(D2lError):
    """The user cancelled before RunInstances was sent: nothing is running."""


def user_data_problem(user_data: str) -> str | None:
    size = len(user_data.encode("utf-8"))
    if size > USER_DATA_LIMIT_BYTES:
        return f"The auto-stop installer is {size:,} bytes; EC2 takes at most {USER_DATA_LIMIT_BYTES:,} bytes of user data."
    return None


def _tags(spec: LaunchSpec, client_token: str | None = None) -> list[dict[str, str]]:
    tags = [
        {"Key": "Name", "Value": spec.name},
        {"Key": TAG_MANAGED, "Value": "true"},
        {"Key": TAG_NAME, "Value": spec.name},
    ]
    if client_token:
        tags.append({"Key": TAG_CLIENT_TOKEN, "Value": client_token})
    return tags


def run_instances_params(spec: LaunchSpec, security_group_id: str, client_token: str) -> dict[str, Any]:
    """The exact RunInstances parameters (the Review step shows them)."""
    params: dict[str, Any] = {
        "ImageId": spec.image.image_id,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "KeyName": spec.key.name,
        "SecurityGroupIds": [security_group_id],
        "ClientToken": client_token,
        "BlockDeviceMappings": [
            {
                "DeviceName": spec.image.root_device_name,
                "Ebs": {
                    "VolumeSize": spec.disk_gib,
                    "VolumeType": spec.volume_type,
                    "DeleteOnTermination": True,
                    "Encrypted": True,
                },
            }
        ],
        # IMDSv2 only. Hop limit 2 so containers on the box (one network hop further) still reach it.
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": 2,
        },
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": _tags(spec, client_token)},
            {"ResourceType": "volume", "Tags": _tags(spec)},
        ],
        # A `shutdown` on the machine (the auto-stop agent's, or a person's) stops it and keeps its
        # disk. A one-time spot instance can't be stopped: there it terminates, as the plan says.
        "InstanceInitiatedShutdownBehavior": "terminate" if spec.spot else "stop",
    }
    if spec.autostop.on:
        params["TagSpecifications"][0]["Tags"].append({"Key": TAG_AUTOSTOP, "Value": spec.autostop.tag_value})
    if spec.user_data:
        problem = user_data_problem(spec.user_data)
        if problem:
            raise D2lError(problem, "Launch with auto-stop off, and report this as a bug.")
        params["UserData"] = spec.user_data  # boto3 base64-encodes it
    if spec.spot:
        # One-time and terminate: a spot interruption never leaves a stopped instance billing for EBS
        # behind a request the user didn't know about.
        params["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    return params


def instance_from_api(data: dict[str, Any], region: str) -> Instance:
    """An Instance from one element of DescribeInstances' Reservations[].Instances[]."""
    tags = {str(t.get("Key", "")): str(t.get("Value", "")) for t in data.get("Tags", []) or []}
    launch_time = data.get("LaunchTime")
    if isinstance(launch_time, str):  # JSON (a cache, another client) rather than boto3's datetime
        try:
            launch_time = datetime.fromisoformat(launch_time.replace("Z", "+00:00"))
        except ValueError:
            launch_time = None
    return Instance(
        instance_id=str(data.get("InstanceId", "")),
        name=tags.get(TAG_NAME) or tags.get("Name") or "",
        region=region,
        instance_type=str(data.get("InstanceType", "")),
        state=str((data.get("State") or {}).get("Name", "")),
        public_dns=str(data.get("PublicDnsName") or ""),
        public_ip=str(data.get("PublicIpAddress") or ""),
        key_name=str(data.get("KeyName") or ""),
        image_id=str(data.get("ImageId") or ""),
        launch_time=launch_time if isinstance(launch_time, datetime) else None,
        availability_zone=str((data.get("Placement") or {}).get("AvailabilityZone", "")),
        spot=data.get("InstanceLifecycle") == "spot",
        tags=tags,
    )


def find_by_client_token(aws: Aws, region: str, client_token: str) -> Instance | None:
    """The instance an earlier attempt with this token started, if any (a live one preferred)."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    found: list[Instance] = []
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": f"tag:{TAG_CLIENT_TOKEN}", "Values": [client_token]}]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                found.extend(instance_from_api(i, region) for i in reservation.get("Instances", []))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstances") from exc
    if not found:
        return None
    live = [i for i in found if i.state not in ("shutting-down", "terminated")]
    return (live or found)[0]


def _lost_response_errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions as bex

    # The request may have reached AWS (and started an instance) even though no answer came back.
    return (bex.EndpointConnectionError, bex.ReadTimeoutError, bex.ConnectionClosedError)


def _run_exactly_once(
    aws: Aws,
    spec: LaunchSpec,
    params: dict[str, Any],
    progress: Callable[[LaunchProgress], None],
    cancelled: Callable[[], bool],
    retry_backoff: tuple[float, ...],
) -> Instance:
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", spec.region)
    token = failover.tag_token(params)  # the launch's own token, also on zone attempts
    lost = _lost_response_errors()
    for attempt in range(1, MAX_RUN_ATTEMPTS + 1):
        try:
            existing = find_by_client_token(aws, spec.region, token)
            if existing is not None:
                log.info("adopting %s launched earlier with client token %s", existing.instance_id, token)
                progress(LaunchProgress(f"Found {existing.instance_id} from the earlier attempt", existing))
                return existing
            if cancelled():
                raise LaunchCancelled("The launch was cancelled before an instance was started.")
            log.info("RunInstances attempt %d in %s: %s", attempt, spec.region, params)
            response = ec2.run_instances(**params)
            return instance_from_api(response["Instances"][0], spec.region)
        except lost as exc:
            log.warning("RunInstances attempt %d got no answer (%s)", attempt, exc, exc_info=True)
            if attempt == MAX_RUN_ATTEMPTS:
                raise D2lError(
                    f"AWS did not answer the launch request after {MAX_RUN_ATTEMPTS} tries.",
                    "Check your network, then look for the instance with `d2l-tui ls` before launching again.",
                ) from exc
            progress(LaunchProgress("No answer from AWS; checking whether the instance started …"))
            if cancellable_sleep(retry_backoff[min(attempt, len(retry_backoff)) - 1], cancelled):
                raise LaunchCancelled(
                    "The launch was cancelled while retrying.",
                    "Look for the instance in the instances list: the first request may have started it.",
                ) from exc
        except bex.ClientError as exc:
            raise from_client_error(exc, "RunInstances") from exc
    raise AssertionError("unreachable")  # the loop returns or raises


def _describe(ec2: Any, instance_id: str, region: str) -> tuple[Instance, str] | None:
    """(the instance as AWS sees it now, its state reason); None while AWS doesn't list it yet."""
    import botocore.exceptions as bex

    try:
        response = ec2.describe_instances(InstanceIds=[instance_id])
    except bex.ClientError as exc:
        # Right after RunInstances the id may not be visible yet (eventual consistency).
        if error_code(exc) == "InvalidInstanceID.NotFound":
            return None
        raise from_client_error(exc, "DescribeInstances") from exc
    for reservation in response.get("Reservations", []):
        for data in reservation.get("Instances", []):
            if data.get("InstanceId") == instance_id:
                reason = str((data.get("StateReason") or {}).get("Message", ""))
                return instance_from_api(data, region), reason
    return None


def _status_checks(ec2: Any, instance_id: str) -> str:
    """Both status checks in one word: "ok", "impaired" (either failed) or "initializing"."""
    import botocore.exceptions as bex

    try:
        response = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstanceStatus") from exc
    for status in response.get("InstanceStatuses", []):
        checks = {
            (status.get("InstanceStatus") or {}).get("Status", ""),
            (status.get("SystemStatus") or {}).get("Status", ""),
        }
        if checks == {"ok"}:
            return "ok"
        if "impaired" in checks:
            return "impaired"
    return "initializing"


def _polled(call: Callable[..., Any], *args: Any) -> Any:
    """One poll; None when its answer was lost: the instance exists, so the next poll just tries again."""
    try:
        return call(*args)
    except _lost_response_errors() as exc:
        log.warning("poll %s got no answer: %s", call.__name__, exc)
        return None


def follow(
    aws: Aws,
    instance: Instance,
    progress: Callable[[LaunchProgress], None],
    *,
    poll_interval: float = 3.0,
    cancelled: Callable[[], bool] = lambda: False,
) -> Instance:
    """Poll until running with a public DNS name, then until status checks pass. Returns the latest
    Instance (status_checks "ok" when ready; as last seen when cancelled)."""
    ec2 = aws.client("ec2", instance.region)
    current = instance
    last_state = instance.state
    progress(LaunchProgress(f"{instance.instance_id} {instance.state}", instance))
    deadline = time.monotonic() + RUNNING_TIMEOUT_S
    while True:
        seen = _polled(_describe, ec2, instance.instance_id, instance.region)
        if seen is not None:
            current, reason = seen
            if current.state in _GONE_STATES:
                raise D2lError(
                    f"{current.instance_id} went to {current.state} while starting"
                    + (f" ({reason})." if reason else "."),
                    "Launch again (another type, zone or on-demand instead of spot may help).",
                )
            if current.state == "running" and current.public_dns:
                progress(LaunchProgress(f"running at {current.public_dns}", current))
                break
            if current.state != last_state:
                last_state = current.state
                progress(LaunchProgress(f"{current.instance_id} {current.state}", current))
        if time.monotonic() > deadline:
            raise D2lError(
                f"{instance.instance_id} has no public address after {RUNNING_TIMEOUT_S // 60} minutes "
                "(does the default subnet assign public IPs?).",
                "Check the instance in the EC2 console; terminate it if it is not needed.",
            )
        if cancellable_sleep(poll_interval, cancelled):
            progress(LaunchProgress(f"Stopped waiting; {current.instance_id} keeps starting", current))
            return current

    last_checks = ""
    deadline = time.monotonic() + STATUS_TIMEOUT_S
    while True:
        checks = _polled(_status_checks, ec2, current.instance_id) or last_checks or "initializing"
        current = dataclasses.replace(current, status_checks=checks)
        if checks == "ok":
            progress(LaunchProgress("Ready", current, done=True))
            return current
        if checks == "impaired":
            raise D2lError(
                f"{current.instance_id} failed its status checks (impaired).",
                "Stop and start it, or terminate it and launch again.",
            )
        if checks != last_checks:
            last_checks = checks
            progress(LaunchProgress(f"Status checks: {checks}", current))
        if time.monotonic() > deadline:
            raise D2lError(
                f"{current.instance_id} has not passed its status checks after {STATUS_TIMEOUT_S // 60} minutes.",
                "Look at its system log in the EC2 console, or terminate it and launch again.",
            )
        if cancellable_sleep(poll_interval, cancelled):
            progress(LaunchProgress(f"Stopped waiting; {current.instance_id} keeps starting", current))
            return current


def launch(
    aws: Aws,
    spec: LaunchSpec,
    progress: Callable[[LaunchProgress], None],
    *,
    client_token: str | None = None,
    poll_interval: float = 3.0,
    cancelled: Callable[[], bool] = lambda: False,
    key_dir: Path | None = None,
) -> Instance:
    """Key pair, security group, RunInstances (never twice for one token), then poll until running with
    a public DNS name and status checks passed (or cancelled). Each step is reported to ``progress``.

    ``key_dir``: where a new key is generated (default keys.DEFAULT_KEY_DIR). Raises D2lError (with
    a sentence and a next step) or LaunchCancelled when cancelled before RunInstances.
    """
    key_dir = key_dir or keys.DEFAULT_KEY_DIR
    if _key_pair_exists(aws, spec.region, spec.key.name):
        progress(LaunchProgress(f"Key pair {spec.key.name} is in {spec.region}"))
    else:
        progress(LaunchProgress(f"Importing key pair {spec.key.name} into {spec.region} …"))
    keys.ensure_key(aws, spec.region, spec.key, key_dir)

    sg_id = network.ensure_ssh_security_group(aws, spec.region, spec.ssh_cidr)
    progress(LaunchProgress(f"Security group {sg_id} allows SSH from {spec.ssh_cidr}"))
    return run_and_follow(
        aws,
        spec,
        sg_id,
        progress,
        client_token=client_token,
        poll_interval=poll_interval,
        cancelled=cancelled,
    )


def run_and_follow(
    aws: Aws,
    spec: LaunchSpec,
    security_group_id: str,
    progress: Callable[[LaunchProgress], None],
    *,
    client_token: str | None = None,
    poll_interval: float = 3.0,
    cancelled: Callable[[], bool] = lambda: False,
    retry_backoff: tuple[float, ...] = RETRY_BACKOFF_S,
) -> Instance:
    """Once the key pair and security group exist: RunInstances exactly once (other zones when the
    first has no capacity), then follow. ``retry_backoff``: waits before retries after a lost answer."""
    token = client_token or str(uuid.uuid4())
    params = run_instances_params(spec, security_group_id, token)
    market = "spot" if spec.spot else "on-demand"
    progress(
        LaunchProgress(
            f"Launching {spec.instance_type} ({market}, {spec.disk_gib} GiB {spec.volume_type}, "
            f"{spec.image.image_id}) …"
        )
    )

    def run(attempt: dict[str, Any]) -> Instance:
        return _run_exactly_once(aws, spec, attempt, progress, cancelled, retry_backoff)

    try:
        instance = run(params)
    except CapacityError as exc:  # InsufficientInstanceCapacity or Unsupported: per zone
        instance = failover.across_zones(aws, spec, params, exc, progress, run, cancelled)
    log.info("launched %s in %s (client token %s)", instance.instance_id, spec.region, token)
    if spec.autostop.idle_minutes is not None:
        _put_backstop(aws, dataclasses.replace(instance, spot=spec.spot, name=spec.name), spec, progress)
    return follow(aws, instance, progress, poll_interval=poll_interval, cancelled=cancelled)


def _put_backstop(
    aws: Aws, instance: Instance, spec: LaunchSpec, progress: Callable[[LaunchProgress], None]
) -> None:
    """The CloudWatch alarm that stops the instance if the agent never does. Set before following the
    instance, so it holds even when the user stops waiting; a refusal is said, never fatal (the
    instance runs, and the agent is the one that normally stops it)."""
    try:
        params = alarms.put_for_instance(aws, instance, spec.autostop)
    except D2lError as exc:
        log.warning("no backstop alarm for %s: %s", instance.instance_id, exc)
        progress(LaunchProgress(alarms.problem_sentence(exc), instance))
        return
    if params is not None:
        minutes = params["Period"] * params["EvaluationPeriods"] // 60
        verb = "terminates" if spec.spot else "stops"
        progress(
            LaunchProgress(
                f"Backstop: CloudWatch alarm {params['AlarmName']} {verb} it if its CPU stays below "
                f"{params['Threshold']:g}% for {minutes} min",
                instance,
            )
        )


def _key_pair_exists(aws: Aws, region: str, name: str) -> bool:
    import botocore.exceptions as bex

    try:
        aws.client("ec2", region).describe_key_pairs(KeyNames=[name])
    except bex.ClientError as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return False
        raise from_client_error(exc, "DescribeKeyPairs") from exc
    return True
