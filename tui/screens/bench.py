"""The benchmark's screen, opened with B from the cockpit: the run's log as it comes, then its summary.

The run lives on the instance (tui/flows/bench.py: the setup's detached runner), so Escape leaves it
going; opening the screen again follows it (or starts a new one once it has ended), and its figures
are recorded once either way. x cancels the run on the instance (its script frees the GPUs and exits).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from tui.widgets.keys_footer import KeysFooter
from tui.widgets.log_view import LogView
from tui.widgets.plain import plain, then_markup

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.flows.bench import BenchOutcome
    from tui.services.remote.instance_link import InstanceLink
    from tui.services.remote.provision import Update

log = logging.getLogger(__name__)


class BenchScreen(Screen[None]):
    DEFAULT_CSS = """
    BenchScreen { padding: 0 1; }
    BenchScreen #bench-title, BenchScreen #bench-link { height: auto; }
    BenchScreen #bench-link { color: $text-muted; }
    BenchScreen #bench-log { height: 1fr; }
    BenchScreen #bench-summary { height: auto; max-height: 50%; }
    """
    BINDINGS = [
        Binding(
            "escape", "back", "Back", id="bench.back", tooltip="Back; the benchmark goes on on the instance"
        ),
        Binding(
            "x", "cancel_run", "Cancel run", id="bench.cancel", tooltip="Stop the benchmark on the instance"
        ),
        Binding(
            "c",
            "compare",
            "Compare runs",
            id="bench.compare",
            tooltip="Every benchmark run kept here, side by side across types, and the scaling plot",
        ),
    ]

    def __init__(self, ctx: AppContext, link: InstanceLink) -> None:
        super().__init__()
        self.ctx = ctx
        self.link = link
        self.outcome: BenchOutcome | None = None
        self.problem = ""  # a refusal or a failure, as its sentence

    def compose(self) -> ComposeResult:
        note = "  [dim](simulated: the demo instance replays a prepared record; nothing is measured)[/dim]"
        yield Static(
            then_markup(f"Benchmark of {self.link.label}", note if self.link.simulated else ""),
            id="bench-title",
        )
        yield Static("Looking up the instance and its price…", id="bench-link")
        yield LogView(max_lines=5_000, id="bench-log")
        yield Static("", id="bench-summary")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.run_bench()

    @work(exclusive=True, group="bench", exit_on_error=False)
    async def run_bench(self) -> None:
        from tui.flows import bench
        from tui.services.errors import D2lError

        try:
            target = await asyncio.to_thread(bench.target_from, self.ctx, self.link, quick=False)
            for notice in target.notices():
                self.query_one("#bench-log", LogView).add_lines([notice])
            outcome = await bench.run_bench(target, self._update)
        except D2lError as exc:
            self._say_problem(str(exc))
            return
        except Exception as exc:  # a dropped link that gave up, a host key: said, not a traceback
            log.warning("benchmark of %s failed", self.link.label, exc_info=True)
            self._say_problem(f"The benchmark could not be followed ({exc}). Press Escape and open it again.")
            return
        self.outcome = outcome
        summary = self.query_one("#bench-summary", Static)
        if outcome.record is None:
            self._say_problem(outcome.sentence)
            return
        lines = bench.summary_lines(outcome.record)
        lines.append(
            "Recorded in the results table." if outcome.recorded else "Already in the results table."
        )
        summary.update(plain("\n".join(lines)))
        self.query_one("#bench-link", Static).update(plain("Finished."))
        self.refresh_bindings()  # nothing left to cancel

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":  # only while a run may be going on the instance
            return self.outcome is None and not self.problem
        return True

    def _say_problem(self, sentence: str) -> None:
        self.problem = sentence
        self.refresh_bindings()
        self.query_one("#bench-summary", Static).update(plain(sentence, "bold"))
        self.notify(sentence, severity="error", markup=False)

    def _update(self, update: Update) -> None:
        from tui.services.remote.bench import RESULT_PREFIX
        from tui.services.remote.provision import LinkState

        if isinstance(update, LinkState):
            words = {"connecting": "Connecting…", "connected": "Running", "reconnecting": "Reconnecting…"}
            self.query_one("#bench-link", Static).update(
                plain(f"{words.get(update.state, update.state)} {update.detail}".strip())
            )
            return
        if isinstance(update, list):
            lines = [
                "bench: figures received" if item.startswith(RESULT_PREFIX) else item
                for item in update
                if isinstance(item, str)
            ]
            if lines:
                self.query_one("#bench-log", LogView).add_lines(lines)

    def action_back(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="bench-cancel", exit_on_error=False)
    async def action_cancel_run(self) -> None:
        from tui.flows.bench import stop_bench

        try:
            stopped = await stop_bench(self.link)
        except Exception as exc:
            self.notify(f"Could not cancel the benchmark: {exc}", severity="error", markup=False)
            return
        self.notify(
            "Cancelling the benchmark…" if stopped else "No benchmark is running there.", markup=False
        )

    def action_compare(self) -> None:
        from tui.screens.bench_results import BenchResultsScreen

        self.app.push_screen(BenchResultsScreen())
