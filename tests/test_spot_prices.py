"""Spot prices: moto implements DescribeSpotPriceHistory but answers a 0.00001 placeholder for every
type and zone (dated 2006), so realistic answers are injected with a before-call hook in the real shape;
moto's own answer is checked to fall back to the bundled catalog."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.test_quotas import Hooks, _error, _ok
from tui.services.cloud.aws import Aws
from tui.services.cloud.bundled_catalog import bundled_prices
from tui.services.cloud.catalog import PriceBook
from tui.services.cloud.spot_prices import lowest_spot_prices

REGION = "us-east-1"
SPOT = "ec2.DescribeSpotPriceHistory"
PRICING = "pricing.GetProducts"


def point(itype: str, zone: str, usd: str, minutes_ago: int = 10) -> dict[str, Any]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": itype,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": usd,
        "Timestamp": datetime.now(timezone.utc) - timedelta(minutes=minutes_ago),
    }


HISTORY = [
    point("g4dn.xlarge", "us-east-1a", "0.2410"),
    point("g4dn.xlarge", "us-east-1b", "0.1893"),
    point("g4dn.xlarge", "us-east-1c", "0.2012", minutes_ago=50),
    point("g5.xlarge", "us-east-1d", "0.4410"),
    point("g5.xlarge", "us-east-1a", "0.3987"),
]


def spot_hooks(history: list[dict[str, Any]] = HISTORY) -> Hooks:
    return Hooks().answer(SPOT, lambda _p: _ok({"SpotPriceHistory": history, "NextToken": ""}))


def test_lowest_price_across_zones_over_the_last_hour(aws: Aws) -> None:
    hooks = spot_hooks()

    prices = lowest_spot_prices(hooks.aws(), REGION, ["g4dn.xlarge", "g5.xlarge", "p5.48xlarge"])

    assert prices == {"g4dn.xlarge": 0.1893, "g5.xlarge": 0.3987}  # p5: no spot price listed
    sent = hooks.calls[SPOT][0]
    assert sent["InstanceTypes"] == ["g4dn.xlarge", "g5.xlarge", "p5.48xlarge"]
    assert "Linux/UNIX" in sent["ProductDescriptions"]
    window = sent["EndTime"] - sent["StartTime"]
    assert window == timedelta(hours=1)


def test_moto_placeholder_prices_are_not_shown(aws: Aws) -> None:
    # What moto 5.2 answers: every offered zone at $0.00001.
    raw = aws.client("ec2").describe_spot_price_history(InstanceTypes=["g4dn.xlarge"])["SpotPriceHistory"]
    assert raw and {p["SpotPrice"] for p in raw} == {"0.00001"}

    assert lowest_spot_prices(aws, REGION, ["g4dn.xlarge"]) == {}


def test_pricebook_uses_live_spot_prices(aws: Aws, tmp_path: Path) -> None:
    hooks = spot_hooks().answer(PRICING, lambda _p: _error("AccessDeniedException", "denied"))

    prices, source = PriceBook(hooks.aws(), tmp_path).prices(REGION, ["g4dn.xlarge", "g5.xlarge"])

    bundled, _ = bundled_prices(REGION)
    assert prices["g4dn.xlarge"] == (bundled["g4dn.xlarge"][0], 0.1893)  # on-demand bundled, spot live
    assert "spot prices: lowest in any zone, last hour" in source.detail


def test_pricebook_falls_back_to_bundled_spot_on_moto(aws: Aws, tmp_path: Path) -> None:
    hooks = Hooks().answer(PRICING, lambda _p: _error("AccessDeniedException", "denied"))

    prices, source = PriceBook(hooks.aws(), tmp_path).prices(REGION, ["g4dn.xlarge"])

    bundled, bundled_source = bundled_prices(REGION)
    assert prices["g4dn.xlarge"] == bundled["g4dn.xlarge"]
    assert f"spot prices: bundled catalog dated {bundled_source.as_of}" in source.detail
    assert "no plausible live spot price" in source.detail


def test_spot_denied_falls_back_and_names_the_permission(aws: Aws, tmp_path: Path) -> None:
    hooks = (
        Hooks()
        .answer(SPOT, lambda _p: _error("UnauthorizedOperation", "You are not authorized", 403))
        .answer(PRICING, lambda _p: _error("AccessDeniedException", "denied"))
    )

    prices, source = PriceBook(hooks.aws(), tmp_path).prices(REGION, ["g4dn.xlarge"])

    assert prices["g4dn.xlarge"][1] == bundled_prices(REGION)[0]["g4dn.xlarge"][1]
    assert "ec2:DescribeSpotPriceHistory" in source.detail


def test_simulated_cloud_keeps_bundled_spot_prices(aws: Aws, tmp_path: Path) -> None:
    hooks = spot_hooks()

    prices, source = PriceBook(hooks.aws(), tmp_path, offline=True).prices(REGION, ["g4dn.xlarge"])

    assert hooks.calls.get(SPOT, []) == []  # nothing asked: no session was even made
    assert prices["g4dn.xlarge"] == bundled_prices(REGION)[0]["g4dn.xlarge"]
    assert source.kind == "bundled"
