"""Step 3: a sortable, filterable table of the GPU instance types the region offers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from tui.models import GpuCatalog, GpuType, Purchase
from tui.screens.base import StepScreen
from tui.widgets.fit_width import column_room, fit_words
from tui.widgets.live_table import LiveTable
from tui.widgets.plain import plain

if TYPE_CHECKING:
    from tui.services.cloud.quota_requests import Filed, QuotaRequest


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.3f}"


def fit_text(fits: bool | None, shortfall: float) -> str:
    if fits is None:
        return "unknown"
    return "yes" if fits else f"no, {shortfall:g} vCPUs short"


def full_note(t: GpuType) -> str:
    return t.note if t.current_generation else f"previous gen: {t.note}".strip(": ")


# (label, key function); unknown prices sort last.
SORTS: list[tuple[str, Callable[[GpuType], Any]]] = [
    ("on-demand $/h", lambda t: (t.ondemand_usd_per_hour is None, t.ondemand_usd_per_hour or 0)),
    ("spot $/h", lambda t: (t.spot_usd_per_hour is None, t.spot_usd_per_hour or 0)),
    ("GPU memory", lambda t: -t.total_gpu_memory_gib),
    ("GPUs", lambda t: -t.gpu_count),
    ("vCPUs", lambda t: -t.vcpus),
    ("type", lambda t: t.instance_type),
]


RECOMMENDED_TYPE = "g4dn.xlarge"


def matches(gpu_type: GpuType, text: str) -> bool:
    """Every word of the filter must appear in the type, the GPU name or the note."""
    hay = f"{gpu_type.instance_type} {gpu_type.gpu_name} {gpu_type.note} {gpu_type.arch}".lower()
    return all(word in hay for word in text.lower().split())


class GpuTypeStep(StepScreen):
    STEP = 2
    TITLE_TEXT = "Choose a GPU instance type"
    HELP_TEXT = "The chapter's K80/M60 table is history. g4dn (T4) is the cheapest way to run the book."
    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", id="gpu.sort", tooltip="Sort by the next column"),
        Binding(
            "p", "toggle_purchase", "Spot/On-demand", id="gpu.purchase", tooltip="Switch purchase option"
        ),
        Binding("slash", "focus_filter", "Filter", id="gpu.filter", tooltip="Filter by type or GPU"),
        Binding("r", "reload", "Refresh", id="gpu.reload", tooltip="Read the types and prices again"),
        Binding(
            "i",
            "request_increase",
            "Request increase",
            id="gpu.request",
            tooltip="Ask AWS for a higher limit for the highlighted type's quota",
        ),
    ]

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="Filter: e.g. 'l4', 'a100', 'g6'  (press / to focus)", id="gpu-filter")
        yield LiveTable(id="gpu-types", cursor_type="row", zebra_stripes=True)
        yield Static("", id="gpu-note")
        yield Static("", id="gpu-summary")
        yield Static("", id="gpu-requests")

    def on_mount(self) -> None:
        self.catalog: GpuCatalog | None = None
        self.requests: dict[str, QuotaRequest] = {}  # quota code -> the request filed from here
        self.sort_index = 0
        self.shown_types: list[GpuType] = []
        self.full_notes: dict[str, str] = {}  # type -> its whole note (the cell may be cut to fit)
        table = self.query_one("#gpu-types", DataTable)
        for label in (
            "Type",
            "GPU",
            "GPU mem",
            "vCPUs",
            "RAM",
            "On-demand $/h",
            "Spot $/h",
            "Fits quota",
            "Note",
        ):
            table.add_column(label, key=label)
        self.action_reload()

    def action_reload(self) -> None:
        self.clear_error()
        self.query_one("#gpu-types", DataTable).loading = True
        self.load_types()

    @work(exclusive=True, group="gpu-types", exit_on_error=False)
    async def load_types(self) -> None:
        from tui.services.cloud.catalog import gpu_types

        table = self.query_one("#gpu-types", DataTable)
        assert self.state.region is not None
        try:
            self.catalog = await asyncio.to_thread(
                gpu_types, self.ctx.aws, self.state.region.name, self.ctx.pricebook
            )
        except Exception as exc:
            self.show_exception(exc, "listing GPU instance types")
            return
        finally:
            table.loading = False
        self.refresh_table()
        table.focus()

    def refresh_table(self) -> None:
        from tui.services.cloud.quotas import fit

        if self.catalog is None:
            return
        table = self.query_one("#gpu-types", DataTable)
        text = self.query_one("#gpu-filter", Input).value
        label, key = SORTS[self.sort_index]
        self.shown_types = sorted((t for t in self.catalog.types if matches(t, text)), key=key)
        # The book runs well on the cheapest T4: start there unless something was chosen before.
        chosen = self.state.gpu_type.instance_type if self.state.gpu_type else RECOMMENDED_TYPE
        rows: list[tuple[str, ...]] = []
        for t in self.shown_types:
            fits, short = fit(t, self.state.quotas, self.state.purchase)
            gpu = f"{t.gpu_name} × {t.gpu_count}"
            rows.append(
                (
                    t.instance_type,
                    gpu,
                    f"{t.total_gpu_memory_gib:.0f} GiB",
                    str(t.vcpus),
                    f"{t.memory_gib:g} GiB",
                    money(t.ondemand_usd_per_hour),
                    money(t.spot_usd_per_hour),
                    fit_text(fits, short),
                )
            )
        self.full_notes = {t.instance_type: full_note(t) for t in self.shown_types}
        room = self.note_room(rows)
        if room == 1000:  # not laid out yet (the first fill): cut the notes once it is
            self.call_after_refresh(self.refit_notes)
        with self.app.batch_update():
            table.clear()
            for t, cells in zip(self.shown_types, rows, strict=True):
                note = fit_words(self.full_notes[t.instance_type], room)
                table.add_row(*map(plain, (*cells, note)), key=t.instance_type)  # AWS's names: plain
            if chosen and chosen in {t.instance_type for t in self.shown_types}:
                table.move_cursor(row=table.get_row_index(chosen))
        purchase = self.state.purchase.value
        prices = self.catalog.prices
        detail = f" ({prices.detail})" if prices.detail else ""
        self.query_one("#gpu-summary", Static).update(
            plain(
                f"{len(self.shown_types)} of {len(self.catalog.types)} types · sorted by {label} · "
                f"buying {purchase} · prices: {prices.label}{detail}"
            )
        )
        self.render_requests()

    def note_room(self, rows: list[tuple[str, ...]]) -> int:
        """Cells the Note column has before the screen's edge (a large number before the first layout).
        Also fixes the column at that width: a DataTable keeps a column as wide as the widest cell it
        ever held, so a note cut shorter would still leave the table wider than the screen."""
        table = self.query_one("#gpu-types", DataTable)
        if table.size.width == 0:
            return 1000  # see refresh_table
        columns = list(table.columns.values())
        widths = [
            max(len(str(c.label)), c.content_width, *(len(r[i]) for r in rows))
            for i, c in enumerate(columns[:-1])
        ]
        room = column_room(table.size.width, widths, table.cell_padding)
        note = columns[-1]
        note.auto_width = False
        note.width = max(room, len(str(note.label)))
        return room

    def on_resize(self) -> None:
        # A cut note was cut for the old width: cut the shown ones again once the table has its new
        # size, in place (the cursor stays).
        self.call_after_refresh(self.refit_notes)

    def refit_notes(self) -> None:
        table = self.query_one("#gpu-types", DataTable)
        if not self.shown_types or table.row_count != len(self.shown_types):
            return
        rows = [
            tuple(str(table.get_cell(t.instance_type, c)) for c in [str(k.value) for k in table.columns][:-1])
            for t in self.shown_types
        ]
        room = self.note_room(rows)
        for t in self.shown_types:
            note = fit_words(self.full_notes.get(t.instance_type, ""), room)
            table.update_cell(t.instance_type, "Note", plain(note), update_width=True)

    def render_requests(self) -> None:
        lines = [f"Increase request for {code}: {r.summary}" for code, r in self.requests.items()]
        self.query_one("#gpu-requests", Static).update(plain("\n".join(lines)))  # AWS's status words

    def highlighted(self) -> GpuType | None:
        table = self.query_one("#gpu-types", DataTable)
        if not self.shown_types or table.row_count == 0:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return next((t for t in self.shown_types if t.instance_type == key), None)

    def action_request_increase(self) -> None:
        from tui.screens.quota_request import QuotaRequestScreen

        chosen = self.highlighted()
        if chosen is None or self.state.region is None:
            self.show_error("Highlight an instance type first (the table may still be loading).")
            return
        purchase = self.state.purchase
        quota = next(
            (q for q in self.state.quotas if (q.bucket, q.purchase) == (chosen.bucket, purchase)), None
        )
        modal = QuotaRequestScreen(
            self.ctx,
            self.state.region.name,
            chosen.bucket,
            purchase,
            quota,
            chosen.vcpus,
            chosen.instance_type,
        )
        self.app.push_screen(modal, self.request_filed)

    def request_filed(self, filed: Filed | None) -> None:
        if filed is not None:
            self.requests[filed.request.quota_code] = filed.request
            self.render_requests()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Narrow terminals cut the table's right columns: the highlighted type in full, under it.
        chosen = next((t for t in self.shown_types if t.instance_type == event.row_key.value), None)
        self.query_one("#gpu-note", Static).update(plain(self.detail_line(chosen) if chosen else ""))

    def detail_line(self, t: GpuType) -> str:
        """'g5g.4xlarge: T4g × 1, $0.828/h on-demand, $0.222/h spot; quota: no, 8 vCPUs short. Graviton: …'"""
        from tui.services.cloud.quotas import fit

        fits, short = fit(t, self.state.quotas, self.state.purchase)
        prices = f"{money(t.ondemand_usd_per_hour)}/h on-demand, {money(t.spot_usd_per_hour)}/h spot"
        note = full_note(t)
        return (
            f"{t.instance_type}: {t.gpu_name} × {t.gpu_count}, {prices}; fits quota: {fit_text(fits, short)}"
            + (f". {note}" if note else "")
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_table()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#gpu-types", DataTable).focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        by_column = {"Type": 5, "GPU": 3, "GPU mem": 2, "vCPUs": 4, "On-demand $/h": 0, "Spot $/h": 1}
        if str(event.column_key.value) in by_column:
            self.sort_index = by_column[str(event.column_key.value)]
            self.refresh_table()

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.refresh_table()

    def action_toggle_purchase(self) -> None:
        spot = self.state.purchase == Purchase.SPOT
        self.state.purchase = Purchase.ON_DEMAND if spot else Purchase.SPOT
        self.refresh_table()

    def action_focus_filter(self) -> None:
        self.query_one("#gpu-filter", Input).focus()

    def action_back(self) -> None:
        """Esc leaves the innermost thing first: typing in the filter, then the step."""
        if self.query_one("#gpu-filter", Input).has_focus:
            self.query_one("#gpu-types", DataTable).focus()
            return
        super().action_back()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()

    def accept(self) -> str | None:
        table = self.query_one("#gpu-types", DataTable)
        if not self.shown_types:
            return "No instance type is shown. Clear the filter, or press r to reload."
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        chosen = next((t for t in self.shown_types if t.instance_type == key), None)
        if chosen is None:
            return "Choose an instance type from the table."
        if self.state.gpu_type and self.state.gpu_type.arch != chosen.arch:
            self.state.image = None  # an x86_64 image can't boot an arm64 type
        self.state.gpu_type = chosen
        return None
