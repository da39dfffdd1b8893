"""A DataTable whose cells change in place (costs arriving, states changing) and stay whole.

Textual's DataTable measures an updated cell's column on idle, but its render caches are keyed by
its update counter, not by column widths: when the table is painted between `update_cell` and that
idle pass (a busy machine, a slow terminal), the cells rendered at the old width are reused after
the column has grown, and "$0.53" stays "$0." until the next update. Seen in the instances table
as a flaky snapshot; reproduced in tests/ui/test_live_table.py.

Private Textual API, because no public hook runs after the idle re-measure: the override of
``DataTable._update_dimensions`` and the bump of ``DataTable._update_count`` (Textual 8.2.8).
Upstream: https://github.com/Textualize/textual/issues/4470 (open: a column's new width shows only
at the next refresh), the same stale-cache family as #3533 (fixed by #3551 for the cell itself,
not for its column's width). tests/ui/test_live_table.py fails if Textual renames either name, so
the override can't silently stop being called. Delete this module once upstream repaints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class LiveTable(DataTable[Any]):
    """DataTable that repaints every cell when a column's measured width changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._painted_widths: tuple[int, ...] = ()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Runs on idle after the new widths are known (DataTable._on_idle).
        super()._update_dimensions(new_rows)
        widths = tuple(column.get_render_width(self) for column in self.ordered_columns)
        if widths != self._painted_widths:
            self._painted_widths = widths
            self._update_count += 1  # every render cache's key includes it: all of them go stale
            self.refresh()
