"""The instances screen's second table: what the app made that nothing uses, and the saved images.

``L`` cleans up every leftover but the saved images (kept on purpose); ``D`` deletes the row under
the leftovers table's cursor, a saved image included. Both confirm first, listing what goes and
the $/month it saves. The deletions run in a thread worker; the table is then asked again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.messages import LaunchFromImageChosen
from tui.models import ImageChoice, ImageKind, RegionFailure, unanswered_words
from tui.screens.base import StepScreen
from tui.screens.confirm import ConfirmationModal
from tui.services.cloud.costs import money
from tui.services.cloud.leftovers import IMAGE, LABELS, CleanupResult, Leftover, bulk, monthly
from tui.services.errors import D2lError
from tui.widgets.live_table import LiveTable
from tui.widgets.plain import plain

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)

LEFTOVER_COLUMNS = [
    ("what", "What"),
    ("name", "Name"),
    ("region", "Region"),
    ("id", "Id"),
    ("monthly", "$/month"),
    ("detail", "Detail"),
]
LEFTOVER_BINDINGS = [
    Binding(
        "L", "cleanup", "Clean up", id="instances.cleanup", tooltip="Delete every leftover (not saved images)"
    ),
    Binding(
        "D", "delete_leftover", "Delete", id="instances.delete", tooltip="Delete the highlighted leftover"
    ),
    Binding(
        "n",
        "launch_from_image",
        "Launch image",  # short: the footer is full; the tooltip and palette say more
        id="instances.launch_from_image",
        tooltip="Open the wizard with this saved image chosen (My AMIs)",
    ),
]
LEFTOVER_PALETTE = [
    ("Clean up leftovers", "cleanup", "Delete unused security groups, key pairs, volumes and snapshots"),
    ("Delete leftover", "delete_leftover", "Delete the leftover or saved image under the cursor"),
    ("Launch from image", "launch_from_image", "Open the wizard with the saved image under the cursor"),
]
LEFTOVERS_CSS = """
#leftovers-title { height: auto; padding: 1 1 0 1; text-style: bold; }
#leftovers-table { height: auto; max-height: 12; }
"""
MAX_LISTED = 12  # lines of a confirmation; the rest is counted


def leftover_cells(item: Leftover) -> tuple[str, ...]:
    return (
        LABELS[item.kind],
        item.name or "-",
        item.region,
        item.resource_id,
        money(item.usd_per_month),
        item.detail,
    )


def confirmation_body(items: list[Leftover]) -> str:
    lines = [f"- {x.label}: {money(x.usd_per_month, '/month')}" for x in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"… and {len(items) - MAX_LISTED} more")
    images = [x for x in items if x.snapshot_ids]
    if images:
        lines.append("Deregistering an image deletes its snapshots too: it can't be launched again.")
    lines.append("Key pairs are deleted in AWS only; the private key files stay on this computer.")
    lines.append(f"Saves {money(monthly(items), '/month')}.")
    return "\n".join(lines)


class LeftoversSection(Screen[None]):
    """Mixed into the instances screen: the leftovers table, its keys and its worker."""

    ctx: AppContext
    regions: list[str] | None
    leftovers: dict[str, Leftover]

    def say(self, message: str, error: bool = False) -> None:
        raise NotImplementedError

    def leftovers_widgets(self) -> tuple[Static, DataTable[str]]:
        title = Static("", id="leftovers-title")
        table: DataTable[str] = LiveTable(id="leftovers-table", cursor_type="row", zebra_stripes=True)
        title.display = table.display = False  # shown once there is something to show
        return title, table

    def setup_leftovers(self) -> None:
        table = self.query_one("#leftovers-table", DataTable)
        for key, label in LEFTOVER_COLUMNS:
            table.add_column(label, key=key)

    def show_leftovers(self, items: list[Leftover], failed: tuple[RegionFailure, ...] = ()) -> None:
        """The leftovers the regions that answered hold; ``failed``: those that did not answer."""
        table = self.query_one("#leftovers-table", DataTable)
        fresh = {x.key: x for x in items}
        with self.app.batch_update():
            for key in list(self.leftovers):
                if key not in fresh:
                    table.remove_row(key)
            for key, item in fresh.items():
                if key not in self.leftovers:
                    table.add_row(*map(plain, leftover_cells(item)), key=key)
                elif self.leftovers[key] != item:
                    for (column, _), value in zip(LEFTOVER_COLUMNS, leftover_cells(item), strict=True):
                        table.update_cell(key, column, plain(value), update_width=True)
        self.leftovers = fresh
        title = self.query_one("#leftovers-title", Static)
        # A region that did not answer may hold leftovers that cost money: never a silent "none".
        gaps = f" {unanswered_words(failed)}: the list may be incomplete." if failed else ""
        if items:
            words = (
                f"Leftovers and saved images: {money(monthly(items), '/month')}. "
                f"L: clean up (not images); D: delete the highlighted one.{gaps}"
            )
        else:
            words = f"Leftovers: none in the regions that answered.{gaps}"
        title.update(Text(words))  # region names and reasons are never markup
        title.display = bool(items or failed)
        table.display = bool(items)
        self.refresh_bindings()

    def highlighted_leftover(self) -> Leftover | None:
        if not self.leftovers:
            return None
        # The footer asks (check_action) as soon as it mounts, which can be before the table has.
        tables = self.query("#leftovers-table").results(DataTable)
        table = next(tables, None)
        if table is None or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self.leftovers.get(str(key))

    def check_leftover_action(self, action: str) -> bool | None:
        if action == "cleanup":
            return True if bulk(self.leftovers.values()) else None
        item = self.highlighted_leftover()
        if action == "launch_from_image":
            # A pending or failed image can't be launched; My AMIs lists only available ones. Left out
            # of the footer unless a saved image is under the cursor: shown greyed, "n Launch" read
            # as "launch a new instance", which it is not (a newcomer pressed it and nothing happened).
            return True if item is not None and item.kind == IMAGE and item.state == "available" else False
        return True if item is not None else None

    def action_cleanup(self) -> None:
        self._confirm(bulk(self.leftovers.values()), "Clean up leftovers?")

    def action_delete_leftover(self) -> None:
        item = self.highlighted_leftover()
        if item is not None:
            self._confirm([item], f"Delete the {item.label}?")

    def action_launch_from_image(self) -> None:
        item = self.highlighted_leftover()
        if item is None or item.kind != IMAGE:
            return
        if not isinstance(self.app.screen_stack[-2], StepScreen):
            # Under this screen is a launch, not the wizard: the wizard's state belongs to it now.
            self.say("Finish or leave the launch first (Escape), then launch from the image.", error=True)
            return
        self.say(f"Looking up {item.label}…")
        self.launch_from_image(item)

    @work(thread=True, exclusive=True, group="launch-from-image", exit_on_error=False)
    def launch_from_image(self, item: Leftover) -> None:
        from tui.services.cloud.images import describe_image

        try:
            image = describe_image(self.ctx.aws, item.region, item.resource_id, ImageKind.MY_AMI)
        except Exception as exc:
            log.warning("launch from %s: %s", item.resource_id, exc)
            message = str(exc) if isinstance(exc, D2lError) else "The image could not be read from AWS."
            self.app.call_from_thread(self.say, f"{message} Press r to refresh.", True)
            return
        self.app.call_from_thread(self._launch_with, item.region, image)

    def _launch_with(self, region: str, image: ImageChoice) -> None:
        # The app owns the wizard: it applies the choice and walks its steps back (no app import here).
        self.app.post_message(LaunchFromImageChosen(region, image))
        self.dismiss(None)

    def _confirm(self, items: list[Leftover], title: str) -> None:
        if not items:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_leftovers(items)

        self.app.push_screen(ConfirmationModal(title, confirmation_body(items), yes="Delete"), answered)

    @work(thread=True, group="leftovers-cleanup", exit_on_error=False)
    def delete_leftovers(self, items: list[Leftover]) -> None:
        from tui.services.cloud.leftovers import clean_up

        self.app.call_from_thread(self.say, f"Deleting {len(items)} leftover(s)…")
        results = clean_up(
            self.ctx.aws, items, progress=lambda line: self.app.call_from_thread(self.say, line)
        )
        self.app.call_from_thread(self._cleaned, results)

    def _cleaned(self, results: list[CleanupResult]) -> None:
        failed = [r for r in results if r.error is not None]
        done = [r.leftover for r in results if r.error is None]
        message = f"Deleted {len(done)} leftover(s), saving {money(monthly(done), '/month')}."
        if failed:
            message += f" {len(failed)} kept: {failed[0].error}"
        self.say(message, error=bool(failed))
        self.notify(message, severity="error" if failed else "information", markup=False)
        self.refresh_soon()

    def refresh_soon(self) -> None:
        raise NotImplementedError
