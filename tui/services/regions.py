"""Regions: which are enabled, how near each is, and how many GPU types each offers.

CONTRACT (implemented by the regions/catalog/quotas work):
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tui.models import Region
from tui.services.aws import Aws

# Instance families the app offers (current and previous GPU generations).
GPU_FAMILIES: tuple[str, ...] = (
    "g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en",
)  # fmt: skip


def list_region_names(aws: Aws) -> list[str]:
    """Enabled regions from DescribeRegions (opted-out ones are left out), sorted by name."""
    raise NotImplementedError


async def probe_latencies(
    region_names: Iterable[str],
    *,
    timeout: float = 1.5,
    host_for: Callable[[str], tuple[str, int]] | None = None,
) -> dict[str, float | None]:
    """TCP-connect to each region's EC2 endpoint concurrently; ms, or None on timeout/failure.

    ``host_for(region) -> (host, port)`` defaults to ("ec2.<region>.amazonaws.com", 443).
    """
    raise NotImplementedError


def count_gpu_offerings(aws: Aws, region: str) -> int | None:
    """How many instance types of GPU_FAMILIES the region offers (DescribeInstanceTypeOfferings);
    None when it can't be read."""
    raise NotImplementedError


def load_regions(aws: Aws, latencies: dict[str, float | None]) -> list[Region]:
    """Regions with their latency and GPU type count (counted concurrently), nearest first;
    unmeasured latencies last."""
    raise NotImplementedError
