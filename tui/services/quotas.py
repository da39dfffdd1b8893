"""vCPU quotas that gate GPU launches, with usage and headroom.

CONTRACT (implemented by the regions/catalog/quotas work):
"""

from __future__ import annotations

from tui.models import GpuType, Purchase, Quota
from tui.services.aws import Aws

# (code, name, bucket, purchase)
GPU_QUOTAS: tuple[tuple[str, str, str, Purchase], ...] = (
    ("L-DB2E81BA", "Running On-Demand G and VT instances", "G", Purchase.ON_DEMAND),
    ("L-417A185B", "Running On-Demand P instances", "P", Purchase.ON_DEMAND),
    ("L-3819A6DF", "All G and VT Spot Instance Requests", "G", Purchase.SPOT),
    ("L-7212CCBC", "All P Spot Instance Requests", "P", Purchase.SPOT),
)


def read_quotas(aws: Aws, region: str) -> list[Quota]:
    """Each quota of GPU_QUOTAS with value (Service Quotas) and usage (CloudWatch AWS/Usage, else the
    vCPUs of running instances in that bucket). Never 0 for unknown: value None with a reason."""
    raise NotImplementedError


def fit(gpu_type: GpuType, quotas: list[Quota], purchase: Purchase) -> tuple[bool | None, float]:
    """Does the type fit the headroom of its bucket? (None when unknown, shortfall in vCPUs)."""
    raise NotImplementedError
