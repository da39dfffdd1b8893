"""Start-up news about quota requests: which requests are worth a notification, read through real
boto3 clients whose Service Quotas history (moto lacks it) is answered in the real shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.test_quota_requests import HISTORY, NOW, requested
from tests.test_quotas import Hooks, _error, _ok
from tui.services.cloud.aws import Aws
from tui.services.cloud.request_news import notice, requests_to_report

REGION = "us-east-1"


def by_code(answers: dict[str, list[dict[str, Any]]]) -> Hooks:
    return Hooks().answer(HISTORY, lambda p: _ok({"RequestedQuotas": answers.get(p["QuotaCode"], [])}))


@pytest.mark.parametrize("status", ["PENDING", "CASE_OPENED"])
def test_open_requests_are_reported_however_old(aws: Aws, status: str) -> None:
    old = requested("L-DB2E81BA", 8.0, status, created=NOW - timedelta(days=40))
    hooks = by_code({"L-DB2E81BA": [old]})

    found = requests_to_report(hooks.aws(), REGION, now=NOW)

    assert [(r.quota_code, r.status) for r in found] == [("L-DB2E81BA", status)]
    # Every GPU quota's history was asked for, in the home region's Service Quotas.
    assert sorted(c["QuotaCode"] for c in hooks.calls[HISTORY]) == sorted(
        ["L-DB2E81BA", "L-417A185B", "L-3819A6DF", "L-7212CCBC"]
    )


@pytest.mark.parametrize("status", ["APPROVED", "DENIED", "NOT_APPROVED", "CASE_CLOSED", "INVALID_REQUEST"])
def test_decided_requests_are_reported_for_a_week(aws: Aws, status: str) -> None:
    recent = requested("L-417A185B", 8.0, status, created=NOW - timedelta(days=3))
    stale = requested("L-3819A6DF", 8.0, status, created=NOW - timedelta(days=8))
    hooks = by_code({"L-417A185B": [recent], "L-3819A6DF": [stale]})

    found = requests_to_report(hooks.aws(), REGION, now=NOW)

    assert [r.quota_code for r in found] == ["L-417A185B"]


def test_a_decision_counts_from_its_last_update(aws: Aws) -> None:
    # Filed a month ago, approved yesterday: news.
    approved = requested("L-DB2E81BA", 8.0, "APPROVED", created=NOW - timedelta(days=30))
    approved["LastUpdated"] = NOW - timedelta(days=1)
    hooks = by_code({"L-DB2E81BA": [approved]})

    assert [r.status for r in requests_to_report(hooks.aws(), REGION, now=NOW)] == ["APPROVED"]


def test_a_refused_history_is_no_news(aws: Aws) -> None:
    hooks = Hooks().answer(
        HISTORY,
        lambda _p: _error(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
            "servicequotas:ListRequestedServiceQuotaChangeHistoryByQuota",
        ),
    )

    assert requests_to_report(hooks.aws(), REGION, now=NOW) == []
    assert hooks.calls[HISTORY]  # it was asked, and the refusal was swallowed


def test_moto_alone_is_no_news(aws: Aws) -> None:
    # moto 5.2 does not implement the history: the check must stay quiet, not fail.
    assert requests_to_report(aws, REGION) == []


def test_the_notice_names_each_quota_and_its_status() -> None:
    from tui.services.cloud.quota_requests import _request_from_api

    pending = _request_from_api(requested("L-DB2E81BA", 8.0, "PENDING"), REGION)
    closed = _request_from_api(requested("L-7212CCBC", 16.0, "CASE_CLOSED"), REGION)

    text = notice([pending, closed], REGION)

    assert text.splitlines() == [
        "Quota increase requests in us-east-1:",
        "• Running On-Demand G and VT instances: 8 vCPUs: PENDING (filed 2026-04-20): "
        "waiting for AWS to review it (usually about a business day)",
        "• All P Spot Instance Requests: 16 vCPUs: CASE_CLOSED (filed 2026-04-20): "
        "the support case was closed without raising the limit; reply to it or request again",
    ]


def test_naive_times_are_taken_as_utc(aws: Aws) -> None:
    naive = requested("L-DB2E81BA", 8.0, "DENIED", created=datetime(2026, 4, 18, 9, 30))
    hooks = by_code({"L-DB2E81BA": [naive]})

    found = requests_to_report(hooks.aws(), REGION, now=datetime(2026, 4, 20, tzinfo=timezone.utc))

    assert [r.status for r in found] == ["DENIED"]
