"""The app's loading indicator (every `widget.loading = True`, and the start-up screen's) redraws 5
times a second, not Textual's 16: the same pulse at a third of the UI thread's cost while waiting."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

from tests.ui.driving import build_context
from tui.app import make_app
from tui.services.cloud.aws import Aws
from tui.widgets.calm_loading import REDRAWS_PER_S, CalmLoadingIndicator


class Waiting(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("rows", id="rows")

    def get_loading_widget(self) -> CalmLoadingIndicator:
        return CalmLoadingIndicator()


async def test_a_widget_loading_shows_the_calm_indicator_at_five_redraws_a_second() -> None:
    async with Waiting().run_test() as pilot:
        rows = pilot.app.query_one("#rows")
        rows.loading = True
        await pilot.pause(0.3)
        indicator = rows._cover_widget  # Textual draws it over the widget, outside the DOM's queries
        assert isinstance(indicator, CalmLoadingIndicator)
        assert indicator.auto_refresh == 1 / REDRAWS_PER_S == 0.2


def test_the_app_hands_out_the_calm_indicator(aws: Aws, tmp_path: Path) -> None:
    assert isinstance(make_app(build_context(aws, tmp_path)).get_loading_widget(), CalmLoadingIndicator)
