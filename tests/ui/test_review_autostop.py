"""The review step's auto-stop line: on by default (30 min), Ctrl+O turns it off, a typed duration
changes it, bad input is one sentence, and a spot launch asks first. Keys only, on moto; what was
chosen is checked on the instance and its CloudWatch alarm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from tests.ui.driving import build_context, wait_for_screen, wait_until
from tests.ui.test_wizard_inputs import drive_to, error_text, type_into
from tui.app import make_app
from tui.models import TAG_AUTOSTOP, Purchase
from tui.services.cloud.aws import Aws


def note(pilot: Pilot[Any]) -> str:
    return str(pilot.app.screen.query_one("#autostop-note", Static).render())


async def launch_from_review(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.screen.query_one("#cidr", Input).value != "")
    await pilot.press("ctrl+n")
    await wait_for_screen(pilot, "LaunchScreen")
    await wait_until(pilot, lambda: getattr(app.screen, "finished", False) or app.screen.failed, 30)  # type: ignore[attr-defined]
    assert app.screen.finished, app.screen.query_one("#step-error").render()  # type: ignore[attr-defined]


def launched(aws: Aws) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(the instance's tags, the region's alarms)."""
    [data] = [i for r in aws.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]]
    tags = {t["Key"]: t["Value"] for t in data["Tags"]}
    return tags, aws.client("cloudwatch").describe_alarms()["MetricAlarms"]


async def test_on_by_default_for_thirty_minutes(aws: Aws, tmp_path: Path) -> None:
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "ReviewStep")
        assert app.screen.query_one("#autostop", Input).value == "30m"
        assert "stops (its disk stays, and is billed) after 30 min idle" in note(pilot)
        assert not app.screen.query_one("#spot-idle", Checkbox).display  # on-demand: nothing to agree to
        await launch_from_review(pilot)
    tags, [alarm] = launched(aws)
    assert tags[TAG_AUTOSTOP] == "30m" and alarm["EvaluationPeriods"] == 12


async def test_ctrl_o_turns_it_off_and_a_typed_duration_changes_it(aws: Aws, tmp_path: Path) -> None:
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "ReviewStep")
        await pilot.press("ctrl+o")
        assert app.screen.query_one("#autostop", Input).value == "off"
        assert note(pilot).startswith("Off: the instance runs, and is billed, until you stop it.")
        await pilot.press("ctrl+o")  # and back on, at the default
        assert app.screen.query_one("#autostop", Input).value == "30m"

        await type_into(pilot, "#autostop", "abc")
        assert "'abc' is not a duration" in note(pilot)  # said while typing
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "'abc' is not a duration: type one like 30m, 2h or 90 (minutes), or off." in error_text(app)
        assert app.screen.__class__.__name__ == "ReviewStep"

        await type_into(pilot, "#autostop", "2h")
        assert "after 120 min idle" in note(pilot)
        await launch_from_review(pilot)
    tags, [alarm] = launched(aws)
    assert tags[TAG_AUTOSTOP] == "120m" and alarm["EvaluationPeriods"] == 48  # twice two hours


async def test_spot_asks_before_idle_means_terminate(aws: Aws, tmp_path: Path) -> None:
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "LimitsStep")
        app.state.purchase = Purchase.SPOT  # type: ignore[attr-defined]  (the limits step's choice)
        await drive_to(pilot, "ReviewStep")
        tick = app.screen.query_one("#spot-idle", Checkbox)
        assert tick.display and "terminates (its disk is deleted)" in note(pilot)
        await wait_until(pilot, lambda: app.screen.query_one("#cidr", Input).value != "")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "can't be stopped" in error_text(app) and "Tick the box to agree, or type off." in error_text(
            app
        )
        await pilot.press("ctrl+o")  # off: nothing to agree to any more
        assert not tick.display
        await launch_from_review(pilot)
    tags, alarms = launched(aws)
    assert TAG_AUTOSTOP not in tags and alarms == []


async def test_the_demo_says_its_auto_stop_minutes_are_short(tmp_path: Path) -> None:
    from tests.support.screen_app import ScreenApp
    from tests.ui.test_disk_prices import IMAGE, T4
    from tui.context import make_context
    from tui.models import KeyChoice, Region
    from tui.screens.review import ReviewStep
    from tui.screens.wizard_state import WizardState

    ctx = make_context(None, None, demo=True)  # the simulated cloud --demo runs (its agent's minute: 1 s)
    try:
        key = KeyChoice("d2l-tui", None, create=True)
        state = WizardState(region=Region("us-east-1"), gpu_type=T4, image=IMAGE, key=key, name="box")
        screen = ReviewStep(ctx, state)
        async with ScreenApp(screen).run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            note = str(screen.query_one("#autostop-note", Static).render())
            assert "after 30 min idle" in note and "In this simulated cloud a minute of it lasts 1 s." in note
    finally:
        await ctx.aclose()
