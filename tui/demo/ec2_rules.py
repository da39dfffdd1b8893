"""Where moto lets through (or answers) what AWS would not, made to behave like AWS, because the demo
is what a reader sees first and must not teach the wrong thing:

- RunInstances over the simulated vCPU quota is refused (VcpuLimitExceeded on demand,
  MaxSpotInstanceCountExceeded for spot), with AWS's messages;
- StopInstances on a one-time spot instance is refused (UnsupportedOperation), as AWS does;
- StartInstances resets LaunchTime (AWS reports the last start, so uptime and cost restart);
- CreateImage's snapshot has the instance's root volume size (moto always makes 15 GiB).

Each rule is a botocore hook that reads moto's in-memory EC2 backend (the simulated cloud's state)
and answers in the real API's shapes.
"""

from __future__ import annotations

from typing import Any

# moto's account: every simulated resource lives in it.
ACCOUNT_ID = "123456789012"

# AWS's own wording (as RunInstances answers it); the limit is filled in.
VCPU_LIMIT_MESSAGE = (
    "You have requested more vCPU capacity than your current vCPU limit of {limit:g} allows for the "
    "instance bucket that the specified instance type belongs to. Please visit "
    "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
)
SPOT_LIMIT_MESSAGE = "Max spot instance count exceeded"
ONE_TIME_SPOT_STOP_MESSAGE = (
    "You can't stop the Spot Instance '{instance_id}' because it is associated with a one-time Spot "
    "Instance request. You can only stop Spot Instances associated with a persistent request."
)
# States whose vCPUs count against the running-instances quotas.
_COUNTED_STATES = ("pending", "running")


def backend(region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT_ID][region]


def _region(context: dict[str, Any]) -> str:
    return str(context.get("client_region") or "us-east-1")


def _refusal(code: str, message: str) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    response = AWSResponse("https://ec2.simulated/", 400, HTTPHeaders(), None)
    return response, {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "simulated", "HTTPStatusCode": 400},
    }


def vcpus(instance_type: str) -> int:
    """A type's default vCPUs, from moto's copy of DescribeInstanceTypes."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    return int(INSTANCE_TYPES.get(instance_type, {}).get("VCpuInfo", {}).get("DefaultVCpus", 0))


def _is_spot(moto_instance: Any) -> bool:
    return getattr(moto_instance, "lifecycle", None) == "spot"


def vcpus_in_use(region: str, bucket: str, spot: bool) -> int:
    """vCPUs of the simulated instances counting against one (bucket, purchase) quota now."""
    from tui.models import quota_bucket

    return sum(
        vcpus(i.instance_type)
        for i in backend(region).all_instances()
        if i._state.name in _COUNTED_STATES
        and quota_bucket(i.instance_type) == bucket
        and _is_spot(i) == spot
    )


def _refuse_over_quota(context: dict[str, Any], **_: Any) -> Any:
    from tui.demo.answers import SIMULATED_QUOTAS
    from tui.models import Purchase, quota_bucket
    from tui.services.cloud.quota_codes import QUOTA_CODES

    params = context.get("simulated_params", {})
    instance_type = str(params.get("InstanceType", ""))
    spot = (params.get("InstanceMarketOptions") or {}).get("MarketType") == "spot"
    bucket = quota_bucket(instance_type)
    code = QUOTA_CODES.get((bucket, Purchase.SPOT if spot else Purchase.ON_DEMAND), "")
    if code not in SIMULATED_QUOTAS:
        return None  # the Standard quotas are not simulated: moto answers
    limit = SIMULATED_QUOTAS[code]
    asked = vcpus(instance_type) * int(params.get("MaxCount", 1) or 1)
    if vcpus_in_use(_region(context), bucket, spot) + asked <= limit:
        return None
    if spot:
        return _refusal("MaxSpotInstanceCountExceeded", SPOT_LIMIT_MESSAGE)
    return _refusal("VcpuLimitExceeded", VCPU_LIMIT_MESSAGE.format(limit=limit))


def _refuse_one_time_spot_stop(context: dict[str, Any], **_: Any) -> Any:
    ec2 = backend(_region(context))
    for instance_id in context.get("simulated_params", {}).get("InstanceIds", []):
        try:
            instance = ec2.get_instance(instance_id)
        except Exception:  # an unknown id: moto answers InvalidInstanceID.NotFound itself
            continue
        # The app launches spot only as one-time requests (services/cloud/launch.py).
        if _is_spot(instance):
            return _refusal(
                "UnsupportedOperation", ONE_TIME_SPOT_STOP_MESSAGE.format(instance_id=instance_id)
            )
    return None


def _reset_launch_time(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    from moto.core.utils import utcnow

    ec2 = backend(_region(context))
    for change in parsed.get("StartingInstances", []):
        try:
            ec2.get_instance(change.get("InstanceId", "")).launch_time = utcnow()
        except Exception:
            continue


def _root_volume_gib(moto_instance: Any) -> int | None:
    root = moto_instance.block_device_mapping.get(moto_instance.root_device_name)
    if root is None and moto_instance.block_device_mapping:
        root = next(iter(moto_instance.block_device_mapping.values()))
    return int(root.size) if root is not None else None


def _size_image_snapshot(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    ec2 = backend(_region(context))
    image = ec2.amis.get(parsed.get("ImageId", ""))
    instance_id = context.get("simulated_params", {}).get("InstanceId", "")
    if image is None or not instance_id:
        return
    size = _root_volume_gib(ec2.get_instance(instance_id))
    if size:
        image.ebs_snapshot.volume.size = size  # DescribeSnapshots' VolumeSize


def image_snapshot_gib(region: str, image_id: str) -> int | None:
    """The root snapshot size of an image made from a simulated instance (None for the bundled ones,
    whose moto snapshots are placeholders)."""
    image = backend(region).amis.get(image_id)
    if image is None or not getattr(image, "instance_id", None):
        return None
    return int(image.ebs_snapshot.volume.size)


def _size_image_mappings(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """moto's DescribeImages always says 15 GiB; say the snapshot's own size (the bundled images are
    filled in by cloud._fill_root_sizes, which runs first)."""
    region = _region(context)
    for image in parsed.get("Images", []):
        size = image_snapshot_gib(region, image.get("ImageId", ""))
        for mapping in image.get("BlockDeviceMappings", []):
            ebs = mapping.get("Ebs")
            if size and ebs is not None and mapping.get("DeviceName") == image.get("RootDeviceName"):
                ebs["VolumeSize"] = size


def add_ec2_rules(session: Any) -> None:
    from tui.demo.answers import remember_params

    for operation in ("RunInstances", "StopInstances", "CreateImage"):
        session.events.register(f"before-parameter-build.ec2.{operation}", remember_params)
    session.events.register("before-call.ec2.RunInstances", _refuse_over_quota)
    session.events.register("before-call.ec2.StopInstances", _refuse_one_time_spot_stop)
    session.events.register("after-call.ec2.StartInstances", _reset_launch_time)
    session.events.register("after-call.ec2.CreateImage", _size_image_snapshot)
    session.events.register("after-call.ec2.DescribeImages", _size_image_mappings)
