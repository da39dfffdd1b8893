"""What EBS storage costs in a region: gp3 volumes and standard-tier snapshots, in $/GB-month.

A stopped instance bills only its disk and a kept image only its snapshots, so their monthly figure
should be the region's own: gp3 is $0.08 in us-east-1 but about $0.088 in eu-west-1 and $0.152 in
sa-east-1. The prices come from the AWS Pricing API; ``PriceBook.ebs`` (catalog.py) caches them per
region and falls back to the us-east-1 list prices below, which are the only copy in the app.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.logs import log_exception
from tui.services.cloud.aws import Aws
from tui.services.cloud.pricing_api import price_list
from tui.services.errors import D2lError

log = logging.getLogger(__name__)

# us-east-1 list prices (2025): what every region shows when its own can't be read.
GP3_USD_PER_GB_MONTH = 0.08
SNAPSHOT_USD_PER_GB_MONTH = 0.05
FALLBACK_SOURCE = "us-east-1 list price of 2025 (other regions cost more, up to about 2×)"

# Standard-tier snapshot storage; the archive tier, its retrievals and Fast Snapshot Restore are
# listed in the same product family with usage types that end otherwise.
_SNAPSHOT_USAGE = "EBS:SnapshotUsage"
_GB_MONTH = "GB-Mo"
_REGION_LOCATION = "AWS Region"


@dataclass(frozen=True)
class EbsPrices:
    """$/GB-month of a region's gp3 volumes and standard snapshots, and where the figures come from."""

    gp3_gb_month: float
    snapshot_gb_month: float
    source: str  # "Pricing API, 2026-11-26", or the fallback's FALLBACK_SOURCE and why

    def volume_per_month(self, gib: int) -> float:
        return gib * self.gp3_gb_month

    def snapshots_per_month(self, gib: int) -> float:
        return gib * self.snapshot_gb_month


LIST_PRICES = EbsPrices(GP3_USD_PER_GB_MONTH, SNAPSHOT_USD_PER_GB_MONTH, FALLBACK_SOURCE)

# region -> its EbsPrices, as PriceBook.ebs gives them.
EbsLookup = Callable[[str], EbsPrices]


def list_prices(reason: str = "") -> EbsPrices:
    """The bundled us-east-1 prices; ``reason`` (why the region's own weren't read) joins the source."""
    if not reason:
        return LIST_PRICES
    return EbsPrices(GP3_USD_PER_GB_MONTH, SNAPSHOT_USD_PER_GB_MONTH, f"{FALLBACK_SOURCE}; {reason}")


def list_prices_for(region: str) -> EbsPrices:
    """The default EbsLookup: the list prices in every region (a caller with a PriceBook passes its ``ebs``)."""
    return LIST_PRICES


def region_prices(ebs: EbsLookup, region: str) -> EbsPrices:
    """``ebs(region)``, or the list prices when it fails: a price is a convenience, never a blocker."""
    try:
        return ebs(region)
    except Exception as exc:
        log_exception(log, exc, f"EBS prices for {region}")
        return LIST_PRICES


def _gb_month_usd(doc: dict[str, Any]) -> float | None:
    """The OnDemand $/GB-month of one product (the lowest positive one when several are listed)."""
    found = [
        float(dimension["pricePerUnit"]["USD"])
        for term in doc.get("terms", {}).get("OnDemand", {}).values()
        for dimension in term.get("priceDimensions", {}).values()
        if dimension.get("unit") == _GB_MONTH
    ]
    positive = [usd for usd in found if usd > 0]
    return min(positive) if positive else None


def _lowest(items: list[Any], wanted: Callable[[dict[str, Any]], bool]) -> float | None:
    """The lowest $/GB-month among GetProducts' PriceList items (JSON documents in strings) whose
    attributes are ``wanted``."""
    prices: list[float] = []
    for item in items:
        try:
            doc = json.loads(item) if isinstance(item, str) else item
            if not wanted(doc["product"]["attributes"]):
                continue
            usd = _gb_month_usd(doc)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.debug("skipping an unreadable EBS price list item: %r", exc)
            continue
        if usd is not None:
            prices.append(usd)
    return min(prices, default=None)


def _in_the_region(attributes: dict[str, Any]) -> bool:
    # Local and Wavelength Zones may be listed under their parent region at other prices.
    return attributes.get("locationType", _REGION_LOCATION) == _REGION_LOCATION


def gp3_from_price_list(items: list[Any]) -> float | None:
    return _lowest(items, lambda a: _in_the_region(a) and a.get("volumeApiName") == "gp3")


def snapshot_from_price_list(items: list[Any]) -> float | None:
    return _lowest(
        items, lambda a: _in_the_region(a) and str(a.get("usagetype", "")).endswith(_SNAPSHOT_USAGE)
    )


def _price_list(aws: Aws, filters: dict[str, str]) -> list[Any]:
    return price_list(aws, [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in filters.items()])


def fetch_ebs_prices(aws: Aws, region: str) -> tuple[float, float]:
    """(gp3 $/GB-month, standard snapshot $/GB-month) in the region, from the Pricing API.

    botocore's errors pass through (PriceBook turns every failure into a fallback); D2lError when
    the API lists either price nowhere for the region."""
    storage = {"regionCode": region, "productFamily": "Storage", "volumeApiName": "gp3"}
    gp3 = gp3_from_price_list(_price_list(aws, storage))
    snapshots = {"regionCode": region, "productFamily": "Storage Snapshot"}
    snapshot = snapshot_from_price_list(_price_list(aws, snapshots))
    if gp3 is None or snapshot is None:
        raise D2lError(
            f"The Pricing API listed no EBS {'gp3' if gp3 is None else 'snapshot'} price for {region}.",
            "Disk costs use the us-east-1 list prices.",
        )
    return gp3, snapshot
