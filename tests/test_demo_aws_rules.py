"""The simulated cloud refuses and reports what AWS would, where moto alone would not (tui/demo/ec2_rules.py):
the vCPU quota on launch, stopping a one-time spot instance, LaunchTime after a start, and an
image's snapshot size."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
from moto import mock_aws

from tui.demo.cloud import simulated_answers
from tui.services.cloud import lifecycle
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError


@pytest.fixture
def demo_aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws(region="us-east-1", customize=simulated_answers)


def _run(aws: Aws, instance_type: str, spot: bool = False, gib: int = 0) -> str:
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]
    params: dict[str, Any] = dict(
        ImageId=image["ImageId"], InstanceType=instance_type, MinCount=1, MaxCount=1
    )
    if spot:
        params["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    if gib:
        params["BlockDeviceMappings"] = [{"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": gib}}]
    params["TagSpecifications"] = [
        {"ResourceType": "instance", "Tags": [{"Key": "d2l-tui:managed", "Value": "true"}]}
    ]
    return str(ec2.run_instances(**params)["Instances"][0]["InstanceId"])


def test_a_launch_over_the_simulated_g_quota_is_refused_as_aws_does(demo_aws: Aws) -> None:
    _run(demo_aws, "g4dn.xlarge")  # 4 of the 8 vCPUs
    _run(demo_aws, "g4dn.xlarge")  # 8 of 8
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        _run(demo_aws, "g4dn.xlarge")
    error = refused.value.response["Error"]
    assert error["Code"] == "VcpuLimitExceeded"
    assert error["Message"].startswith(
        "You have requested more vCPU capacity than your current vCPU limit of 8 allows"
    )


def test_a_type_bigger_than_the_quota_is_refused_and_stopped_ones_do_not_count(demo_aws: Aws) -> None:
    with pytest.raises(botocore.exceptions.ClientError, match="VcpuLimitExceeded"):
        _run(demo_aws, "g5.12xlarge")  # 48 vCPUs
    first = _run(demo_aws, "g4dn.2xlarge")  # 8 of 8
    demo_aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[first])
    _run(demo_aws, "g4dn.2xlarge")  # the stopped one's vCPUs are free again


def test_spot_over_its_quota_is_refused_and_p_has_none(demo_aws: Aws) -> None:
    with pytest.raises(botocore.exceptions.ClientError, match="MaxSpotInstanceCountExceeded"):
        _run(demo_aws, "g4dn.2xlarge", spot=True)  # 8 vCPUs, spot G quota 4
    with pytest.raises(botocore.exceptions.ClientError, match="VcpuLimitExceeded"):
        _run(demo_aws, "p5.4xlarge")
    _run(demo_aws, "t3.micro")  # the Standard quota isn't simulated: moto answers


def test_a_one_time_spot_instance_is_listed_as_spot_and_cannot_be_stopped(demo_aws: Aws) -> None:
    instance_id = _run(demo_aws, "g4dn.xlarge", spot=True)
    instance = lifecycle.describe_one(demo_aws, "us-east-1", instance_id)
    assert instance is not None and instance.spot
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        demo_aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[instance_id])
    assert refused.value.response["Error"]["Code"] == "UnsupportedOperation"
    assert "one-time Spot Instance request" in refused.value.response["Error"]["Message"]


def test_start_resets_launch_time(demo_aws: Aws) -> None:
    instance_id = _run(demo_aws, "g4dn.xlarge")
    ec2 = demo_aws.client("ec2", "us-east-1")
    launched = lifecycle.describe_one(demo_aws, "us-east-1", instance_id)
    ec2.stop_instances(InstanceIds=[instance_id])
    time.sleep(1.1)  # LaunchTime has one-second resolution
    ec2.start_instances(InstanceIds=[instance_id])
    started = lifecycle.describe_one(demo_aws, "us-east-1", instance_id)
    assert launched and started and launched.launch_time and started.launch_time
    assert started.launch_time > launched.launch_time


@pytest.mark.parametrize("gib", [75, 10])
def test_an_image_snapshot_has_the_volume_size(demo_aws: Aws, gib: int) -> None:
    instance_id = _run(demo_aws, "g4dn.xlarge", gib=gib)
    ec2 = demo_aws.client("ec2", "us-east-1")
    image_id = ec2.create_image(InstanceId=instance_id, Name=f"disk-{gib}")["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    root = next(m for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])
    assert root["Ebs"]["VolumeSize"] == gib
    snapshot = ec2.describe_snapshots(SnapshotIds=[root["Ebs"]["SnapshotId"]])["Snapshots"][0]
    assert snapshot["VolumeSize"] == gib


def test_the_bundled_images_keep_their_real_root_sizes(demo_aws: Aws) -> None:
    from tui.demo.cloud import ami_root_sizes

    ec2 = demo_aws.client("ec2", "us-east-1")
    image_id, size = next(iter(ami_root_sizes().items()))
    found = ec2.describe_images(ImageIds=[image_id])["Images"]
    if found:  # the sidecar lists images of several regions
        root = [m for m in found[0]["BlockDeviceMappings"] if m["DeviceName"] == found[0]["RootDeviceName"]]
        assert root[0]["Ebs"]["VolumeSize"] == size


def test_stopping_a_spot_instance_is_refused_with_a_sentence_before_asking_aws(demo_aws: Aws) -> None:
    instance = lifecycle.describe_one(demo_aws, "us-east-1", _run(demo_aws, "g4dn.xlarge", spot=True))
    assert instance is not None
    assert not lifecycle.can("stop", instance) and lifecycle.can("terminate", instance)
    with pytest.raises(D2lError) as refused:
        lifecycle.stop(demo_aws, instance)
    assert "one-time spot" in str(refused.value) and "terminate" in refused.value.next_step.lower()
