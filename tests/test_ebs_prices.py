"""EBS prices per region: the Pricing API (moto lacks it, so GetProducts is answered by botocore hooks
in the real API's shape), the disk cache, the us-east-1 list prices as the fallback, and the region's
price carried through the disk and snapshot costs of instances, images and leftovers on moto."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.test_catalog import _age_cache
from tests.test_lifecycle import run
from tests.test_quotas import Answer, Hooks, _error, _ok
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud import costs, leftovers, lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.catalog import RETRY_PRICING_AFTER_S, PriceBook
from tui.services.cloud.ebs_prices import FALLBACK_SOURCE, LIST_PRICES
from tui.services.cloud.leftovers import IMAGE, SNAPSHOT, VOLUME

PRICING = "pricing.GetProducts"
MANAGED = [{"Key": TAG_MANAGED, "Value": "true"}]

# region -> (the price list's location name, its usage type prefix)
LOCATIONS = {
    "us-east-1": ("US East (N. Virginia)", ""),
    "eu-west-1": ("EU (Ireland)", "EU-"),
    "sa-east-1": ("South America (Sao Paulo)", "SAE1-"),
}
# region -> (gp3 $/GB-month, standard snapshot $/GB-month), about what AWS lists.
LISTED = {
    "us-east-1": ("0.0800000000", "0.0500000000"),
    "eu-west-1": ("0.0880000000", "0.0500000000"),
    "sa-east-1": ("0.1520000000", "0.0680000000"),
}


def _product(
    region: str, family: str, usagetype: str, attributes: dict[str, str], unit: str, usd: str, what: str
) -> str:
    """One PriceList entry as GetProducts returns it: a JSON document in a string."""
    location, _ = LOCATIONS[region]
    sku = hashlib.sha256(f"{region}/{usagetype}".encode()).hexdigest()[:16].upper()
    term = f"{sku}.JRTCKXETXF"
    return json.dumps(
        {
            "product": {
                "productFamily": family,
                "attributes": {
                    "servicecode": "AmazonEC2",
                    "location": location,
                    "locationType": "AWS Region",
                    "usagetype": usagetype,
                    "operation": "",
                    "regionCode": region,
                    "servicename": "Amazon Elastic Compute Cloud",
                    **attributes,
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    term: {
                        "priceDimensions": {
                            f"{term}.6YS6EN2CT7": {
                                "unit": unit,
                                "endRange": "Inf",
                                "description": f"${float(usd):g} per {what} - {location}",
                                "appliesTo": [],
                                "rateCode": f"{term}.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": "JRTCKXETXF",
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
    )


def gp3_item(region: str) -> str:
    prefix = LOCATIONS[region][1]
    attributes = {
        "storageMedia": "SSD-backed",
        "volumeType": "General Purpose",
        "volumeApiName": "gp3",
        "maxVolumeSize": "16 TiB",
        "maxIopsvolume": "16000",
        "maxThroughputvolume": "1000 MiB/s",
    }
    what = "GB-month of General Purpose (gp3) provisioned storage"
    return _product(
        region, "Storage", f"{prefix}EBS:VolumeUsage.gp3", attributes, "GB-Mo", LISTED[region][0], what
    )


def snapshot_pages(region: str) -> list[list[str]]:
    """The Storage Snapshot family in two pages: the archive tier (cheaper, GB-Mo too) and Fast
    Snapshot Restore first, the standard tier on the next page."""
    prefix = LOCATIONS[region][1]
    s3 = {"storageMedia": "Amazon S3"}
    archive = _product(
        region,
        "Storage Snapshot",
        f"{prefix}EBS:SnapshotArchiveStorage",
        {"storageMedia": "Amazon S3 Glacier"},
        "GB-Mo",
        "0.0125000000",
        "GB-month of EBS Snapshot Archive storage",
    )
    fast_restore = _product(
        region,
        "Storage Snapshot",
        f"{prefix}EBS:FastSnapshotRestore",
        s3,
        "DSU-Hr",
        "0.7500000000",
        "DSU-hour of Fast Snapshot Restore",
    )
    standard = _product(
        region,
        "Storage Snapshot",
        f"{prefix}EBS:SnapshotUsage",
        s3,
        "GB-Mo",
        LISTED[region][1],
        "GB-Month of snapshot data stored",
    )
    return [[archive, fast_restore], [standard]]


def _filters(params: dict[str, Any]) -> dict[str, str]:
    return {f["Field"]: f["Value"] for f in params["Filters"]}


def price_list(params: dict[str, Any]) -> Answer:
    """GetProducts as AWS answers the filters sent: the region's gp3 product, or its snapshot
    products in two pages; nothing for a region it doesn't list."""
    filters = _filters(params)
    region = filters["regionCode"]
    if region not in LISTED:
        pages: list[list[str]] = [[]]
    elif filters["productFamily"] == "Storage" and filters.get("volumeApiName") == "gp3":
        pages = [[gp3_item(region)]]
    elif filters["productFamily"] == "Storage Snapshot":
        pages = snapshot_pages(region)
    else:
        pages = [[]]
    index = int(params.get("NextToken") or 0)
    parsed: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": pages[index]}
    if index + 1 < len(pages):
        parsed["NextToken"] = str(index + 1)
    return _ok(parsed)


def pricing_hooks() -> Hooks:
    return Hooks().answer(PRICING, price_list)


def denied_hooks() -> Hooks:
    message = "User: arn:aws:iam::123456789012:user/book is not authorized to perform: pricing:GetProducts"
    return Hooks().answer(PRICING, lambda _params: _error("AccessDeniedException", message))


def asked_regions(hooks: Hooks) -> set[str]:
    return {_filters(call)["regionCode"] for call in hooks.calls.get(PRICING, [])}


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


# -- the price book ------------------------------------------------------------------------------


def test_region_prices_come_from_the_pricing_api_then_from_the_cache(aws: Aws, tmp_path: Path) -> None:
    hooks = pricing_hooks()

    prices = PriceBook(hooks.aws(), tmp_path).ebs("eu-west-1")

    assert (prices.gp3_gb_month, prices.snapshot_gb_month) == (0.088, 0.05)
    assert prices.source == f"Pricing API, {today()}"
    calls = hooks.calls[PRICING]
    assert len(calls) == 3, "gp3, then both pages of snapshots"
    assert all(call["ServiceCode"] == "AmazonEC2" for call in calls)
    assert all(f["Type"] == "TERM_MATCH" for call in calls for f in call["Filters"])
    assert _filters(calls[0]) == {
        "regionCode": "eu-west-1",
        "productFamily": "Storage",
        "volumeApiName": "gp3",
    }
    assert _filters(calls[1]) == {"regionCode": "eu-west-1", "productFamily": "Storage Snapshot"}
    cached = json.loads((tmp_path / "ebs-prices-eu-west-1.json").read_text())
    assert (cached["gp3_usd_per_gb_month"], cached["snapshot_usd_per_gb_month"]) == (0.088, 0.05)
    assert datetime.fromisoformat(cached["fetched_at"]) > datetime.now(timezone.utc) - timedelta(minutes=1)
    assert [p.name for p in tmp_path.iterdir()] == ["ebs-prices-eu-west-1.json"], "no temp file left behind"

    again_hooks = pricing_hooks()
    again = PriceBook(again_hooks.aws(), tmp_path).ebs("eu-west-1")

    assert again == prices
    assert again_hooks.calls.get(PRICING, []) == [], "a fresh cache is used without calling the API"


def test_archive_and_fast_restore_rows_are_not_the_snapshot_price(aws: Aws, tmp_path: Path) -> None:
    prices = PriceBook(pricing_hooks().aws(), tmp_path).ebs("sa-east-1")

    # The archive tier (0.0125/GB-month) is listed first and is cheaper: the standard tier is the price.
    assert (prices.gp3_gb_month, prices.snapshot_gb_month) == (0.152, 0.068)


def test_a_refused_api_falls_back_to_the_list_prices_and_says_why(aws: Aws, tmp_path: Path) -> None:
    hooks = denied_hooks()
    book = PriceBook(hooks.aws(), tmp_path)

    prices = book.ebs("eu-west-1")

    assert (prices.gp3_gb_month, prices.snapshot_gb_month) == (0.08, 0.05)
    assert prices.source.startswith(FALLBACK_SOURCE)
    assert "us-east-1 list price" in prices.source and "pricing:GetProducts" in prices.source
    assert not (tmp_path / "ebs-prices-eu-west-1.json").exists()
    assert book.ebs("eu-west-1") == prices
    assert len(hooks.calls[PRICING]) == 1, f"not asked again for {RETRY_PRICING_AFTER_S:g} s"


def test_moto_without_a_pricing_api_falls_back(aws: Aws, tmp_path: Path) -> None:
    # moto answers GetProducts with 404 "Not yet implemented": the real failure, nothing injected.
    prices = PriceBook(aws, tmp_path).ebs("eu-west-1")

    assert (prices.gp3_gb_month, prices.snapshot_gb_month) == (0.08, 0.05)
    assert "no live price, because the Pricing API" in prices.source


def test_a_region_the_api_does_not_list_falls_back(aws: Aws, tmp_path: Path) -> None:
    prices = PriceBook(pricing_hooks().aws(), tmp_path).ebs("ap-southeast-7")

    assert (prices.gp3_gb_month, prices.snapshot_gb_month) == (0.08, 0.05)
    assert "listed no EBS gp3 price for ap-southeast-7" in prices.source


def test_a_stale_cache_stands_in_when_the_api_fails(aws: Aws, tmp_path: Path) -> None:
    PriceBook(pricing_hooks().aws(), tmp_path).ebs("eu-west-1")
    _age_cache(tmp_path / "ebs-prices-eu-west-1.json", days=10)
    denied = denied_hooks()

    prices = PriceBook(denied.aws(), tmp_path).ebs("eu-west-1")

    assert len(denied.calls[PRICING]) == 1, "a stale cache is refreshed first"
    assert prices.gp3_gb_month == 0.088, "the region's own, if old, beats another region's"
    assert "10 days old" in prices.source and "pricing:GetProducts" in prices.source


def test_a_stale_cache_is_refreshed_when_the_api_answers(aws: Aws, tmp_path: Path) -> None:
    PriceBook(pricing_hooks().aws(), tmp_path).ebs("eu-west-1")
    _age_cache(tmp_path / "ebs-prices-eu-west-1.json", days=8)
    hooks = pricing_hooks()

    prices = PriceBook(hooks.aws(), tmp_path, max_age_days=7).ebs("eu-west-1")

    assert prices.source == f"Pricing API, {today()}" and len(hooks.calls[PRICING]) == 3
    fetched = json.loads((tmp_path / "ebs-prices-eu-west-1.json").read_text())["fetched_at"]
    assert datetime.fromisoformat(fetched) > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_offline_never_calls_the_api(aws: Aws, tmp_path: Path) -> None:
    hooks = pricing_hooks()

    prices = PriceBook(hooks.aws(), tmp_path, offline=True).ebs("eu-west-1")

    assert prices == LIST_PRICES and prices.source == FALLBACK_SOURCE
    assert hooks.calls.get(PRICING, []) == []  # nothing asked: no session was even made


# -- the region's price through the services, on moto -----------------------------------------


def _managed_volume(aws: Aws, region: str, gib: int, name: str) -> str:
    tags = [*MANAGED, {"Key": TAG_NAME, "Value": name}]
    return str(
        aws.client("ec2", region).create_volume(
            AvailabilityZone=f"{region}a",
            Size=gib,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
        )["VolumeId"]
    )


def test_leftover_volumes_and_snapshots_cost_their_regions_price(aws: Aws, tmp_path: Path) -> None:
    hooks = pricing_hooks()
    hooked = hooks.aws()
    _managed_volume(aws, "us-east-1", 100, "east")
    _managed_volume(aws, "eu-west-1", 100, "ireland")
    source = _managed_volume(aws, "sa-east-1", 40, "saopaulo")
    ec2 = aws.client("ec2", "sa-east-1")
    snapshot = ec2.create_snapshot(
        VolumeId=source, TagSpecifications=[{"ResourceType": "snapshot", "Tags": MANAGED}]
    )["SnapshotId"]
    ec2.delete_volume(VolumeId=source)
    regions = ["eu-west-1", "sa-east-1", "us-east-1", "us-west-2"]

    found = leftovers.find_leftovers(hooked, regions, ebs=PriceBook(hooked, tmp_path).ebs).items

    cost = {(x.region, x.kind): x.usd_per_month for x in found}
    assert cost == {
        ("eu-west-1", VOLUME): pytest.approx(100 * 0.088),
        ("sa-east-1", SNAPSHOT): pytest.approx(40 * 0.068),
        ("us-east-1", VOLUME): pytest.approx(100 * 0.08),
    }
    assert snapshot in {x.resource_id for x in found}
    assert leftovers.monthly(found) == pytest.approx(8.8 + 2.72 + 8.0)
    assert "us-west-2" not in asked_regions(hooks), "a region with nothing to price isn't asked"
    # Without a price book every region has the us-east-1 list price, as before.
    plain = {(x.region, x.kind): x.usd_per_month for x in leftovers.find_leftovers(aws, regions).items}
    assert plain[("eu-west-1", VOLUME)] == pytest.approx(8.0)


def test_a_stopped_instance_disk_costs_its_regions_price(aws: Aws, tmp_path: Path) -> None:
    hooked = pricing_hooks().aws()
    book = PriceBook(hooked, tmp_path)
    parked = run(aws, "eu-west-1", "parked", itype="g4dn.xlarge")
    aws.client("ec2", "eu-west-1").stop_instances(InstanceIds=[parked])

    [row] = costs.instance_rows(hooked, lambda region: {}, ["eu-west-1"], ebs=book.ebs)
    fresh = costs.row_for(hooked, lambda region: {}, "eu-west-1", parked, ebs=book.ebs)

    assert row.instance.state == "stopped" and row.disk_gib > 0
    assert row.disk_usd_per_month == pytest.approx(row.disk_gib * 0.088)
    assert fresh is not None and fresh.disk_usd_per_month == row.disk_usd_per_month


def test_a_saved_images_snapshots_cost_their_regions_price(aws: Aws, tmp_path: Path) -> None:
    hooked = pricing_hooks().aws()
    book = PriceBook(hooked, tmp_path)
    run(aws, "sa-east-1", "book")
    image_id = lifecycle.create_image(
        aws, lifecycle.find_instance(aws, "book", "sa-east-1"), "book-saved", poll_interval=0.01
    )

    [saved] = costs.saved_images(hooked, "sa-east-1", book.ebs)
    [listed] = [x for x in leftovers.find_leftovers(hooked, ["sa-east-1"], book.ebs).items if x.kind == IMAGE]

    assert saved.image_id == listed.resource_id == image_id and saved.snapshot_gib > 0
    assert saved.usd_per_month == pytest.approx(saved.snapshot_gib * 0.068)
    assert listed.usd_per_month == pytest.approx(saved.usd_per_month)
