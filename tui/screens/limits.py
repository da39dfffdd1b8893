"""Step 2: the vCPU quotas that gate GPU launches in the chosen region."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.models import Quota
from tui.screens.base import StepScreen


def number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def quota_note(quota: Quota) -> str:
    if quota.value is None or quota.usage is None:
        return "unknown: see below"
    if quota.value == 0:
        return "0: request an increase first"
    return ""


class LimitsStep(StepScreen):
    STEP = 1
    TITLE_TEXT = "Check your limits"
    HELP_TEXT = (
        "GPU instances count against per-region vCPU quotas. New accounts often have 0 for G and P "
        "instances; an increase is requested in the Service Quotas console and usually takes a business day."
    )
    BINDINGS = [Binding("r", "reload", "Refresh", id="limits.reload", tooltip="Read the quotas again")]

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="quotas", cursor_type="row", zebra_stripes=True)
        yield Static("", id="limits-summary")

    def on_mount(self) -> None:
        table = self.query_one("#quotas", DataTable)
        table.add_columns("Quota", "Code", "Purchase", "Limit (vCPUs)", "In use", "Headroom", "Note")
        self.action_reload()

    def action_reload(self) -> None:
        self.clear_error()
        self.query_one("#quotas", DataTable).loading = True
        self.load_quotas()

    @work(exclusive=True, group="quotas", exit_on_error=False)
    async def load_quotas(self) -> None:
        from tui.services.quotas import read_quotas

        table = self.query_one("#quotas", DataTable)
        assert self.state.region is not None
        try:
            quotas = await asyncio.to_thread(read_quotas, self.ctx.aws, self.state.region.name)
        except Exception as exc:
            self.show_exception(exc, "reading the quotas")
            return
        finally:
            table.loading = False
        self.state.quotas = quotas
        table.clear()
        for q in quotas:
            table.add_row(
                q.name,
                q.code,
                q.purchase.value,
                number(q.value),
                number(q.usage),
                number(q.headroom),
                quota_note(q),
                key=q.code,
            )
        table.focus()
        region = self.state.region.name
        reasons = dict.fromkeys(q.reason for q in quotas if q.reason)  # once each, in order
        lines = [f"Quotas for {region}. Unknown values don't block a launch: AWS has the last word."]
        lines += [f"• {reason}" for reason in reasons]
        self.query_one("#limits-summary", Static).update("\n".join(lines))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()
