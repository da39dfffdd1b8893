"""Quota increase requests: moto 5.2 implements neither RequestServiceQuotaIncrease nor the request
history (NotImplementedError), so both are answered by before-call hooks in the real API's shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.test_quotas import Answer, Hooks, _error, _ok
from tui.demo.answers import add_simulated_quotas
from tui.models import Purchase, Quota
from tui.services.cloud.aws import Aws
from tui.services.cloud.quota_codes import QUOTA_CODES
from tui.services.cloud.quota_requests import (
    STATUSES,
    desired_default,
    latest,
    latest_requests,
    quota_code,
    request_increase,
    validate_desired,
)
from tui.services.errors import D2lError, InputError

REGION = "us-east-1"
NOW = datetime(2026, 4, 20, 9, 30, tzinfo=timezone.utc)
REQUEST = "service-quotas.RequestServiceQuotaIncrease"
HISTORY = "service-quotas.ListRequestedServiceQuotaChangeHistoryByQuota"


def requested(
    code: str, value: float, status: str, *, created: datetime = NOW, rid: str = "r-1"
) -> dict[str, Any]:
    """One RequestedQuota element as Service Quotas returns it (parsed by botocore: datetimes)."""
    return {
        "Id": rid,
        "CaseId": "case-1234" if status != "PENDING" else "",
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaCode": code,
        "QuotaName": "Running On-Demand G and VT instances",
        "DesiredValue": value,
        "Status": status,
        "Created": created,
        "LastUpdated": created,
        "Requester": "arn:aws:iam::123456789012:user/reader",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:123456789012:ec2/{code}",
        "GlobalQuota": False,
        "Unit": "None",
        "QuotaRequestedAtLevel": "ACCOUNT",
    }


def history_of(*items: dict[str, Any]) -> Any:
    return lambda _p: _ok({"RequestedQuotas": list(items)})


def filed(params: dict[str, Any]) -> Answer:
    return _ok(
        {"RequestedQuota": requested(params["QuotaCode"], params["DesiredValue"], "PENDING", rid="new")}
    )


@pytest.mark.parametrize(
    ("bucket", "purchase", "code"),
    [
        ("Standard", Purchase.ON_DEMAND, "L-1216C47A"),
        ("G", Purchase.ON_DEMAND, "L-DB2E81BA"),
        ("P", Purchase.ON_DEMAND, "L-417A185B"),
        ("Standard", Purchase.SPOT, "L-34B43A08"),
        ("G", Purchase.SPOT, "L-3819A6DF"),
        ("P", Purchase.SPOT, "L-7212CCBC"),
    ],
)
def test_each_bucket_and_purchase_has_its_quota_code(bucket: str, purchase: Purchase, code: str) -> None:
    assert quota_code(bucket, purchase) == code


def test_a_request_is_filed_for_the_right_quota_and_value(aws: Aws) -> None:
    hooks = Hooks().answer(HISTORY, history_of()).answer(REQUEST, filed)

    result = request_increase(hooks.aws(), REGION, "L-DB2E81BA", 4.0)

    assert hooks.calls[REQUEST] == [{"ServiceCode": "ec2", "QuotaCode": "L-DB2E81BA", "DesiredValue": 4.0}]
    assert not result.duplicate
    assert (result.request.request_id, result.request.status, result.request.desired_value) == (
        "new",
        "PENDING",
        4.0,
    )
    assert result.request.is_open


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_each_status_is_read_and_explained(aws: Aws, status: str) -> None:
    older = requested("L-DB2E81BA", 2.0, "DENIED", created=NOW - timedelta(days=30), rid="old")
    hooks = Hooks().answer(HISTORY, history_of(older, requested("L-DB2E81BA", 8.0, status)))

    found = latest(hooks.aws(), REGION, "L-DB2E81BA")

    assert found is not None and found.request_id == "r-1"  # the newest, whatever the answer's order
    assert found.status == status and found.desired_value == 8.0
    assert hooks.calls[HISTORY][0] == {"ServiceCode": "ec2", "QuotaCode": "L-DB2E81BA"}
    assert found.is_open == (status in ("PENDING", "CASE_OPENED"))
    assert found.meaning and status in found.summary


def test_case_closed_is_not_an_approval() -> None:
    open_, meaning = STATUSES["CASE_CLOSED"]
    assert not open_ and "without raising the limit" in meaning
    assert "approved" not in meaning.split(":")[0]


@pytest.mark.parametrize("status", ["PENDING", "CASE_OPENED"])
def test_an_open_request_in_the_history_is_not_filed_twice(aws: Aws, status: str) -> None:
    hooks = Hooks().answer(HISTORY, history_of(requested("L-DB2E81BA", 8.0, status))).answer(REQUEST, filed)

    result = request_increase(hooks.aws(), REGION, "L-DB2E81BA", 4.0)

    assert result.duplicate and result.request.desired_value == 8.0
    assert hooks.calls[REQUEST] == []


def test_a_decided_request_does_not_stop_a_new_one(aws: Aws) -> None:
    hooks = (
        Hooks()
        .answer(HISTORY, history_of(requested("L-DB2E81BA", 8.0, "CASE_CLOSED")))
        .answer(REQUEST, filed)
    )

    result = request_increase(hooks.aws(), REGION, "L-DB2E81BA", 8.0)

    assert not result.duplicate and len(hooks.calls[REQUEST]) == 1


def test_resource_already_exists_returns_the_open_request(aws: Aws) -> None:
    # Filed elsewhere between our history read and our request: AWS refuses the second one.
    answers = iter([[], [requested("L-DB2E81BA", 16.0, "PENDING", rid="theirs")]])
    hooks = (
        Hooks()
        .answer(HISTORY, lambda _p: _ok({"RequestedQuotas": next(answers)}))
        .answer(
            REQUEST, lambda _p: _error("ResourceAlreadyExistsException", "Only one open request is allowed.")
        )
    )

    result = request_increase(hooks.aws(), REGION, "L-DB2E81BA", 4.0)

    assert result.duplicate and result.request.request_id == "theirs"
    assert len(hooks.calls[REQUEST]) == 1


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("AccessDeniedException", "servicequotas:RequestServiceQuotaIncrease"),
        ("QuotaExceededException", "too many open quota requests"),
        ("IllegalArgumentException", "refused the value"),
    ],
)
def test_refusals_are_sentences_with_a_next_step(aws: Aws, code: str, words: str) -> None:
    hooks = Hooks().answer(HISTORY, history_of()).answer(REQUEST, lambda _p: _error(code, "refused"))

    with pytest.raises(D2lError) as caught:
        request_increase(hooks.aws(), REGION, "L-DB2E81BA", 4.0)

    assert words in str(caught.value) and caught.value.next_step


def test_moto_alone_cannot_file_and_says_so(aws: Aws) -> None:
    with pytest.raises(D2lError, match="could not be sent"):
        request_increase(aws, REGION, "L-DB2E81BA", 4.0)
    found, reason = latest_requests(aws, REGION, ["L-DB2E81BA"])
    assert found == {} and "could not be read" in reason


def test_desired_value_is_usage_plus_the_type() -> None:
    zero = Quota("L-DB2E81BA", "G", "G", Purchase.ON_DEMAND, 0.0, 0.0)
    busy = Quota("L-DB2E81BA", "G", "G", Purchase.ON_DEMAND, 8.0, 8.0)
    roomy = Quota("L-DB2E81BA", "G", "G", Purchase.ON_DEMAND, 64.0, 4.0)
    assert desired_default(zero, 4) == 4.0
    assert desired_default(busy, 4) == 12.0
    assert desired_default(roomy, 4) == 68.0  # already fits: room for one more
    assert desired_default(None, 8) == 8.0


@pytest.mark.parametrize(
    ("text", "current", "words"),
    [
        ("", 0.0, "number"),
        ("four", 0.0, "number"),
        ("2.5", 0.0, "whole"),
        ("-4", None, "whole"),
        ("8", 8.0, "already 8"),
    ],
)
def test_bad_desired_values_are_refused(text: str, current: float | None, words: str) -> None:
    with pytest.raises(InputError, match=words):
        validate_desired(text, current)


def test_good_desired_value_is_accepted() -> None:
    assert validate_desired(" 12 ", 8.0) == 12.0


def test_simulated_cloud_files_once_then_reports_the_duplicate(aws: Aws) -> None:
    simulated = Aws(region=REGION, customize=add_simulated_quotas)

    first = request_increase(simulated, REGION, "L-DB2E81BA", 12.0)
    second = request_increase(simulated, REGION, "L-DB2E81BA", 16.0)
    found, reason = latest_requests(simulated, REGION, sorted(set(QUOTA_CODES.values())))

    assert (first.duplicate, first.request.status) == (False, "PENDING")
    assert second.duplicate and second.request.request_id == first.request.request_id
    assert reason == "" and list(found) == ["L-DB2E81BA"] and found["L-DB2E81BA"].desired_value == 12.0
