"""What the simulated cloud answers where moto has nothing: Service Quotas values for the GPU vCPU
quotas, in the real API's response shape, through botocore ``before-call`` hooks.

The simulated account looks like a typical new one that already had one increase granted: 8 vCPUs
of G on-demand (a g4dn.xlarge or g4dn.2xlarge fits, a g5.12xlarge doesn't), 0 for P, 4 spot G.
"""

from __future__ import annotations

from typing import Any

from tui.models import Purchase

SIMULATED_QUOTAS: dict[str, float] = {
    "L-DB2E81BA": 8.0,  # Running On-Demand G and VT instances
    "L-417A185B": 0.0,  # Running On-Demand P instances
    "L-3819A6DF": 4.0,  # All G and VT Spot Instance Requests
    "L-7212CCBC": 0.0,  # All P Spot Instance Requests
}

_USAGE_CLASS = {
    ("G", Purchase.ON_DEMAND): "G/OnDemand",
    ("P", Purchase.ON_DEMAND): "P/OnDemand",
    ("G", Purchase.SPOT): "G/Spot",
    ("P", Purchase.SPOT): "P/Spot",
}


def service_quota(code: str, value: float, region: str) -> dict[str, Any]:
    """GetServiceQuota's parsed answer for an EC2 vCPU quota, as Service Quotas sends it."""
    from tui.services.quotas import GPU_QUOTAS

    _code, name, bucket, purchase = next(q for q in GPU_QUOTAS if q[0] == code)
    return {
        "Quota": {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{region}:123456789012:ec2/{code}",
            "QuotaCode": code,
            "QuotaName": name,
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
            "UsageMetric": {
                "MetricNamespace": "AWS/Usage",
                "MetricName": "ResourceCount",
                "MetricDimensions": {
                    "Class": _USAGE_CLASS[(bucket, purchase)],
                    "Resource": "vCPU",
                    "Service": "EC2",
                    "Type": "Resource",
                },
                "MetricStatisticRecommendation": "Maximum",
            },
            "QuotaAppliedAtLevel": "ACCOUNT",
        },
        "ResponseMetadata": {"RequestId": "simulated", "HTTPStatusCode": 200, "HTTPHeaders": {}},
    }


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # before-call sees the serialized request; keep the API parameters for it.
    context["simulated_params"] = dict(params)


def _answer_quota(context: dict[str, Any], **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    params = context.get("simulated_params", {})
    code = params.get("QuotaCode", "")
    if params.get("ServiceCode") != "ec2" or code not in SIMULATED_QUOTAS:
        return None  # let moto answer
    region = context.get("client_region") or "us-east-1"
    response = AWSResponse("https://servicequotas.simulated/", 200, HTTPHeaders(), None)
    return response, service_quota(code, SIMULATED_QUOTAS[code], region)


def add_simulated_quotas(session: Any) -> None:
    session.events.register("before-parameter-build.service-quotas.GetServiceQuota", _remember_params)
    session.events.register("before-call.service-quotas.GetServiceQuota", _answer_quota)
