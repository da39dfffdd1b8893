"""Every instance the app launched, in every enabled region, with what it costs and one key per action.

The list is polled with a chained timer (re-armed after each answer, so polls never overlap), faster
while an instance is changing state. Rows are updated by instance id, so the cursor stays put.

On opening, the table shows in three stages: the list remembered from last time (dimmed, actions
off: tui.services.instance_memory), then the live answer from the regions in it, then the sweep of
every enabled region with costs and volumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static

from tui.messages import InstancesListed
from tui.screens.instance_actions import INSTANCES_CSS, LIST_BINDINGS, InstanceActions
from tui.screens.instance_rows import COLUMNS, address_line, cells, incomplete_words
from tui.screens.leftovers_section import (
    LEFTOVER_BINDINGS,
    LEFTOVER_PALETTE,
    LEFTOVERS_CSS,
    LeftoversSection,
)
from tui.services.cloud import lifecycle
from tui.services.cloud.costs import InstanceRow, money
from tui.services.cloud.leftovers import Leftover
from tui.services.errors import D2lError
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.live_table import LiveTable
from tui.widgets.patience import no_answer_words, while_silent
from tui.widgets.plain import by_text, plain

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance, RegionFailure, TunnelStatus
    from tui.screens.cockpit import CockpitScreen, Pane
    from tui.services.instance_memory import Remembered

log = logging.getLogger(__name__)

# Seconds the leftovers sweep waits after the list is painted (tui/screens/leftovers_section.py).
LEFTOVERS_AFTER_S = 0.5


class InstancesScreen(InstanceActions, LeftoversSection):
    DEFAULT_CSS = INSTANCES_CSS + LEFTOVERS_CSS
    BINDINGS = [
        *LIST_BINDINGS,
        *LEFTOVER_BINDINGS,
        Binding("enter", "details", "Details", id="instances.details", tooltip="This instance's own view"),
        Binding("escape", "back", "Back", id="instances.back", tooltip="Back to the launch wizard"),
        # Hidden: the footer is full at 80 columns; the status line and the palette name it.
        # B as in the cockpit: benchmark this instance (its cockpit opens, then the run).
        Binding(
            "B",
            "bench",
            "Benchmark",
            show=False,
            id="instances.bench",
            tooltip="Benchmark this instance: TFLOPS, bandwidth, the book's ResNet-18 on 1..N GPUs",
        ),
    ]
    EXTRA_PALETTE = [
        *LEFTOVER_PALETTE,
        ("Benchmark", "bench", "Measure this instance's GPUs with the book's work, in money at its $/h"),
    ]

    def __init__(self, ctx: AppContext, regions: list[str] | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.regions = regions  # None: every enabled region
        self.rows: dict[str, InstanceRow] = {}
        # What each row shows now: the uptime moves with the clock, so compare with the screen.
        self.shown: dict[str, dict[str, str]] = {}
        self.leftovers: dict[str, Leftover] = {}
        self.loaded = False
        # True while the table shows the list remembered from last time (no action applies yet).
        self.remembered = False
        self._memory: Remembered | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._patience: Timer | None = None  # says so when AWS is slow to give its first answer
        self._gap_shown = False  # the status names regions that did not answer the last listing
        self._leftovers_timer: Timer | None = None  # the leftovers sweep, waiting for a quiet moment

    def compose(self) -> ComposeResult:
        with Vertical(id="step-body"):
            where = (
                "the simulated cloud: nothing here is real" if self.ctx.simulated else "every enabled region"
            )
            yield Static(plain(f"Your instances ({where})"), id="step-title")
            table: DataTable[str] = LiveTable(id="instances-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="instances-address")
            yield from self.leftovers_widgets()
            yield Static("Asking every region for the app's instances…", id="instances-status")
        yield KeysFooter()

    def tunnel_cell(self, instance_id: str) -> str:
        from tui.services.remote.tunnel_registry import short_state

        return short_state(self.ctx.tunnels.status(instance_id))

    def _tunnel_changed(self, status: TunnelStatus) -> None:
        """A tunnel went up, down or is reconnecting: that one cell changes at once."""
        if status.instance_id in self.shown and self.is_mounted:
            value = self.tunnel_cell(status.instance_id) or "-"
            self.shown[status.instance_id]["tunnel"] = value
            self.query_one(DataTable).update_cell(
                status.instance_id, "tunnel", plain(value), update_width=True
            )

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_mount(self) -> None:
        self._unsubscribe = self.ctx.tunnels.subscribe(self._tunnel_changed)
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.setup_leftovers()
        self._memory = self._recall()
        if self._memory is not None:
            self._show(self._memory.rows, "remembered")
            # Once that is on screen: the worker's boto3 import would hold the GIL through the paint.
            self.call_after_refresh(self.load)
        else:
            table.loading = True
            # After the first frame, as above: the worker's imports would hold up the paint.
            self.call_after_refresh(self.load)
        waiting = str(self.query_one("#instances-status", Static).render())  # with the remembered list's date
        self._patience = while_silent(self, lambda waited: self.say(f"{waiting} {no_answer_words(waited)}"))

    def _answered(self) -> None:
        """The first answer (or failure) from AWS: the notice about waiting has done its job."""
        if self._patience is not None:
            self._patience.stop()
            self._patience = None

    def _memory_scope(self) -> str | None:
        """None: nothing to remember (the simulated cloud is new each start; a region subset is not
        the whole list)."""
        from tui.services.instance_memory import scope_for

        return None if self.regions else scope_for(self.ctx.aws)

    def _recall(self) -> Remembered | None:
        from tui.services.instance_memory import recall

        scope = self._memory_scope()
        if not scope:
            return None

        def set_aside(notice: str) -> None:  # the file's name and why: plain text, never markup
            self.notify(notice, title="Remembered list", severity="warning", timeout=15, markup=False)

        return recall(self.ctx.cache_dir, scope, self.ctx.clock(), on_notice=set_aside)

    # -- polling --------------------------------------------------------------------------------

    def shown_rows(self) -> Iterable[InstanceRow]:
        return self.rows.values()

    @work(thread=True, exclusive=True, group="instances-refresh", exit_on_error=False)
    def load(self) -> None:
        from tui.services import instance_memory
        from tui.services.cloud import lifecycle
        from tui.services.cloud.costs import rows_with_costs, rows_without_costs

        try:
            known = self._memory.regions if self._memory is not None and not self.loaded else []
            if known:
                # First the regions used last time, before costs; the full sweep follows.
                # Only these regions: the sweep below says which of every region did not answer.
                first = lifecycle.list_managed(self.ctx.aws, known).instances
                self.app.call_from_thread(self._show, rows_without_costs(first), "first")
                rows = rows_with_costs(
                    self.ctx.aws, self.ctx.hourly_prices, first, now=self.ctx.clock(), ebs=self.ctx.ebs_prices
                )
                self.app.call_from_thread(self._show, rows, "first")
            # The first sweep shows itself region by region; later polls just land.
            progress = None if self.loaded else self._region_answered
            everywhere = lifecycle.list_managed(self.ctx.aws, self.regions, progress)
            self.ctx.sightings.listed(everywhere, self.ctx.clock(), self.regions)
            rows = rows_with_costs(
                self.ctx.aws,
                self.ctx.hourly_prices,
                everywhere.instances,
                now=self.ctx.clock(),
                ebs=self.ctx.ebs_prices,
            )
        except Exception as exc:
            self.app.call_from_thread(self._load_failed, exc)
            return
        scope = self._memory_scope()
        if scope and everywhere.complete:  # a list missing regions is not "what was running"
            instance_memory.remember(self.ctx.cache_dir, scope, rows, self.ctx.clock())
        self._sync_ssh_config(rows, everywhere.complete)
        self.app.call_from_thread(self._show, rows, "done", everywhere.failed)
        self.app.call_from_thread(self._leftovers_when_idle)

    def _region_answered(self, region: str, found: list[Instance], answered: int, asked: int) -> None:
        """From the sweep's thread: that region's rows join the table as soon as it answers."""
        from tui.services.cloud.costs import rows_without_costs

        # The last answer too: its rows are on screen before the costs are looked up (prices and
        # volumes take a round trip or more per region), then the complete list replaces them.
        self.app.call_from_thread(self._show_sweep, rows_without_costs(found), answered, asked)

    def _show_sweep(self, rows: list[InstanceRow], answered: int, asked: int) -> None:
        """Add the region's rows not shown yet; removals wait for the complete answer. Rows still
        remembered from last time (its regions failed, or it was empty) give way to live ones."""
        if self.loaded:
            return
        kept = {} if self.remembered else dict(self.rows)
        merged = kept | {r.key: r for r in rows if r.key not in kept}
        self._show(list(merged.values()), "first")
        if answered < asked:
            self.say(f"{len(merged)} instance(s) so far; {answered} of {asked} regions answered…")
        else:
            self.say(f"{len(merged)} instance(s) so far; every region answered; looking up their costs…")

    def _sort(self, table: DataTable[str]) -> None:
        """Region, then name (as `d2l-tui ls`). The cursor stays on the instance it was on, except
        on the top row during the first listing: that row was only whichever region answered first."""
        current = self.selected() if self.loaded or table.cursor_row > 0 else None
        table.sort("region", "name", key=by_text)  # plain Text cells: sorted by their text
        if current is not None and current.key in self.shown:
            table.move_cursor(row=table.get_row_index(current.key), scroll=False)

    def _sync_ssh_config(self, rows: list[InstanceRow], complete: bool) -> None:
        from tui.services.cloud.keys import find_private_key
        from tui.services.remote import sshconfig

        try:
            # Keep `ssh d2l-NAME` pointing at the current addresses (the app's own include file).
            names = {r.instance.key_name for r in rows if r.instance.key_name}
            keys = {n: find_private_key(n, self.ctx.key_dir) for n in names}
            include = sshconfig.include_path(self.ctx.key_dir)
            # A region that did not answer keeps its hosts: not seen is not gone.
            sshconfig.sync(
                include,
                [r.instance for r in rows],
                keys,
                complete=complete,
                on_notice=lambda notice: self.app.call_from_thread(
                    self.notify, notice, severity="warning", timeout=15, markup=False
                ),
            )
        except Exception as exc:  # a convenience: never hide the list because of it
            log.warning("ssh config include not updated: %s", exc)

    def _leftovers_when_idle(self) -> None:
        """The leftovers sweep (several calls in every region) starts once the list is painted and
        no listing is in flight: it must never compete with the rows for the CPU or the network."""
        if self._leftovers_timer is not None:
            self._leftovers_timer.stop()
        self._leftovers_timer = self.set_timer(LEFTOVERS_AFTER_S, self._leftovers_if_idle)

    @property
    def leftovers_due(self) -> bool:
        """True while the leftovers sweep waits for its quiet moment (not started yet)."""
        return self._leftovers_timer is not None

    def _leftovers_if_idle(self) -> None:
        self._leftovers_timer = None
        listing = any(
            w.node is self and w.group == "instances-refresh" and w.is_running for w in self.workers
        )
        if listing:
            self._leftovers_when_idle()  # that listing ends by asking again
            return
        self.load_leftovers()

    @work(thread=True, exclusive=True, group="leftovers-refresh", exit_on_error=False)
    def load_leftovers(self) -> None:
        """After the instances, in its own worker: the table of instances never waits for it."""
        from tui.services.cloud.leftovers import find_leftovers

        try:
            listing = find_leftovers(self.ctx.aws, self.regions, ebs=self.ctx.ebs_prices)
        except Exception as exc:  # the instances are what matters; say so once, keep the old list
            log.warning("leftovers not listed: %s", exc)
            return
        self.app.call_from_thread(self.show_leftovers, listing.items, listing.failed)

    def _show(
        self,
        rows: list[InstanceRow],
        stage: Literal["remembered", "first", "done"] = "done",
        failed: tuple[RegionFailure, ...] = (),
    ) -> None:
        """Paint rows by key. remembered: last time's list, dimmed, actions off; first: live rows
        from the regions used last time while the sweep goes on; done: the sweep is over, and every
        region answered but those in ``failed``."""
        table = self.query_one(DataTable)
        # A region that did not answer this time keeps the rows it had: not seen is not gone.
        down = {f.region for f in failed}
        carried = [] if self.remembered else [r for r in self.rows.values() if r.instance.region in down]
        rows = [*rows, *carried]
        fresh = {r.key: r for r in rows}
        now = self.ctx.clock()
        added = False
        was_remembered = self.remembered
        with self.app.batch_update():
            for key in list(self.shown):
                if key not in fresh:
                    table.remove_row(key)
            shown = {}
            for key, row in fresh.items():
                shown[key] = values = cells(row, now, self.tunnel_cell(key))
                old = self.shown.get(key)
                if old is None:
                    table.add_row(*(plain(values[c]) for c, _ in COLUMNS), key=key)
                    added = True
                    continue
                for column, value in values.items():
                    if old[column] != value:
                        table.update_cell(key, column, plain(value), update_width=True)
            if added:
                self._sort(table)
        self.rows = fresh
        self.shown = shown
        self.show_address()  # a start gives a new address
        table.loading = False
        if stage != "remembered":
            self._answered()
        self.remembered = stage == "remembered"
        table.set_class(self.remembered, "remembered")
        if self.remembered:
            self.say(f"{len(rows)} instance(s) {self._as_of()}, remembered from last time; asking AWS…")
            self.refresh_bindings()
            return
        if stage == "first":
            # Not `loaded` yet: the sweep of every region is still going, and may add or remove rows.
            self.say(f"{len(rows)} instance(s) in the regions used last time; checking every other region…")
            # Only when last time's rows gave way to live ones (their keys apply now): each refresh
            # recomposes the footer, and the first sweep paints once per region (~20, 38 on moto),
            # which was a third of the app's CPU before the rows were all on screen. A new cursor
            # row refreshes them itself (on_data_table_row_highlighted).
            if was_remembered:
                self.refresh_bindings()
            return
        first_answer = not self.loaded
        self.loaded = True
        if first_answer:
            self.post_message(InstancesListed())  # bubbles to the app
        gap_was_shown, self._gap_shown = self._gap_shown, bool(failed)
        if failed:
            # Never "no instances" while a region did not answer: it may hold running ones.
            self.say(incomplete_words(len(rows), failed, len(carried)), error=True)
        elif not rows:
            self.say("No instances launched by d2l-tui. Press Escape to launch one.")
        elif gap_was_shown or not self.query_one("#instances-status").has_class("error"):
            hourly = sum(r.usd_per_hour or 0 for r in rows if r.usd_so_far is not None)
            monthly = sum(r.disk_usd_per_month for r in rows)
            self.say(
                f"{len(rows)} instance(s); running: {money(hourly, '/h')}; disks: {money(monthly, '/month')}. "
                "Enter: its cockpit (l setup, t Jupyter, g GPUs, B benchmark)."
            )
        self.refresh_bindings()
        self._arm()

    def _as_of(self) -> str:
        """'as of 14:02 (4 min ago)': when the remembered list was AWS's answer."""
        from tui.services.instance_memory import age_words

        if self._memory is None:
            return ""
        saved = self._memory.saved_at
        return f"as of {saved.astimezone():%H:%M} ({age_words(saved, self.ctx.clock())})"

    def _load_failed(self, exc: BaseException) -> None:
        self._answered()
        self.query_one(DataTable).loading = False
        # Still last time's list on screen: say so next to why AWS did not answer.
        shown = f"The list shown was remembered {self._as_of()}. " if self.remembered else ""
        if isinstance(exc, D2lError):
            self.say(f"{exc} {shown}The list retries by itself; press r to retry now.", error=True)
        else:
            log.error("listing instances failed", exc_info=exc)
            self.say(
                f"Listing instances failed; details are in the log file. {shown}Press r to retry.", error=True
            )
        self._arm()

    # -- selection ------------------------------------------------------------------------------

    def selected(self) -> InstanceRow | None:
        if not self.rows:
            return None
        # The footer asks (check_action) as soon as it mounts, which can be before the table has.
        tables = self.query(DataTable)
        table = tables.first() if tables else None
        if table is None or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self.rows.get(str(key))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_address()
        self.refresh_bindings()

    def show_address(self) -> None:
        self.query_one("#instances-address", Static).update(plain(address_line(self.selected())))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.remembered and action not in ("reload", "back"):
            return None  # last time's rows: no action until AWS confirms them
        if action == "details":
            return True if self.selected() is not None else None
        if action in ("cleanup", "delete_leftover", "launch_from_image"):
            return self.check_leftover_action(action)
        return super().check_action(action, parameters)

    # -- the pane keys: each opens the instance's cockpit on that pane --------------------------

    def action_provision(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        self.open_cockpit(row, "setup")

    def action_tunnel(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        inst = row.instance
        if self.ctx.tunnels.is_active(inst.instance_id):
            self.ctx.tunnels.stop(inst.instance_id)
            self.notify(
                f"Tunnel to {inst.name or inst.instance_id} stopped. Jupyter keeps running there.",
                markup=False,
            )
            return
        self.open_cockpit(row, "jupyter", start_tunnel=True)

    def action_stop_jupyter(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        from tui.screens.tunnel import confirm_stop_jupyter

        link = self.ctx.instance_link(row.instance, self.key_path(row.instance))
        confirm_stop_jupyter(self.app, self.ctx.tunnels, link, row.instance.instance_id)

    def action_gpu(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        self.open_cockpit(row, "gpu")

    def open_cockpit(self, row: InstanceRow, pane: Pane, *, start_tunnel: bool = False) -> CockpitScreen:
        # Imported here: the cockpit (its panes, the GPU plot) is ~35 ms of CPU that the list's first
        # paint does not need.
        from tui.screens.cockpit import CockpitScreen

        key = self.key_path(row.instance)
        screen = CockpitScreen(self.ctx, row.instance, row=row, pane=pane, start_tunnel=start_tunnel, key=key)
        self.app.push_screen(screen, lambda _: self.refresh_soon())
        return screen

    def action_details(self) -> None:
        row = self.selected()
        if row is not None:
            self.open_cockpit(row, "details")

    def action_back(self) -> None:
        self.dismiss(None)

    def action_bench(self) -> None:
        row = self.selected()
        if row is not None:
            cockpit = self.open_cockpit(row, "details")
            self.app.call_after_refresh(cockpit.action_bench)  # once it is on screen, as if B there
