"""What the app's instances and images cost: $/h, $ so far, and their disks' $/month.

Compute is billed while an instance is pending, running or stopping; a stopped instance bills
only its EBS volumes, and a saved image bills its snapshots, at the region's EBS prices
(ebs_prices.py). "So far" counts from LaunchTime, which AWS moves to the moment of the last start,
so it is "since launch or last start".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tui.logs import log_exception
from tui.models import TAG_MANAGED, TAG_NAME, Instance
from tui.services.cloud.aws import Aws
from tui.services.cloud.ebs_prices import (
    SNAPSHOT_USD_PER_GB_MONTH,
    EbsLookup,
    EbsPrices,
    list_prices,
    list_prices_for,
    region_prices,
)
from tui.services.cloud.fanout import fanout
from tui.services.cloud.lifecycle import MAX_WORKERS, list_managed
from tui.services.errors import from_client_error

log = logging.getLogger(__name__)

BILLED_STATES = frozenset({"pending", "running", "stopping"})

# region -> (instance_type -> (on-demand $/h, spot $/h)), as PriceBook.prices gives it.
Prices = Callable[[str], dict[str, tuple[float | None, float | None]]]


@dataclass(frozen=True)
class InstanceRow:
    """An instance with what it costs, as the instances screen shows it."""

    instance: Instance
    gpu: str  # "T4", "4×A10G", "" when unknown
    usd_per_hour: float | None
    usd_so_far: float | None  # None when not billed for compute (stopped) or the price is unknown
    disk_gib: int
    disk_usd_per_month: float
    costs_pending: bool = False  # painted before its prices and volumes were read

    @property
    def key(self) -> str:
        return self.instance.instance_id


@dataclass(frozen=True)
class SavedImage:
    image_id: str
    name: str
    region: str
    state: str
    snapshot_ids: tuple[str, ...]
    snapshot_gib: int
    creation_date: str
    snapshot_usd_per_gb_month: float = SNAPSHOT_USD_PER_GB_MONTH  # the region's

    @property
    def usd_per_month(self) -> float:
        return self.snapshot_gib * self.snapshot_usd_per_gb_month


def gpu_label(instance_type: str) -> str:
    from tui.services.cloud.bundled_catalog import bundled_specs

    row = bundled_specs().get(instance_type)
    if row is None:
        return ""
    return row.gpu_name if row.gpu_count <= 1 else f"{row.gpu_count}×{row.gpu_name}"


def hourly_price(prices: dict[str, tuple[float | None, float | None]], instance: Instance) -> float | None:
    ondemand, spot = prices.get(instance.instance_type, (None, None))
    return spot if instance.spot else ondemand


def hours_billed(instance: Instance, now: datetime | None = None) -> float | None:
    if instance.state not in BILLED_STATES or instance.launch_time is None:
        return None
    now = now or datetime.now(timezone.utc)
    launched = instance.launch_time
    if launched.tzinfo is None:
        launched = launched.replace(tzinfo=timezone.utc)
    return max(0.0, (now - launched).total_seconds() / 3600)


def cost_so_far(instance: Instance, usd_per_hour: float | None, now: datetime | None = None) -> float | None:
    hours = hours_billed(instance, now)
    if hours is None or usd_per_hour is None:
        return None
    # Per-second billing with a one-minute minimum (Linux on-demand and spot).
    return usd_per_hour * max(hours, 1 / 60)


def _volumes(aws: Aws, region: str, instance_ids: list[str]) -> dict[str, int]:
    """instance id -> GiB of EBS volumes attached to it (one DescribeVolumes per region)."""
    import botocore.exceptions as bex

    sizes: dict[str, int] = {}
    try:
        pages = (
            aws.client("ec2", region)
            .get_paginator("describe_volumes")
            .paginate(Filters=[{"Name": "attachment.instance-id", "Values": instance_ids}])
        )
        for page in pages:
            for volume in page.get("Volumes", []):
                for attachment in volume.get("Attachments", []):
                    owner = str(attachment.get("InstanceId", ""))
                    sizes[owner] = sizes.get(owner, 0) + int(volume.get("Size", 0))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeVolumes") from exc
    return sizes


def instance_rows(
    aws: Aws,
    prices: Prices,
    regions: list[str] | None = None,
    now: datetime | None = None,
    ebs: EbsLookup = list_prices_for,
) -> list[InstanceRow]:
    """Every managed instance with its costs. Prices and volumes are conveniences: when they can't
    be read the row still shows, with the cost unknown. Regions that did not answer are left out:
    the screens use list_managed, whose listing names them."""
    return rows_with_costs(aws, prices, list_managed(aws, regions).instances, now, ebs)


def rows_without_costs(instances: list[Instance]) -> list[InstanceRow]:
    """Rows to paint at once; their costs follow (rows_with_costs)."""
    return [
        InstanceRow(i, gpu_label(i.instance_type), None, None, 0, 0.0, costs_pending=True) for i in instances
    ]


@dataclass(frozen=True)
class _RegionCosts:
    """What one region's rows are priced with."""

    hourly: dict[str, tuple[float | None, float | None]]
    disks: dict[str, int]  # instance id -> GiB
    ebs: EbsPrices


def rows_with_costs(
    aws: Aws,
    prices: Prices,
    instances: list[Instance],
    now: datetime | None = None,
    ebs: EbsLookup = list_prices_for,
) -> list[InstanceRow]:
    """``instances`` with their costs: ``prices`` and ``ebs`` give each region's $/h and EBS prices."""
    by_region: dict[str, list[Instance]] = {}
    for instance in instances:
        by_region.setdefault(instance.region, []).append(instance)

    def extras(region: str) -> _RegionCosts:
        table: dict[str, Any] = {}
        disks: dict[str, int] = {}
        try:
            table = prices(region)
        except Exception as exc:
            log_exception(log, exc, f"prices for {region}")
        try:
            disks = _volumes(aws, region, [i.instance_id for i in by_region[region]])
        except Exception as exc:
            log_exception(log, exc, f"volumes in {region}")
        return _RegionCosts(table, disks, region_prices(ebs, region))

    looked_up: dict[str, _RegionCosts] = {}
    if by_region:
        with fanout(min(MAX_WORKERS, len(by_region)), "cost") as pool:
            looked_up = dict(zip(by_region, pool.map(extras, by_region), strict=True))
    nothing = _RegionCosts({}, {}, list_prices())
    return [_row(instance, looked_up.get(instance.region, nothing), now) for instance in instances]


def _row(instance: Instance, costs: _RegionCosts, now: datetime | None) -> InstanceRow:
    price = hourly_price(costs.hourly, instance)
    gib = costs.disks.get(instance.instance_id, 0)
    return InstanceRow(
        instance=instance,
        gpu=gpu_label(instance.instance_type),
        usd_per_hour=price,
        usd_so_far=cost_so_far(instance, price, now),
        disk_gib=gib,
        disk_usd_per_month=costs.ebs.volume_per_month(gib),
    )


def saved_images(aws: Aws, region: str, ebs: EbsLookup = list_prices_for) -> list[SavedImage]:
    """The app's own images in a region (any state), newest first, with their snapshots' size and
    the region's snapshot price."""
    import botocore.exceptions as bex

    try:
        answer = aws.client("ec2", region).describe_images(
            Owners=["self"], Filters=[{"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]}]
        )
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeImages") from exc
    images = answer.get("Images", [])
    # Asked only where there are images: most regions hold none of the app's.
    snapshot_price = region_prices(ebs, region).snapshot_gb_month if images else SNAPSHOT_USD_PER_GB_MONTH
    found = []
    for image in images:
        tags = {t.get("Key"): t.get("Value") for t in image.get("Tags", []) or []}
        disks = [m["Ebs"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        found.append(
            SavedImage(
                image_id=str(image.get("ImageId", "")),
                name=str(tags.get(TAG_NAME) or image.get("Name", "")),
                region=region,
                state=str(image.get("State", "")),
                snapshot_ids=tuple(str(e["SnapshotId"]) for e in disks if e.get("SnapshotId")),
                snapshot_gib=sum(int(e.get("VolumeSize", 0)) for e in disks),
                creation_date=str(image.get("CreationDate", "")),
                snapshot_usd_per_gb_month=snapshot_price,
            )
        )
    return sorted(found, key=lambda i: i.creation_date, reverse=True)


def money(value: float | None, unit: str = "") -> str:
    """$0.53, $12.40/month; "-" when unknown."""
    if value is None:
        return "-"
    return f"${value:,.2f}{unit}"


def row_for(
    aws: Aws,
    prices: Prices,
    region: str,
    instance_id: str,
    now: datetime | None = None,
    ebs: EbsLookup = list_prices_for,
) -> InstanceRow | None:
    """One instance's row, fresh from AWS; None when it no longer exists."""
    from tui.services.cloud.lifecycle import describe_one

    instance = describe_one(aws, region, instance_id)
    if instance is None or instance.state == "terminated":
        return None
    try:
        table = prices(region)
    except Exception as exc:
        log_exception(log, exc, f"prices for {region}")
        table = {}
    try:
        gib = _volumes(aws, region, [instance_id]).get(instance_id, 0)
    except Exception as exc:
        log_exception(log, exc, f"volumes of {instance_id}")
        gib = 0
    return _row(instance, _RegionCosts(table, {instance_id: gib}, region_prices(ebs, region)), now)


def uptime(instance: Instance, now: datetime | None = None) -> str:
    hours = hours_billed(instance, now)
    if hours is None:
        return "-"
    minutes = int(hours * 60)
    days, rest = divmod(minutes, 24 * 60)
    return f"{days}d {rest // 60}h" if days else f"{rest // 60}h {rest % 60:02d}m"
