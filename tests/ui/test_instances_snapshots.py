"""SVG snapshots of the instances screen (120x40): empty, several regions, a stopped instance with
its disk's $/month, and the leftovers a terminated instance leaves.

Made deterministic with real parts: the app's clock is fixed, and after-call hooks pin what moto
draws at random or from the wall clock and the screenshots show (so no thread drawing from moto's
generator, this test's or an earlier one's, can shift them):
LaunchTime, public addresses (from the instance's name) and security group ids (from the group's
name, consistently in every answer that carries them).

Update after an intended change: pytest tests/ui/test_instances_snapshots.py --snapshot-update
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.pilot import Pilot

from tests.test_leftovers import launch
from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_until
from tests.ui.test_instances_remembered import on_every_call
from tests.ui.test_snapshots import SIZE, TIMEOUT, settle
from tui.app import make_app
from tui.demo.cloud import add_realistic_image_sizes
from tui.screens.instances import InstancesScreen
from tui.services.cloud import costs
from tui.services.cloud.aws import Aws
from tui.services.cloud.leftovers import KEY_PAIR, SECURITY_GROUP

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
EVERY_REGION_INIT = InstancesScreen.__init__  # before the fixture below narrows it
LAUNCHED = datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc)
NOW = datetime(2025, 6, 1, 10, 30, tzinfo=timezone.utc)  # 2h 30m after the launch


@pytest.fixture(autouse=True)
def three_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    original = InstancesScreen.__init__

    def init(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        original(self, ctx, REGIONS)  # three regions keep the test quick; the default is every region

    monkeypatch.setattr(InstancesScreen, "__init__", init)


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def _pinned_group_id(name: str) -> str:
    return "sg-" + hashlib.sha1(name.encode()).hexdigest()[:17]


def _pin_groups(groups: list[dict[str, Any]]) -> None:
    for group in groups:
        if group.get("GroupName"):
            group["GroupId"] = _pinned_group_id(group["GroupName"])


def _pin_instances(parsed: dict[str, Any], **_: Any) -> None:
    """LaunchTime, and the public address from the instance's name: what the screenshots show
    must not depend on moto's random generator, which a thread of an earlier test may still draw
    from (seen in CI: the DNS names shifted)."""
    for reservation in parsed.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            instance["LaunchTime"] = LAUNCHED
            name = next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == "Name"), "")
            n = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 250 + 1
            if instance.get("PublicIpAddress"):
                instance["PublicIpAddress"] = f"198.51.100.{n}"
                instance["PublicDnsName"] = re.sub(
                    r"^ec2-[\d-]+", f"ec2-198-51-100-{n}", instance.get("PublicDnsName", "")
                )
            _pin_groups(instance.get("SecurityGroups", []))


def _pin_group_answers(parsed: dict[str, Any], **_: Any) -> None:
    _pin_groups(parsed.get("SecurityGroups", []))
    for eni in parsed.get("NetworkInterfaces", []):
        _pin_groups(eni.get("Groups", []))


def pin_group_ids(aws: Aws) -> None:
    """From now on, security group ids from their names in every answer the leftovers are worked
    out from. Only once the test has made its groups: the app's own group set-up would then look
    up a group by an id moto doesn't know."""
    for operation in ("DescribeSecurityGroups", "DescribeNetworkInterfaces"):
        on_every_call(aws, f"after-call.ec2.{operation}", _pin_group_answers)


def _customize(session: Any) -> None:
    add_realistic_image_sizes(session)
    session.events.register("after-call.ec2.DescribeInstances", _pin_instances)


def cloud() -> Aws:
    return Aws(region="us-east-1", customize=_customize)


def instances_app(aws: Aws, tmp_path: Path) -> Any:
    ctx = build_context(aws, tmp_path, simulated=True)  # bundled prices: no pricing API to vary
    ctx.clock = lambda: NOW
    return make_app(ctx, instances=True)


async def loaded(pilot: Pilot[Any], leftovers: int = 0) -> None:
    """The instances listed, the leftovers (``leftovers`` of them) listed, and no worker running."""

    def ready() -> bool:
        screen = pilot.app.screen
        if not isinstance(screen, InstancesScreen) or not screen.loaded:
            return False
        busy = screen.leftovers_due or any(w.node is screen and not w.is_finished for w in pilot.app.workers)
        return not busy and len(screen.leftovers) == leftovers

    await wait_until(pilot, ready, TIMEOUT)
    await settle(pilot)


def test_empty(moto: None, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        assert "No instances launched by d2l-tui" in str(
            pilot.app.screen.query_one("#instances-status").render()
        )

    assert snap_compare(instances_app(cloud(), tmp_path), terminal_size=SIZE, run_before=run_before)


def test_several_regions(moto: None, tmp_path: Path, snap_compare: Any) -> None:
    aws = cloud()
    run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    run(aws, "us-west-2", "west", itype="g5.xlarge")
    run(aws, "eu-west-1", "europe", itype="g4dn.12xlarge")

    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        assert sorted(r.instance.region for r in screen.rows.values()) == sorted(REGIONS)

    assert snap_compare(instances_app(aws, tmp_path), terminal_size=SIZE, run_before=run_before)


def test_stopped_with_its_disk_cost(moto: None, tmp_path: Path, snap_compare: Any) -> None:
    aws = cloud()
    run(aws, "us-east-1", "running", itype="g4dn.xlarge")
    stopped = run(aws, "us-east-1", "resting", itype="g4dn.xlarge")
    aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[stopped])

    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        row = screen.rows[stopped]
        assert row.instance.state == "stopped" and row.usd_so_far is None and row.disk_usd_per_month > 0

    assert snap_compare(instances_app(aws, tmp_path), terminal_size=SIZE, run_before=run_before)


def test_leftovers_of_a_terminated_instance(moto: None, tmp_path: Path, snap_compare: Any) -> None:
    aws = cloud()
    app = instances_app(aws, tmp_path)
    gone, _ = launch(aws, "us-west-2", "old", app.ctx.key_dir)
    group_name = "d2l-tui-ssh-203-0-113-7-32"  # the app's name for the group open to 203.0.113.7/32
    aws.client("ec2", "us-west-2").terminate_instances(InstanceIds=[gone])
    run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    pin_group_ids(aws)

    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot, leftovers=2)
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        assert {(x.kind, x.name, x.resource_id) for x in screen.leftovers.values()} == {
            (KEY_PAIR, "key-old", "key-old"),
            (SECURITY_GROUP, group_name, _pinned_group_id(group_name)),
        }

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_remembered_list_while_aws_does_not_answer(
    moto: None, tmp_path: Path, snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline: last time's list stays on screen, dimmed, with why AWS did not answer."""

    import botocore.exceptions

    from tui.services import instance_memory

    monkeypatch.setenv("TZ", "UTC")  # "as of 10:26" is local time
    time.tzset()
    monkeypatch.setattr(InstancesScreen, "__init__", EVERY_REGION_INIT)  # a subset is never remembered
    aws = cloud()
    stopped = run(aws, "us-east-1", "resting", itype="g4dn.xlarge")
    aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[stopped])
    run(aws, "eu-west-1", "europe", itype="g5.xlarge")
    app = instances_app(aws, tmp_path)
    rows = costs.instance_rows(aws, app.ctx.hourly_prices, ["us-east-1", "eu-west-1"], now=NOW)
    scope = instance_memory.scope_of(aws.profile, aws.endpoint_url)
    instance_memory.remember(app.ctx.cache_dir, scope, rows, NOW - timedelta(minutes=4))

    def offline(**_: Any) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com/")

    on_every_call(aws, "before-call.ec2", offline)

    async def run_before(pilot: Pilot[Any]) -> None:
        # Pushed once the starting screen has painted (tui/app.py): wait for it.
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, InstancesScreen), TIMEOUT)
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        status = screen.query_one("#instances-status")
        await wait_until(pilot, lambda: status.has_class("error"), TIMEOUT)
        assert screen.remembered and "remembered as of 10:26 (4 min ago)" in str(status.render())
        await settle(pilot)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        time.tzset()
