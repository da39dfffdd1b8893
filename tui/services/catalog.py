"""GPU instance types (DescribeInstanceTypes GpuInfo) and their prices.

CONTRACT (implemented by the regions/catalog/quotas work):
"""

from __future__ import annotations

from pathlib import Path

from tui.models import GpuCatalog, PriceSource
from tui.services.aws import Aws

# Families and what to say about them: the chapter's 2016 table (K520, K80, M60) is history.
FAMILY_NOTES: dict[str, tuple[bool, str]] = {}  # family -> (current_generation, note)


def bundled_prices(region: str) -> tuple[dict[str, tuple[float | None, float | None]], PriceSource]:
    """(instance_type -> (on-demand $/h, spot $/h)) from the bundled dated CSV, and its source label."""
    raise NotImplementedError


class PriceBook:
    """On-demand prices: Pricing API -> disk cache (with its age) -> bundled catalog.

    ``cache_dir`` holds one JSON file per region. ``offline=True`` (the simulated cloud) skips the API.
    """

    def __init__(self, aws: Aws, cache_dir: Path, *, offline: bool = False, max_age_days: float = 7.0):
        raise NotImplementedError

    def prices(self, region: str) -> tuple[dict[str, tuple[float | None, float | None]], PriceSource]:
        raise NotImplementedError


def gpu_types(aws: Aws, region: str, pricebook: PriceBook) -> GpuCatalog:
    """The GPU types offered in the region with specs from DescribeInstanceTypes (GpuInfo), prices,
    notes and generation; sorted by on-demand price."""
    raise NotImplementedError
