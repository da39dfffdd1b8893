"""How one instance reads in the instances list: its cells, the address line under the table, and the
status sentence of a list some regions did not answer. Plain functions of the rows (no screen)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tui.services.cloud.costs import InstanceRow, money, uptime

if TYPE_CHECKING:
    from tui.models import RegionFailure

COLUMNS = [
    ("name", "Name"),
    ("region", "Region"),
    ("type", "Type"),
    ("gpu", "GPU"),
    ("state", "State"),
    ("uptime", "Up"),
    ("per_hour", "$/h"),
    ("so_far", "$ so far"),
    ("disk", "Disk $/month"),
    ("tunnel", "Jupyter"),
]
# The public DNS name (~45 characters) would be cut at 120 columns: the highlighted instance's
# address is on the detail line under the table instead (address_line).


def cells(row: InstanceRow, now: datetime | None = None, tunnel: str = "") -> dict[str, str]:
    inst = row.instance
    stopped = inst.state == "stopped"
    return {
        "name": inst.name or inst.instance_id,
        "region": inst.region,
        "type": inst.instance_type,
        "gpu": row.gpu or "-",
        "state": inst.state,
        "uptime": uptime(inst, now),
        "per_hour": "…" if row.costs_pending else money(row.usd_per_hour),
        "so_far": "…" if row.costs_pending else money(row.usd_so_far),
        # Stopped: the disk is all that is billed, so its cost is what matters.
        "disk": "…"
        if row.costs_pending
        else money(row.disk_usd_per_month) + (" (stopped)" if stopped else ""),
        "tunnel": tunnel or "-",  # "up :8889", "reconnecting :8889" (tunnel_registry.short_state)
    }


def address_line(row: InstanceRow | None) -> str:
    """'d2l-box: ec2-54-1-2-3.compute-1.amazonaws.com (54.1.2.3)' for the highlighted row."""
    if row is None:
        return ""
    inst = row.instance
    name = inst.name or inst.instance_id
    if not (inst.public_dns or inst.public_ip):
        return f"{name}: no public address ({inst.state})"
    ip = f" ({inst.public_ip})" if inst.public_dns and inst.public_ip else ""
    return f"{name}: {inst.public_dns or inst.public_ip}{ip}"


def incomplete_words(count: int, failed: tuple[RegionFailure, ...], carried: int = 0) -> str:
    """'3 instance(s); eu-west-1 did not answer (connection dropped): the list may be incomplete.'"""
    from tui.models import unanswered_words

    kept = f" ({carried} shown as last seen)" if carried else ""
    return (
        f"{count} instance(s){kept}; {unanswered_words(failed)}: the list may be incomplete. "
        "It retries by itself; r retries now."
    )
