"""Spot placement score: how likely a spot request for one instance of a type succeeds in a region,
from 1 (unlikely) to 10 (very likely), per GetSpotPlacementScores.

Optional: the call needs ec2:GetSpotPlacementScores, which many IAM policies don't grant, and AWS
limits how many different configurations an account may score a day. Every failure is a reason, not
an error, and the launch is never held up by it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tui.services.cloud.aws import Aws
from tui.services.cloud.regions import failure_reason

log = logging.getLogger(__name__)

PLACEMENT_PERMISSION = "ec2:GetSpotPlacementScores"


@dataclass(frozen=True)
class PlacementScore:
    """A score of 1-10, or None with a sentence-ending reason ("unknown, because …")."""

    score: int | None
    reason: str = ""

    @property
    def text(self) -> str:
        if self.score is None:
            return f"spot placement score unknown, because {self.reason}"
        return f"spot placement score {self.score}/10 (10: a spot request is very likely to be filled)"


def placement_score(aws: Aws, region: str, instance_type: str) -> PlacementScore:
    """The region's score for one instance of ``instance_type``, across its zones. Never raises."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    try:
        answer = ec2.get_spot_placement_scores(
            InstanceTypes=[instance_type],
            TargetCapacity=1,  # the wizard launches one instance
            TargetCapacityUnitType="units",
            SingleAvailabilityZone=False,  # the launch tries every zone that offers the type
            RegionNames=[region],
        )
    except (bex.ClientError, bex.BotoCoreError, NotImplementedError) as exc:
        log.info("spot placement score of %s in %s unavailable: %r", instance_type, region, exc)
        return PlacementScore(None, failure_reason(exc, "EC2", PLACEMENT_PERMISSION, region))
    scores = [
        int(s["Score"])
        for s in answer.get("SpotPlacementScores", [])
        if s.get("Region") == region and isinstance(s.get("Score"), int)
    ]
    if not scores:
        return PlacementScore(None, f"EC2 gave no score for {instance_type} in {region}")
    return PlacementScore(max(scores))
