"""Requesting a quota increase from the app, keys only. EC2 is moto; Service Quotas (values, increase
requests and their history, which moto lacks) is answered by before-call hooks in the real shapes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tests.support.wizard_choices import choices_before
from tests.test_quotas import Answer, Hooks, _error, _ok, _quota
from tests.ui.driving import build_context, screen_name, wait_for_screen, wait_until
from tests.ui.test_wizard_inputs import drive_to
from tui.app import D2lApp, make_app
from tui.demo.cloud import add_realistic_image_sizes
from tui.screens.base import StepScreen
from tui.screens.gpu_type import GpuTypeStep
from tui.screens.image import ImageStep
from tui.screens.limits import LimitsStep
from tui.screens.review import ReviewStep
from tui.services.cloud.aws import Aws

REQUEST = "service-quotas.RequestServiceQuotaIncrease"
HISTORY = "service-quotas.ListRequestedServiceQuotaChangeHistoryByQuota"
VALUES = {"L-DB2E81BA": 0.0, "L-417A185B": 0.0, "L-3819A6DF": 4.0, "L-7212CCBC": 0.0}  # a new account


class ServiceQuotas:
    """A new account's Service Quotas: G on-demand 0; increase requests filed are listed (PENDING)."""

    def __init__(self) -> None:
        self.filed: list[dict[str, Any]] = []
        self.hooks = (
            Hooks()
            .answer(
                "service-quotas.GetServiceQuota",
                lambda p: _ok(_quota(p["QuotaCode"], VALUES[p["QuotaCode"]])),
            )
            .answer(REQUEST, self.request)
            .answer(
                HISTORY,
                lambda p: _ok(
                    {"RequestedQuotas": [r for r in self.filed if r["QuotaCode"] == p["QuotaCode"]]}
                ),
            )
        )

    def request(self, params: dict[str, Any]) -> Answer:
        if any(r["QuotaCode"] == params["QuotaCode"] for r in self.filed):
            return _error("ResourceAlreadyExistsException", "Only one open request is allowed per quota.")
        now = datetime.now(timezone.utc)
        record = {
            "Id": f"req-{len(self.filed) + 1}",
            "ServiceCode": "ec2",
            "QuotaCode": params["QuotaCode"],
            "QuotaName": "Running On-Demand G and VT instances",
            "DesiredValue": params["DesiredValue"],
            "Status": "PENDING",
            "Created": now,
            "LastUpdated": now,
            "QuotaRequestedAtLevel": "ACCOUNT",
        }
        self.filed.append(record)
        return _ok({"RequestedQuota": record})

    def app(self, tmp_path: Path, start: type[StepScreen]) -> D2lApp:
        """The app on the wizard's ``start`` step, every earlier step's default chosen."""

        def customize(session: Any) -> None:
            add_realistic_image_sizes(session)
            self.hooks.install(session)

        ctx = build_context(Aws(region="us-east-1", customize=customize), tmp_path)
        return make_app(ctx, wizard=choices_before(ctx, start))

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.hooks.calls.get(REQUEST, [])


@pytest.fixture
def quotas() -> Iterator[ServiceQuotas]:
    with mock_aws():
        yield ServiceQuotas()


def cell(app: D2lApp, table: str, row: str, column: int) -> str:
    grid = app.screen.query_one(table, DataTable)
    return str(grid.get_row(row)[column])


def text(app: D2lApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def submit_modal(pilot: Pilot[Any]) -> None:
    await wait_for_screen(pilot, "QuotaRequestScreen")
    await pilot.press("enter")


async def test_g_quota_of_zero_request_from_the_gpu_table(quotas: ServiceQuotas, tmp_path: Path) -> None:
    app = quotas.app(tmp_path, GpuTypeStep)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "GpuTypeStep")
        assert cell(app, "#gpu-types", "g4dn.xlarge", 7) == "no, 4 vCPUs short"

        await pilot.press("i")
        await wait_for_screen(pilot, "QuotaRequestScreen")
        assert app.screen.query_one("#desired", Input).value == "4"  # usage 0 + g4dn.xlarge's 4 vCPUs
        assert "L-DB2E81BA" in text(app, "#request-title")
        await pilot.press("enter")
        await wait_for_screen(pilot, "GpuTypeStep")

        assert quotas.sent == [{"ServiceCode": "ec2", "QuotaCode": "L-DB2E81BA", "DesiredValue": 4.0}]
        assert "L-DB2E81BA: 4 vCPUs: PENDING" in text(app, "#gpu-requests")

        # Back on the limits step the request (read from the history) and its status show.
        await pilot.press("escape")
        await wait_for_screen(pilot, "LimitsStep")
        await wait_until(pilot, lambda: cell(app, "#quotas", "L-DB2E81BA", 5) == "PENDING (4)")
        assert "waiting for AWS to review it" in text(app, "#limits-summary")


async def test_limits_step_request_then_the_duplicate_is_not_filed(
    quotas: ServiceQuotas, tmp_path: Path
) -> None:
    app = quotas.app(tmp_path, LimitsStep)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "LimitsStep")  # the first row: G on-demand
        assert cell(app, "#quotas", "L-DB2E81BA", 5) == "—"
        await pilot.press("i")
        await wait_for_screen(pilot, "QuotaRequestScreen")
        app.screen.query_one("#desired", Input).value = ""
        await pilot.press("8", "enter")
        await wait_for_screen(pilot, "LimitsStep")
        assert cell(app, "#quotas", "L-DB2E81BA", 5) == "PENDING (8)"
        # AWS takes one open request per quota: i is greyed on that row, and the note says why.
        assert cell(app, "#quotas", "L-DB2E81BA", 6) == "request open"
        assert app.screen.check_action("request_increase", ()) is False
        await pilot.press("i")
        await pilot.pause()
        assert screen_name(pilot) == "LimitsStep"
        # Another quota's row (P on-demand, limit 0, no request) still offers it.
        await pilot.press("down")
        await pilot.pause()
        assert cell(app, "#quotas", "L-417A185B", 6) == "press i to raise"
        assert app.screen.check_action("request_increase", ()) is True

        assert quotas.sent == [{"ServiceCode": "ec2", "QuotaCode": "L-DB2E81BA", "DesiredValue": 8.0}]


async def test_a_value_not_above_the_limit_is_refused_in_the_modal(
    quotas: ServiceQuotas, tmp_path: Path
) -> None:
    app = quotas.app(tmp_path, LimitsStep)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "LimitsStep")
        await pilot.press("down", "down", "i")  # G spot: limit 4
        await wait_for_screen(pilot, "QuotaRequestScreen")
        app.screen.query_one("#desired", Input).value = ""
        await pilot.press("4", "enter")
        await pilot.pause()
        assert screen_name(pilot) == "QuotaRequestScreen"
        assert "already 4 vCPUs" in text(app, "#request-error")
        await pilot.press("escape")
        await wait_for_screen(pilot, "LimitsStep")
    assert quotas.sent == []


async def test_limits_step_can_open_the_request_for_the_chosen_type(
    quotas: ServiceQuotas, tmp_path: Path
) -> None:
    app = quotas.app(tmp_path, ImageStep)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "ImageStep")  # g4dn.xlarge chosen
        assert app.ctx is not None
        app.push_screen(LimitsStep(app.ctx, app.state, open_request=True))
        await wait_for_screen(pilot, "QuotaRequestScreen")
        assert app.screen.query_one("#desired", Input).value == "4"
        assert "g4dn.xlarge needs 4" in str(app.screen.query(Static)[1].render())


async def test_a_vcpu_limit_at_launch_offers_the_limits_step(quotas: ServiceQuotas, tmp_path: Path) -> None:
    def refuse(**_: Any) -> Answer:
        return _error(
            "VcpuLimitExceeded",
            "You have requested more vCPU capacity than your current vCPU limit of 0 allows.",
        )

    app = quotas.app(tmp_path, ReviewStep)
    async with app.run_test(size=(120, 40)) as pilot:
        app.ctx.aws.client("ec2").meta.events.register("before-call.ec2.RunInstances", refuse)  # type: ignore[union-attr]
        await drive_to(pilot, "ReviewStep")
        await wait_until(pilot, lambda: app.screen.query_one("#cidr", Input).value != "")
        assert "limit is 4 short for g4dn.xlarge" in text(app, "#review-cost")
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, "LaunchScreen")
        await wait_until(pilot, lambda: app.screen.failed)  # type: ignore[attr-defined]
        assert "Press l to request a higher limit" in text(app, "#step-error")
        await pilot.press("l")
        # The wizard goes back to the limits step, which opens the request for the chosen type.
        await wait_for_screen(pilot, "QuotaRequestScreen")
        assert app.screen.query_one("#desired", Input).value == "4"
        await pilot.press("escape")
        await wait_for_screen(pilot, "LimitsStep")
        assert app.state.gpu_type is not None and app.state.gpu_type.instance_type == "g4dn.xlarge"
