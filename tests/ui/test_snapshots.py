"""SVG snapshots of every wizard step, the credentials screen and a launch failure (120x40).

Each app runs on moto in-process with the simulated cloud's answers (real AMI root sizes and Service
Quotas values) and is driven with keys only. A snapshot is taken once the screen has loaded: no
LoadingIndicator, no worker of the screen still running, Input cursors held steady.

Update after an intended change: pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, LoadingIndicator

from tests.support.wizard_choices import choices_before
from tests.ui.driving import build_context, loaded, screen_name, wait_until
from tui.app import D2lApp, make_app, wizard_steps
from tui.context import AppContext
from tui.demo.cloud import simulated_answers
from tui.services.cloud.aws import Aws

SIZE = (120, 40)
# Generous: on a loaded 2-core machine the region step alone (moto, every region) can take seconds.
TIMEOUT = 45.0


async def wait_for_screen(pilot: Pilot[Any], name: str) -> None:
    await wait_until(pilot, lambda: screen_name(pilot) == name, TIMEOUT)


def _cidr_filled(pilot: Pilot[Any]) -> bool:
    return pilot.app.screen.query_one("#cidr", Input).value != ""


# The wizard in order: (screen, how to tell it has loaded, keys that accept its defaults).
WIZARD: list[tuple[str, Callable[[Pilot[Any]], Callable[[], bool]], tuple[str, ...]]] = [
    ("RegionStep", lambda p: loaded(p, "#regions"), ("enter",)),  # us-east-1, the nearest
    ("LimitsStep", lambda p: loaded(p, "#quotas"), ("enter",)),
    ("GpuTypeStep", lambda p: loaded(p, "#gpu-types"), ("enter",)),  # g4dn.xlarge, recommended
    ("ImageStep", lambda p: loaded(p, "#images"), ("enter",)),  # the Deep Learning AMI
    ("StorageStep", lambda p: loaded(p, "#disk"), ("enter",)),
    ("KeyPairStep", lambda p: loaded(p, "#keys"), ("enter", "enter")),  # create one, named d2l-tui
    ("ReviewStep", lambda p: lambda: _cidr_filled(p), ("enter", "enter")),  # name, CIDR: Launch
]
STEP_NAMES = [name for name, _, _ in WIZARD]


def _measured(table: DataTable[Any]) -> bool:
    # Textual's own bookkeeping of rows and cells not yet measured (no public way to ask).
    return not (table._new_rows or table._updated_cells or table._require_update_dimensions)


async def settle(pilot: Pilot[Any]) -> None:
    """Hold every Input's cursor visible (the test harness doesn't stop blinking) and let it paint,
    once no loading indicator shows and every table has measured its rows (a DataTable sizes its
    columns on idle, which a busy machine can delay past the screenshot)."""
    await wait_until(
        pilot, lambda: not any(w.display for w in pilot.app.screen.query(LoadingIndicator)), TIMEOUT
    )
    await wait_until(pilot, lambda: all(_measured(t) for t in pilot.app.screen.query(DataTable)), TIMEOUT)
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def drive_to(pilot: Pilot[Any], step: str) -> None:
    """Accept the defaults of every step from the one shown first until ``step``; return once
    ``step`` has loaded."""
    await wait_until(pilot, lambda: screen_name(pilot) in STEP_NAMES, TIMEOUT)
    for name, ready, keys in WIZARD[STEP_NAMES.index(screen_name(pilot)) :]:
        await wait_for_screen(pilot, name)
        await wait_until(pilot, ready(pilot), TIMEOUT)
        if name == step:
            await settle(pilot)
            return
        await pilot.press(*keys)
    raise AssertionError(f"unknown step {step}")


@pytest.fixture
def cloud() -> Iterator[None]:
    with mock_aws():
        yield


def wizard_app(
    tmp_path: Path, customize: Callable[[Any], None] = simulated_answers, start: str = "RegionStep"
) -> D2lApp:
    """The app on the wizard's ``start`` step, the earlier steps' defaults chosen (the region step
    itself is reached by a plain start)."""
    aws = Aws(region="us-east-1", customize=customize)
    ctx = build_context(aws, tmp_path, simulated=True)
    first = next(step for step in wizard_steps() if step.__name__ == start)
    return make_app(ctx, wizard=choices_before(ctx, first) if start != "RegionStep" else None)


@pytest.mark.parametrize("step", STEP_NAMES)
def test_wizard_step(step: str, cloud: None, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await drive_to(pilot, step)

    assert snap_compare(wizard_app(tmp_path, start=step), terminal_size=SIZE, run_before=run_before)


def test_storage_refuses_a_disk_below_the_image(cloud: None, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await drive_to(pilot, "StorageStep")
        await pilot.press("end", *["backspace"] * 8, "1", "0")
        await wait_until(pilot, lambda: pilot.app.screen.query_one("#step-error").has_class("visible"))
        await settle(pilot)

    assert snap_compare(wizard_app(tmp_path, start="StorageStep"), terminal_size=SIZE, run_before=run_before)


def test_credentials_screen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, snap_compare: Any) -> None:
    # No key in the environment, empty credential and config files, and no instance or container
    # role to fall back on (a CI runner on EC2 would otherwise find one).
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, name in (("AWS_SHARED_CREDENTIALS_FILE", "credentials"), ("AWS_CONFIG_FILE", "config")):
        (tmp_path / name).write_text("")
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_screen(pilot, "CredentialsScreen")
        await settle(pilot)

    app = make_app(AppContext(aws=Aws(region="us-east-1")))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _no_capacity(**_: Any) -> Any:
    """RunInstances answered as EC2 does when a zone is out of the type: HTTP 400 and this error."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    response = AWSResponse("https://ec2.us-east-1.amazonaws.com/", 400, HTTPHeaders(), None)
    return response, {
        "Error": {
            "Code": "InsufficientInstanceCapacity",
            "Message": (
                "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you "
                "requested (us-east-1a). Our system will be working on provisioning additional capacity."
            ),
        },
        "ResponseMetadata": {
            "RequestId": "5f1e2d3c-0000-4000-8000-000000000000",
            "HTTPStatusCode": 400,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        },
    }


class PinnedGroupIds:
    """The app gets security group ids in creation order (sg-00000000000000001, …) instead of
    moto's random ones, translated back in every call that names one: the launch log shows the
    id, and moto's generator may be drawn from by any thread (seen in CI for other snapshots)."""

    def __init__(self, session: Any) -> None:
        self.real: dict[str, str] = {}
        session.events.register("after-call.ec2.CreateSecurityGroup", self._created)
        session.events.register("after-call.ec2.DescribeSecurityGroups", self._described)
        session.events.register("provide-client-params.ec2", self._to_real)

    def _created(self, parsed: dict[str, Any], **_: Any) -> None:
        if "GroupId" in parsed:
            pinned = f"sg-{len(self.real) + 1:017x}"
            self.real[pinned] = parsed["GroupId"]
            parsed["GroupId"] = pinned

    def _described(self, parsed: dict[str, Any], **_: Any) -> None:
        pinned = {real: pin for pin, real in self.real.items()}
        for group in parsed.get("SecurityGroups", []):
            group["GroupId"] = pinned.get(group.get("GroupId", ""), group.get("GroupId"))

    def _to_real(self, params: dict[str, Any], **_: Any) -> None:
        if isinstance(params.get("GroupId"), str):
            params["GroupId"] = self.real.get(params["GroupId"], params["GroupId"])
        for key in ("GroupIds", "SecurityGroupIds"):
            if isinstance(params.get(key), list):
                params[key] = [self.real.get(g, g) for g in params[key]]


def _out_of_capacity(session: Any) -> None:
    simulated_answers(session)
    PinnedGroupIds(session)
    session.events.register("before-call.ec2.RunInstances", _no_capacity)


def test_launch_failure_is_explained(cloud: None, tmp_path: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await drive_to(pilot, "ReviewStep")
        await pilot.press("enter", "enter")
        await wait_for_screen(pilot, "LaunchScreen")
        await wait_until(pilot, lambda: bool(getattr(pilot.app.screen, "failed", False)), TIMEOUT)
        await wait_until(pilot, loaded(pilot, "#step-error"), TIMEOUT)
        await settle(pilot)

    app = wizard_app(tmp_path, _out_of_capacity, start="ReviewStep")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
