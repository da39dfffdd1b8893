"""Quotas: Service Quotas and CloudWatch answers injected (moto lacks them), usage counted on moto."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from tui.demo.answers import service_quota
from tui.models import GpuType, Purchase, Quota
from tui.services.cloud.aws import Aws
from tui.services.cloud.quota_codes import GPU_QUOTAS
from tui.services.cloud.quotas import fit, read_quotas

Answer = tuple[AWSResponse, dict[str, Any]]
DLAMI_OWNER = "898082745236"  # Amazon's Deep Learning AMI account; moto loads these from tui/demo/amis.json


def _ok(parsed: dict[str, Any]) -> Answer:
    meta = {"RequestId": "req-1", "HTTPStatusCode": 200, "HTTPHeaders": {}}
    return AWSResponse("https://example.amazonaws.com/", 200, HTTPHeaders(), None), {
        **parsed,
        "ResponseMetadata": meta,
    }


def _error(code: str, message: str, status: int = 400) -> Answer:
    meta = {"RequestId": "req-1", "HTTPStatusCode": status, "HTTPHeaders": {}}
    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}
    return AWSResponse("https://example.amazonaws.com/", status, HTTPHeaders(), None), parsed


def _quota(code: str, value: float, region: str = "us-east-1") -> dict[str, Any]:
    """GetServiceQuota's answer for an EC2 vCPU quota, shaped as Service Quotas sends it (the same
    builder the simulated cloud answers with)."""
    return service_quota(code, value, region)


class Hooks:
    """botocore hooks for Aws(customize=...): answer some operations, record what was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, Callable[[dict[str, Any]], Answer]] = {}
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def answer(self, operation: str, fn: Callable[[dict[str, Any]], Answer]) -> Hooks:
        self.answers[operation] = fn
        return self

    def install(self, session: Any) -> None:
        for operation in self.answers:
            self.calls[operation] = []

            def record(
                params: dict[str, Any], context: dict[str, Any], op: str = operation, **_: Any
            ) -> None:
                context["test_params"] = dict(params)
                self.calls[op].append(dict(params))

            def respond(context: dict[str, Any], op: str = operation, **_: Any) -> Answer:
                return self.answers[op](context["test_params"])

            session.events.register(f"before-parameter-build.{operation}", record)
            session.events.register(f"before-call.{operation}", respond)

    def aws(self) -> Aws:
        return Aws(region="us-east-1", customize=self.install)


VALUES = {"L-DB2E81BA": 64.0, "L-417A185B": 0.0, "L-3819A6DF": 32.0, "L-7212CCBC": 16.0}


def _service_quotas(params: dict[str, Any]) -> Answer:
    return _ok(_quota(params["QuotaCode"], VALUES[params["QuotaCode"]]))


def _launch(aws: Aws, instance_type: str, spot: bool = False) -> str:
    ec2 = aws.client("ec2")
    image = next(
        i for i in ec2.describe_images(Owners=[DLAMI_OWNER])["Images"] if i["Architecture"] == "x86_64"
    )
    extra: dict[str, Any] = {"InstanceMarketOptions": {"MarketType": "spot"}} if spot else {}
    run = ec2.run_instances(
        ImageId=image["ImageId"], InstanceType=instance_type, MinCount=1, MaxCount=1, **extra
    )
    return str(run["Instances"][0]["InstanceId"])


def _vcpus(aws: Aws, instance_type: str) -> int:
    answer = aws.client("ec2").describe_instance_types(InstanceTypes=[instance_type])
    return int(answer["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"])


def test_each_gpu_quota_is_read_from_service_quotas(aws: Aws) -> None:
    hooks = Hooks().answer("service-quotas.GetServiceQuota", _service_quotas)

    quotas = read_quotas(hooks.aws(), "us-east-1")

    assert [q.code for q in quotas] == [code for code, *_ in GPU_QUOTAS]
    assert {q.code: q.value for q in quotas} == VALUES
    assert sorted(c["QuotaCode"] for c in hooks.calls["service-quotas.GetServiceQuota"]) == sorted(VALUES)
    assert all(c["ServiceCode"] == "ec2" for c in hooks.calls["service-quotas.GetServiceQuota"])
    by_code = {q.code: q for q in quotas}
    assert (by_code["L-7212CCBC"].bucket, by_code["L-7212CCBC"].purchase) == ("P", Purchase.SPOT)
    assert by_code["L-417A185B"].headroom == 0.0  # a real 0 limit is 0: only unknown is None
    # moto's CloudWatch has no AWS/Usage data and nothing runs: usage counted from instances is 0.
    assert all(q.usage == 0.0 and q.reason == "" for q in quotas)


def test_no_applied_value_falls_back_to_the_aws_default(aws: Aws) -> None:
    hooks = (
        Hooks()
        .answer(
            "service-quotas.GetServiceQuota",
            lambda p: (
                _error(
                    "NoSuchResourceException",
                    "The request failed because the specified quota does not exist.",
                )
                if p["QuotaCode"] == "L-DB2E81BA"
                else _service_quotas(p)
            ),
        )
        .answer("service-quotas.GetAWSDefaultServiceQuota", lambda p: _ok(_quota(p["QuotaCode"], 8.0)))
    )

    quotas = {q.code: q for q in read_quotas(hooks.aws(), "us-east-1")}

    assert quotas["L-DB2E81BA"].value == 8.0
    assert [c["QuotaCode"] for c in hooks.calls["service-quotas.GetAWSDefaultServiceQuota"]] == ["L-DB2E81BA"]
    assert quotas["L-417A185B"].value == VALUES["L-417A185B"]


def test_access_denied_is_unknown_never_zero(aws: Aws) -> None:
    message = "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: servicequotas:GetServiceQuota"
    hooks = Hooks().answer(
        "service-quotas.GetServiceQuota", lambda _p: _error("AccessDeniedException", message)
    )

    quotas = read_quotas(hooks.aws(), "us-east-1")

    assert len(quotas) == len(GPU_QUOTAS)
    for q in quotas:
        assert q.value is None and q.headroom is None
        assert q.reason.startswith("unknown, because") and "servicequotas:GetServiceQuota" in q.reason
    g4dn = GpuType("g4dn.xlarge", "g4dn", "T4", 1, 16384, 4, 16.0, "x86_64")
    assert fit(g4dn, quotas, Purchase.ON_DEMAND) == (None, 0.0)


def test_moto_alone_gives_unknown_values_with_a_reason(aws: Aws) -> None:
    # moto 5.2: GetServiceQuota has no EC2 quotas (NoSuchResource) and the default lookup is unimplemented.
    quotas = read_quotas(aws, "us-east-1")

    assert all(q.value is None and q.reason.startswith("unknown, because") for q in quotas)
    assert all(q.usage == 0.0 for q in quotas)


def test_usage_comes_from_the_aws_usage_metric(aws: Aws) -> None:
    now = datetime.now(timezone.utc)

    def metrics(params: dict[str, Any]) -> Answer:
        dims = {d["Name"]: d["Value"] for d in params["Dimensions"]}
        points = []
        if dims["Class"] == "G/OnDemand":
            points = [
                {"Timestamp": now - timedelta(minutes=5), "Maximum": 8.0, "Unit": "None"},
                {"Timestamp": now - timedelta(minutes=1), "Maximum": 12.0, "Unit": "None"},
            ]
        return _ok({"Label": "ResourceCount", "Datapoints": points})

    hooks = (
        Hooks()
        .answer("service-quotas.GetServiceQuota", _service_quotas)
        .answer("cloudwatch.GetMetricStatistics", metrics)
    )

    quotas = {q.code: q for q in read_quotas(hooks.aws(), "us-east-1")}

    assert quotas["L-DB2E81BA"].usage == 12.0, "the latest datapoint"
    assert quotas["L-DB2E81BA"].headroom == VALUES["L-DB2E81BA"] - 12.0
    assert quotas["L-3819A6DF"].usage == 0.0  # no datapoints: counted from (no) instances
    asked = hooks.calls["cloudwatch.GetMetricStatistics"]
    assert {c["Namespace"] for c in asked} == {"AWS/Usage"} and {c["MetricName"] for c in asked} == {
        "ResourceCount"
    }
    classes = {next(d["Value"] for d in c["Dimensions"] if d["Name"] == "Class") for c in asked}
    assert classes == {"G/OnDemand", "P/OnDemand", "G/Spot", "P/Spot"}
    assert all(c["Statistics"] == ["Maximum"] for c in asked)
    assert all(c["EndTime"] - c["StartTime"] == timedelta(minutes=15) for c in asked)


def test_usage_falls_back_to_counting_running_instances(aws: Aws) -> None:
    _launch(aws, "g4dn.xlarge")
    _launch(aws, "g4dn.2xlarge", spot=True)
    stopped = _launch(aws, "g4dn.4xlarge")
    aws.client("ec2").stop_instances(InstanceIds=[stopped])
    hooks = Hooks().answer("service-quotas.GetServiceQuota", _service_quotas)

    quotas = {q.code: q for q in read_quotas(hooks.aws(), "us-east-1")}

    assert quotas["L-DB2E81BA"].usage == _vcpus(aws, "g4dn.xlarge") == 4
    assert quotas["L-3819A6DF"].usage == _vcpus(aws, "g4dn.2xlarge")
    assert quotas["L-417A185B"].usage == 0.0 and quotas["L-7212CCBC"].usage == 0.0
    assert quotas["L-DB2E81BA"].headroom == VALUES["L-DB2E81BA"] - 4


def test_usage_unknown_when_nothing_can_be_read(aws: Aws) -> None:
    denied = "You are not authorized to perform this operation."
    hooks = (
        Hooks()
        .answer("service-quotas.GetServiceQuota", _service_quotas)
        .answer("cloudwatch.GetMetricStatistics", lambda _p: _error("AccessDenied", "not authorized", 403))
        .answer("ec2.DescribeInstances", lambda _p: _error("UnauthorizedOperation", denied, 403))
    )

    quotas = read_quotas(hooks.aws(), "us-east-1")

    for q in quotas:
        assert q.value == VALUES[q.code] and q.usage is None
        assert "cloudwatch:GetMetricStatistics" in q.reason and "ec2:DescribeInstances" in q.reason
        assert q.headroom == q.value  # unknown usage doesn't invent a shortfall


def test_read_through_a_moto_server(moto_endpoint: str) -> None:
    hooks = Hooks().answer("service-quotas.GetServiceQuota", _service_quotas)
    aws = hooks.aws()  # EC2 answers from the moto server reached through AWS_ENDPOINT_URL
    _launch(aws, "g4dn.xlarge")

    quotas = {q.code: q for q in read_quotas(aws, "us-east-1")}

    assert quotas["L-DB2E81BA"].value == VALUES["L-DB2E81BA"]
    assert quotas["L-DB2E81BA"].usage == _vcpus(aws, "g4dn.xlarge")


def _quotas(
    g_value: float | None, g_usage: float | None, purchase: Purchase = Purchase.ON_DEMAND
) -> list[Quota]:
    return [
        Quota("L-DB2E81BA", "Running On-Demand G and VT instances", "G", purchase, g_value, g_usage),
        Quota("L-417A185B", "Running On-Demand P instances", "P", Purchase.ON_DEMAND, 0.0, 0.0),
    ]


@pytest.mark.parametrize(
    ("value", "usage", "expected"),
    [
        (8.0, 4.0, (True, 0.0)),  # headroom 4, needs 4
        (4.0, 2.0, (False, 2.0)),  # headroom 2, needs 4
        (0.0, None, (False, 4.0)),  # the new-account wall: 0 vCPUs
        (None, 0.0, (None, 0.0)),  # unknown limit: AWS has the last word
    ],
)
def test_fit(value: float | None, usage: float | None, expected: tuple[bool | None, float]) -> None:
    g4dn = GpuType("g4dn.xlarge", "g4dn", "T4", 1, 16384, 4, 16.0, "x86_64")

    assert fit(g4dn, _quotas(value, usage), Purchase.ON_DEMAND) == expected


def test_fit_looks_up_the_bucket_and_purchase_option() -> None:
    g4dn = GpuType("g4dn.xlarge", "g4dn", "T4", 1, 16384, 4, 16.0, "x86_64")
    p5 = GpuType("p5.48xlarge", "p5", "H100", 8, 81920, 192, 2048.0, "x86_64")
    quotas = _quotas(64.0, 0.0)

    assert fit(p5, quotas, Purchase.ON_DEMAND) == (False, 192.0)  # P quota is 0
    assert fit(g4dn, quotas, Purchase.SPOT) == (None, 0.0)  # no spot quota read
    assert fit(g4dn, _quotas(64.0, 0.0, Purchase.SPOT), Purchase.SPOT) == (True, 0.0)
