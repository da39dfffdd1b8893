"""LogView measures written lines itself instead of Log's thread worker per write.

The override replaces a private Textual method (Log._update_size): if Textual renames it, the
override silently stops being called and every write starts a thread again. These tests fail then.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log

from tui.widgets.log_view import LogView


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView()


def test_the_private_names_the_workaround_relies_on_still_exist() -> None:
    for name in ("_update_size", "_process_line", "_update_maximum_width"):
        assert callable(getattr(Log, name, None)), name
    assert "_update_size" in LogView.__dict__  # ours overrides it


async def test_a_write_is_measured_at_once_without_a_worker() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 8)):
        view = app.query_one(LogView)
        assert isinstance(view._updates, int)
        view.write_lines(["short", "x" * 120, "naïve\tline"])
        # Textual's own _update_size would still be waiting in a thread worker here.
        assert not [w for w in app.workers if w.name == "_update_size"]
        assert view.virtual_size.width >= 120
