"""The instances screen paints last time's list at once (dimmed, no actions), then the live answer
from those regions, then every region; `--instances` lists before the identity check."""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_for_screen, wait_until
from tui.app import make_app
from tui.screens.instance_rows import cells
from tui.screens.instances import InstancesScreen
from tui.services import instance_memory
from tui.services.cloud.aws import Aws
from tui.services.cloud.costs import InstanceRow, rows_without_costs
from tui.services.cloud.lifecycle import describe_one


def idle(screen: InstancesScreen) -> bool:
    """No worker of the screen running, and none waiting to start (the leftovers sweep waits for
    a quiet moment after the list is painted)."""
    return not screen.leftovers_due and all(w.is_finished for w in screen.app.workers if w.node is screen)


def scope(aws: Aws) -> str:
    return instance_memory.scope_of(aws.profile, aws.endpoint_url)


def priced(aws: Aws, region: str, iid: str, per_hour: float = 0.526) -> InstanceRow:
    instance = describe_one(aws, region, iid)
    assert instance is not None
    # Launched two hours ago, as remembered: the "so far" is worked out again from the clock.
    two_hours_ago = datetime.now(timezone.utc) - timedelta(hours=2)
    return InstanceRow(replace(instance, launch_time=two_hours_ago), "T4", per_hour, None, 125, 10.0)


def on_every_call(aws: Aws, event: str, handler: Any) -> None:
    """A botocore hook on the session and on the clients already made (each copied the session's
    hooks when it was made)."""
    aws._session().events.register(event, handler)
    for client in aws._clients.values():
        client.meta.events.register(event, handler)


class HeldListing:
    """Holds every DescribeInstances (or only one region's) until released: the screen stays on
    what it had before."""

    def __init__(self, aws: Aws, region: str | None = None) -> None:
        self.region = region
        self.release = threading.Event()
        on_every_call(aws, "before-call.ec2.DescribeInstances", self._wait)

    def _wait(self, request_signer: Any, **_: Any) -> None:
        if self.region in (None, request_signer.region_name):
            self.release.wait(30)


async def test_last_times_list_first_then_its_regions_then_every_region(aws: Aws, tmp_path: Path) -> None:
    usual = run(aws, "us-east-1", "usual", itype="g4dn.xlarge")
    elsewhere = run(aws, "eu-west-1", "elsewhere", itype="g5.xlarge")  # launched from another machine
    ctx = build_context(aws, tmp_path)
    gone_row = replace(
        priced(aws, "us-east-1", usual),
        instance=replace(
            describe_one(aws, "us-east-1", usual),
            instance_id="i-0123456789abcdef0",
            name="gone",  # type: ignore[arg-type]
        ),
    )
    saved_at = datetime.now(timezone.utc) - timedelta(minutes=4)
    instance_memory.remember(ctx.cache_dir, scope(aws), [priced(aws, "us-east-1", usual), gone_row], saved_at)
    held = HeldListing(aws)
    stages: list[tuple[str, set[str]]] = []
    original = InstancesScreen._show

    def spy(self: InstancesScreen, rows: list[Any], stage: Any = "done", failed: Any = ()) -> None:
        stages.append((stage, {r.key for r in rows}))
        original(self, rows, stage, failed)

    InstancesScreen._show = spy  # type: ignore[method-assign]
    try:
        app = make_app(ctx, instances=True)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for_screen(pilot, "InstancesScreen")
            screen = pilot.app.screen
            assert isinstance(screen, InstancesScreen)
            await wait_until(pilot, lambda: screen.remembered)
            table = screen.query_one("#instances-table")
            status = str(screen.query_one("#instances-status").render())
            assert {r.instance.name for r in screen.rows.values()} == {"usual", "gone"}
            assert "as of" in status and "4 min ago" in status and "remembered from last time" in status
            assert table.has_class("remembered")
            # Last time's rows: no action until AWS confirms them (greyed), refresh stays.
            assert screen.check_action("stop", ()) is None and screen.check_action("details", ()) is None
            assert screen.check_action("reload", ()) is True
            await pilot.press("s")
            await pilot.pause(0.1)
            assert pilot.app.screen is screen  # no stop confirmation
            # The remembered "so far" is worked out from now: two hours at $0.526/h.
            so_far = screen.rows[usual].usd_so_far
            assert so_far is not None and 0.526 * 2 <= so_far < 0.526 * 2.1

            held.release.set()
            await wait_until(pilot, lambda: screen.loaded, 30)
            assert not table.has_class("remembered")
            assert set(screen.rows) == {usual, elsewhere}  # the gone one went, the other region's came
            assert screen.check_action("stop", ()) is True
            await wait_until(pilot, lambda: idle(screen), 30)
    finally:
        InstancesScreen._show = original  # type: ignore[method-assign]

    assert [s for s, _ in stages][:2] == ["remembered", "first"]
    assert stages[0][1] == {usual, "i-0123456789abcdef0"}
    assert stages[1][1] == {usual}  # the regions of last time's list only
    assert stages[-1] == ("done", {usual, elsewhere})
    again = instance_memory.recall(ctx.cache_dir, scope(aws))
    assert again is not None and {r.instance.name for r in again.rows} == {"usual", "elsewhere"}
    assert again.regions == ["eu-west-1", "us-east-1"]


async def test_instances_option_lists_before_asking_who_the_caller_is(aws: Aws, tmp_path: Path) -> None:
    run(aws, "us-east-1", "book")
    ctx = build_context(aws, tmp_path)
    calls: list[str] = []
    on_every_call(aws, "before-call", lambda model, **_: calls.append(model.name))
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        await wait_until(pilot, lambda: "GetCallerIdentity" in calls or pilot.app.credentials_ok, 10)
        assert pilot.app.credentials_ok  # the listing proved them
        await pilot.press("escape")
        await wait_for_screen(pilot, "RegionStep")
    assert "DescribeInstances" in calls
    first_listing = calls.index("DescribeInstances")
    # The identity round trip and the quota-request news come after the list, not before it.
    assert "GetCallerIdentity" not in calls[:first_listing]
    assert not any(c.startswith("ListRequestedServiceQuota") for c in calls[:first_listing])


async def test_instances_option_without_credentials_says_so_then_opens_the_credentials_screen(
    aws: Aws, tmp_path: Path
) -> None:
    def no_credentials(**_: Any) -> None:
        raise botocore.exceptions.NoCredentialsError()

    on_every_call(aws, "before-call", no_credentials)
    app = make_app(build_context(aws, tmp_path), instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        status = screen.query_one("#instances-status")
        await wait_until(pilot, lambda: status.has_class("error"), 30)
        text = str(status.render())
        assert "No AWS credentials were found." in text and "aws configure" in text
        await pilot.press("escape")
        await wait_for_screen(pilot, "CredentialsScreen")


def test_memory_is_per_account_scope_private_and_forgiving(aws: Aws, tmp_path: Path) -> None:
    iid = run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    row = priced(aws, "us-east-1", iid)
    mine = instance_memory.scope_of("work", "", "AKIAEXAMPLE1")
    assert mine != instance_memory.scope_of("home", "", "AKIAEXAMPLE1")
    assert mine != instance_memory.scope_of("work", "http://127.0.0.1:5000", "AKIAEXAMPLE1")
    assert mine != instance_memory.scope_of("work", "", "AKIAEXAMPLE2")
    assert "AKIA" not in mine and "work" not in mine

    assert instance_memory.recall(tmp_path, mine) is None  # nothing yet
    instance_memory.remember(tmp_path, mine, [row])
    [path] = tmp_path.glob("instances-*.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = instance_memory.recall(tmp_path, mine)
    assert back is not None and back.rows[0].instance == row.instance
    assert back.rows[0].usd_per_hour == 0.526 and back.rows[0].disk_gib == 125
    assert instance_memory.recall(tmp_path, instance_memory.scope_of("home", "", "AKIAEXAMPLE1")) is None

    path.write_text("{not json")
    assert instance_memory.recall(tmp_path, mine) is None
    path.write_text('{"version": 99, "saved_at": "2026-01-01T00:00:00+00:00", "rows": []}')
    assert instance_memory.recall(tmp_path, mine) is None


def test_age_in_words() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert instance_memory.age_words(now - timedelta(seconds=20), now) == "just now"
    assert instance_memory.age_words(now - timedelta(minutes=7), now) == "7 min ago"
    assert instance_memory.age_words(now - timedelta(hours=5), now) == "5 h ago"
    assert instance_memory.age_words(now - timedelta(days=3), now) == "3 days ago"


def test_rows_before_costs_say_the_costs_are_coming(aws: Aws) -> None:
    iid = run(aws, "us-east-1", "book", itype="g4dn.xlarge")
    instance = describe_one(aws, "us-east-1", iid)
    assert instance is not None
    (row,) = rows_without_costs([instance])
    values = cells(row)
    assert values["per_hour"] == values["so_far"] == values["disk"] == "…"
    assert values["gpu"] == "T4" and values["name"] == "book"


async def test_the_first_sweep_shows_each_region_as_it_answers_and_keeps_the_cursor(
    aws: Aws, tmp_path: Path
) -> None:
    usual = run(aws, "us-east-1", "usual")
    slow = run(aws, "eu-west-1", "slow")  # sorts before us-east-1
    held = HeldListing(aws, "eu-west-1")
    app = make_app(build_context(aws, tmp_path), instances=True)  # nothing remembered: a full sweep
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        status = screen.query_one("#instances-status")
        await wait_until(pilot, lambda: usual in screen.rows, 30)
        text = str(status.render())
        assert "1 instance(s) so far;" in text and "regions answered…" in text
        assert not screen.loaded and set(screen.rows) == {usual}
        assert screen.check_action("stop", ()) is True  # live rows: their actions work at once
        held.release.set()
        await wait_until(pilot, lambda: screen.loaded, 30)
        table = screen.query_one("#instances-table")
        order = [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(2)]
        assert order == [slow, usual]  # region, then name, whatever answered first
        # A new instance sorting first: the cursor stays on the instance it was on.
        await pilot.press("down")
        assert screen.selected().key == usual  # type: ignore[union-attr]
        early = run(aws, "ap-northeast-1", "early")
        await pilot.press("r")
        await wait_until(pilot, lambda: early in screen.rows, 30)
        assert screen.selected().key == usual  # type: ignore[union-attr]
        await wait_until(pilot, lambda: idle(screen), 30)  # nothing left calling moto after the test


GOOD_MEMORY = {
    "instance_id": "i-0123456789abcdef0",
    "name": "book",
    "region": "us-east-1",
    "instance_type": "g4dn.xlarge",
    "state": "running",
    "launch_time": "2026-05-01T10:00:00+00:00",
}


def memory_file(instance: dict[str, Any], saved_at: str = "2026-05-01T11:56:00+00:00") -> bytes:
    import json

    return json.dumps({"version": 1, "saved_at": saved_at, "rows": [{"instance": instance}]}).encode()


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("deep nesting", b'{"version": 1, "rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("naive timestamp", memory_file(GOOD_MEMORY | {"launch_time": "2026-05-01T10:00:00"})),
        ("wrong types", memory_file(GOOD_MEMORY | {"name": ["not", "text"], "tags": "x"})),
    ],
)
async def test_a_corrupt_remembered_list_is_set_aside_with_a_notice_and_the_app_starts(
    aws: Aws, tmp_path: Path, case: str, data: bytes
) -> None:
    iid = run(aws, "us-east-1", "live-one")
    ctx = build_context(aws, tmp_path)
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.cache_dir / f"{instance_memory.PREFIX}{scope(aws)}.json"
    path.write_bytes(data)
    app = make_app(ctx, instances=True)
    # Every notice as it is given: a toast times out, and on a loaded machine it can be gone
    # before AWS has answered.
    told: list[str] = []
    notify = app.notify
    app.notify = lambda message, **options: (told.append(str(message)), notify(message, **options))[1]  # type: ignore[method-assign]
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.loaded, 30)
        assert [r.instance.instance_id for r in screen.shown_rows()] == [iid]  # AWS's answer, live
        [notice] = [message for message in told if "remembered instances" in message]
        assert str(path) in notice and "could not be read" in notice
    [aside] = ctx.cache_dir.glob(f"{path.name}.corrupt-*")
    assert aside.read_bytes() == data


async def test_a_remembered_markup_name_loads_and_the_app_starts(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.cache_dir / f"{instance_memory.PREFIX}{scope(aws)}.json"
    name = "[bold red]book[/bold red]"
    path.write_bytes(memory_file(GOOD_MEMORY | {"name": name}))
    held = HeldListing(aws)
    app = make_app(ctx, instances=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for_screen(pilot, "InstancesScreen")
        screen = pilot.app.screen
        assert isinstance(screen, InstancesScreen)
        await wait_until(pilot, lambda: screen.remembered, 10)
        assert [r.instance.name for r in screen.shown_rows()] == [name]
        held.release.set()
        await wait_until(pilot, lambda: screen.loaded, 30)
    assert path.exists() and not list(ctx.cache_dir.glob("*.corrupt-*"))
