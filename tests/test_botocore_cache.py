"""The tests' shared botocore models (tests/support/botocore_cache.py): in effect, and nothing a test
registers on its own session reaches another test's clients."""

from __future__ import annotations

from typing import Any

from tui.services.cloud.aws import Aws


def test_two_sessions_share_the_client_class_and_keep_their_own_region_and_hooks(aws: Aws) -> None:
    other = Aws(region="us-east-1")
    seen: list[str] = []

    def note(**kwargs: Any) -> None:
        seen.append(kwargs["model"].name)

    other._session().events.register("before-call.ec2.DescribeRegions", note)
    mine, theirs = aws.client("ec2", "eu-west-1"), other.client("ec2", "us-west-2")
    assert type(mine) is type(theirs)  # made once: the cache is in effect
    assert (mine.meta.region_name, theirs.meta.region_name) == ("eu-west-1", "us-west-2")
    assert mine.describe_regions()["Regions"] and seen == []  # the other session's hook stays there
    assert theirs.describe_regions()["Regions"] and seen == ["DescribeRegions"]
