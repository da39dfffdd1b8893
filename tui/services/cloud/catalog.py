"""GPU instance types (DescribeInstanceTypes GpuInfo) and their prices.

Specs come from EC2 itself, so a new size shows up without a release. On-demand prices come from
the AWS Pricing API, cached on disk per region; when the API can't be read the cache (with its age)
or the bundled dated catalog stands in, and the label always says which. Spot prices are the lowest
DescribeSpotPriceHistory price across the region's zones (spot_prices.py), else the bundled catalog's.
Nothing here raises for prices: a price is a convenience, never a blocker.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from tui.models import GpuCatalog, GpuType, PriceSource
from tui.services.cloud.aws import Aws
from tui.services.cloud.bundled_catalog import BundledRow, bundled_prices, bundled_specs
from tui.services.cloud.ebs_prices import EbsPrices, fetch_ebs_prices, list_prices
from tui.services.cloud.pricing_api import PRICING_PERMISSION, PRICING_REGION, price_list
from tui.services.cloud.regions import describe_error, failure_reason, gpu_offerings
from tui.services.errors import D2lError

log = logging.getLogger(__name__)
T = TypeVar("T")

_DLAMI_GONE = "V100; no current Deep Learning AMI"

# Families and what to say about them: the chapter's 2016 table (K520, K80, M60) is history.
# Short enough for the table's last column: the GPU model and memory have their own columns.
FAMILY_NOTES: dict[str, tuple[bool, str]] = {  # family -> (current_generation, note)
    "g4dn": (True, "cheapest; runs the whole book"),
    "g5": (True, "about 2-3x a T4"),
    "g5g": (True, "Graviton: arm64 images only"),
    "g6": (True, "T4's successor, 24 GB"),
    "g6e": (True, "48 GB for large models"),
    "gr6": (True, "L4 with more RAM"),
    "p3": (False, _DLAMI_GONE),
    "p3dn": (False, _DLAMI_GONE),
    "p4d": (True, "A100 training"),
    "p4de": (True, "A100 80 GB training"),
    "p5": (True, "H100 training"),
    "p5e": (True, "Capacity Blocks only"),
    "p5en": (True, "H200, faster network"),
}

# After the Pricing API fails, don't ask again for a while: an unreachable endpoint costs several
# seconds of retries each time, and the GPU step may be reloaded often.
RETRY_PRICING_AFTER_S = 300.0
# DescribeInstanceTypes takes at most 100 names per call.
_DESCRIBE_BATCH = 100
# The bundled catalog has no architecture column: Graviton families are arm64-only.
_ARM64_FAMILIES = frozenset({"g5g"})


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _day(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def _age(delta: timedelta) -> str:
    hours = max(0, int(delta.total_seconds() // 3600))
    if hours >= 24:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''} old"
    return f"{hours} hour{'s' if hours != 1 else ''} old"


def _ondemand_from_price_list(items: list[Any]) -> dict[str, float]:
    """instance type -> $/h from GetProducts' PriceList (each item a JSON document in a string)."""
    found: dict[str, float] = {}
    for item in items:
        try:
            doc = json.loads(item) if isinstance(item, str) else item
            attributes = doc["product"]["attributes"]
            # Capacity Blocks are priced apart from on-demand; products without the attribute are on-demand.
            if attributes.get("marketoption", "OnDemand") != "OnDemand":
                continue
            itype = attributes["instanceType"]
            for term in doc.get("terms", {}).get("OnDemand", {}).values():
                for dimension in term.get("priceDimensions", {}).values():
                    usd = float(dimension["pricePerUnit"]["USD"])
                    # A type can be listed more than once; a 0.00 dimension is not a price to show.
                    if usd > 0 and usd < found.get(itype, float("inf")):
                        found[itype] = usd
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.debug("skipping an unreadable price list item: %r", exc)
    return found


def _fetch_ondemand_prices(aws: Aws, region: str) -> dict[str, float]:
    """Linux, shared-tenancy on-demand $/h of GPU instance types in the region (Pricing API).

    botocore's errors pass through (the caller turns every failure into a fallback); D2lError when
    the API lists nothing for the region."""

    def match(field: str, value: str) -> dict[str, str]:
        return {"Type": "TERM_MATCH", "Field": field, "Value": value}

    filters = [
        match("regionCode", region),
        match("operatingSystem", "Linux"),
        match("tenancy", "Shared"),
        match("preInstalledSw", "NA"),
        match("capacitystatus", "Used"),
        match("instanceFamily", "GPU instance"),
        # Without these, p4d/p5 also list Capacity Block rows (priced apart) beside the on-demand one.
        match("licenseModel", "No License required"),
        match("marketoption", "OnDemand"),
    ]
    items = price_list(aws, filters)
    prices = _ondemand_from_price_list(items)
    if not prices:
        raise D2lError(
            f"The Pricing API listed no GPU prices for {region}.", "Prices fall back to a saved copy."
        )
    return prices


class PriceBook:
    """On-demand prices: Pricing API -> disk cache (with its age) -> bundled catalog. EBS prices
    (``ebs``): Pricing API -> disk cache -> the us-east-1 list prices.

    ``cache_dir`` holds JSON files per region. ``offline=True`` (the simulated cloud) skips the API.
    """

    def __init__(self, aws: Aws, cache_dir: Path, *, offline: bool = False, max_age_days: float = 7.0):
        self.aws = aws
        self.cache_dir = Path(cache_dir)
        self.offline = offline
        self.max_age = timedelta(days=max_age_days)
        # Screens may ask from several thread workers at once: one fetch per region, not one per caller.
        self._lock = threading.Lock()
        self._failed: dict[str, tuple[float, tuple[dict[str, float] | None, PriceSource]]] = {}
        # One EBS fetch per region at a time, regions in parallel (leftovers are looked for in every
        # region at once), and none waiting behind a GPU price fetch.
        self._ebs_locks: dict[str, threading.Lock] = {}
        self._ebs_locks_guard = threading.Lock()
        self._ebs_failed: dict[str, tuple[float, EbsPrices]] = {}

    def cache_path(self, region: str) -> Path:
        return self.cache_dir / f"prices-{region}.json"

    def ebs_cache_path(self, region: str) -> Path:
        return self.cache_dir / f"ebs-prices-{region}.json"

    def prices(
        self, region: str, names: list[str] | None = None
    ) -> tuple[dict[str, tuple[float | None, float | None]], PriceSource]:
        """(type -> (on-demand, spot) $/h) and where they come from. ``names``: the types whose live
        spot prices to read (none read without them)."""
        bundled, bundled_source = bundled_prices(region)
        if self.offline:
            # The simulated cloud has no spot market (moto answers a 0.00001 placeholder): bundled.
            return bundled, bundled_source
        spot, spot_note = self._spot(region, names or [], bundled_source.as_of)
        with self._lock:
            ondemand, source = self._ondemand(region, spot_note)
        if spot is None:
            spot = {t: s for t, (_, s) in bundled.items() if s is not None}
        if ondemand is None:
            merged = {t: (od, spot.get(t)) for t, (od, _) in bundled.items()}
            detail = "; ".join(x for x in (source.detail, spot_note) if x)
            return merged, PriceSource("bundled", bundled_source.as_of, detail)
        types = ondemand.keys() | bundled.keys() | spot.keys()
        return {t: (ondemand.get(t), spot.get(t)) for t in types}, source

    def _spot(self, region: str, names: list[str], bundled_as_of: str) -> tuple[dict[str, float] | None, str]:
        """(live lowest spot $/h per type, or None for the bundled ones; the note saying which)."""
        from tui.services.cloud.spot_prices import SPOT_PERMISSION, lowest_spot_prices

        bundled_note = f"spot prices: bundled catalog dated {bundled_as_of}"
        if not names:
            return None, bundled_note
        try:
            live = lowest_spot_prices(self.aws, region, names)
        except Exception as exc:  # denied, unreachable, unimplemented: the bundled prices stand in
            reason = failure_reason(exc, "EC2", SPOT_PERMISSION, region)
            log.warning("spot prices for %s unavailable: %s", region, reason, exc_info=True)
            return None, f"{bundled_note}, because {reason}"
        if not live:
            return None, f"{bundled_note} (no plausible live spot price was listed)"
        return live, "spot prices: lowest in any zone, last hour"

    def _ondemand(self, region: str, spot_note: str) -> tuple[dict[str, float] | None, PriceSource]:
        now = datetime.now(timezone.utc)
        cached = self._read_cache(region)
        if cached is not None and now - cached[0] < self.max_age:
            return cached[1], PriceSource("cache", _stamp(cached[0]), spot_note)
        failed = self._failed.get(region)
        if failed is not None and time.monotonic() - failed[0] < RETRY_PRICING_AFTER_S:
            return failed[1]
        try:
            fetched = _fetch_ondemand_prices(self.aws, region)
        except Exception as exc:  # any failure (denied, unreachable, unimplemented) falls back
            reason = failure_reason(exc, "the Pricing API", PRICING_PERMISSION, PRICING_REGION)
            log.warning("Pricing API unavailable for %s: %s", region, reason, exc_info=True)
            fallback: tuple[dict[str, float] | None, PriceSource]
            if cached is not None:
                age = _age(now - cached[0])
                detail = f"on-demand prices unrefreshed, because {reason}; {spot_note}"
                fallback = cached[1], PriceSource("cache", f"{_stamp(cached[0])}, {age}", detail)
            else:
                fallback = None, PriceSource("bundled", "", f"no live prices, because {reason}")
            self._failed[region] = (time.monotonic(), fallback)
            return fallback
        self._failed.pop(region, None)
        self._write_cache(region, now, fetched)
        return fetched, PriceSource("pricing-api", _stamp(now), spot_note)

    def _read_cache(self, region: str) -> tuple[datetime, dict[str, float]] | None:
        return _read_json_cache(
            self.cache_path(region),
            lambda doc: {str(k): float(v) for k, v in doc["ondemand_usd_per_hour"].items()},
        )

    def _write_cache(self, region: str, fetched_at: datetime, prices: dict[str, float]) -> None:
        doc = {
            "region": region,
            "fetched_at": fetched_at.isoformat(),
            "source": "AWS Pricing API GetProducts (Linux, shared tenancy, on-demand)",
            "ondemand_usd_per_hour": dict(sorted(prices.items())),
        }
        _write_json_cache(self.cache_path(region), doc)

    def ebs(self, region: str) -> EbsPrices:
        """$/GB-month of gp3 volumes and standard snapshots in the region, and where they come from.
        Never raises: the us-east-1 list prices stand in for what can't be read."""
        if self.offline:
            return list_prices()  # the simulated cloud has no Pricing API
        with self._ebs_locks_guard:
            region_lock = self._ebs_locks.setdefault(region, threading.Lock())
        with region_lock:
            return self._ebs(region)

    def _ebs(self, region: str) -> EbsPrices:
        now = datetime.now(timezone.utc)
        cached = self._read_ebs_cache(region)
        if cached is not None and now - cached[0] < self.max_age:
            return cached[1]
        failed = self._ebs_failed.get(region)
        if failed is not None and time.monotonic() - failed[0] < RETRY_PRICING_AFTER_S:
            return failed[1]
        try:
            gp3, snapshot = fetch_ebs_prices(self.aws, region)
        except Exception as exc:  # any failure (denied, unreachable, unimplemented) falls back
            reason = failure_reason(exc, "the Pricing API", PRICING_PERMISSION, PRICING_REGION)
            log.warning("EBS prices for %s unavailable: %s", region, reason, exc_info=True)
            fallback = self._ebs_fallback(now, cached, reason)
            self._ebs_failed[region] = (time.monotonic(), fallback)
            return fallback
        self._ebs_failed.pop(region, None)
        fetched = EbsPrices(gp3, snapshot, f"Pricing API, {_day(now)}")
        self._write_ebs_cache(region, now, fetched)
        return fetched

    @staticmethod
    def _ebs_fallback(now: datetime, cached: tuple[datetime, EbsPrices] | None, reason: str) -> EbsPrices:
        """A stale copy of the region's own prices beats another region's list prices."""
        if cached is None:
            return list_prices(f"no live price, because {reason}")
        fetched_at, prices = cached
        source = f"{prices.source}, {_age(now - fetched_at)}, not refreshed because {reason}"
        return EbsPrices(prices.gp3_gb_month, prices.snapshot_gb_month, source)

    def _read_ebs_cache(self, region: str) -> tuple[datetime, EbsPrices] | None:
        def prices(doc: dict[str, Any]) -> EbsPrices:
            fetched_at = datetime.fromisoformat(doc["fetched_at"])
            return EbsPrices(
                float(doc["gp3_usd_per_gb_month"]),
                float(doc["snapshot_usd_per_gb_month"]),
                f"Pricing API, {_day(fetched_at)}",
            )

        return _read_json_cache(self.ebs_cache_path(region), prices)

    def _write_ebs_cache(self, region: str, fetched_at: datetime, prices: EbsPrices) -> None:
        doc = {
            "region": region,
            "fetched_at": fetched_at.isoformat(),
            "source": "AWS Pricing API GetProducts (EBS gp3 storage, standard-tier snapshots)",
            "gp3_usd_per_gb_month": prices.gp3_gb_month,
            "snapshot_usd_per_gb_month": prices.snapshot_gb_month,
        }
        _write_json_cache(self.ebs_cache_path(region), doc)


def _read_json_cache(path: Path, parse: Callable[[dict[str, Any]], T]) -> tuple[datetime, T] | None:
    """(when it was fetched, ``parse(document)``) of a price cache file; None when missing or unreadable."""
    try:
        doc = json.loads(path.read_text("utf-8"))
        fetched_at = datetime.fromisoformat(doc["fetched_at"])
        parsed = parse(doc)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable price cache %s: %r", path, exc)
        return None
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=timezone.utc)
    return fetched_at, parsed


def _write_json_cache(path: Path, doc: dict[str, Any]) -> None:
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:  # a cache we can't write only costs a later API call
        log.warning("could not write the price cache %s: %r", path, exc)
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def _describe_types(aws: Aws, region: str, names: list[str]) -> dict[str, dict[str, Any]]:
    import botocore.exceptions as bex

    pages = aws.client("ec2", region).get_paginator("describe_instance_types")
    found: dict[str, dict[str, Any]] = {}
    try:
        for start in range(0, len(names), _DESCRIBE_BATCH):
            for page in pages.paginate(InstanceTypes=names[start : start + _DESCRIBE_BATCH]):
                found.update({t["InstanceType"]: t for t in page.get("InstanceTypes", [])})
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise describe_error(exc, "DescribeInstanceTypes", region) from exc
    return found


def _arch(architectures: list[str]) -> str:
    return "arm64" if architectures == ["arm64"] else "x86_64"


def _gpu_type(
    name: str, info: dict[str, Any] | None, spec: BundledRow | None, price: tuple[float | None, float | None]
) -> GpuType | None:
    family = name.split(".", 1)[0]
    current, note = FAMILY_NOTES.get(family, (True, ""))
    info = info or {}
    gpus = info.get("GpuInfo", {}).get("Gpus") or []
    if gpus:
        gpu_name = str(gpus[0].get("Name", ""))
        gpu_count = int(gpus[0].get("Count", 0))
        gpu_memory_mib = int(gpus[0].get("MemoryInfo", {}).get("SizeInMiB", 0))
    elif spec is not None:  # answers without GpuInfo (some emulators, brand-new types): the catalog knows
        gpu_name, gpu_count, gpu_memory_mib = spec.gpu_name, spec.gpu_count, spec.gpu_memory_mib
    else:
        log.info("skipping %s: no GPU details in DescribeInstanceTypes or the bundled catalog", name)
        return None
    vcpus = info.get("VCpuInfo", {}).get("DefaultVCpus")
    memory_mib = info.get("MemoryInfo", {}).get("SizeInMiB")
    architectures = info.get("ProcessorInfo", {}).get("SupportedArchitectures")
    if vcpus is None or memory_mib is None or not architectures:
        if spec is None:
            log.info("skipping %s: no vCPU/memory details", name)
            return None
        vcpus = vcpus if vcpus is not None else spec.vcpus
        memory_mib = memory_mib if memory_mib is not None else spec.memory_gib * 1024
        architectures = architectures or (["arm64"] if family in _ARM64_FAMILIES else ["x86_64"])
    return GpuType(
        instance_type=name,
        family=family,
        gpu_name=gpu_name,
        gpu_count=gpu_count,
        gpu_memory_mib=gpu_memory_mib,
        vcpus=int(vcpus),
        memory_gib=float(memory_mib) / 1024,
        arch=_arch(list(architectures)),
        ondemand_usd_per_hour=price[0],
        spot_usd_per_hour=price[1],
        note=note,
        current_generation=current,
    )


def _by_price(t: GpuType) -> tuple[bool, float, str]:
    return (t.ondemand_usd_per_hour is None, t.ondemand_usd_per_hour or 0.0, t.instance_type)


def gpu_types(aws: Aws, region: str, pricebook: PriceBook) -> GpuCatalog:
    """The GPU types offered in the region with specs from DescribeInstanceTypes (GpuInfo), prices,
    notes and generation; sorted by on-demand price."""
    names = gpu_offerings(aws, region)
    described = _describe_types(aws, region, names) if names else {}
    prices, source = pricebook.prices(region, names)
    specs = bundled_specs()
    found = (_gpu_type(n, described.get(n), specs.get(n), prices.get(n, (None, None))) for n in names)
    types = sorted((t for t in found if t is not None), key=_by_price)
    return GpuCatalog(region=region, types=tuple(types), prices=source)
