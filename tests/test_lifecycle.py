"""list_managed on moto: only the app's instances, every region, failures skipped and logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import list_managed
from tui.services.errors import D2lError

UBUNTU = "ami-0286d0aea4d6c7a34"  # in every region: moto loads MOTO_AMIS_PATH into each


def run(
    aws: Aws, region: str, name: str | None, managed: bool = True, itype: str = "t3.micro", spot: bool = False
) -> str:
    tags = [{"Key": "Name", "Value": name or "unnamed"}]
    if managed:
        tags += [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": name or ""}]
    response = aws.client("ec2", region).run_instances(
        ImageId=UBUNTU,
        InstanceType=itype,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        # As d2l-tui launches spot: a one-time request.
        **(
            {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}}}
            if spot
            else {}
        ),
    )
    return str(response["Instances"][0]["InstanceId"])


def test_lists_managed_instances_in_every_region_sorted(aws: Aws) -> None:
    b = run(aws, "us-west-2", "beta", itype="g4dn.xlarge")
    a = run(aws, "us-west-2", "alpha")
    east = run(aws, "us-east-1", "zeta")
    run(aws, "us-east-1", "not-ours", managed=False)
    gone = run(aws, "us-east-1", "gone")
    aws.client("ec2", "us-east-1").terminate_instances(InstanceIds=[gone])

    found = list_managed(aws, ["us-west-2", "us-east-1", "eu-west-1"]).instances
    assert [(i.region, i.name, i.instance_id) for i in found] == [
        ("us-east-1", "zeta", east),
        ("us-west-2", "alpha", a),
        ("us-west-2", "beta", b),
    ]
    beta = found[2]
    assert beta.instance_type == "g4dn.xlarge" and beta.state == "running" and beta.public_dns


def test_default_regions_come_from_describe_regions(aws: Aws) -> None:
    far = run(aws, "ap-southeast-2", "far")
    found = list_managed(aws).instances
    assert [(i.region, i.instance_id) for i in found] == [("ap-southeast-2", far)]


def _deny_in(region: str) -> Any:
    def hook(context: dict[str, Any], **kwargs: Any) -> Any:
        if context.get("client_region") != region:
            return None
        parsed = {
            "Error": {
                "Code": "AuthFailure",
                "Message": "AWS was not able to validate the provided access credentials",
            },
            "ResponseMetadata": {"RequestId": "req-denied", "HTTPStatusCode": 401},
        }
        return AWSResponse(f"https://ec2.{region}.amazonaws.com/", 401, {}, None), parsed

    return hook


def test_a_failing_region_is_logged_and_skipped(aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    east = run(aws, "us-east-1", "here")
    run(aws, "eu-west-3", "hidden-by-failure")
    hooked = Aws(
        region="us-east-1",
        customize=lambda s: s.events.register("before-call.ec2.DescribeInstances", _deny_in("eu-west-3")),
    )
    with caplog.at_level(logging.ERROR, logger="tui.services.cloud.lifecycle"):
        found = list_managed(hooked, ["eu-west-3", "us-east-1"]).instances
    assert [i.instance_id for i in found] == [east]
    [record] = [r for r in caplog.records if "eu-west-3" in r.getMessage()]
    assert "req-denied" in record.getMessage() and record.exc_info is not None


def test_every_region_failing_raises_the_sentence(aws: Aws) -> None:
    def deny_all(**kwargs: Any) -> Any:
        parsed = {
            "Error": {
                "Code": "UnauthorizedOperation",
                "Message": "You are not authorized to perform this operation.",
            },
            "ResponseMetadata": {"RequestId": "req-x", "HTTPStatusCode": 403},
        }
        return AWSResponse("https://ec2.amazonaws.com/", 403, {}, None), parsed

    hooked = Aws(
        region="us-east-1",
        customize=lambda s: s.events.register("before-call.ec2.DescribeInstances", deny_all),
    )
    with pytest.raises(D2lError) as info:
        list_managed(hooked, ["us-east-1", "us-west-2"])
    assert "ec2:DescribeInstances" in str(info.value)
