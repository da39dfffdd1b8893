"""Start-up: once the credentials work, open quota requests in the home region show as one
notification. EC2 is moto; the request history (which moto lacks) is injected in the real shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.pilot import Pilot

from tests.test_quota_requests import HISTORY, requested
from tests.test_quotas import Hooks, _error, _ok
from tests.ui.driving import build_context, wait_until
from tui.app import D2lApp, make_app


@pytest.fixture
def cloud() -> Iterator[None]:
    with mock_aws():
        yield


def app_with(hooks: Hooks, tmp_path: Path) -> D2lApp:
    return make_app(build_context(hooks.aws(), tmp_path))


async def checked(pilot: Pilot[Any]) -> None:
    """Until the start-up check (a thread worker of the app) has ended; call once it has started."""
    # A finished worker leaves the manager: none of the group left unfinished means it ended.
    await wait_until(
        pilot,
        lambda: not any(w.group == "quota-requests" and not w.is_finished for w in pilot.app.workers),
        30.0,
    )


async def test_a_pending_request_is_shown_at_start_up(cloud: None, tmp_path: Path) -> None:
    pending = requested("L-DB2E81BA", 8.0, "PENDING")
    hooks = Hooks().answer(
        HISTORY, lambda p: _ok({"RequestedQuotas": [pending] if p["QuotaCode"] == "L-DB2E81BA" else []})
    )
    app = app_with(hooks, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications), 30.0)
        messages = [n.message for n in app._notifications]

    assert len(messages) == 1
    assert "Quota increase requests in us-east-1:" in messages[0]
    assert "Running On-Demand G and VT instances: 8 vCPUs: PENDING" in messages[0]
    assert "waiting for AWS to review it" in messages[0]
    assert {c["QuotaCode"] for c in hooks.calls[HISTORY]} >= {"L-DB2E81BA", "L-7212CCBC"}


@pytest.mark.parametrize(
    "answer",
    [
        lambda _p: _ok({"RequestedQuotas": []}),
        lambda _p: _error("AccessDeniedException", "User is not authorized to perform this action."),
    ],
    ids=["empty-history", "access-denied"],
)
async def test_no_news_is_no_notification(cloud: None, tmp_path: Path, answer: Any) -> None:
    hooks = Hooks().answer(HISTORY, answer)
    app = app_with(hooks, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: len(hooks.calls.get(HISTORY, [])) == 4, 30.0)
        await checked(pilot)
        await pilot.pause(0.2)
        assert list(app._notifications) == []  # neither news nor an error
        assert app.is_running
