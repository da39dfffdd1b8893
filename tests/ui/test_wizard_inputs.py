"""Bad input is refused inline with a sentence, Back keeps every choice, and AWS errors become
sentences on screen. Keys only, on moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from tests.support.wizard_choices import app_on
from tests.ui.driving import build_context, loaded, screen_name, wait_for_screen, wait_until
from tui.app import D2lApp, make_app
from tui.context import AppContext
from tui.demo.cloud import add_realistic_image_sizes
from tui.services.cloud.aws import Aws

STEPS = ["RegionStep", "LimitsStep", "GpuTypeStep", "ImageStep", "StorageStep", "KeyPairStep", "ReviewStep"]
TABLES = {
    "RegionStep": "#regions",
    "LimitsStep": "#quotas",
    "GpuTypeStep": "#gpu-types",
    "ImageStep": "#images",
}


async def drive_to(pilot: Pilot[Any], target: str) -> None:
    """Accept every step's default until ``target`` is on screen and loaded (from the step shown now,
    or the first one shown: the app may start the wizard on a later step)."""
    await wait_until(pilot, lambda: screen_name(pilot) in STEPS)
    current = screen_name(pilot)
    for step in STEPS[STEPS.index(current) :]:
        await wait_for_screen(pilot, step)
        if step in TABLES:
            await wait_until(pilot, loaded(pilot, TABLES[step]))
        if step == "KeyPairStep":
            await wait_until(pilot, loaded(pilot, "#keys"))
        if step == target:
            return
        await pilot.press("ctrl+n")


def error_text(app: D2lApp) -> str:
    return str(app.screen.query_one("#step-error", Static).render())


async def type_into(pilot: Pilot[Any], selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


# Each refused input with the sentence it gets; consecutive sentences differ, so each is this
# input's (the disk field also says what is wrong while typing).
DISK_REFUSALS = [
    ("64GB", "Type a whole number of GiB"),
    ("40", "needs at least 75 GiB, its snapshot size"),
    ("", "Type a whole number of GiB"),
    ("20000", "at most 16384 GiB"),
]
CIDR_REFUSALS = [
    ("not-an-ip", "is not an IP address or CIDR block"),
    ("[/x]", "'[/x]' is not an IP address"),  # shown as typed, not read as markup
    ("0.0.0.0/0", "Tick the box to confirm"),
    ("0.0.0.0/0.0.0.0", "Tick the box to confirm"),
    ("10.0.0.0/8", "Tick the box to confirm"),
]


async def refused(pilot: Pilot[Any], selector: str, typed: str, sentence: str) -> None:
    """``typed`` into the field and Enter: the step stays, saying ``sentence``."""
    step = screen_name(pilot)
    await type_into(pilot, selector, typed)
    await pilot.press("enter")
    await pilot.pause()
    assert screen_name(pilot) == step, typed
    assert sentence in error_text(pilot.app), typed  # type: ignore[arg-type]


async def test_bad_input_is_refused_inline_on_each_step(aws: Aws, tmp_path: Path) -> None:
    """One walk, as a person who mistypes every field in turn, then types what it takes."""
    app = app_on(build_context(aws, tmp_path), "StorageStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "StorageStep")  # the Deep Learning AMI: 75 GiB snapshot
        assert app.screen.query_one("#disk", Input).value == "75"  # 64 raised to the image's size
        for typed, sentence in DISK_REFUSALS:
            await refused(pilot, "#disk", typed, sentence)
        await type_into(pilot, "#disk", "80")
        await pilot.press("enter")

        await wait_for_screen(pilot, "KeyPairStep")
        await wait_until(pilot, loaded(pilot, "#keys"))
        await refused(pilot, "#key-name", "my key", "has a space")
        await type_into(pilot, "#key-name", "d2l-tui")
        await pilot.press("enter")

        await wait_for_screen(pilot, "ReviewStep")
        await wait_until(pilot, lambda: app.screen.query_one("#cidr", Input).value != "")
        for typed, sentence in CIDR_REFUSALS:
            await refused(pilot, "#cidr", typed, sentence)
            tick = app.screen.query_one("#open-world", Checkbox)
            assert tick.display == ("Tick" in sentence), typed
            if typed == "10.0.0.0/8":
                assert "all of 10.0.0.0/8" in str(tick.label)
    assert aws.client("ec2").describe_instances()["Reservations"] == []
    assert not (tmp_path / "ssh" / "d2l-tui" / "my key.pem").exists()


async def test_back_keeps_every_choice(aws: Aws, tmp_path: Path) -> None:
    app = app_on(build_context(aws, tmp_path), "GpuTypeStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "GpuTypeStep")
        await pilot.press("slash", *"g5.xlarge", "enter", "enter")
        await wait_for_screen(pilot, "ImageStep")
        await wait_until(pilot, loaded(pilot, "#images"))
        await pilot.press("down", "enter")  # Ubuntu 24.04
        await wait_for_screen(pilot, "StorageStep")
        await type_into(pilot, "#disk", "123")
        await pilot.press("enter")
        await wait_for_screen(pilot, "KeyPairStep")
        for _ in range(3):  # key pair -> storage -> image -> GPU type
            await pilot.press("escape")
            await pilot.pause()
        await wait_for_screen(pilot, "GpuTypeStep")
        await wait_until(pilot, loaded(pilot, "#gpu-types"))
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, "ImageStep")
        await wait_until(pilot, loaded(pilot, "#images"))
        assert app.state.gpu_type is not None and app.state.gpu_type.instance_type == "g5.xlarge"
        assert app.state.image is not None and "noble-24.04" in app.state.image.name
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, "StorageStep")
        assert app.screen.query_one("#disk", Input).value == "123"


def _refuse_run_instances(code: str, message: str) -> Any:
    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        meta = {"RequestId": "req-launch", "HTTPStatusCode": 400, "HTTPHeaders": {}}
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 400, HTTPHeaders(), None), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": meta,
        }

    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        session.events.register("before-call.ec2.RunInstances", hook)

    return customize


async def test_vcpu_limit_is_a_sentence_and_back_returns_to_review(tmp_path: Path) -> None:
    message = "You have requested more vCPU capacity than your current vCPU limit of 0 allows."
    with mock_aws():
        aws = Aws(region="us-east-1", customize=_refuse_run_instances("VcpuLimitExceeded", message))
        app = app_on(build_context(aws, tmp_path), "ReviewStep")
        async with app.run_test(size=(120, 40)) as pilot:
            await drive_to(pilot, "ReviewStep")
            await wait_until(pilot, lambda: app.screen.query_one("#cidr", Input).value != "")
            await pilot.press("ctrl+n")
            await wait_for_screen(pilot, "LaunchScreen")
            await wait_until(pilot, lambda: app.screen.failed)  # type: ignore[attr-defined]
            shown = error_text(app)
            assert "vCPU limit" in shown and "quota increase" in shown
            assert "Traceback" not in shown
            await pilot.press("escape")
            await wait_for_screen(pilot, "ReviewStep")
            assert app.state.gpu_type is not None and app.state.gpu_type.instance_type == "g4dn.xlarge"
        assert aws.client("ec2").describe_instances()["Reservations"] == []


async def test_no_credentials_screen_offers_the_simulated_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    app = make_app(AppContext(aws=Aws(region="us-east-1")))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "CredentialsScreen")
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "No AWS credentials were found." in text
        assert "aws configure" in text
        await pilot.press("d")  # try the simulated cloud
        await wait_for_screen(pilot, "RegionStep")
        await wait_until(pilot, loaded(pilot, "#regions"), timeout=60)
        assert app.ctx is not None and app.ctx.simulated
        assert "SIMULATED CLOUD" in str(app.screen.query_one("StepHeader", Static).render())


async def test_aws_not_answering_at_start_says_so_and_retry_goes_on(tmp_path: Path) -> None:
    import botocore.exceptions

    from tui.screens.credentials import CredentialsScreen

    down = {"yes": True}

    def unreachable(**_: object) -> None:
        if down["yes"]:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://sts.amazonaws.com/")

    def customize(session: object) -> None:
        session.events.register("before-call", unreachable)  # type: ignore[attr-defined]

    with mock_aws():
        app = make_app(build_context(Aws(region="us-east-1", customize=customize), tmp_path))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_screen(pilot, "CredentialsScreen")  # not stuck on "Checking…"
            screen = app.screen
            assert isinstance(screen, CredentialsScreen) and screen.unreachable
            text = " ".join(str(w.render()) for w in screen.query(Static))
            assert "AWS did not answer" in text and "Could not reach AWS" in text
            assert "aws configure" not in text  # not a credentials problem
            down["yes"] = False  # the network is back
            await pilot.press("r")
            await wait_for_screen(pilot, "RegionStep")


async def test_escape_in_the_gpu_filter_leaves_the_filter_not_the_step(aws: Aws, tmp_path: Path) -> None:
    app = app_on(build_context(aws, tmp_path), "GpuTypeStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "GpuTypeStep")
        await pilot.press("slash", "g", "6", "e")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert screen_name(pilot) == "GpuTypeStep"
        assert app.screen.query_one("#gpu-filter", Input).value == "g6e"  # kept
        assert app.screen.query_one("#gpu-types").has_focus
        await pilot.press("escape")  # now the step
        await wait_for_screen(pilot, "LimitsStep")


async def test_the_reviews_setup_list_opens_with_every_choice(aws: Aws, tmp_path: Path) -> None:
    """A Select's list is an OptionList: the app's OptionList rule (max-height: 1fr) opened it one
    row tall, so a newcomer saw only the chosen framework."""
    from textual.widgets import Select
    from textual.widgets._select import SelectOverlay

    from tui.screens.review import FRAMEWORK_OPTIONS

    app = app_on(build_context(aws, tmp_path), "ReviewStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "ReviewStep")
        select = app.screen.query_one("#framework", Select)
        select.focus()
        await pilot.press("enter")
        overlay = select.query_one(SelectOverlay)
        await wait_until(pilot, lambda: overlay.region.height > 1)
        await pilot.pause()
        assert overlay.region.height >= len(FRAMEWORK_OPTIONS), overlay.region
