"""Nothing essential is cut at 120×40: a column too long for the screen ends on a whole word and "…"
inside the table (no horizontal scrolling needed), and its full text is on the screen's detail line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.widgets import DataTable, Static

from tests.test_lifecycle import run
from tests.ui import test_instances_snapshots as listing
from tests.ui.test_snapshots import SIZE, drive_to, wizard_app
from tui.screens.instances import InstancesScreen
from tui.widgets.fit_width import fit_words
from tui.widgets.step_header import STEPS, StepHeader


@pytest.fixture
def cloud() -> Iterator[None]:
    with mock_aws():
        yield


def test_fit_words_cuts_at_a_word_with_an_ellipsis() -> None:
    assert fit_words("Graviton: arm64 images only", 40) == "Graviton: arm64 images only"
    assert fit_words("Graviton: arm64 images only", 17) == "Graviton: arm64…"
    assert fit_words("Graviton: arm64 images only", 10) == "Graviton…"
    assert fit_words("Graviton: arm64 images only", 5) == ""


def _table_fits(table: DataTable[Any]) -> bool:
    return table.virtual_size.width <= table.scrollable_content_region.width


async def test_gpu_type_table_fits_120_columns_and_says_the_whole_note(cloud: None, tmp_path: Path) -> None:
    app = wizard_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await drive_to(pilot, "GpuTypeStep")
        table = app.screen.query_one("#gpu-types", DataTable)
        assert _table_fits(table), (table.virtual_size.width, table.scrollable_content_region.width)
        notes = [str(table.get_cell(key, "Note")) for key in table.rows]
        full = app.screen.full_notes  # type: ignore[attr-defined]
        for key, note in zip(table.rows, notes, strict=True):
            whole = full[str(key.value)]
            assert note == whole or (note.endswith("…") and whole.startswith(note[:-1])), (note, whole)
        assert any(n.endswith("…") for n in notes), notes  # the case this test is about
        for _ in range(4):  # from g4dn.xlarge down to g5g.4xlarge (arm64, over the simulated quota)
            await pilot.press("down")
        await pilot.pause()
        detail = str(app.screen.query_one("#gpu-note", Static).render())
        assert "g5g.4xlarge" in detail and "Graviton: arm64 images only" in detail, detail
        assert "no, 8 vCPUs short" in detail, detail


async def test_instances_table_fits_120_columns_and_says_the_whole_address(
    cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_region = InstancesScreen.__init__

    def three_regions(self: InstancesScreen, ctx: Any, regions: list[str] | None = None) -> None:
        every_region(self, ctx, listing.REGIONS)  # quick: three regions, not every one

    monkeypatch.setattr(InstancesScreen, "__init__", three_regions)
    aws = listing.cloud()
    run(aws, "us-east-1", "d2l-g4dn-12xlarge", itype="g4dn.12xlarge")
    app = listing.instances_app(aws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await listing.loaded(pilot)
        screen = app.screen
        assert isinstance(screen, InstancesScreen)
        table = screen.query_one("#instances-table", DataTable)
        assert _table_fits(table), (table.virtual_size.width, table.scrollable_content_region.width)
        (row,) = screen.rows.values()
        dns = row.instance.public_dns
        assert dns and len(dns) > 30
        address = str(screen.query_one("#instances-address", Static).render())
        assert dns in address and str(row.instance.public_ip) in address, address


def _footer_keys_in_view(app: Any) -> set[str]:
    """The actions whose footer key is wholly on screen (the footer cuts from the right)."""
    from textual.widgets._footer import FooterKey

    width = app.screen.size.width - 12  # the "^p palette" corner covers the footer's right end
    return {k.action for k in app.screen.query(FooterKey) if k.region.width and k.region.right <= width}


async def test_every_wizard_step_shows_back_next_and_quit_at_80x24(cloud: None, tmp_path: Path) -> None:
    from tests.ui.driving import wait_until
    from tests.ui.test_snapshots import WIZARD, settle, wait_for_screen

    app = wizard_app(tmp_path)
    async with app.run_test(size=(80, 24)) as running:
        pilot: Any = running  # the helpers take any app's Pilot
        for step, ready, keys in WIZARD:
            await wait_for_screen(pilot, step)
            await wait_until(pilot, ready(pilot), 45.0)
            await settle(pilot)
            shown = _footer_keys_in_view(app)
            assert {"back", "next", "quit"} <= shown, (step, shown)
            # The breadcrumb fits: this step by name, the others by number, up to the last (8).
            header = app.screen.query_one(StepHeader)
            crumbs = str(header.render())
            assert crumbs.rstrip().endswith("› 8") or crumbs.rstrip().endswith("8 Launch"), crumbs
            assert STEPS[header.current] in crumbs and len(crumbs.rstrip()) <= 78, crumbs
            if step != "ReviewStep":  # the review's keys would launch
                await pilot.press(*keys)
