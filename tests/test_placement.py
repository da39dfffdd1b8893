"""Spot placement scores: moto 5.2 lacks GetSpotPlacementScores, so its answer is injected with a
before-call hook in the real API's shape; moto's own gap is checked to give a reason, not an error."""

from __future__ import annotations

from tests.test_quotas import Hooks, _error, _ok
from tui.services.aws import Aws
from tui.services.placement import placement_score

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
