"""One instance's own view: its details, what it costs, and the same action keys as the table.

The provisioning log, GPU panel and Jupyter tunnel join this view with their own issues.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Static

from tui.screens.instance_actions import ACTION_BINDINGS, INSTANCES_CSS, InstanceActions
from tui.services.cloud.costs import InstanceRow, money, uptime
from tui.services.errors import D2lError
from tui.services.remote import sshconfig
from tui.widgets.plain import plain

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)


class InstanceDetailScreen(InstanceActions):
    DEFAULT_CSS = INSTANCES_CSS
    BINDINGS = [
        *ACTION_BINDINGS,
        Binding("escape", "back", "Back", id="instance.back", tooltip="Back to all instances"),
    ]

    def __init__(self, ctx: AppContext, row: InstanceRow) -> None:
        super().__init__()
        self.ctx = ctx
        self.row: InstanceRow | None = row
        self.instance_id = row.instance.instance_id
        self.aws_region = row.instance.region

    def compose(self) -> ComposeResult:
        with Vertical(id="step-body"):
            yield Static(plain(self._title()), id="step-title")
            yield Static(plain(self._details()), id="instance-details")
            yield Static("", id="instances-status")
        yield Footer()

    def on_mount(self) -> None:
        self._arm()

    def _title(self) -> str:
        row = self.row
        return f"{row.instance.name} ({row.instance.state})" if row else f"{self.instance_id} (gone)"

    def _details(self) -> str:
        row = self.row
        if row is None:
            return "This instance no longer exists. Press Escape to go back."
        inst = row.instance
        key = self.key_path(inst)
        lines = [
            f"Id            {inst.instance_id}",
            f"Region / zone {inst.region} / {inst.availability_zone or '-'}",
            f"Type          {inst.instance_type}  GPU {row.gpu or '-'}" + ("  (spot)" if inst.spot else ""),
            f"State         {inst.state}   up {uptime(inst, self.ctx.clock())}",
            f"Image         {inst.image_id or '-'}",
            f"Key pair      {inst.key_name or '-'}  ({key or 'private key not found locally'})",
            f"Public DNS    {inst.public_dns or '-'}",
            f"Public IP     {inst.public_ip or '-'}",
            "",
            f"Compute       {money(row.usd_per_hour, '/h')}, {money(row.usd_so_far)} since launch or last start",
            f"Disk          {row.disk_gib} GiB gp3, {money(row.disk_usd_per_month, '/month')}"
            + (" (billed while stopped)" if inst.state == "stopped" else ""),
        ]
        if sshconfig.can_alias(inst):
            lines += ["", f"ssh           {sshconfig.ssh_command(inst, key)}"]
        return "\n".join(lines)

    def selected(self) -> InstanceRow | None:
        return self.row

    def shown_rows(self) -> Iterable[InstanceRow]:
        return [self.row] if self.row is not None else []

    @work(thread=True, exclusive=True, group="instance-refresh", exit_on_error=False)
    def load(self) -> None:
        from tui.services.cloud.costs import row_for

        try:
            row = row_for(
                self.ctx.aws,
                self.ctx.hourly_prices,
                self.aws_region,
                self.instance_id,
                now=self.ctx.clock(),
                ebs=self.ctx.ebs_prices,
            )
        except Exception as exc:
            self.app.call_from_thread(self._load_failed, exc)
            return
        self.app.call_from_thread(self._show, row)

    def _show(self, row: InstanceRow | None) -> None:
        self.row = row
        # Name, key pair, paths: outside text, shown plain.
        self.query_one("#step-title", Static).update(plain(self._title()))
        self.query_one("#instance-details", Static).update(plain(self._details()))
        self.refresh_bindings()
        self._arm()

    def _load_failed(self, exc: BaseException) -> None:
        # Shown, then retried on the timer: refreshing at once would loop while AWS is unreachable.
        message = str(exc) if isinstance(exc, D2lError) else "Refreshing failed; details are in the log file."
        if not isinstance(exc, D2lError):
            log.error("refreshing %s failed", self.instance_id, exc_info=exc)
        self.say(f"{message} Press r to retry now.", error=True)
        self._arm()

    def action_back(self) -> None:
        self.dismiss(None)
