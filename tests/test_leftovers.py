"""Leftovers on moto: what the app made and nothing uses any more, its $/month, and the clean-up.

Resources are made by the app's own services (security group, key pair, image) and instances are
launched with them, then terminated, as a user's session would leave them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_lifecycle import UBUNTU
from tui.models import TAG_MANAGED, TAG_NAME, KeyChoice
from tui.services.cloud import leftovers, lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.keys import ensure_key, private_key_path
from tui.services.cloud.leftovers import IMAGE, KEY_PAIR, SECURITY_GROUP, SNAPSHOT, VOLUME
from tui.services.cloud.network import ensure_ssh_security_group

MANAGED = [{"Key": TAG_MANAGED, "Value": "true"}]


def launch(aws: Aws, region: str, name: str, key_dir: Path, cidr: str = "203.0.113.7/32") -> tuple[str, str]:
    """(instance id, security group id) of an instance launched the way the app launches one."""
    group = ensure_ssh_security_group(aws, region, cidr)
    ensure_key(aws, region, KeyChoice(name=f"key-{name}", private_key_path=None, create=True), key_dir)
    tags = [*MANAGED, {"Key": TAG_NAME, "Value": name}, {"Key": "Name", "Value": name}]
    answer = aws.client("ec2", region).run_instances(
        ImageId=UBUNTU,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        KeyName=f"key-{name}",
        SecurityGroupIds=[group],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    )
    return str(answer["Instances"][0]["InstanceId"]), group


def kinds(found: list[leftovers.Leftover]) -> set[tuple[str, str, str]]:
    return {(x.region, x.kind, x.resource_id) for x in found}


def test_a_terminated_instance_leaves_its_group_and_key(aws: Aws, key_dir: Path) -> None:
    gone, group = launch(aws, "us-east-1", "old", key_dir, cidr="198.51.100.1/32")
    live, live_group = launch(aws, "us-west-2", "live", key_dir)
    assert leftovers.find_leftovers(aws, ["us-east-1", "us-west-2"]).items == []  # everything in use

    aws.client("ec2", "us-east-1").terminate_instances(InstanceIds=[gone])
    found = leftovers.find_leftovers(aws, ["us-east-1", "us-west-2"]).items
    assert kinds(found) == {("us-east-1", KEY_PAIR, "key-old"), ("us-east-1", SECURITY_GROUP, group)}
    assert all(x.usd_per_month == 0 for x in found)
    assert live_group not in {x.resource_id for x in found}  # still used by `live`: never reported


def test_a_stopped_instance_keeps_its_group_and_key_in_use(aws: Aws, key_dir: Path) -> None:
    iid, _ = launch(aws, "us-east-1", "napping", key_dir)
    aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[iid])
    assert leftovers.find_leftovers(aws, ["us-east-1"]).items == []


def test_group_shared_by_two_instances_stays_until_both_are_gone(aws: Aws, key_dir: Path) -> None:
    first, group = launch(aws, "us-east-1", "one", key_dir)
    second, same = launch(aws, "us-east-1", "two", key_dir)
    assert same == group  # one group per source address, reused
    ec2 = aws.client("ec2", "us-east-1")
    ec2.terminate_instances(InstanceIds=[first])
    assert SECURITY_GROUP not in {x.kind for x in leftovers.find_leftovers(aws, ["us-east-1"]).items}
    ec2.terminate_instances(InstanceIds=[second])
    assert (SECURITY_GROUP, group) in {
        (x.kind, x.resource_id) for x in leftovers.find_leftovers(aws, ["us-east-1"]).items
    }


def test_available_volume_and_its_monthly_cost(aws: Aws) -> None:
    ec2 = aws.client("ec2", "us-east-1")
    ours = ec2.create_volume(
        AvailabilityZone="us-east-1a",
        Size=100,
        VolumeType="gp3",
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": [*MANAGED, {"Key": TAG_NAME, "Value": "data"}]}
        ],
    )["VolumeId"]
    ec2.create_volume(AvailabilityZone="us-east-1a", Size=50, VolumeType="gp3")  # not the app's
    [volume] = leftovers.find_leftovers(aws, ["us-east-1"]).items
    assert (volume.kind, volume.resource_id, volume.name) == (VOLUME, ours, "data")
    assert volume.usd_per_month == pytest.approx(8.0) and "100 GiB gp3" in volume.detail


def test_saved_image_lists_its_snapshots_and_deregistering_deletes_them(aws: Aws, key_dir: Path) -> None:
    iid, _ = launch(aws, "us-east-1", "book", key_dir)
    inst = lifecycle.find_instance(aws, "book", "us-east-1")
    image_id = lifecycle.create_image(aws, inst, "book-saved", poll_interval=0.01)
    [image] = [x for x in leftovers.find_leftovers(aws, ["us-east-1"]).items if x.kind == IMAGE]
    assert image.resource_id == image_id and image.name == "book-saved" and image.snapshot_ids
    gib = sum(
        int(m["Ebs"]["VolumeSize"])
        for m in aws.client("ec2", "us-east-1").describe_images(ImageIds=[image_id])["Images"][0][
            "BlockDeviceMappings"
        ]
        if "Ebs" in m
    )
    assert image.usd_per_month == pytest.approx(gib * 0.05) and image.usd_per_month > 0
    assert leftovers.bulk([image]) == []  # kept on purpose: never part of a bulk clean-up

    [result] = leftovers.clean_up(aws, [image])
    assert result.error is None
    ec2 = aws.client("ec2", "us-east-1")
    assert ec2.describe_images(Owners=["self"], ImageIds=[])["Images"] == []
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not left & set(image.snapshot_ids)


def test_snapshot_left_by_an_image_deregistered_elsewhere(aws: Aws, key_dir: Path) -> None:
    launch(aws, "us-east-1", "book", key_dir)
    inst = lifecycle.find_instance(aws, "book", "us-east-1")
    image_id = lifecycle.create_image(aws, inst, "book-saved", poll_interval=0.01)
    aws.client("ec2", "us-east-1").deregister_image(ImageId=image_id)  # in the console, say
    found = [x for x in leftovers.find_leftovers(aws, ["us-east-1"]).items if x.kind == SNAPSHOT]
    assert found and all(x.usd_per_month > 0 for x in found)
    assert all(r.error is None for r in leftovers.clean_up(aws, found))
    assert not [x for x in leftovers.find_leftovers(aws, ["us-east-1"]).items if x.kind == SNAPSHOT]


def test_clean_up_deletes_in_every_region_and_keeps_the_private_key(aws: Aws, key_dir: Path) -> None:
    east, _ = launch(aws, "us-east-1", "east", key_dir, cidr="198.51.100.2/32")
    west, _ = launch(aws, "eu-west-1", "west", key_dir, cidr="198.51.100.3/32")
    aws.client("ec2", "us-east-1").terminate_instances(InstanceIds=[east])
    aws.client("ec2", "eu-west-1").terminate_instances(InstanceIds=[west])
    found = leftovers.find_leftovers(aws, ["us-east-1", "eu-west-1"]).items
    assert {x.kind for x in found} == {KEY_PAIR, SECURITY_GROUP} and len(found) == 4
    seen: list[str] = []

    results = leftovers.clean_up(aws, leftovers.bulk(found), progress=seen.append)
    assert [r.error for r in results] == [None] * 4 and len(seen) == 4
    assert leftovers.find_leftovers(aws, ["us-east-1", "eu-west-1"]).items == []
    for region, name in (("us-east-1", "key-east"), ("eu-west-1", "key-west")):
        ec2 = aws.client("ec2", region)
        assert name not in {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
        assert "d2l-tui-ssh" not in str(ec2.describe_security_groups()["SecurityGroups"])
        assert private_key_path(name, key_dir).is_file()  # the local private key is never deleted


def test_key_pair_used_again_meanwhile_is_kept(aws: Aws, key_dir: Path) -> None:
    old, _ = launch(aws, "us-east-1", "reuse", key_dir)
    aws.client("ec2", "us-east-1").terminate_instances(InstanceIds=[old])
    [pair] = [x for x in leftovers.find_leftovers(aws, ["us-east-1"]).items if x.kind == KEY_PAIR]
    launch(aws, "us-east-1", "reuse", key_dir)  # launched again with the same key since the list
    [result] = leftovers.clean_up(aws, [pair])
    assert result.error is not None and "used by an instance" in str(result.error)
    assert "key-reuse" in {
        k["KeyName"] for k in aws.client("ec2", "us-east-1").describe_key_pairs()["KeyPairs"]
    }


def test_group_in_use_again_is_a_sentence(aws: Aws, key_dir: Path) -> None:
    """DeleteSecurityGroup's DependencyViolation (moto doesn't refuse): injected in the real shape."""
    from botocore.awsrequest import AWSResponse

    old, _ = launch(aws, "us-east-1", "dep", key_dir)
    aws.client("ec2", "us-east-1").terminate_instances(InstanceIds=[old])
    [group] = [x for x in leftovers.find_leftovers(aws, ["us-east-1"]).items if x.kind == SECURITY_GROUP]

    def refuse(**kwargs: Any) -> Any:
        parsed = {
            "Error": {
                "Code": "DependencyViolation",
                "Message": f"resource {group.resource_id} has a dependent object",
            },
            "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 400},
        }
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 400, {}, None), parsed

    hooked = Aws(
        region="us-east-1",
        customize=lambda s: s.events.register("before-call.ec2.DeleteSecurityGroup", refuse),
    )
    [result] = leftovers.clean_up(hooked, [group])
    assert (
        result.error is not None
        and "in use again" in result.error.what
        and "refresh" in result.error.next_step
    )
    assert group.resource_id in {
        g["GroupId"] for g in aws.client("ec2", "us-east-1").describe_security_groups()["SecurityGroups"]
    }
