"""Step 2: the vCPU quotas that gate GPU launches in the chosen region, and increase requests."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.models import Quota
from tui.screens.base import StepScreen
from tui.screens.wizard_state import WizardState
from tui.widgets.live_table import LiveTable
from tui.widgets.plain import plain

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.services.cloud.quota_requests import Filed, QuotaRequest


def number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def quota_note(quota: Quota, request: QuotaRequest | None = None) -> str:
    if request is not None and request.is_open:
        return "request open"  # AWS refuses a second open request for one quota
    if quota.value is None or quota.usage is None:
        return "see below"
    if quota.value == 0:
        return "press i to raise"
    return ""


def request_cell(request: QuotaRequest | None) -> str:
    return "—" if request is None else f"{request.status} ({request.desired_value:g})"


REQUEST_COLUMN = "Request"
NOTE_COLUMN = "Note"


class LimitsStep(StepScreen):
    STEP = 1
    TITLE_TEXT = "Check your limits"
    HELP_TEXT = (
        "GPU instances count against per-region vCPU quotas. New accounts often have 0 for G and P "
        "instances. Press i to request an increase from here; AWS usually decides within a business day."
    )
    BINDINGS = [
        Binding("r", "reload", "Refresh", id="limits.reload", tooltip="Read the quotas again"),
        Binding(
            "i",
            "request_increase",
            "Request increase",
            id="limits.request",
            tooltip="Ask AWS for a higher limit for the highlighted quota",
        ),
    ]

    def __init__(self, ctx: AppContext, state: WizardState, *, open_request: bool = False) -> None:
        """``open_request``: after loading, open the request for the chosen type's quota (the launch
        failed on a vCPU limit)."""
        super().__init__(ctx, state)
        self.open_request = open_request
        self.quotas: list[Quota] = []
        self.requests: dict[str, QuotaRequest] = {}
        self.history_reason = ""

    def compose_body(self) -> ComposeResult:
        yield LiveTable(id="quotas", cursor_type="row", zebra_stripes=True)
        yield Static("", id="limits-summary")

    def on_mount(self) -> None:
        table = self.query_one("#quotas", DataTable)
        for label in ("Quota", "Purchase", "vCPU limit", "In use", "Headroom", "Request", "Note"):
            # Keyed by label: cells are updated by column key, not by position.
            table.add_column(label, key=label)
        self.action_reload()

    def action_reload(self) -> None:
        self.clear_error()
        self.query_one("#quotas", DataTable).loading = True
        self.load_quotas()

    @work(exclusive=True, group="quotas", exit_on_error=False)
    async def load_quotas(self) -> None:
        from tui.services.cloud.quota_requests import latest_requests
        from tui.services.cloud.quotas import read_quotas

        table = self.query_one("#quotas", DataTable)
        assert self.state.region is not None
        region = self.state.region.name
        try:
            quotas = await asyncio.to_thread(read_quotas, self.ctx.aws, region)
            codes = [q.code for q in quotas]
            self.requests, self.history_reason = await asyncio.to_thread(
                latest_requests, self.ctx.aws, region, codes
            )
        except Exception as exc:
            self.show_exception(exc, "reading the quotas")
            return
        finally:
            table.loading = False
        self.state.quotas = self.quotas = quotas
        table.clear()
        for q in quotas:
            cells = (
                q.name,
                q.purchase.value,
                number(q.value),
                number(q.usage),
                number(q.headroom),
                request_cell(self.requests.get(q.code)),
                quota_note(q, self.requests.get(q.code)),
            )
            table.add_row(*map(plain, cells), key=q.code)  # AWS's quota names and reasons: plain
        table.focus()
        self.render_summary()
        if self.open_request:
            self.open_request = False  # once: Refresh must not open it again
            self.request_for_chosen_type()

    def render_summary(self) -> None:
        assert self.state.region is not None
        reasons = dict.fromkeys(q.reason for q in self.quotas if q.reason)  # once each, in order
        lines = [f"Quotas for {self.state.region.name} (codes: {', '.join(q.code for q in self.quotas)})."]
        if reasons:
            lines.append("Unknown values don't block a launch: AWS has the last word.")
        lines += [f"• {reason}" for reason in reasons]
        lines += [f"• Request for {code}: {r.summary}" for code, r in self.requests.items()]
        if self.history_reason:
            lines.append(f"• Earlier requests unknown: {self.history_reason}")
        self.query_one("#limits-summary", Static).update(plain("\n".join(lines)))

    def highlighted(self) -> Quota | None:
        if not self.quotas:
            return None
        table = self.query_one("#quotas", DataTable)
        if table.row_count == 0:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return next((q for q in self.quotas if q.code == key), None)

    def open_request_for(self, quota: Quota | None) -> QuotaRequest | None:
        request = self.requests.get(quota.code) if quota is not None else None
        return request if request is not None and request.is_open else None

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "request_increase" and self.open_request_for(self.highlighted()) is not None:
            return False  # shown greyed: this quota's request is still open
        return super().check_action(action, parameters)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def action_request_increase(self) -> None:
        quota = self.highlighted()
        if quota is None:
            self.show_error("The quotas are still loading; press i again once they are shown.")
            return
        self.open_modal(quota)

    def request_for_chosen_type(self) -> None:
        chosen = self.state.gpu_type
        quota = next(
            (
                q
                for q in self.quotas
                if chosen is not None and (q.bucket, q.purchase) == (chosen.bucket, self.state.purchase)
            ),
            None,
        )
        if quota is None:
            return
        table = self.query_one("#quotas", DataTable)
        table.move_cursor(row=table.get_row_index(quota.code))
        request = self.open_request_for(quota)
        if request is not None:
            self.show_error(
                f"Your request for {quota.name} is {request.status}: AWS allows one open request per quota."
            )
            return
        self.open_modal(quota)

    def open_modal(self, quota: Quota) -> None:
        from tui.screens.quota_request import QuotaRequestScreen
        from tui.services.cloud.quota_requests import DEFAULT_VCPUS

        assert self.state.region is not None
        chosen = self.state.gpu_type
        fits_bucket = chosen is not None and chosen.bucket == quota.bucket
        vcpus = chosen.vcpus if chosen is not None and fits_bucket else DEFAULT_VCPUS[quota.bucket]
        modal = QuotaRequestScreen(
            self.ctx,
            self.state.region.name,
            quota.bucket,
            quota.purchase,
            quota,
            vcpus,
            chosen.instance_type if chosen is not None and fits_bucket else "",
        )
        self.app.push_screen(modal, self.request_filed)

    def request_filed(self, filed: Filed | None) -> None:
        if filed is None:
            return
        request = filed.request
        self.requests[request.quota_code] = request
        table = self.query_one("#quotas", DataTable)
        quota = next((q for q in self.quotas if q.code == request.quota_code), None)
        if quota is not None:
            table.update_cell(request.quota_code, REQUEST_COLUMN, plain(request_cell(request)))
            table.update_cell(request.quota_code, NOTE_COLUMN, plain(quota_note(quota, request)))
        self.render_summary()
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()
