"""launch.py on moto: the parameters sent, exactly-once launches, polling and error sentences.

What moto can't do (lost responses, capacity and quota errors, intermediate states) is injected with
botocore event hooks that raise or return the real API's shapes; everything else is moto's answer.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_CLIENT_TOKEN, TAG_MANAGED, TAG_NAME, ImageChoice, ImageKind, KeyChoice, LaunchSpec
from tui.services.cloud.aws import Aws
from tui.services.cloud.launch import (
    LaunchCancelled,
    instance_from_api,
    launch,
    run_and_follow,
    run_instances_params,
)
from tui.services.errors import CapacityError, D2lError, QuotaError

REGION = "us-east-1"
CIDR = "198.51.100.23/32"
DLAMI = ImageChoice(
    kind=ImageKind.DLAMI,
    image_id="ami-06517bc7fad3c6a48",
    name="Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20260403",
    arch="x86_64",
    root_gib=75,
)


def spec_for(key: KeyChoice, *, spot: bool = False, name: str = "d2l-test") -> LaunchSpec:
    return LaunchSpec(
        region=REGION,
        instance_type="g4dn.xlarge",
        image=DLAMI,
        disk_gib=75,
        key=key,
        ssh_cidr=CIDR,
        name=name,
        spot=spot,
    )


def hooked_aws(**hooks: Callable[..., Any]) -> Aws:
    """An Aws whose sessions carry the realistic image sizes and the given botocore hooks
    (keyword: event name with '.' written as '__')."""

    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        for event, handler in hooks.items():
            session.events.register(event.replace("__", "."), handler)

    return Aws(region=REGION, customize=customize)


def client_error(code: str, message: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call hook returns to answer in place of AWS: the real error shape."""
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "req-0123", "HTTPStatusCode": status},
    }
    return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, {}, None), parsed


@pytest.fixture
def prepared(aws: Aws) -> tuple[KeyChoice, str]:
    """A key pair and an SSH security group made in moto directly (not through keys / network)."""
    ec2 = aws.client("ec2", REGION)
    ec2.create_key_pair(KeyName="made-in-test")
    sg = ec2.create_security_group(GroupName="ssh-test", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": CIDR}]}],
    )
    return KeyChoice(name="made-in-test", private_key_path="/nonexistent/made-in-test.pem"), sg


def all_instances(aws: Aws) -> list[dict[str, Any]]:
    pages = aws.client("ec2", REGION).get_paginator("describe_instances").paginate()
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def test_params_carry_the_security_defaults() -> None:
    key = KeyChoice(name="d2l-tui", private_key_path=None)
    params = run_instances_params(spec_for(key), "sg-0abc", "tok-1")
    assert params["ImageId"] == DLAMI.image_id and params["InstanceType"] == "g4dn.xlarge"
    assert (params["MinCount"], params["MaxCount"], params["KeyName"]) == (1, 1, "d2l-tui")
    assert params["SecurityGroupIds"] == ["sg-0abc"] and params["ClientToken"] == "tok-1"
    assert params["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/sda1",
            "Ebs": {"VolumeSize": 75, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
        }
    ]
    assert params["MetadataOptions"] == {
        "HttpTokens": "required",
        "HttpEndpoint": "enabled",
        "HttpPutResponseHopLimit": 2,
    }
    specs = {
        t["ResourceType"]: {x["Key"]: x["Value"] for x in t["Tags"]} for t in params["TagSpecifications"]
    }
    assert specs["instance"] == {
        "Name": "d2l-test",
        TAG_MANAGED: "true",
        TAG_NAME: "d2l-test",
        TAG_CLIENT_TOKEN: "tok-1",
    }
    assert specs["volume"] == {"Name": "d2l-test", TAG_MANAGED: "true", TAG_NAME: "d2l-test"}
    assert "InstanceMarketOptions" not in params

    spot = run_instances_params(spec_for(key, spot=True), "sg-0abc", "tok-1")
    assert spot["InstanceMarketOptions"] == {
        "MarketType": "spot",
        "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
    }


def test_instance_from_api_prefers_our_name_tag_and_reads_spot() -> None:
    data = {
        "InstanceId": "i-0abc",
        "InstanceType": "g5.xlarge",
        "State": {"Code": 16, "Name": "running"},
        "PublicDnsName": "ec2-1-2-3-4.compute-1.amazonaws.com",
        "PublicIpAddress": "1.2.3.4",
        "KeyName": "d2l-tui",
        "ImageId": "ami-1",
        "LaunchTime": "2025-06-01T10:00:00Z",
        "Placement": {"AvailabilityZone": "us-east-1b"},
        "InstanceLifecycle": "spot",
        "Tags": [{"Key": "Name", "Value": "renamed in console"}, {"Key": TAG_NAME, "Value": "mine"}],
    }
    inst = instance_from_api(data, "us-east-1")
    assert (inst.name, inst.state, inst.spot, inst.availability_zone) == (
        "mine",
        "running",
        True,
        "us-east-1b",
    )
    assert inst.launch_time is not None and inst.launch_time.year == 2025
    plain = instance_from_api(
        {**data, "Tags": [{"Key": "Name", "Value": "n"}], "InstanceLifecycle": None}, "r"
    )
    assert (plain.name, plain.spot) == ("n", False)


def test_launch_end_to_end_creates_what_the_spec_says(aws: Aws, key_dir: Path) -> None:
    messages: list[str] = []
    key = KeyChoice(name="d2l-tui", private_key_path=None, create=True)
    inst = launch(aws, spec_for(key), lambda p: messages.append(p.message), poll_interval=0, key_dir=key_dir)

    assert inst.state == "running" and inst.public_dns.endswith("amazonaws.com")
    assert inst.status_checks == "ok" and inst.name == "d2l-test"
    key_file = key_dir / "d2l-tui.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o400

    ec2 = aws.client("ec2", REGION)
    [data] = all_instances(aws)
    assert data["InstanceId"] == inst.instance_id and data["KeyName"] == "d2l-tui"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    [volume] = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [inst.instance_id]}]
    )["Volumes"]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"]) == (75, "gp3", True)
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}[TAG_MANAGED] == "true"
    [group] = ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in data["SecurityGroups"]])[
        "SecurityGroups"
    ]
    assert [
        (p["IpProtocol"], p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in group["IpPermissions"]
    ] == [("tcp", 22, [CIDR])]

    assert messages[0] == "Importing key pair d2l-tui into us-east-1 …"
    assert messages[1] == f"Security group {group['GroupId']} allows SSH from {CIDR}"
    assert messages[2].startswith("Launching g4dn.xlarge (on-demand, 75 GiB gp3")
    assert messages[3] == f"{inst.instance_id} pending"
    assert messages[4] == f"running at {inst.public_dns}"
    assert messages[-1] == "Ready"


def test_lost_response_is_retried_with_the_same_token_and_launches_once(
    prepared: tuple[KeyChoice, str],
) -> None:
    key, sg = prepared
    calls: list[str] = []

    def lose_first_answer(**kwargs: Any) -> None:
        # moto has already started the instance; the answer never reaches us.
        calls.append("RunInstances")
        if len(calls) == 1:
            raise ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com/")

    aws = hooked_aws(**{"after-call__ec2__RunInstances": lose_first_answer})
    messages: list[str] = []
    inst = run_and_follow(
        aws, spec_for(key), sg, lambda p: messages.append(p.message), client_token="tok-lost", poll_interval=0
    )

    token_filter = [{"Name": f"tag:{TAG_CLIENT_TOKEN}", "Values": ["tok-lost"]}]
    found = aws.client("ec2", REGION).describe_instances(Filters=token_filter)["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [inst.instance_id]
    assert len(all_instances(aws)) == 1
    assert calls == ["RunInstances"]  # the retry found the instance instead of launching again
    assert any(m.startswith("No answer from AWS") for m in messages)
    assert f"Found {inst.instance_id} from the earlier attempt" in messages
    assert messages[-1] == "Ready"


def test_unreachable_endpoint_gives_up_after_three_tries(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    tries: list[int] = []

    def never_arrives(**kwargs: Any) -> None:
        tries.append(1)
        raise EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com/")

    aws = hooked_aws(**{"before-call__ec2__RunInstances": never_arrives})
    with pytest.raises(D2lError) as info:
        run_and_follow(aws, spec_for(key), sg, lambda p: None, poll_interval=0, retry_backoff=(0, 0))
    assert len(tries) == 3
    assert "did not answer" in info.value.what and "d2l-tui ls" in info.value.next_step
    assert all_instances(aws) == []


def test_an_instance_with_the_token_is_adopted_without_launching(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    aws0 = Aws(region=REGION)
    first = run_and_follow(
        aws0, spec_for(key), sg, lambda p: None, client_token="tok-resume", poll_interval=0
    )

    launched: list[int] = []
    aws = hooked_aws(**{"before-call__ec2__RunInstances": lambda **kw: launched.append(1)})
    again = run_and_follow(aws, spec_for(key), sg, lambda p: None, client_token="tok-resume", poll_interval=0)
    assert again.instance_id == first.instance_id
    assert launched == [] and len(all_instances(aws)) == 1


def test_pending_is_reported_and_polled_until_running(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    answers: list[str] = []

    def still_pending(parsed: dict[str, Any], **kwargs: Any) -> None:
        instances = [i for r in parsed.get("Reservations", []) for i in r["Instances"]]
        if not instances:
            return  # the client-token look-up before RunInstances
        answers.append(instances[0]["State"]["Name"])
        if len(answers) <= 2:
            for inst in instances:
                inst["State"] = {"Code": 0, "Name": "pending"}
                inst["PublicDnsName"] = ""  # a pending instance has no address yet

    aws = hooked_aws(**{"after-call__ec2__DescribeInstances": still_pending})
    messages: list[str] = []
    inst = run_and_follow(aws, spec_for(key), sg, lambda p: messages.append(p.message), poll_interval=0)
    assert len(answers) == 3  # two pending answers, then running
    i = messages.index(f"{inst.instance_id} pending")
    assert messages[i + 1] == f"running at {inst.public_dns}"
    assert messages[-1] == "Ready"


def test_status_checks_initializing_then_ready(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    seen: list[int] = []

    def initializing(parsed: dict[str, Any], **kwargs: Any) -> None:
        seen.append(1)
        if len(seen) <= 2:
            for status in parsed.get("InstanceStatuses", []):
                status["InstanceStatus"] = {"Status": "initializing", "Details": []}
                status["SystemStatus"] = {"Status": "initializing", "Details": []}

    aws = hooked_aws(**{"after-call__ec2__DescribeInstanceStatus": initializing})
    messages: list[str] = []
    run_and_follow(aws, spec_for(key), sg, lambda p: messages.append(p.message), poll_interval=0)
    assert len(seen) == 3
    assert messages[-2:] == ["Status checks: initializing", "Ready"]
    assert messages.count("Status checks: initializing") == 1  # reported on change, not every poll


@pytest.mark.parametrize(
    ("code", "message", "kind", "words"),
    [
        ("InsufficientInstanceCapacity", "We currently do not have sufficient g4dn.xlarge capacity in us-east-1a.", CapacityError, "capacity"),
        ("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 0 allows.", QuotaError, "vCPU limit"),
        ("InvalidBlockDeviceMapping", "Volume of size 10GB is smaller than snapshot 'snap-1', expect size >= 75GB", D2lError, "smaller than snapshot"),
        ("OptInRequired", "In order to use this AWS Marketplace product you need to accept terms.", D2lError, "opt-in"),
        ("UnauthorizedOperation", "You are not authorized to perform this operation.", D2lError, "ec2:RunInstances"),
        ("RequestLimitExceeded", "Request limit exceeded.", D2lError, "throttling"),
    ],
)  # fmt: skip
def test_refusals_become_sentences_and_launch_nothing(
    prepared: tuple[KeyChoice, str], code: str, message: str, kind: type[D2lError], words: str
) -> None:
    key, sg = prepared
    aws = hooked_aws(**{"before-call__ec2__RunInstances": lambda **kw: client_error(code, message)})
    with pytest.raises(kind) as info:
        run_and_follow(aws, spec_for(key), sg, lambda p: None, poll_interval=0)
    assert info.value.code == code and info.value.request_id == "req-0123"
    assert words in str(info.value) and info.value.next_step
    assert all_instances(aws) == []


def test_missing_key_pair_is_moto_validation_turned_into_a_sentence(prepared: tuple[KeyChoice, str]) -> None:
    _, sg = prepared
    aws = Aws(region=REGION)
    with pytest.raises(D2lError) as info:
        run_and_follow(aws, spec_for(KeyChoice("no-such-key", None)), sg, lambda p: None, poll_interval=0)
    assert info.value.code == "InvalidKeyPair.NotFound"
    assert "key pair does not exist" in info.value.what
    assert all_instances(aws) == []


def test_instance_terminated_while_starting_says_why(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared

    def terminated(parsed: dict[str, Any], **kwargs: Any) -> None:
        for r in parsed.get("Reservations", []):
            for inst in r["Instances"]:
                inst["State"] = {"Code": 48, "Name": "terminated"}
                inst["StateReason"] = {
                    "Code": "Server.InsufficientInstanceCapacity",
                    "Message": "Server.InsufficientInstanceCapacity: Insufficient capacity to satisfy request",
                }

    aws = hooked_aws(**{"after-call__ec2__DescribeInstances": terminated})
    with pytest.raises(D2lError) as info:
        run_and_follow(aws, spec_for(key), sg, lambda p: None, client_token="tok-gone", poll_interval=0)
    assert "went to terminated" in info.value.what and "Insufficient capacity" in info.value.what


def test_cancel_while_pending_returns_the_instance_as_last_seen(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared

    def pending(parsed: dict[str, Any], **kwargs: Any) -> None:
        for r in parsed.get("Reservations", []):
            for inst in r["Instances"]:
                inst["State"] = {"Code": 0, "Name": "pending"}

    aws = hooked_aws(**{"after-call__ec2__DescribeInstances": pending})
    messages: list[str] = []
    polls: list[int] = []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) > 3  # after RunInstances went out and a poll or two

    inst = run_and_follow(
        aws, spec_for(key), sg, lambda p: messages.append(p.message), poll_interval=0.01, cancelled=cancelled
    )
    assert inst.state == "pending" and inst.instance_id.startswith("i-")
    assert messages[-1] == f"Stopped waiting; {inst.instance_id} keeps starting"
    assert len(all_instances(aws)) == 1


def test_cancel_before_run_instances_launches_nothing(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    aws = Aws(region=REGION)
    with pytest.raises(LaunchCancelled):
        run_and_follow(aws, spec_for(key), sg, lambda p: None, poll_interval=0, cancelled=lambda: True)
    assert all_instances(aws) == []


def test_a_lost_poll_answer_just_polls_again(prepared: tuple[KeyChoice, str]) -> None:
    key, sg = prepared
    polls: list[int] = []

    def lose_first_poll(parsed: dict[str, Any], **kwargs: Any) -> None:
        if parsed.get("Reservations"):  # not the client-token look-up, which finds nothing
            polls.append(1)
            if len(polls) == 1:
                raise ConnectionClosedError(endpoint_url="https://ec2.us-east-1.amazonaws.com/")

    aws = hooked_aws(**{"after-call__ec2__DescribeInstances": lose_first_poll})
    messages: list[str] = []
    inst = run_and_follow(aws, spec_for(key), sg, lambda p: messages.append(p.message), poll_interval=0)
    assert len(polls) == 2 and messages[-1] == "Ready" and inst.status_checks == "ok"
