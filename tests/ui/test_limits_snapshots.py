"""SVG snapshots of the limits step (120x40): quotas that can't be read, and a pending request.

EC2 is moto; Service Quotas (values and request history, which moto lacks) is answered by before-call
hooks in the real API's shapes. Driven with keys only, through the helpers of test_snapshots.py. The
known-quotas case is test_snapshots.py's LimitsStep snapshot.

Update after an intended change: pytest tests/ui/test_limits_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.pilot import Pilot

from tests.test_quota_requests import HISTORY, requested
from tests.test_quotas import Hooks, _error, _ok, _quota
from tests.ui.driving import wait_until
from tests.ui.test_snapshots import SIZE, TIMEOUT, drive_to, wizard_app
from tui.demo.cloud import add_realistic_image_sizes

QUOTA = "service-quotas.GetServiceQuota"
NEW_ACCOUNT = {"L-DB2E81BA": 0.0, "L-417A185B": 0.0, "L-3819A6DF": 4.0, "L-7212CCBC": 0.0}


@pytest.fixture
def cloud() -> Iterator[None]:
    with mock_aws():
        yield


def denied(action: str) -> Any:
    """Service Quotas' refusal for an identity without the action, as IAM words it."""
    return lambda p: _error(
        "AccessDeniedException",
        f"User: arn:aws:iam::123456789012:user/reader is not authorized to perform: {action} on "
        f"resource: arn:aws:servicequotas:us-east-1:123456789012:ec2/{p['QuotaCode']} because no "
        f"identity-based policy allows the {action} action",
    )


def with_hooks(hooks: Hooks) -> Any:
    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        hooks.install(session)

    return customize


def test_limits_unknown(cloud: None, tmp_path: Path, snap_compare: Any) -> None:
    # A reader without any servicequotas permission: every value "unknown, because …", never 0.
    hooks = (
        Hooks()
        .answer(QUOTA, denied("servicequotas:GetServiceQuota"))
        .answer(HISTORY, denied("servicequotas:ListRequestedServiceQuotaChangeHistoryByQuota"))
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await drive_to(pilot, "LimitsStep")

    app = wizard_app(tmp_path, with_hooks(hooks), start="LimitsStep")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    assert len(hooks.calls[QUOTA]) == 4  # asked for each GPU quota, refused each time


def test_limits_pending_request(cloud: None, tmp_path: Path, snap_compare: Any) -> None:
    pending = requested("L-DB2E81BA", 4.0, "PENDING")  # filed on a fixed date: a stable snapshot
    hooks = (
        Hooks()
        .answer(QUOTA, lambda p: _ok(_quota(p["QuotaCode"], NEW_ACCOUNT[p["QuotaCode"]])))
        .answer(
            HISTORY, lambda p: _ok({"RequestedQuotas": [pending] if p["QuotaCode"] == "L-DB2E81BA" else []})
        )
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        # The start-up notice of the same request comes first; it times out on its own, so it is
        # cleared for a stable picture (test_startup_requests.py checks its text).
        await wait_until(pilot, lambda: bool(pilot.app._notifications), TIMEOUT)
        await drive_to(pilot, "LimitsStep")
        pilot.app.clear_notifications()
        await pilot.pause()

    app = wizard_app(tmp_path, with_hooks(hooks), start="LimitsStep")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
