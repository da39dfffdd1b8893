"""EC2's vCPU quotas, by Service Quotas code: the one list that reading limits and asking for more share.

Each launch counts against one quota per (bucket, purchase option); quotas.py reads the GPU ones,
quota_requests.py files increases for any of them.
"""

from __future__ import annotations

from tui.models import Purchase

# (code, name, bucket, purchase); the GPU ones in the order the Limits step lists them.
GPU_QUOTAS: tuple[tuple[str, str, str, Purchase], ...] = (
    ("L-DB2E81BA", "Running On-Demand G and VT instances", "G", Purchase.ON_DEMAND),
    ("L-417A185B", "Running On-Demand P instances", "P", Purchase.ON_DEMAND),
    ("L-3819A6DF", "All G and VT Spot Instance Requests", "G", Purchase.SPOT),
    ("L-7212CCBC", "All P Spot Instance Requests", "P", Purchase.SPOT),
)
STANDARD_QUOTAS: tuple[tuple[str, str, str, Purchase], ...] = (
    (
        "L-1216C47A",
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        "Standard",
        Purchase.ON_DEMAND,
    ),
    (
        "L-34B43A08",
        "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
        "Standard",
        Purchase.SPOT,
    ),
)

# Every vCPU quota a launch can hit, per (bucket, purchase option).
QUOTA_CODES: dict[tuple[str, Purchase], str] = {
    (bucket, purchase): code for code, _name, bucket, purchase in (*STANDARD_QUOTAS, *GPU_QUOTAS)
}

# The "Class" dimension of EC2's AWS/Usage ResourceCount metric, as Service Quotas reports it in each
# quota's UsageMetric (used when an answer doesn't carry its own UsageMetric).
USAGE_CLASS: dict[tuple[str, Purchase], str] = {
    ("G", Purchase.ON_DEMAND): "G/OnDemand",
    ("P", Purchase.ON_DEMAND): "P/OnDemand",
    ("Standard", Purchase.ON_DEMAND): "Standard/OnDemand",
    ("G", Purchase.SPOT): "G/Spot",
    ("P", Purchase.SPOT): "P/Spot",
    ("Standard", Purchase.SPOT): "Standard/Spot",
}
