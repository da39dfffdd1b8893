"""Quota increase requests: file one for the right vCPU quota, and follow it until AWS decides.

RequestServiceQuotaIncrease files the request; ListRequestedServiceQuotaChangeHistoryByQuota says
where it stands. A request stays open for a business day or more, so the app never files a second
one while one is open: it looks at the history first, and treats AWS's ResourceAlreadyExistsException
the same way (another console or a teammate may have filed it meanwhile).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui.aws_response import error_code
from tui.models import Purchase, Quota
from tui.services.cloud.aws import Aws
from tui.services.cloud.quota_codes import QUOTA_CODES
from tui.services.errors import D2lError, InputError, from_client_error

log = logging.getLogger(__name__)

REQUEST_PERMISSION = "servicequotas:RequestServiceQuotaIncrease"
HISTORY_PERMISSION = "servicequotas:ListRequestedServiceQuotaChangeHistoryByQuota"

# What each status means for the user: (still open?, a sentence). CASE_CLOSED is not an approval:
# the support case was closed without the quota being raised (often: more information was needed).
STATUSES: dict[str, tuple[bool, str]] = {
    "PENDING": (True, "waiting for AWS to review it (usually about a business day)"),
    "CASE_OPENED": (True, "AWS opened a support case for it; watch your email for questions"),
    "APPROVED": (False, "approved: the new limit applies, you can launch"),
    "DENIED": (False, "denied; the support case (AWS console > Support) says why"),
    "CASE_CLOSED": (
        False,
        "the support case was closed without raising the limit; reply to it or request again",
    ),
    "NOT_APPROVED": (False, "not approved; request a smaller value, or again after using the account"),
    "INVALID_REQUEST": (False, "AWS found the request invalid; request again with a different value"),
}

# Without a chosen type, the smallest useful size of the bucket: g4dn.xlarge (the book's
# recommended type) and p3.2xlarge (the smallest P size); Standard: a small CPU box.
DEFAULT_VCPUS = {"G": 4, "P": 8, "Standard": 2}


@dataclass(frozen=True)
class QuotaRequest:
    """One increase request as Service Quotas reports it."""

    request_id: str
    quota_code: str
    desired_value: float
    status: str
    created: datetime | None = None
    case_id: str = ""
    region: str = ""
    updated: datetime | None = None  # LastUpdated: when a decided request was decided

    @property
    def is_open(self) -> bool:
        return STATUSES.get(self.status, (True, ""))[0]

    @property
    def meaning(self) -> str:
        return STATUSES.get(self.status, (True, f"status {self.status}"))[1]

    @property
    def summary(self) -> str:
        when = f" (filed {self.created:%Y-%m-%d})" if self.created else ""
        return f"{self.desired_value:g} vCPUs: {self.status}{when}: {self.meaning}"


@dataclass(frozen=True)
class Filed:
    """What came of asking: the request AWS now holds, and whether it was one already open."""

    request: QuotaRequest
    duplicate: bool


def quota_code(bucket: str, purchase: Purchase) -> str:
    return QUOTA_CODES[(bucket, purchase)]


def desired_default(quota: Quota | None, vcpus: int) -> float:
    """Usage + the vCPUs of the type to launch; above the current limit (or the request is refused)."""
    usage = (quota.usage if quota is not None else None) or 0.0
    wanted = usage + vcpus
    value = quota.value if quota is not None else None
    if value is not None and wanted <= value:
        # The type fits already (the user wants room for a second one): ask for the next one on top.
        wanted = value + vcpus
    return float(wanted)


def validate_desired(text: str, current: float | None) -> float:
    """The typed value as a number above the current limit; InputError with a sentence otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        raise InputError("Type the new limit as a number of vCPUs, e.g. 8.") from None
    if not math.isfinite(value) or value <= 0 or value != int(value):
        raise InputError("Type a whole, positive number of vCPUs, e.g. 8.")
    if current is not None and value <= current:
        raise InputError(f"The limit is already {current:g} vCPUs: ask for more than that.")
    return value


def _request_from_api(data: dict[str, Any], region: str) -> QuotaRequest:
    created = data.get("Created")
    updated = data.get("LastUpdated")
    return QuotaRequest(
        request_id=str(data.get("Id", "")),
        quota_code=str(data.get("QuotaCode", "")),
        desired_value=float(data.get("DesiredValue") or 0.0),
        status=str(data.get("Status", "")),
        created=created if isinstance(created, datetime) else None,
        case_id=str(data.get("CaseId") or ""),
        region=region,
        updated=updated if isinstance(updated, datetime) else None,
    )


def _sq_error(exc: Any, operation: str, permission: str, region: str) -> D2lError:
    code = error_code(exc)
    if code in ("AccessDeniedException", "AccessDenied", "DependencyAccessDeniedException"):
        return D2lError(
            f"Your AWS identity may not {operation} in {region} (missing {permission}).",
            "Ask your account admin to grant it, or request the increase in the Service Quotas console.",
            code=code,
        )
    if code == "QuotaExceededException":
        return D2lError(
            "Your account has too many open quota requests.",
            "Wait for one to be decided (Service Quotas console > Quota request history), then try again.",
            code=code,
        )
    if code in ("IllegalArgumentException", "InvalidResourceStateException"):
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).strip()
        return D2lError(
            f"Service Quotas refused the value: {message or 'it is not valid for this quota.'}",
            "Request a different value, or use the Service Quotas console.",
            code=code,
        )
    if code == "NoSuchResourceException":
        return D2lError(
            f"Service Quotas does not know this quota in {region}.",
            "Check the region, or request the increase in the Service Quotas console.",
            code=code,
        )
    return from_client_error(exc, operation)


def history(aws: Aws, region: str, code: str) -> list[QuotaRequest]:
    """Every increase request for one EC2 quota, newest first; raises D2lError."""
    import botocore.exceptions as bex

    sq = aws.client("service-quotas", region)
    found: list[QuotaRequest] = []
    try:
        params: dict[str, Any] = {"ServiceCode": "ec2", "QuotaCode": code}
        while True:
            page = sq.list_requested_service_quota_change_history_by_quota(**params)
            found += [_request_from_api(r, region) for r in page.get("RequestedQuotas", [])]
            token = page.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
    except bex.ClientError as exc:
        raise _sq_error(
            exc, "ListRequestedServiceQuotaChangeHistoryByQuota", HISTORY_PERMISSION, region
        ) from exc
    except (bex.BotoCoreError, NotImplementedError) as exc:
        raise D2lError(
            f"The quota request history for {code} could not be read ({type(exc).__name__}).",
            "Look in the Service Quotas console under Quota request history.",
        ) from exc
    oldest = datetime.min
    return sorted(found, key=lambda r: r.created.replace(tzinfo=None) if r.created else oldest, reverse=True)


def latest(aws: Aws, region: str, code: str) -> QuotaRequest | None:
    """The newest request for the quota, or None when none was ever filed; raises D2lError."""
    requests = history(aws, region, code)
    return requests[0] if requests else None


def latest_requests(aws: Aws, region: str, codes: list[str]) -> tuple[dict[str, QuotaRequest], str]:
    """code -> newest request for each quota that has one, and why some couldn't be read ("" if all were).
    Never raises: the history is a convenience on the limits step."""
    found: dict[str, QuotaRequest] = {}
    reasons: list[str] = []
    for code in codes:
        try:
            request = latest(aws, region, code)
        except D2lError as exc:
            log.warning("request history of %s in %s unavailable: %s", code, region, exc)
            reasons.append(exc.what)
            continue
        if request is not None:
            found[code] = request
    return found, (reasons[0] if reasons else "")


def request_increase(aws: Aws, region: str, code: str, desired: float) -> Filed:
    """File an increase to ``desired`` vCPUs, unless a request for this quota is already open (then
    that one is returned with duplicate=True). Raises D2lError with a sentence and a next step."""
    import botocore.exceptions as bex

    try:
        open_one = latest(aws, region, code)
    except D2lError as exc:
        # Without the history the request is still worth filing: AWS refuses a duplicate itself.
        log.info("filing without the history of %s: %s", code, exc)
        open_one = None
    if open_one is not None and open_one.is_open:
        log.info("not filing %s again: %s is %s", code, open_one.request_id, open_one.status)
        return Filed(open_one, duplicate=True)

    sq = aws.client("service-quotas", region)
    try:
        answer = sq.request_service_quota_increase(ServiceCode="ec2", QuotaCode=code, DesiredValue=desired)
    except bex.ClientError as exc:
        if error_code(exc) == "ResourceAlreadyExistsException":
            existing = _open_request(aws, region, code)
            if existing is not None:
                return Filed(existing, duplicate=True)
            raise D2lError(
                f"An increase request for {code} is already open in {region}.",
                "Follow it in the Service Quotas console under Quota request history.",
                code="ResourceAlreadyExistsException",
            ) from exc
        raise _sq_error(exc, "RequestServiceQuotaIncrease", REQUEST_PERMISSION, region) from exc
    except (bex.BotoCoreError, NotImplementedError) as exc:
        raise D2lError(
            f"The increase request could not be sent ({type(exc).__name__}).",
            "Check your network and try again, or use the Service Quotas console.",
        ) from exc
    request = _request_from_api(answer.get("RequestedQuota", {}), region)
    log.info("filed %s for %s: %g vCPUs, %s", request.request_id, code, desired, request.status)
    return Filed(request, duplicate=False)


def _open_request(aws: Aws, region: str, code: str) -> QuotaRequest | None:
    try:
        return next((r for r in history(aws, region, code) if r.is_open), None)
    except D2lError:
        return None
