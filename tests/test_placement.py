"""Spot placement scores: moto 5.2 lacks GetSpotPlacementScores, so its answer is injected with a
before-call hook in the real API's shape; moto's own gap is checked to give a reason, not an error."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tests.test_quotas import Hooks, _error, _ok
from tui.services.cloud.aws import Aws
from tui.services.cloud.placement import placement_score

SCORES = "ec2.GetSpotPlacementScores"


def test_the_regions_score_is_read(aws: Aws) -> None:
    hooks = Hooks().answer(
        SCORES, lambda _p: _ok({"SpotPlacementScores": [{"Region": "us-east-1", "Score": 7}]})
    )

    found = placement_score(hooks.aws(), "us-east-1", "g4dn.xlarge")

    assert found.score == 7 and "7/10" in found.text
    sent = hooks.calls[SCORES][0]
    assert sent["InstanceTypes"] == ["g4dn.xlarge"] and sent["RegionNames"] == ["us-east-1"]
    assert (sent["TargetCapacity"], sent["SingleAvailabilityZone"]) == (1, False)


def test_a_refusal_is_a_reason(aws: Aws) -> None:
    hooks = Hooks().answer(
        SCORES,
        lambda _p: _error(
            "UnauthorizedOperation", "You are not authorized to perform this operation.", status=403
        ),
    )

    found = placement_score(hooks.aws(), "us-east-1", "g4dn.xlarge")

    assert found.score is None
    assert found.text == (
        "spot placement score unknown, because your AWS identity may not call "
        "ec2:GetSpotPlacementScores (ask your admin to grant it)"
    )


def test_no_score_for_the_region_is_a_reason(aws: Aws) -> None:
    hooks = Hooks().answer(SCORES, lambda _p: _ok({"SpotPlacementScores": []}))

    found = placement_score(hooks.aws(), "us-east-1", "p5.48xlarge")

    assert found.score is None and "no score for p5.48xlarge" in found.reason


def test_moto_alone_gives_a_reason(aws: Aws) -> None:
    found = placement_score(aws, "us-east-1", "g4dn.xlarge")
    assert found.score is None and found.reason


async def test_the_review_of_a_spot_launch_shows_the_score(aws: Aws, tmp_path: Path) -> None:
    from tests.support.wizard_choices import app_on
    from tests.ui.driving import build_context, wait_for_screen, wait_until
    from tests.ui.test_wizard_inputs import drive_to

    hooks = Hooks().answer(
        SCORES, lambda _p: _ok({"SpotPlacementScores": [{"Region": "us-east-1", "Score": 8}]})
    )
    app = app_on(build_context(hooks.aws(), tmp_path), "GpuTypeStep")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "GpuTypeStep")
        await pilot.press("p")  # buy spot
        await drive_to(pilot, "ReviewStep")
        await wait_for_screen(pilot, "ReviewStep")
        placement = app.screen.query_one("#review-placement", Static)
        await wait_until(pilot, lambda: "8/10" in str(placement.render()))
    assert hooks.calls[SCORES][0]["InstanceTypes"] == ["g4dn.xlarge"]
