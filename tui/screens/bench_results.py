"""The benchmark runs compared: the chapter's exercise 2 (how fast is each GPU type, what does it cost)
as a table side by side across types, and exercise 3 (how well do more GPUs scale) as a plot.

The results file is read in a thread worker (it is a local file, but it can be large or on a slow
disk); what is wrong with it is shown as sentences that name the file, and every readable run is
still compared. The figures come from tui/flows/bench_compare.py, the same as `d2l-tui bench
--results` prints.
"""

from __future__ import annotations

import logging
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from tui.flows.bench_compare import NO_RUNS, Comparison, compare, notes, transposed
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.plain import plain
from tui.widgets.scaling_plot import ScalingPlot

log = logging.getLogger(__name__)

ONE_GPU_ONLY = (
    "No run trained on more than one GPU yet: run the benchmark on a multi-GPU type "
    "(g4dn.12xlarge, g5.12xlarge, p3.8xlarge, …) to see how it scales."
)

CSS = """
BenchResultsScreen #bench-body { height: 1fr; padding: 0 1; }
BenchResultsScreen #bench-problems { height: auto; color: $error; }
BenchResultsScreen #bench-problems.empty { display: none; }
BenchResultsScreen TabbedContent { height: 1fr; }
BenchResultsScreen TabPane { padding: 0; height: 1fr; }
BenchResultsScreen #bench-table { height: auto; max-height: 1fr; }
BenchResultsScreen .bench-note { height: auto; color: $text-muted; }
BenchResultsScreen #bench-empty { height: auto; padding: 1 0; }
"""


class BenchResultsScreen(Screen[None]):
    DEFAULT_CSS = CSS
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="bench.back", tooltip="Back to where you were"),
        Binding(
            "t", "show_tab('compare')", "Table", id="bench.table", tooltip="Exercise 2: the types compared"
        ),
        Binding("p", "show_tab('scaling')", "Plot", id="bench.plot", tooltip="Exercise 3: speed-up by GPUs"),
        Binding("r", "reload", "Reload", id="bench.reload", tooltip="Read the results file again"),
    ]

    def __init__(self, path: Path | None = None, *, tab: str = "compare") -> None:
        """``path``: the results file (default: the app's, tui/services/bench_results.py)."""
        super().__init__()
        self.path = path
        self.first_tab = tab
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="bench-body"):
            yield Static("", id="bench-problems", classes="empty")
            yield Static("Reading the benchmark results…", id="bench-empty")
            with TabbedContent(initial=self.first_tab, id="bench-tabs"):
                with TabPane("Benchmark runs compared (exercise 2)", id="compare"):
                    table: DataTable[str] = DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
                    table.fixed_columns = 1  # the figure's name stays while the types scroll
                    yield table
                    yield Static("", id="bench-notes", classes="bench-note")
                with TabPane("Speed-up by GPUs (exercise 3)", id="scaling"):
                    yield ScalingPlot((), id="bench-plot")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(TabbedContent).display = False  # until there is something to compare
        self.load()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="bench-results", exit_on_error=False)
    def load(self) -> None:
        from tui.services.bench_results import load_results

        comparison = compare(load_results(self.path))
        self.app.call_from_thread(self.show, comparison)

    def show(self, comparison: Comparison) -> None:
        self.comparison = comparison
        problems = self.query_one("#bench-problems", Static)
        problems.update(plain(" ".join(comparison.problems)))  # they name a path: plain text
        problems.set_class(not comparison.problems, "empty")
        empty = self.query_one("#bench-empty", Static)
        empty.update(plain(NO_RUNS))
        empty.display = not comparison.rows
        self.query_one(TabbedContent).display = bool(comparison.rows)
        if not comparison.rows:
            return
        self._fill_table(comparison)
        self.query_one("#bench-notes", Static).update(plain(" ".join(notes(comparison))))
        plot = self.query_one(ScalingPlot)
        plot.series = comparison.series
        plot.empty_words = ONE_GPU_ONLY
        plot.refresh()

    def _fill_table(self, comparison: Comparison) -> None:
        table = self.query_one("#bench-table", DataTable)
        table.clear(columns=True)
        lines = transposed(comparison)
        header, body = lines[0], lines[1:]
        # Types may repeat (a measured run and a published one): the columns are keyed by position.
        for i, label in enumerate(header):
            table.add_column(plain(label), key=f"c{i}")
        for cells in body:
            table.add_row(*(plain(cell) for cell in cells), key=cells[0])
