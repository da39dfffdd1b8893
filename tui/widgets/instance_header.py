"""The cockpit's header: what the instance is, where it is, and what it costs, always from AWS's last answer.

Two lines, so it fits 80 columns: who and where on the first, time and money on the second; a third
with the auto-stop agent's own words while the instance runs and the agent has said something. Names,
addresses and types come from AWS, the agent's words from the instance: plain text, never markup.
"""

from __future__ import annotations

from datetime import datetime

from textual.widgets import Static

from tui.models import Instance
from tui.services.cloud.costs import InstanceRow, money, uptime
from tui.widgets.plain import assemble

_STATE_STYLE = {
    "running": "bold green",
    "pending": "bold yellow",
    "stopping": "bold yellow",
    "stopped": "bold red",
    "shutting-down": "bold red",
    "terminated": "bold red",
}


def header_lines(instance: Instance, row: InstanceRow | None, now: datetime) -> tuple[str, str]:
    """The two lines as words (the widget styles the state): tested without a screen."""
    first = f"{who(instance, row)}  {instance.state}  {where(instance)}"
    running = instance.state == "running"
    up = (
        f"up {uptime(instance, now)} since the last start"
        if running
        else "compute not billed while " + instance.state
    )
    if row is None or row.costs_pending:
        second = f"{up} · prices loading…"
    else:
        disk = f"disk {row.disk_gib} GiB {money(row.disk_usd_per_month, '/month')}"
        if running:
            second = f"{up} · {money(row.usd_per_hour, '/h')} · {money(row.usd_so_far)} so far · {disk}"
        else:
            second = f"{up} ({money(row.usd_per_hour, '/h')} when running) · {disk}, billed all the same"
    return first, second


def who(instance: Instance, row: InstanceRow | None) -> str:
    gpu = f" · {row.gpu}" if row is not None and row.gpu else ""
    spot = " (spot)" if instance.spot else ""
    return f"{instance.name or instance.instance_id}  {instance.instance_type}{gpu}{spot}"


def where(instance: Instance) -> str:
    return instance.public_dns or instance.public_ip or "no public address"


class InstanceHeader(Static):
    DEFAULT_CSS = """
    InstanceHeader { height: auto; padding: 0 1; background: $panel; }
    """

    def show(
        self, instance: Instance, row: InstanceRow | None, now: datetime, autostop: str | None = None
    ) -> None:
        _, second = header_lines(instance, row, now)
        third = autostop_line(instance, autostop)
        state_style = _STATE_STYLE.get(instance.state, "bold")
        self.update(
            assemble(
                (who(instance, row), "bold"),
                "  ",
                (f"● {instance.state}", state_style),
                "  ",
                where(instance),
                "\n",
                second,
                *(("\n", third) if third else ()),
            )
        )


def autostop_line(instance: Instance, words: str | None) -> str:
    """ "auto-stop: idle 12 of 30 min — stops at 15:42 · a to change", while it runs."""
    if instance.state != "running" or not words:
        return ""
    return f"{words if words.startswith('auto-stop') else 'auto-stop: ' + words} · a to change"
