"""Stop, start, terminate and create image on moto; the races moto can't produce (it changes state
instantly) are injected with botocore hooks that answer in the real API's shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.test_lifecycle import run
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud import costs, lifecycle
from tui.services.cloud.aws import Aws
from tui.services.errors import CapacityError, D2lError, InputError


def state(aws: Aws, instance_id: str, region: str = "us-east-1") -> str:
    answer = aws.client("ec2", region).describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def error(code: str, message: str, status: int = 400) -> Any:
    def hook(**kwargs: Any) -> Any:
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": status},
        }
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, {}, None), parsed

    return hook


def hooked(*hooks: tuple[str, Any]) -> Aws:
    def customize(session: Any) -> None:
        for event, hook in hooks:
            session.events.register(event, hook)

    return Aws(region="us-east-1", customize=customize)


def only(aws: Aws, name: str) -> lifecycle.Instance:
    return lifecycle.find_instance(aws, name, "us-east-1")


def test_stop_start_terminate_change_what_moto_holds(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "book")
    inst = only(aws, "book")
    assert lifecycle.can("stop", inst) and not lifecycle.can("start", inst)

    stopped = lifecycle.stop(aws, inst)
    assert state(aws, iid) == "stopped" and stopped.state == "stopping" and stopped.public_dns == ""
    assert not lifecycle.can("start", stopped) and not lifecycle.can("ssh", stopped)  # until stopped
    assert lifecycle.can("start", only(aws, "book"))

    started = lifecycle.start(aws, only(aws, "book"))
    assert state(aws, iid) == "running" and started.state in ("pending", "running")

    lifecycle.terminate(aws, only(aws, "book"))
    assert state(aws, iid) == "terminated"
    with pytest.raises(InputError, match="No instance named 'book'"):
        only(aws, "book")


def test_stopping_is_reported_as_aws_answers_it(aws: Aws) -> None:
    run(aws, "us-east-1", "slow")

    def stopping(parsed: dict[str, Any], **kwargs: Any) -> None:
        for change in parsed.get("StoppingInstances", []):
            change["CurrentState"] = {"Code": 64, "Name": "stopping"}

    client = hooked(("after-call.ec2.StopInstances", stopping))
    result = lifecycle.stop(client, only(client, "slow"))
    assert result.state == "stopping" and result.state in lifecycle.TRANSITIONAL_STATES
    assert lifecycle.can("terminate", result) and not lifecycle.can("start", result)


def test_start_while_stopping_says_wait(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "racer")
    aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[iid])
    inst = only(aws, "racer")

    def describe_stopping(parsed: dict[str, Any], **kwargs: Any) -> None:
        for reservation in parsed.get("Reservations", []):
            for data in reservation["Instances"]:
                data["State"] = {"Code": 64, "Name": "stopping"}

    message = f"The instance '{iid}' is not in a state from which it can be started."
    client = hooked(
        ("before-call.ec2.StartInstances", error("IncorrectInstanceState", message)),
        ("after-call.ec2.DescribeInstances", describe_stopping),
    )
    with pytest.raises(D2lError) as info:
        lifecycle.start(client, inst)
    assert str(info.value) == (
        "racer is stopping, so it can't be started right now. Wait until it has stopped (press r to refresh)."
    )
    assert state(aws, iid) == "stopped"


def test_instance_deleted_outside_the_app(aws: Aws) -> None:
    run(aws, "us-east-1", "ghost")
    inst = lifecycle.replace(only(aws, "ghost"), instance_id="i-0123456789abcdef0")
    with pytest.raises(D2lError, match="no longer exists in us-east-1") as info:
        lifecycle.terminate(aws, inst)
    assert info.value.next_step == "Press r to refresh the list."
    assert lifecycle.describe_one(aws, "us-east-1", "i-0123456789abcdef0") is None


def test_unauthorized_names_the_permission(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "denied")
    client = hooked(("before-call.ec2.StopInstances", error("UnauthorizedOperation", "not authorized", 403)))
    with pytest.raises(D2lError, match=r"missing ec2:StopInstances\)\. Ask your account admin"):
        lifecycle.stop(client, only(client, "denied"))
    assert state(aws, iid) == "running"


def test_no_capacity_on_start_never_launches_another(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "full", itype="g4dn.xlarge")
    aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[iid])
    client = hooked(
        (
            "before-call.ec2.StartInstances",
            error("InsufficientInstanceCapacity", "We currently do not have sufficient g4dn.xlarge capacity"),
        )
    )
    with pytest.raises(CapacityError) as info:
        lifecycle.start(client, only(client, "full"))
    assert "a stopped instance can't move to another zone" in info.value.what
    assert (
        "again in a few minutes" in info.value.next_step
        and "change its instance type" in info.value.next_step
    )
    reservations = aws.client("ec2", "us-east-1").describe_instances()["Reservations"]
    assert [i["InstanceId"] for r in reservations for i in r["Instances"]] == [iid]
    assert state(aws, iid) == "stopped"


def _pending_images(times: int) -> Any:
    seen = {"n": 0}

    def hook(parsed: dict[str, Any], **kwargs: Any) -> None:
        if seen["n"] < times:
            for image in parsed.get("Images", []):
                image["State"] = "pending"
            seen["n"] += 1

    return hook


def test_create_image_waits_while_pending_then_terminates(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "keeper")
    client = hooked(("after-call.ec2.DescribeImages", _pending_images(2)))
    said: list[str] = []
    image_id = lifecycle.create_image(
        client,
        only(client, "keeper"),
        "keeper-img",
        progress=said.append,
        poll_interval=0.01,
        terminate_after=True,
    )
    assert sum("is pending" in line for line in said) == 2 and said[-1] == "keeper is being terminated."
    [image] = aws.client("ec2", "us-east-1").describe_images(ImageIds=[image_id])["Images"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags[TAG_MANAGED] == "true" and tags[TAG_NAME] == "keeper-img"
    assert tags[lifecycle.TAG_SOURCE_INSTANCE] == iid
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    [snapshot] = aws.client("ec2", "us-east-1").describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}[TAG_MANAGED] == "true"
    assert state(aws, iid) == "terminated"
    assert [i.image_id for i in costs.saved_images(aws, "us-east-1")] == [image_id]


def test_a_failed_image_keeps_the_instance(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "unlucky")

    def failed(parsed: dict[str, Any], **kwargs: Any) -> None:
        for image in parsed.get("Images", []):
            image["State"] = "failed"
            image["StateReason"] = {"Code": "InternalError", "Message": "snapshot failed"}

    client = hooked(("after-call.ec2.DescribeImages", failed))
    with pytest.raises(D2lError, match=r"could not be created \(failed: snapshot failed\)"):
        lifecycle.create_image(
            client, only(client, "unlucky"), "unlucky-img", poll_interval=0.01, terminate_after=True
        )
    assert state(aws, iid) == "running"


def test_waiting_for_an_image_can_be_cancelled(aws: Aws) -> None:
    run(aws, "us-east-1", "patient")
    client = hooked(("after-call.ec2.DescribeImages", _pending_images(1000)))
    with pytest.raises(D2lError, match="Stopped waiting for image"):
        lifecycle.create_image(client, only(client, "patient"), "patient-img", cancelled=lambda: True)


def test_image_names_are_checked_before_sending(aws: Aws) -> None:
    run(aws, "us-east-1", "named")
    with pytest.raises(InputError, match="3 to 128 characters"):
        lifecycle.create_image(aws, only(aws, "named"), "a*")
    assert aws.client("ec2", "us-east-1").describe_images(Owners=["self"])["Images"] == []
    moment = datetime(2025, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert lifecycle.default_image_name(only(aws, "named"), moment) == "named-20250304-0506"


def test_several_instances_with_one_name_are_refused(aws: Aws) -> None:
    run(aws, "us-east-1", "twin")
    run(aws, "us-west-2", "twin")
    with pytest.raises(InputError, match="Several instances are named 'twin'"):
        lifecycle.find_instance(aws, "twin")
    assert lifecycle.find_instance(aws, "twin", "us-west-2").region == "us-west-2"


def test_rows_show_price_cost_so_far_and_disk(aws: Aws) -> None:
    running = run(aws, "us-east-1", "gpu", itype="g4dn.xlarge")
    parked = run(aws, "us-west-2", "parked", itype="g4dn.xlarge")
    aws.client("ec2", "us-west-2").stop_instances(InstanceIds=[parked])
    launched = only(aws, "gpu").launch_time
    assert launched is not None
    prices = {"g4dn.xlarge": (0.526, 0.2)}
    rows = costs.instance_rows(
        aws, lambda region: prices, ["us-east-1", "us-west-2"], now=launched + timedelta(hours=2)
    )
    by_id = {r.key: r for r in rows}
    gpu, stopped = by_id[running], by_id[parked]
    assert gpu.gpu == "T4" and gpu.usd_per_hour == 0.526 and gpu.usd_so_far == pytest.approx(1.052)
    assert stopped.usd_so_far is None and stopped.disk_gib > 0
    assert stopped.disk_usd_per_month == pytest.approx(stopped.disk_gib * 0.08)
    assert costs.money(stopped.disk_usd_per_month, "/month").endswith("/month")


def test_rows_survive_prices_that_fail(aws: Aws) -> None:
    run(aws, "us-east-1", "cheap")

    def broken(region: str) -> dict[str, tuple[float | None, float | None]]:
        raise RuntimeError("pricing down")

    [row] = costs.instance_rows(aws, broken, ["us-east-1"])
    assert row.usd_per_hour is None and row.usd_so_far is None and costs.money(None) == "-"
