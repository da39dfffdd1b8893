"""What the simulated cloud answers where moto has nothing: Service Quotas values for the GPU vCPU
quotas and increase requests, in the real API's response shapes, through botocore ``before-call`` hooks.

The simulated account looks like a typical new one that already had one increase granted: 8 vCPUs
of G on-demand (a g4dn.xlarge or g4dn.2xlarge fits, a g5.12xlarge doesn't), 0 for P, 4 spot G.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone
from typing import Any

SIMULATED_QUOTAS: dict[str, float] = {
    "L-DB2E81BA": 8.0,  # Running On-Demand G and VT instances
    "L-417A185B": 0.0,  # Running On-Demand P instances
    "L-3819A6DF": 4.0,  # All G and VT Spot Instance Requests
    "L-7212CCBC": 0.0,  # All P Spot Instance Requests
}


def service_quota(code: str, value: float, region: str) -> dict[str, Any]:
    """GetServiceQuota's parsed answer for an EC2 vCPU quota, as Service Quotas sends it."""
    from tui.services.cloud.quota_codes import GPU_QUOTAS, USAGE_CLASS

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
                    "Class": USAGE_CLASS[(bucket, purchase)],
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


def remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
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


def _response(status: int = 200) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    return AWSResponse("https://servicequotas.simulated/", status, HTTPHeaders(), None)


class SimulatedRequests:
    """Increase requests filed in the simulated account. They stay PENDING: a real one takes about a
    business day, and the demo shows what waiting looks like (nobody approves simulated quotas)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.filed: list[dict[str, Any]] = []

    def _record(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        from tui.services.cloud.quota_codes import GPU_QUOTAS

        code = str(params.get("QuotaCode", ""))
        name = next((q[1] for q in GPU_QUOTAS if q[0] == code), code)
        now = datetime.now(timezone.utc)
        return {
            "Id": f"simulated-{next(self._ids):08d}",
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaCode": code,
            "QuotaName": name,
            "DesiredValue": float(params.get("DesiredValue", 0)),
            "Status": "PENDING",
            "Created": now,
            "LastUpdated": now,
            "Requester": "arn:aws:iam::123456789012:user/simulated",
            "QuotaArn": f"arn:aws:servicequotas:{region}:123456789012:ec2/{code}",
            "GlobalQuota": False,
            "Unit": "None",
            "QuotaRequestedAtLevel": "ACCOUNT",
            "_region": region,
        }

    def request(self, context: dict[str, Any], **_: Any) -> Any:
        params = context.get("simulated_params", {})
        region = context.get("client_region") or "us-east-1"
        code = params.get("QuotaCode")
        with self._lock:
            open_one = [r for r in self.filed if (r["_region"], r["QuotaCode"]) == (region, code)]
            if any(r["Status"] in ("PENDING", "CASE_OPENED") for r in open_one):
                return _response(400), {
                    "Error": {
                        "Code": "ResourceAlreadyExistsException",
                        "Message": "Only one open service quota increase request is allowed per quota.",
                    },
                    "ResponseMetadata": {"RequestId": "simulated", "HTTPStatusCode": 400},
                }
            record = self._record(params, region)
            self.filed.append(record)
        shown = {k: v for k, v in record.items() if not k.startswith("_")}
        return _response(), {"RequestedQuota": shown, "ResponseMetadata": {"RequestId": "simulated"}}

    def history(self, context: dict[str, Any], **_: Any) -> Any:
        params = context.get("simulated_params", {})
        region = context.get("client_region") or "us-east-1"
        with self._lock:
            mine = [
                {k: v for k, v in r.items() if not k.startswith("_")}
                for r in self.filed
                if (r["_region"], r["QuotaCode"]) == (region, params.get("QuotaCode"))
            ]
        return _response(), {"RequestedQuotas": mine, "ResponseMetadata": {"RequestId": "simulated"}}


def add_simulated_quotas(session: Any) -> None:
    session.events.register("before-parameter-build.service-quotas.GetServiceQuota", remember_params)
    session.events.register("before-call.service-quotas.GetServiceQuota", _answer_quota)
    requests = SimulatedRequests()
    for operation, answer in (
        ("RequestServiceQuotaIncrease", requests.request),
        ("ListRequestedServiceQuotaChangeHistoryByQuota", requests.history),
    ):
        session.events.register(f"before-parameter-build.service-quotas.{operation}", remember_params)
        session.events.register(f"before-call.service-quotas.{operation}", answer)
