"""Zone failover on moto: capacity and Unsupported errors are injected per zone with a before-call hook
(moto never runs out of capacity); every other call, RunInstances in a good zone included, is moto's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.test_launch import CIDR, REGION, all_instances, client_error, spec_for
from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_CLIENT_TOKEN, KeyChoice
from tui.services.cloud.aws import Aws
from tui.services.cloud.failover import zone_token
from tui.services.cloud.launch import run_and_follow
from tui.services.errors import CapacityError, QuotaError

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]  # moto's g4dn.xlarge zones
NO_CAPACITY = (
    "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested "
    "({zone}). Our system will be working on provisioning additional capacity."
)


@pytest.fixture
def ready(aws: Aws) -> tuple[KeyChoice, str]:
    """A key pair and an SSH security group made in moto directly."""
    ec2 = aws.client("ec2", REGION)
    ec2.create_key_pair(KeyName="made-in-test")
    sg = ec2.create_security_group(GroupName="ssh-test", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": CIDR}]}],
    )
    return KeyChoice(name="made-in-test", private_key_path=None), sg


class RunHook:
    """Answers RunInstances per zone with an error code, or lets moto launch it; records every call."""

    def __init__(self, errors: Callable[[str], str | None]) -> None:
        self.errors = errors
        self.sent: list[dict[str, Any]] = []

    def install(self, session: Any) -> None:
        add_realistic_image_sizes(session)
        session.events.register("before-parameter-build.ec2.RunInstances", self._record)
        session.events.register("before-call.ec2.RunInstances", self._answer)

    def _record(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.sent.append(dict(params))
        context["run_params"] = dict(params)

    def _answer(self, context: dict[str, Any], **_: Any) -> Any:
        # Without a zone moto places the instance in the region's first zone, as the error says.
        zone = context["run_params"].get("Placement", {}).get("AvailabilityZone", "us-east-1a")
        code = self.errors(zone)
        if code is None:
            return None  # moto launches it
        messages = {
            "InsufficientInstanceCapacity": NO_CAPACITY.format(zone=zone),
            "Unsupported": f"Your requested instance type (g4dn.xlarge) is not supported in your requested "
            f"Availability Zone ({zone}).",
            "VcpuLimitExceeded": "You have requested more vCPU capacity than your current vCPU limit of 0 allows.",
        }
        return client_error(code, messages[code])

    def aws(self) -> Aws:
        return Aws(region=REGION, customize=self.install)

    def zones(self) -> list[str]:
        return [p.get("Placement", {}).get("AvailabilityZone", "") for p in self.sent]


def launch_with(hook: RunHook, key: KeyChoice, sg: str, token: str = "tok-base") -> tuple[Any, list[str]]:
    messages: list[str] = []
    inst = run_and_follow(
        hook.aws(),
        spec_for(key),
        sg,
        lambda p: messages.append(p.message),
        client_token=token,
        poll_interval=0,
    )
    return inst, messages


def test_zone_a_without_capacity_ends_with_one_instance_in_zone_b(ready: tuple[KeyChoice, str]) -> None:
    key, sg = ready
    hook = RunHook(lambda zone: "InsufficientInstanceCapacity" if zone == "us-east-1a" else None)

    inst, messages = launch_with(hook, key, sg)

    [data] = all_instances(hook.aws())
    assert data["InstanceId"] == inst.instance_id and data["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert inst.availability_zone == "us-east-1b"
    # The first attempt lets AWS choose; the zone it named is not tried again.
    assert hook.zones() == ["", "us-east-1b"]
    assert [p["ClientToken"] for p in hook.sent] == ["tok-base", zone_token("tok-base", "us-east-1b")]
    assert {t["Key"]: t["Value"] for t in data["Tags"]}[TAG_CLIENT_TOKEN] == "tok-base"
    assert any("no capacity in us-east-1a; trying us-east-1b" in m for m in messages)
    assert "Trying us-east-1b …" in messages and messages[-1] == "Ready"


def test_zone_tokens_are_stable_distinct_and_short() -> None:
    tokens = {zone_token("tok-base", z) for z in ZONES}
    assert len(tokens) == len(ZONES) and all(len(t) <= 64 for t in tokens)
    assert zone_token("tok-base", "us-east-1b") == zone_token("tok-base", "us-east-1b")
    assert zone_token("tok-other", "us-east-1b") not in tokens


def test_relaunching_the_same_launch_adopts_the_zone_b_instance(ready: tuple[KeyChoice, str]) -> None:
    key, sg = ready
    first, _ = launch_with(
        RunHook(lambda z: "InsufficientInstanceCapacity" if z == "us-east-1a" else None), key, sg
    )

    # The same launch again (Back, then Launch): zone a has capacity now, yet nothing new starts.
    again_hook = RunHook(lambda z: None)
    again, messages = launch_with(again_hook, key, sg)

    assert again.instance_id == first.instance_id
    assert again_hook.sent == [] and len(all_instances(again_hook.aws())) == 1
    assert f"Found {first.instance_id} from the earlier attempt" in messages


def test_unsupported_zones_are_skipped(ready: tuple[KeyChoice, str]) -> None:
    key, sg = ready
    bad = {
        "us-east-1a": "InsufficientInstanceCapacity",
        "us-east-1b": "Unsupported",
        "us-east-1c": "Unsupported",
    }
    hook = RunHook(bad.get)

    inst, messages = launch_with(hook, key, sg)

    assert inst.availability_zone == "us-east-1d" and len(all_instances(hook.aws())) == 1
    assert hook.zones() == ["", "us-east-1b", "us-east-1c", "us-east-1d"]
    assert "us-east-1b does not offer g4dn.xlarge; skipping it." in messages


def test_a_vcpu_limit_stops_at_once(ready: tuple[KeyChoice, str]) -> None:
    key, sg = ready
    hook = RunHook(lambda z: "InsufficientInstanceCapacity" if z == "us-east-1a" else "VcpuLimitExceeded")

    with pytest.raises(QuotaError) as caught:
        launch_with(hook, key, sg)

    assert hook.zones() == ["", "us-east-1b"]  # no third zone: limits are per region
    assert caught.value.code == "VcpuLimitExceeded" and "quota increase" in caught.value.next_step
    assert all_instances(hook.aws()) == []


def test_no_zone_has_capacity_says_what_to_try(ready: tuple[KeyChoice, str]) -> None:
    key, sg = ready
    hook = RunHook(lambda z: "InsufficientInstanceCapacity")
    messages: list[str] = []

    with pytest.raises(CapacityError) as caught:
        run_and_follow(hook.aws(), spec_for(key), sg, messages.append, client_token="t", poll_interval=0)

    assert hook.zones() == ["", *ZONES[1:]]  # every zone once, then stop: never a silent loop
    assert len({p["ClientToken"] for p in hook.sent}) == len(hook.sent)
    error = caught.value
    assert "any zone of us-east-1" in error.what and "us-east-1f" in error.what
    assert "sibling size (g4dn." in error.next_step and "spot instead of on-demand" in error.next_step
    assert "in a few minutes" in error.next_step
    assert all_instances(hook.aws()) == []
    assert len([m for m in messages if "has no g4dn.xlarge capacity" in str(m)]) == len(ZONES) - 1
