"""B in the cockpit on --demo's simulated instance: the benchmark screen streams the run's lines, then
its summary, labelled simulated, and the run is recorded once. The setup is a real (tiny) run of the
setup's runner on the loopback host, so the benchmark's "setup finished" check passes as on an instance."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.screen_app import ScreenApp
from tests.ui.driving import demo_instance_set_up, wait_until
from tui.screens import cockpit
from tui.screens.bench import BenchScreen
from tui.screens.bench_results import BenchResultsScreen
from tui.services.bench_results import results_file
from tui.widgets.log_view import LogView


def compared(screen: object) -> str:
    """The comparison table's cells, as text."""
    from textual.widgets import DataTable

    assert isinstance(screen, BenchResultsScreen)
    table = screen.query_one(DataTable)
    cells = [str(c) for c in table.columns.values()]  # the header holds the types
    cells += [
        str(table.get_cell_at((r, c))) for r in range(table.row_count) for c in range(len(table.columns))
    ]
    return " ".join(cells)


async def test_b_runs_the_demo_benchmark_with_progress_then_a_simulated_summary(
    tmp_path: Path, client_key: tuple[Path, str]
) -> None:
    async with demo_instance_set_up(tmp_path, client_key[0]) as (ctx, instance):
        app = ScreenApp(cockpit.CockpitScreen(ctx, instance, pane="details", key=client_key[0]))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("B")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, BenchScreen))
            screen = pilot.app.screen
            assert isinstance(screen, BenchScreen)
            log_view = screen.query_one("#bench-log", LogView)
            # Progress while it runs, before the summary.
            await wait_until(pilot, lambda: any("SIMULATED" in line for line in log_view.lines), 30)
            assert screen.outcome is None and screen.check_action("cancel_run", ())
            await wait_until(pilot, lambda: screen.outcome is not None or bool(screen.problem), 60)
            assert not screen.problem, screen.problem
            summary = str(screen.query_one("#bench-summary").render())
            assert summary.startswith(
                "SIMULATED (not measured): Benchmark of demo-box (g4dn.xlarge, 1 × NVIDIA T4"
            )
            assert "Recorded in the results table." in summary
            assert any("(simulated)" in line for line in log_view.lines)
            assert not pilot.app.screen.check_action("cancel_run", ())  # nothing left to cancel
            # c: the run just recorded, compared with the others kept here (its own column).
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, BenchResultsScreen))
            await wait_until(pilot, lambda: "g4dn.xlarge" in compared(pilot.app.screen))
            assert "simulated" in compared(pilot.app.screen)
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, BenchScreen))
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(pilot.app.screen, cockpit.CockpitScreen))
    (line,) = results_file().read_text().splitlines()
    assert json.loads(line)["source"] == "simulated" and json.loads(line)["instance_name"] == "demo-box"
