"""Cut a table cell to the room a terminal leaves, at a word and with a visible "…".

A DataTable wider than the screen cuts its last column mid-word ("Graviton: arm64 i") with nothing
saying more is there; a cell cut here ends on a whole word and "…", and the screen shows the full
text on its detail line.
"""

from __future__ import annotations

from rich.cells import cell_len

ELLIPSIS = "…"


def fit_words(text: str, room: int) -> str:
    """`text` if it fits in `room` cells, else its longest run of whole words that fits with "…"
    ("" when not even one word does)."""
    if cell_len(text) <= room:
        return text
    kept = ""
    for word in text.split(" "):
        candidate = f"{kept} {word}" if kept else word
        if cell_len(candidate.rstrip(";:,")) + 1 > room:
            break
        kept = candidate
    return f"{kept.rstrip(';:,')}{ELLIPSIS}" if kept else ""


def column_room(table_width: int, other_widths: list[int], padding: int = 1, scrollbar: int = 2) -> int:
    """Cells left for the last column of a DataTable `table_width` wide whose other columns hold
    content `other_widths` wide (each column adds `padding` on both sides; the vertical scrollbar
    takes `scrollbar`)."""
    used = sum(w + 2 * padding for w in other_widths) + 2 * padding + scrollbar
    return max(0, table_width - used)
