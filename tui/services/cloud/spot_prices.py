"""Spot $/h: the lowest DescribeSpotPriceHistory price across the region's zones, over the last hour.

The launch doesn't pin a zone, so the cheapest zone is what the user can get. Spot prices move, so
they are read fresh each time the GPU step loads (no disk cache), and a failure only means the bundled
catalog's spot price stands in, labelled as such.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from tui.services.cloud.aws import Aws

log = logging.getLogger(__name__)

SPOT_PERMISSION = "ec2:DescribeSpotPriceHistory"
SPOT_WINDOW = timedelta(hours=1)
# DescribeSpotPriceHistory's InstanceTypes has no documented cap; batches keep each answer small.
_BATCH = 50
# No GPU instance has ever been offered for less than a tenth of a cent an hour. Emulators answer a
# placeholder (moto: "0.00001" for every type and zone); such a figure is not a price to show.
MIN_PLAUSIBLE_USD = 0.001


def lowest_spot_prices(aws: Aws, region: str, names: list[str]) -> dict[str, float]:
    """instance type -> lowest Linux/UNIX spot $/h in any zone of the region over the last hour.

    Types without a plausible price are left out. botocore's errors pass through (the caller turns
    every failure into the bundled fallback)."""
    ec2 = aws.client("ec2", region)
    end = datetime.now(timezone.utc)
    found: dict[str, float] = {}
    for start in range(0, len(names), _BATCH):
        pages = ec2.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=names[start : start + _BATCH],
            # VPC instances report as "Linux/UNIX (Amazon VPC)" in some answers: ask for both.
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            StartTime=end - SPOT_WINDOW,
            EndTime=end,
        )
        for page in pages:
            for point in page.get("SpotPriceHistory", []):
                _take(found, point)
    return found


def _take(found: dict[str, float], point: dict[str, Any]) -> None:
    try:
        itype = str(point["InstanceType"])
        usd = float(point["SpotPrice"])
    except (KeyError, TypeError, ValueError):
        log.debug("skipping an unreadable spot price point: %r", point)
        return
    if usd < MIN_PLAUSIBLE_USD:
        return
    if usd < found.get(itype, float("inf")):
        found[itype] = usd
