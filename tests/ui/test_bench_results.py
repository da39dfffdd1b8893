"""The benchmark results screen: the types compared side by side (exercise 2) and the speed-up plot
(exercise 3), on the published fixtures (tests/fixtures/bench/SOURCES.md) and a --demo replay of
one of them; a results file with a damaged line; no runs at all; how the app reaches the screen.

Snapshots at 80×24 and 120×40; update after an intended change:
pytest tests/ui/test_bench_results.py --snapshot-update (and look at them).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from tests.support.bench import published_records, results_file_of
from tests.support.screen_app import ScreenApp
from tests.ui.driving import wait_for_screen, wait_until
from tui.app import D2lApp
from tui.flows.bench_compare import NO_RUNS
from tui.screens.bench_results import BenchResultsScreen
from tui.widgets.scaling_plot import ScalingPlot

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


class ResultsApp(ScreenApp):
    """The screen alone, with the app's Quit key (what the real footer shows)."""

    BINDINGS = [b for b in D2lApp.BINDINGS if isinstance(b, Binding) and b.id == "app.quit"]


def several_types(tmp_path: Path) -> Path:
    """The six published types, and --demo's replay of the 4×T4 one (its own, labelled column)."""
    records = published_records()
    t4 = next(r for r in records if r.instance_type == "g4dn.12xlarge")
    replay = dataclasses.replace(t4, run_id="demo-1", source="simulated", when=t4.when + timedelta(days=1))
    return results_file_of(tmp_path / "bench-results.jsonl", [*records, replay])


async def shown(pilot: Pilot[Any]) -> BenchResultsScreen:
    screen = pilot.app.screen
    assert isinstance(screen, BenchResultsScreen)
    await wait_until(pilot, lambda: screen.comparison is not None)
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("tab", ["compare", "scaling"])
def test_results_screen(tab: str, size: str, tmp_path: Path, snap_compare: Any) -> None:
    path = several_types(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await shown(pilot)
        table = screen.query_one("#bench-table", DataTable)
        assert table.row_count == 16 and len(table.columns) == 8  # the figures; a label and seven types
        assert len(screen.query_one(ScalingPlot).series) == 5  # the multi-GPU types, the replay too

    app = ResultsApp(BenchResultsScreen(path, tab=tab))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


async def test_keys_switch_between_the_table_and_the_plot(tmp_path: Path) -> None:
    app = ResultsApp(BenchResultsScreen(several_types(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await shown(pilot)
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "compare"
        await pilot.press("p")
        assert tabs.active == "scaling"
        await pilot.press("t")
        assert tabs.active == "compare"


async def test_a_damaged_line_is_named_and_the_other_runs_are_compared(tmp_path: Path) -> None:
    path = results_file_of(tmp_path / "bench-results.jsonl", published_records()[:3])
    with path.open("a") as f:
        f.write("[oops]{\n")
    async with ResultsApp(BenchResultsScreen(path)).run_test(size=(120, 40)) as pilot:
        screen = await shown(pilot)
        problems = str(screen.query_one("#bench-problems", Static).render())
        assert f"Line 4 of {path}" in problems and "skipped" in problems, problems
        assert len(screen.query_one("#bench-table", DataTable).columns) == 4


async def test_a_type_named_like_markup_is_shown_as_it_is(tmp_path: Path) -> None:
    t4 = next(r for r in published_records() if r.instance_type == "g4dn.12xlarge")
    odd = dataclasses.replace(t4, run_id="odd", instance_type="[/]g5.[bold]x", source="measured")
    path = results_file_of(tmp_path / "r.jsonl", [odd])
    async with ResultsApp(BenchResultsScreen(path, tab="scaling")).run_test(size=(120, 40)) as pilot:
        screen = await shown(pilot)
        table = screen.query_one("#bench-table", DataTable)
        assert [str(c.label) for c in table.columns.values()][1] == "[/]g5.[bold]x"
        assert "A [/]g5.[bold]x, 4× T4: 1.80× on 2" in str(screen.query_one(ScalingPlot).render())


async def test_no_runs_says_how_to_make_one(tmp_path: Path) -> None:
    async with ResultsApp(BenchResultsScreen(tmp_path / "none.jsonl")).run_test(size=(80, 24)) as pilot:
        screen = await shown(pilot)
        empty = screen.query_one("#bench-empty", Static)
        assert empty.display and str(empty.render()) == NO_RUNS
        assert "d2l-tui bench NAME" in NO_RUNS
        assert not screen.query_one(TabbedContent).display
        assert str(screen.query_one("#bench-problems", Static).render()) == ""


async def test_one_gpu_types_only_say_what_to_run_for_a_plot(tmp_path: Path) -> None:
    singles = [r for r in published_records() if r.gpu_count == 1]
    path = results_file_of(tmp_path / "r.jsonl", singles)
    async with ResultsApp(BenchResultsScreen(path, tab="scaling")).run_test(size=(80, 24)) as pilot:
        screen = await shown(pilot)
        assert "No run trained on more than one GPU" in str(screen.query_one(ScalingPlot).render())


async def test_the_palette_offers_the_results_outside_the_instances_list(tmp_path: Path) -> None:
    app = D2lApp(demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, "RegionStep")  # the wizard's first step, where a reader starts
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Benchmark results" in titles, titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Benchmark results")
        command.callback()
        await pilot.pause()
        assert isinstance(app.screen, BenchResultsScreen)
        assert "Benchmark results" not in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "RegionStep"


async def test_B_on_the_instances_list_benchmarks_that_instance_from_its_cockpit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B means the same on the list as in the cockpit: this instance's benchmark (its cockpit opens,
    then the benchmark's screen). Gated like the footer: nothing opens for a stopped instance."""
    from moto import mock_aws

    from tests.test_lifecycle import run
    from tests.ui import test_instances_snapshots as listing
    from tui.screens.bench import BenchScreen
    from tui.screens.cockpit import CockpitScreen
    from tui.screens.instances import InstancesScreen

    every_region = InstancesScreen.__init__

    def three_regions(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        every_region(self, ctx, listing.REGIONS)  # quick: three regions, not every one

    monkeypatch.setattr(InstancesScreen, "__init__", three_regions)
    with mock_aws():
        aws = listing.cloud()
        run(aws, "us-east-1", "running", itype="g4dn.xlarge")
        resting = run(aws, "us-east-1", "resting", itype="g4dn.xlarge")
        aws.client("ec2", "us-east-1").stop_instances(InstanceIds=[resting])
        app = listing.instances_app(aws, tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await listing.loaded(pilot)
            screen = app.screen
            assert isinstance(screen, InstancesScreen)
            assert "Benchmark results" in [c.title for c in app.get_system_commands(screen)]
            seen = set()
            stack_depth = len(app.screen_stack)
            for _ in range(2):  # each row in turn: the stopped one first if it is on top
                row = screen.selected()
                assert row is not None
                seen.add(row.instance.state)
                palette = [c.title for c in screen.palette_commands()]
                if row.instance.state == "stopped":
                    assert "Benchmark · B" not in palette, palette
                    await pilot.press("B")
                    await pilot.pause()
                    assert app.screen is screen
                else:
                    assert "Benchmark · B" in palette, palette
                    await pilot.press("B")
                    await wait_until(pilot, lambda: isinstance(app.screen, BenchScreen))
                    assert isinstance(app.screen_stack[-2], CockpitScreen)
                    await pilot.press("escape")
                    await wait_until(pilot, lambda: isinstance(app.screen, CockpitScreen))
                    await pilot.press("ctrl+l")  # the instances: the list this cockpit came from
                    await wait_until(pilot, lambda: app.screen is screen)
                    assert len(app.screen_stack) == stack_depth
                await pilot.press("down")
                await pilot.pause()
            assert seen == {"running", "stopped"}
