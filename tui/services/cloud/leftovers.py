"""What the app made that nothing uses any more, what it costs a month, and how to delete it.

Leftovers are resources tagged ``d2l-tui:managed=true``: security groups no live instance uses, key
pairs no live instance was launched with, volumes that are ``available`` (attached to nothing),
snapshots no image of the app refers to, auto-stop alarms whose instance is gone, and the app's
saved images. Saved images are kept on
purpose: they are listed (their snapshots cost money) but never part of a bulk clean-up; the user
deletes one at a time. Volumes and snapshots are priced at their region's EBS prices.

Regions are asked concurrently; within a region the clean-up runs in dependency order (images
before their snapshots), because AWS refuses to delete a snapshot an image still uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from tui.aws_response import error_code
from tui.logs import log_exception
from tui.models import TAG_MANAGED, TAG_NAME, RegionFailure
from tui.services.cloud import alarms
from tui.services.cloud.aws import Aws
from tui.services.cloud.ebs_prices import (
    GP3_USD_PER_GB_MONTH,
    EbsLookup,
    EbsPrices,
    list_prices_for,
    region_prices,
)
from tui.services.cloud.fanout import fanout
from tui.services.cloud.lifecycle import MAX_WORKERS, _as_d2l_error
from tui.services.cloud.unanswered import region_failure
from tui.services.errors import D2lError, from_client_error

log = logging.getLogger(__name__)

SECURITY_GROUP = "security-group"
KEY_PAIR = "key-pair"
VOLUME = "volume"
SNAPSHOT = "snapshot"
IMAGE = "image"
ALARM = "alarm"
# Deletion order within a region: an image first frees its snapshots.
ORDER = (IMAGE, SNAPSHOT, VOLUME, KEY_PAIR, SECURITY_GROUP, ALARM)
LABELS = {
    ALARM: "idle alarm",
    IMAGE: "saved image",
    SNAPSHOT: "snapshot",
    VOLUME: "volume",
    KEY_PAIR: "key pair",
    SECURITY_GROUP: "security group",
}
# $/GB-month by EBS volume type, us-east-1 list prices (2025): a reminder, not an invoice. The app
# makes gp3 volumes only, and those are priced at their region's own price (EbsPrices).
VOLUME_USD_PER_GB_MONTH = {
    "gp3": GP3_USD_PER_GB_MONTH,
    "gp2": 0.10,
    "io1": 0.125,
    "io2": 0.125,
    "st1": 0.045,
    "sc1": 0.015,
    "standard": 0.05,
}
_MANAGED = [{"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]}]
_LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")


@dataclass(frozen=True)
class Leftover:
    kind: str  # one of ORDER
    resource_id: str  # sg-…, the key pair's name, vol-…, snap-…, ami-…
    name: str
    region: str
    usd_per_month: float
    detail: str  # "64 GiB gp3", "2 snapshots, 75 GiB", "SSH from 203.0.113.7/32"
    snapshot_ids: tuple[str, ...] = ()  # an image's, deleted with it
    state: str = ""  # an image's ("pending", "available", "failed"): only an available one launches

    @property
    def key(self) -> str:
        return f"{self.region}/{self.kind}/{self.resource_id}"

    @property
    def label(self) -> str:
        if self.name and self.name != self.resource_id:
            return f"{LABELS[self.kind]} {self.name} ({self.resource_id}, {self.region})"
        return f"{LABELS[self.kind]} {self.resource_id} ({self.region})"


@dataclass(frozen=True)
class CleanupResult:
    leftover: Leftover
    error: D2lError | None = None


def _tag(tags: Iterable[dict[str, Any]] | None, key: str) -> str:
    return next((str(t.get("Value", "")) for t in tags or [] if t.get("Key") == key), "")


def _in_use(ec2: Any) -> tuple[set[str], set[str]]:
    """(security group ids, key pair names) used by the region's live instances and ENIs."""
    groups: set[str] = set()
    keys: set[str] = set()
    gone: set[str] = set()
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                if (inst.get("State") or {}).get("Name") not in _LIVE_STATES:
                    gone.add(str(inst.get("InstanceId")))
                    continue
                if inst.get("KeyName"):
                    keys.add(str(inst["KeyName"]))
                groups.update(str(g["GroupId"]) for g in inst.get("SecurityGroups", []))
                for eni in inst.get("NetworkInterfaces", []):
                    groups.update(str(g["GroupId"]) for g in eni.get("Groups", []))
    # ENIs of other services (load balancers, Lambda, endpoints) keep a group in use too. An ENI
    # still attached to a terminated instance is on its way out (AWS deletes it with the instance).
    for page in ec2.get_paginator("describe_network_interfaces").paginate():
        for eni in page.get("NetworkInterfaces", []):
            if str((eni.get("Attachment") or {}).get("InstanceId", "")) in gone:
                continue
            groups.update(str(g["GroupId"]) for g in eni.get("Groups", []))
    return groups, keys


def _volume_usd_per_gb_month(volume_type: str, prices: EbsPrices) -> float:
    if volume_type == "gp3":
        return prices.gp3_gb_month
    # Other types (never made by the app, only tagged by hand) keep the us-east-1 list prices.
    return VOLUME_USD_PER_GB_MONTH.get(volume_type, prices.gp3_gb_month)


def _images(ec2: Any, region: str, prices: Callable[[], EbsPrices]) -> list[Leftover]:
    found = []
    for image in ec2.describe_images(Owners=["self"], Filters=_MANAGED).get("Images", []):
        ebs = [m["Ebs"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        snapshots = tuple(str(e["SnapshotId"]) for e in ebs if e.get("SnapshotId"))
        gib = sum(int(e.get("VolumeSize", 0)) for e in ebs)
        found.append(
            Leftover(
                kind=IMAGE,
                resource_id=str(image["ImageId"]),
                name=_tag(image.get("Tags"), TAG_NAME) or str(image.get("Name", "")),
                region=region,
                usd_per_month=prices().snapshots_per_month(gib),
                detail=f"{len(snapshots)} snapshot(s), {gib} GiB, {image.get('State', '?')}",
                snapshot_ids=snapshots,
                state=str(image.get("State", "")),
            )
        )
    return found


def _region_leftovers(aws: Aws, region: str, ebs: EbsLookup) -> list[Leftover]:
    import botocore.exceptions as bex

    @cache
    def prices() -> EbsPrices:
        # Asked only once something in the region is priced: most regions hold nothing of the app's.
        return region_prices(ebs, region)

    ec2 = aws.client("ec2", region)
    found: list[Leftover] = []
    operation = "DescribeInstances"
    try:
        groups_used, keys_used = _in_use(ec2)
        operation = "DescribeImages"
        images = _images(ec2, region, prices)
        found.extend(images)
        imaged = {snap for image in images for snap in image.snapshot_ids}
        operation = "DescribeSnapshots"
        for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=_MANAGED):
            for snap in page.get("Snapshots", []):
                if snap["SnapshotId"] in imaged:
                    continue  # shown (and deleted) with its image
                gib = int(snap.get("VolumeSize", 0))
                found.append(
                    Leftover(
                        SNAPSHOT,
                        str(snap["SnapshotId"]),
                        _tag(snap.get("Tags"), TAG_NAME),
                        region,
                        prices().snapshots_per_month(gib),
                        f"{gib} GiB, no image uses it",
                    )
                )
        operation = "DescribeVolumes"
        volume_filters = [*_MANAGED, {"Name": "status", "Values": ["available"]}]
        for page in ec2.get_paginator("describe_volumes").paginate(Filters=volume_filters):
            for vol in page.get("Volumes", []):
                gib, vtype = int(vol.get("Size", 0)), str(vol.get("VolumeType", "gp3"))
                found.append(
                    Leftover(
                        VOLUME,
                        str(vol["VolumeId"]),
                        _tag(vol.get("Tags"), TAG_NAME),
                        region,
                        gib * _volume_usd_per_gb_month(vtype, prices()),
                        f"{gib} GiB {vtype}, attached to nothing",
                    )
                )
        operation = "DescribeKeyPairs"
        for pair in ec2.describe_key_pairs(Filters=_MANAGED).get("KeyPairs", []):
            if pair["KeyName"] not in keys_used:
                # Free on AWS; listed because nothing uses it (the private key file stays on disk).
                found.append(
                    Leftover(KEY_PAIR, str(pair["KeyName"]), str(pair["KeyName"]), region, 0.0, "unused")
                )
        operation = "DescribeSecurityGroups"
        for page in ec2.get_paginator("describe_security_groups").paginate(Filters=_MANAGED):
            for group in page.get("SecurityGroups", []):
                if group["GroupId"] in groups_used:
                    continue
                found.append(
                    Leftover(
                        SECURITY_GROUP,
                        str(group["GroupId"]),
                        str(group.get("GroupName", "")),
                        region,
                        0.0,
                        "no instance uses it",
                    )
                )
    except bex.ClientError as exc:
        raise from_client_error(exc, operation) from exc
    return found + _orphan_alarms(aws, region)


def _orphan_alarms(aws: Aws, region: str) -> list[Leftover]:
    """Auto-stop alarms whose instance is gone. CloudWatch refusing (an identity without
    cloudwatch:DescribeAlarms) costs these only, logged, not the region's other leftovers."""
    try:
        orphans = alarms.orphans(aws, region)
    except D2lError as exc:
        log.warning("idle alarms in %s not checked: %s", region, exc)
        return []
    return [
        Leftover(
            ALARM,
            alarm.name,
            alarm.instance_name,
            region,
            alarms.USD_PER_ALARM_MONTH,
            f"auto-stop alarm of {alarm.instance_id}, which is gone",
        )
        for alarm in orphans
    ]


@dataclass(frozen=True)
class LeftoverListing:
    """The leftovers the regions that answered hold; ``failed``: the regions that did not answer,
    whose leftovers (and their cost) are unknown."""

    items: list[Leftover]
    failed: tuple[RegionFailure, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed


def find_leftovers(
    aws: Aws, regions: list[str] | None = None, ebs: EbsLookup = list_prices_for
) -> LeftoverListing:
    """Every region's leftovers, regions asked concurrently; sorted by region, kind order, name.
    ``ebs`` gives a region's EBS prices (PriceBook.ebs); by default the us-east-1 list prices.

    A failing region is logged and named in the listing's ``failed``; when every region fails,
    its error is raised.
    """
    if regions is None:
        from tui.services.cloud.regions import list_region_names

        regions = list_region_names(aws)
    if not regions:
        return LeftoverListing([])
    found: list[Leftover] = []
    failures: list[tuple[str, BaseException]] = []
    with fanout(min(MAX_WORKERS, len(regions)), "left") as pool:
        futures = {region: pool.submit(_region_leftovers, aws, region, ebs) for region in regions}
        for region, future in futures.items():
            try:
                found.extend(future.result())
            except Exception as exc:  # one region's trouble must not hide the others' leftovers
                log_exception(log, exc, f"looking for leftovers in {region}")
                failures.append((region, exc))
    if failures and len(failures) == len(regions):
        raise _as_d2l_error(failures[0][1], aws.profile)
    return LeftoverListing(
        sorted(found, key=lambda x: (x.region, ORDER.index(x.kind), x.name, x.resource_id)),
        tuple(region_failure(region, exc) for region, exc in failures),
    )


def monthly(leftovers: Iterable[Leftover]) -> float:
    return sum(x.usd_per_month for x in leftovers)


# -- clean-up, one function per kind -----------------------------------------------------------


def delete_security_group(aws: Aws, leftover: Leftover) -> None:
    aws.client("ec2", leftover.region).delete_security_group(GroupId=leftover.resource_id)


def delete_key_pair(aws: Aws, leftover: Leftover) -> None:
    """Deletes the key pair in AWS only: the private key file stays, so an instance launched with it
    elsewhere (or later re-imported) can still be reached."""
    ec2 = aws.client("ec2", leftover.region)
    # AWS lets a key pair in use be deleted; check again now, the list may be minutes old.
    _, keys_used = _in_use(ec2)
    if leftover.resource_id in keys_used:
        raise D2lError(
            f"The key pair {leftover.resource_id} is used by an instance in {leftover.region} again.",
            "It was kept; refresh the list.",
        )
    ec2.delete_key_pair(KeyName=leftover.resource_id)


def delete_volume(aws: Aws, leftover: Leftover) -> None:
    aws.client("ec2", leftover.region).delete_volume(VolumeId=leftover.resource_id)


def delete_snapshot(aws: Aws, leftover: Leftover) -> None:
    aws.client("ec2", leftover.region).delete_snapshot(SnapshotId=leftover.resource_id)


def deregister_image(aws: Aws, leftover: Leftover) -> None:
    """Deregister the image, then delete its snapshots (AWS keeps, and bills, them otherwise)."""
    ec2 = aws.client("ec2", leftover.region)
    ec2.deregister_image(ImageId=leftover.resource_id)
    for snapshot_id in leftover.snapshot_ids:
        ec2.delete_snapshot(SnapshotId=snapshot_id)


def delete_alarm(aws: Aws, leftover: Leftover) -> None:
    alarms.delete_alarm(aws, leftover.region, leftover.resource_id)


_DELETE: dict[str, tuple[Callable[[Aws, Leftover], None], str]] = {
    ALARM: (delete_alarm, "DeleteAlarms"),
    SECURITY_GROUP: (delete_security_group, "DeleteSecurityGroup"),
    KEY_PAIR: (delete_key_pair, "DeleteKeyPair"),
    VOLUME: (delete_volume, "DeleteVolume"),
    SNAPSHOT: (delete_snapshot, "DeleteSnapshot"),
    IMAGE: (deregister_image, "DeregisterImage"),
}


def _cleanup_error(exc: BaseException, leftover: Leftover, operation: str) -> D2lError:
    if isinstance(exc, D2lError):
        return exc
    code = error_code(exc)
    if code in ("DependencyViolation", "VolumeInUse", "InvalidSnapshot.InUse"):
        return D2lError(
            f"The {leftover.label} is in use again (AWS said {code}).",
            "It was kept; refresh the list to see what uses it.",
            code=code,
        )
    if code.endswith(".NotFound") or code.endswith(".Unavailable"):
        return D2lError(f"The {leftover.label} is already gone.", "Refresh the list.", code=code)
    if code:
        return from_client_error(exc, operation)
    return _as_d2l_error(exc, None)


def delete(aws: Aws, leftover: Leftover) -> CleanupResult:
    """Delete one leftover; a refusal comes back as the result's error, never raised."""
    call, operation = _DELETE[leftover.kind]
    try:
        call(aws, leftover)
    except Exception as exc:
        log_exception(log, exc, f"deleting {leftover.key}")
        return CleanupResult(leftover, _cleanup_error(exc, leftover, operation))
    log.info("deleted %s", leftover.key)
    return CleanupResult(leftover)


def clean_up(
    aws: Aws, leftovers: Iterable[Leftover], progress: Callable[[str], None] = lambda _: None
) -> list[CleanupResult]:
    """Delete the given leftovers: regions concurrently, each region's in ORDER."""
    by_region: dict[str, list[Leftover]] = {}
    for leftover in leftovers:
        by_region.setdefault(leftover.region, []).append(leftover)

    def region_cleanup(items: list[Leftover]) -> list[CleanupResult]:
        results = []
        for leftover in sorted(items, key=lambda x: ORDER.index(x.kind)):
            result = delete(aws, leftover)
            progress(f"Deleted the {leftover.label}." if result.error is None else str(result.error))
            results.append(result)
        return results

    if not by_region:
        return []
    with fanout(min(MAX_WORKERS, len(by_region)), "clean") as pool:
        return [r for results in pool.map(region_cleanup, by_region.values()) for r in results]


def bulk(leftovers: Iterable[Leftover]) -> list[Leftover]:
    """What a bulk clean-up deletes: everything but saved images, which the user kept on purpose."""
    return [x for x in leftovers if x.kind != IMAGE]
