"""Speed-up against GPU count, drawn in plain text characters: the answer to the chapter's exercise 3.

Plain characters, not a plotting library: a few points per type (1, 2, 4, 8 GPUs) read best as
letters on a grid with the ideal line (speed-up = GPU count) dotted under them, every figure is in
the legend as a number too, and the same size always draws the same characters (snapshots). The
widget draws to whatever size the layout gives it.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from tui.flows.bench_compare import Series

STYLES = ("bold cyan", "bold magenta", "bold yellow", "bold green", "bold red", "bold blue")
IDEAL = "·"
MARKERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
X_TITLE = "  GPUs"


def legend(series: tuple[Series, ...]) -> list[Text]:
    """One line per type: its letter, name, GPUs and every speed-up with its efficiency."""
    lines = []
    for i, s in enumerate(series):
        figures = ", ".join(
            f"{speedup:.2f}× on {gpus} ({speedup / gpus:.0%})" for gpus, speedup in s.points[1:]
        )
        line = Text()
        line.append(MARKERS[i % len(MARKERS)], style=STYLES[i % len(STYLES)])
        line.append(f" {s.label}, {s.gpu_label}: {figures}")
        lines.append(line)
    return lines


def draw(series: tuple[Series, ...], width: int, height: int) -> list[Text]:
    """The grid with its axes, ``height`` lines of at most ``width`` characters (no legend)."""
    most = max((g for s in series for g, _ in s.points), default=2)
    most = max(most, 2)
    label_w = len(str(most)) + 1
    cols = max(width - label_w - 2 - len(X_TITLE), 8)  # "8 ┤", the plot area, room for the x axis's title
    rows = max(height - 2, 4)  # the x axis and its labels below

    def col(gpus: float) -> int:
        return round((gpus - 1) / (most - 1) * (cols - 1))

    def row(speedup: float) -> int:  # 0 is the bottom line
        return min(max(round((speedup - 1) / (most - 1) * (rows - 1)), 0), rows - 1)

    grid: list[list[tuple[str, str]]] = [[(" ", "")] * cols for _ in range(rows)]
    for c in range(cols):
        gpus = 1 + c / (cols - 1) * (most - 1)
        grid[row(gpus)][c] = (IDEAL, "dim")
    for i, s in enumerate(series):
        for gpus, speedup in s.points:
            r, c = row(speedup), col(gpus)
            # Types on one cell (every type is 1.00× on one GPU) are written side by side: "ABC".
            free = next(
                (k for k in range(c, min(c + len(series), cols)) if grid[r][k][0] in (" ", IDEAL)), None
            )
            if free is not None:
                grid[r][free] = (MARKERS[i % len(MARKERS)], STYLES[i % len(STYLES)])

    labelled = _y_labels(most, row)
    lines = []
    for r in range(rows - 1, -1, -1):
        line = Text()
        value = labelled.get(r)
        line.append(
            f"{value if value is not None else '':>{label_w - 1}} {'┤' if value is not None else '│'}"
        )
        for char, style in grid[r]:
            line.append(char, style=style)
        lines.append(line)
    ticks = _x_ticks(most)
    axis = ["─"] * cols
    under = [" "] * (cols + 6)
    for g in ticks:
        c = col(g)
        axis[c] = "┬"
        for k, ch in enumerate(str(g)):
            under[c + k] = ch
    lines.append(Text(" " * (label_w - 1) + " └" + "".join(axis)))
    lines.append(Text((" " * (label_w + 1) + "".join(under)).rstrip() + X_TITLE))
    return [line[:width] if len(line) > width else line for line in lines]


def _y_labels(most: int, row: Callable[[float], int]) -> dict[int, int]:
    """Line -> the speed-up labelled there: the x axis's counts (1, 2, 4, 8), the larger where two
    fall on one line."""
    return {row(value): value for value in _x_ticks(most)}


def _x_ticks(most: int) -> list[int]:
    """1, 2, 4, 8: the counts the benchmark trains on."""
    ticks, g = [], 1
    while g < most:
        ticks.append(g)
        g *= 2
    return [*ticks, most]


class ScalingPlot(Widget):
    """The plot and its legend, drawn to the widget's size."""

    DEFAULT_CSS = "ScalingPlot { height: 1fr; }"

    def __init__(self, series: tuple[Series, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series = series
        self.empty_words = ""  # said instead of a plot when no type trained on two GPUs or more

    def render(self) -> Text:
        if not self.series:
            return Text(self.empty_words)
        width, height = self.size.width, self.size.height
        title = Text("Speed-up (×) against GPU count; dots: the ideal (N GPUs, N× as fast)", style="bold")
        keys = legend(self.series)
        key_lines = sum(max(1, -(-len(key) // max(width, 1))) for key in keys)  # as wrapped
        plot = draw(self.series, width, max(height - key_lines - 2, 6))
        return Text("\n").join([title, *plot, Text(""), *keys])
