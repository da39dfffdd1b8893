"""Step 1: choose a nearby region that offers GPU instances."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from tui.models import Region
from tui.screens.base import StepScreen
from tui.widgets.live_table import LiveTable
from tui.widgets.plain import plain


def latency_text(region: Region) -> str:
    return "timed out" if region.latency_ms is None else f"{region.latency_ms:.0f} ms"


def gpu_text(region: Region) -> str:
    if region.gpu_type_count is None:
        return "unknown"
    return str(region.gpu_type_count)


def note_text(region: Region) -> str:
    if region.gpu_type_count == 0:
        return "no GPU instances offered here"
    if region.gpu_type_count is None:
        return "couldn't read the offerings"
    return ""


class RegionStep(StepScreen):
    STEP = 0
    TITLE_TEXT = "Choose a region"
    HELP_TEXT = (
        "Pick a region near you: lower latency makes SSH and Jupyter snappier. "
        "Not every region offers GPU instances."
    )
    BINDINGS = [Binding("r", "reload", "Refresh", id="region.reload", tooltip="Measure again")]

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = LiveTable(id="regions", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#regions", DataTable)
        latency = "Latency (simulated)" if self.ctx.simulated else "Latency"
        table.add_columns("Region", latency, "GPU types", "Note")
        self.regions: dict[str, Region] = {}
        self.action_reload()

    def action_reload(self) -> None:
        self.clear_error()
        table = self.query_one("#regions", DataTable)
        table.loading = True
        self.load_regions()

    @work(exclusive=True, group="regions", exit_on_error=False)
    async def load_regions(self) -> None:
        from tui.services.cloud import regions as svc

        table = self.query_one("#regions", DataTable)
        try:
            names = await asyncio.to_thread(svc.list_region_names, self.ctx.aws)
            latencies = await self.ctx.latencies(names)
            found = await asyncio.to_thread(svc.load_regions, self.ctx.aws, latencies)
        except Exception as exc:  # shown inline; details go to the log
            self.show_exception(exc, "listing regions")
            return
        finally:
            table.loading = False
        self.regions = {r.name: r for r in found}
        table.clear()
        for region in found:
            cells = (region.name, latency_text(region), gpu_text(region), note_text(region))
            table.add_row(*map(plain, cells), key=region.name)  # names from the endpoint: plain
        chosen = self.state.region.name if self.state.region else None
        if chosen is None:
            chosen = next((r.name for r in found if r.gpu_type_count), None)
        if chosen in self.regions:
            table.move_cursor(row=table.get_row_index(chosen))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()

    def accept(self) -> str | None:
        table = self.query_one("#regions", DataTable)
        if not self.regions:
            return "The regions haven't loaded yet. Wait a moment, or press r to retry."
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        region = self.regions.get(str(key))
        if region is None:
            return "Choose a region from the list."
        if region.gpu_type_count == 0:
            return f"{region.name} offers no GPU instance types. Choose another region."
        self.state.region = region
        return None
