"""vCPU quotas that gate GPU launches, with usage and headroom.

New accounts often have 0 vCPUs for G and P instances, which is the first wall most readers hit. The
limit comes from Service Quotas (the applied value, else the AWS default); usage from CloudWatch's
AWS/Usage metrics, else from the vCPUs of the account's pending and running instances. What can't be
read is None with a reason, never 0: AWS has the last word at launch, and a guessed 0 would block it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from tui.aws_response import error_code
from tui.models import GpuType, Purchase, Quota, quota_bucket
from tui.services.cloud.aws import Aws
from tui.services.cloud.fanout import fanout
from tui.services.cloud.quota_codes import GPU_QUOTAS, USAGE_CLASS
from tui.services.cloud.regions import describe_error, failure_reason
from tui.services.errors import D2lError

log = logging.getLogger(__name__)

# The IAM actions behind each reading, named in the reasons so an admin knows what to grant.
QUOTA_PERMISSION = "servicequotas:GetServiceQuota"
USAGE_PERMISSION = "cloudwatch:GetMetricStatistics"

USAGE_WINDOW = timedelta(minutes=15)
_DESCRIBE_BATCH = 100


def _quota_value(sq: Any, code: str, region: str) -> tuple[float | None, dict[str, str], str]:
    """(value, usage metric dimensions from the answer, reason when the value is unknown)."""
    import botocore.exceptions as bex

    try:
        try:
            answer = sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)
        except bex.ClientError as exc:
            if error_code(exc) != "NoSuchResourceException":
                raise
            # No applied value in this account and region: the AWS default is what applies.
            answer = sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)
    except (bex.ClientError, bex.BotoCoreError, NotImplementedError) as exc:
        log.warning("quota %s in %s unknown: %r", code, region, exc)
        if error_code(exc) == "NoSuchResourceException":
            return None, {}, f"unknown, because Service Quotas does not list {code} in {region}"
        return None, {}, "unknown, because " + failure_reason(exc, "Service Quotas", QUOTA_PERMISSION, region)
    quota = answer.get("Quota", {})
    value = quota.get("Value")
    dimensions = quota.get("UsageMetric", {}).get("MetricDimensions", {}) or {}
    if value is None:
        return None, dimensions, f"unknown, because Service Quotas gave no value for {code}"
    return float(value), dict(dimensions), ""


def _cloudwatch_usage(cw: Any, dimensions: dict[str, str], region: str) -> tuple[float | None, str]:
    """The latest Maximum of AWS/Usage ResourceCount over the last 15 minutes, else None and why."""
    import botocore.exceptions as bex

    end = datetime.now(timezone.utc)
    try:
        answer = cw.get_metric_statistics(
            Namespace="AWS/Usage",
            MetricName="ResourceCount",
            Dimensions=[{"Name": k, "Value": v} for k, v in sorted(dimensions.items())],
            StartTime=end - USAGE_WINDOW,
            EndTime=end,
            Period=60,
            Statistics=["Maximum"],
        )
    except (bex.ClientError, bex.BotoCoreError, NotImplementedError) as exc:
        # Usage is also countable from the instances themselves: note it and fall back.
        log.info("AWS/Usage for %s in %s unavailable: %r", dimensions.get("Class"), region, exc)
        return None, failure_reason(exc, "CloudWatch", USAGE_PERMISSION, region)
    points = [p for p in answer.get("Datapoints", []) if p.get("Maximum") is not None]
    if not points:
        return None, "CloudWatch had no AWS/Usage data"
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"]), ""


def _usage_dimensions(answer_dims: dict[str, str], bucket: str, purchase: Purchase) -> dict[str, str]:
    if answer_dims.get("Class"):
        return {"Type": "Resource", **answer_dims}
    return {
        "Service": "EC2",
        "Type": "Resource",
        "Resource": "vCPU",
        "Class": USAGE_CLASS[(bucket, purchase)],
    }


def _running_vcpus(aws: Aws, region: str) -> dict[tuple[str, Purchase], float]:
    """vCPUs of pending and running instances per (quota bucket, purchase option); raises D2lError."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )
        instances = [
            (i["InstanceType"], Purchase.SPOT if i.get("InstanceLifecycle") == "spot" else Purchase.ON_DEMAND)
            for page in pages
            for reservation in page.get("Reservations", [])
            for i in reservation.get("Instances", [])
        ]
        names = sorted({name for name, _ in instances})
        vcpus: dict[str, int] = {}
        for start in range(0, len(names), _DESCRIBE_BATCH):
            answer = ec2.describe_instance_types(InstanceTypes=names[start : start + _DESCRIBE_BATCH])
            vcpus.update({t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"] for t in answer["InstanceTypes"]})
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise describe_error(exc, "DescribeInstances", region) from exc
    totals: dict[tuple[str, Purchase], float] = defaultdict(float)
    for name, purchase in instances:
        totals[(quota_bucket(name), purchase)] += vcpus.get(name, 0)
    return dict(totals)


def read_quotas(aws: Aws, region: str) -> list[Quota]:
    """Each quota of GPU_QUOTAS with value (Service Quotas) and usage (CloudWatch AWS/Usage, else the
    vCPUs of running instances in that bucket). Never 0 for unknown: value None with a reason."""
    sq = aws.client("service-quotas", region)
    cw = aws.client("cloudwatch", region)

    def read(entry: tuple[str, str, str, Purchase]) -> tuple[float | None, str, float | None, str]:
        code, _name, bucket, purchase = entry
        value, dims, reason = _quota_value(sq, code, region)
        usage, why = _cloudwatch_usage(cw, _usage_dimensions(dims, bucket, purchase), region)
        return value, reason, usage, why

    # Four quotas, two or three calls each: read them side by side rather than one after another.
    with fanout(len(GPU_QUOTAS), "quotas") as pool:
        readings = list(pool.map(read, GPU_QUOTAS))

    counted: dict[tuple[str, Purchase], float] | None = None
    count_failure = ""
    if any(usage is None for _, _, usage, _ in readings):
        try:
            counted = _running_vcpus(aws, region)
        except D2lError as exc:
            log.warning("usage in %s unknown: %s", region, exc)
            count_failure = failure_reason(exc, "EC2", "ec2:DescribeInstances", region)

    quotas = []
    for (code, name, bucket, purchase), (value, reason, usage, why) in zip(GPU_QUOTAS, readings, strict=True):
        if usage is None and counted is not None:
            usage = counted.get((bucket, purchase), 0.0)
        if usage is None:
            usage_reason = f"usage unknown, because {why} and {count_failure}"
            reason = f"{reason}; {usage_reason}" if reason else usage_reason
        quotas.append(Quota(code, name, bucket, purchase, value, usage, reason))
    return quotas


def fit(gpu_type: GpuType, quotas: list[Quota], purchase: Purchase) -> tuple[bool | None, float]:
    """Does the type fit the headroom of its bucket? (None when unknown, shortfall in vCPUs)."""
    quota = next((q for q in quotas if q.bucket == gpu_type.bucket and q.purchase == purchase), None)
    headroom = quota.headroom if quota is not None else None
    if headroom is None:
        return None, 0.0
    return gpu_type.vcpus <= headroom, max(0.0, gpu_type.vcpus - headroom)
