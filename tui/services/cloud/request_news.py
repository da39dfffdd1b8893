"""What to tell the user at start-up about their GPU quota increase requests.

A request takes a business day or more, so the user usually files it, quits, and comes back later:
the app then says where each request stands (still open, or decided recently) without them having
to open the limits step. Decided requests older than RECENT are old news and stay quiet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from tui.services.cloud.aws import Aws
from tui.services.cloud.quota_codes import GPU_QUOTAS
from tui.services.cloud.quota_requests import QuotaRequest, latest_requests

log = logging.getLogger(__name__)

# Long enough to cover a weekend plus a few days away from the book.
RECENT = timedelta(days=7)


def _aware(when: datetime) -> datetime:
    # botocore parses with a zone; a naive time (an emulator's) is taken as UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def worth_reporting(request: QuotaRequest, now: datetime) -> bool:
    """Open requests always; decided ones when the decision (LastUpdated, else Created) is recent."""
    if request.is_open:
        return True
    decided = request.updated or request.created
    return decided is not None and now - _aware(decided) <= RECENT


def requests_to_report(aws: Aws, region: str, *, now: datetime | None = None) -> list[QuotaRequest]:
    """The newest request of each GPU quota in ``region`` that is open or was decided recently, in
    GPU_QUOTAS order. Never raises: an unreadable history only means there is nothing to say."""
    codes = [code for code, *_ in GPU_QUOTAS]
    found, reason = latest_requests(aws, region, codes)
    if reason:
        log.info("start-up request check in %s incomplete: %s", region, reason)
    when = now or datetime.now(timezone.utc)
    return [found[code] for code in codes if code in found and worth_reporting(found[code], when)]


def notice(requests: list[QuotaRequest], region: str) -> str:
    """One notification's text: a line per request, with its quota's name and what its status means."""
    names = {code: name for code, name, *_ in GPU_QUOTAS}
    lines = [f"Quota increase requests in {region}:"]
    lines += [f"• {names.get(r.quota_code, r.quota_code)}: {r.summary}" for r in requests]
    return "\n".join(lines)
