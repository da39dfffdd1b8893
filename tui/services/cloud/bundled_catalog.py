"""The bundled GPU catalog (tui/data/aws-gpu-catalog.csv): specs and dated prices per region.

What the app knows without asking AWS: the names EC2 is asked about, the specs when
DescribeInstanceTypes can't be read, and the prices when the Pricing API can't. Its own module
because both the catalog and the region listing read it (catalog.py imports regions.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tui.models import PriceSource


@dataclass(frozen=True)
class BundledRow:
    instance_type: str
    gpu_name: str
    gpu_count: int
    gpu_memory_mib: int
    vcpus: int
    memory_gib: float
    region: str
    ondemand: float | None
    spot: float | None
    source_date: str


def _price(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


CATALOG_FILE = "aws-gpu-catalog.csv"


def _catalog_text() -> str:
    return resources.files("tui.data").joinpath(CATALOG_FILE).read_text("utf-8")


@cache
def _bundled_rows() -> tuple[BundledRow, ...]:
    # Parsed once per process: ~600 rows, read from the installed package data.
    data = _catalog_text()
    return tuple(
        BundledRow(
            instance_type=row["instance_type"],
            gpu_name=row["gpu_name"],
            gpu_count=int(float(row["gpu_count"])),
            gpu_memory_mib=int(float(row["gpu_memory_mib"])),
            vcpus=int(float(row["vcpus"])),
            memory_gib=float(row["memory_gib"]),
            region=row["region"],
            ondemand=_price(row["ondemand_usd_per_hour"]),
            spot=_price(row["spot_usd_per_hour"]),
            source_date=row["source_date"],
        )
        for row in csv.DictReader(io.StringIO(data))
    )


def bundled_type_names() -> tuple[str, ...]:
    """Every GPU instance type the bundled catalog knows, in any region."""
    return tuple(sorted({row.instance_type for row in _bundled_rows()}))


def bundled_specs() -> dict[str, BundledRow]:
    """instance_type -> one bundled row (specs are the same in every region)."""
    return {row.instance_type: row for row in _bundled_rows()}


def bundled_prices(region: str) -> tuple[dict[str, tuple[float | None, float | None]], PriceSource]:
    """(instance_type -> (on-demand $/h, spot $/h)) from the bundled dated CSV, and its source label."""
    rows = _bundled_rows()
    here = [row for row in rows if row.region == region]
    as_of = max((row.source_date for row in here or rows), default="unknown")
    return {row.instance_type: (row.ondemand, row.spot) for row in here}, PriceSource("bundled", as_of)
