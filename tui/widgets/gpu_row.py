"""One GPU in the GPU panel: its numbers on one line, its utilization and memory history below.

A plain ``Widget`` that renders one ``rich.text.Text``: cheaper per sample than a dozen child
widgets (eight of these redraw every second). The history deques are the sampler's own; the row
reads the newest points that fit its width when it draws. A value nvidia-smi didn't give reads
"n/a" (its bar and history points stay blank), never 0.

Compact (two lines) is what fits eight GPUs on a 120x40 screen; ``tall`` gives one or two GPUs
four-line sparklines.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import islice

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tui.models import GpuSample

_EIGHTHS = " ▁▂▃▄▅▆▇█"
_PARTIAL = " ▏▎▍▌▋▊▉"
NAME_WIDTH = 21
SPARK_HEIGHT_TALL = 4
UTIL_STYLE = "green"
MEM_STYLE = "magenta"
MIG_NOTE = "utilization is per MIG instance"
# A line is a list of (text, style) pieces: cheap to build every sample, and turned straight into
# segments for the screen (no Rich layout pass), or into Text for the tests.
Piece = tuple[str, str]


@lru_cache(maxsize=64)
def _style(name: str) -> Style:
    return Style.parse(name) if name else Style.null()


def bar(pct: float | None, width: int, style: str) -> list[Piece]:
    """A horizontal bar in eighths of a cell; blank when the value is unknown."""
    if width <= 0:
        return []
    if pct is None:
        return [(" " * width, "")]
    eighths = round(max(0.0, min(100.0, pct)) / 100 * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_PARTIAL[part] if part else "")
    return [(filled, style), ("░" * (width - len(filled)), "dim")]


def newest(points: Sequence[float | None], width: int) -> list[float | None]:
    """The last `width` points (a deque is read without copying all of it)."""
    if width <= 0:
        return []
    start = max(0, len(points) - width)
    return list(islice(points, start, None))


def spark_rows(points: Sequence[float | None], width: int, height: int = 1) -> list[str]:
    """A 0-100 % series as `height` lines of block characters, newest at the right, oldest
    scrolled out at the left; unknown points are blank, 0 % is "_" on the bottom line (drawn as
    a dim baseline by ``spark``)."""
    values = newest(points, width)
    pad = width - len(values)
    rows = []
    for level in range(height - 1, -1, -1):
        chars = [" "] * pad
        for v in values:
            if v is None:
                chars.append(" ")
                continue
            if v <= 0:
                chars.append("_" if level == 0 else " ")
                continue
            total = max(1, round(min(100.0, v) / 100 * height * 8))  # a little work is not idle
            chars.append(_EIGHTHS[max(0, min(8, total - level * 8))])
        rows.append("".join(chars))
    return rows


def spark(points: Sequence[float | None], width: int, style: str, height: int = 1) -> list[list[Piece]]:
    """``spark_rows`` as pieces: the bars in `style`, idle (0 %) as a dim baseline."""
    out = []
    for row in spark_rows(points, width, height):
        pieces: list[Piece] = []
        start = 0
        while start < len(row):
            idle = row[start] == "_"
            end = start
            while end < len(row) and (row[end] == "_") == idle:
                end += 1
            chunk = row[start:end]
            pieces.append(("▁" * len(chunk), "dim " + style) if idle else (chunk, style))
            start = end
        out.append(pieces)
    return out


UNKNOWN = "n/a"  # what nvidia-smi didn't give ("[N/A]", "[Not Supported]"): the same word everywhere


def _num(value: float | None, width: int, fmt: str = "{:.0f}") -> str:
    return (fmt.format(value) if value is not None else UNKNOWN).rjust(width)


def gib(mib: float | None) -> float | None:
    return None if mib is None else mib / 1024


def as_text(pieces: list[Piece]) -> Text:
    return Text.assemble(*pieces)


class GpuRow(Widget):
    """A GPU's line of numbers and its history (utilization and memory used, 0-100 %)."""

    DEFAULT_CSS = """
    GpuRow { height: 2; width: 1fr; }
    GpuRow.-tall { height: 6; }
    GpuRow.-stale { text-opacity: 55%; }
    """

    def __init__(
        self, index: int, util: Sequence[float | None], mem: Sequence[float | None], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.index = index
        self.sample: GpuSample | None = None
        self.util_history = util
        self.mem_history = mem
        self._strips: list[Strip] | None = None
        self._strips_key: tuple[int, bool] = (0, False)

    def show(self, sample: GpuSample) -> None:
        self.sample = sample
        self._strips = None
        self.refresh()

    def text(self) -> Text:
        """What the row shows, as text (the tests read it)."""
        return Text("\n").join(as_text(line) for line in self.lines(max(40, self.size.width)))

    def lines(self, width: int) -> list[list[Piece]]:
        sample = self.sample
        if sample is None:
            return [[(f"{self.index:>2} …", "dim")]]
        if self.has_class("-tall"):
            return [self.numbers(sample, width), *self.tall_history(sample, width)]
        return [self.numbers(sample, width), self.history_line(sample, width)]

    # The line API, with strips built once per sample: eight rows redraw every second, and this
    # costs a fraction of the generic render path (Rich text -> content -> strips).
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        tall = self.has_class("-tall")
        if self._strips is None or self._strips_key != (width, tall):
            base = self.rich_style
            self._strips = [
                Strip(
                    [Segment(text, base + _style(style)) for text, style in line if text]
                ).adjust_cell_length(width, base)
                for line in self.lines(max(40, width))
            ]
            self._strips_key = (width, tall)
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None  # classes (tall, stale) or the theme changed

    def numbers(self, sample: GpuSample, width: int) -> list[Piece]:
        name = sample.name.removeprefix("NVIDIA ")[:NAME_WIDTH].ljust(NAME_WIDTH)
        hot = sample.temp_c is not None and sample.temp_c >= 85
        temp = f"{_num(sample.temp_c, 3)}°C" if sample.temp_c is not None else UNKNOWN.rjust(5)
        power = f"{_num(sample.power_w, 4)}/{_num(sample.power_limit_w, 0)} W".ljust(11)
        if sample.power_w is None and sample.power_limit_w is None:
            power = f"{UNKNOWN} W".rjust(5).ljust(11)
        clock = f"SM {_num(sample.sm_clock_mhz, 4)} MHz"
        used, total = gib(sample.mem_used_mib), gib(sample.mem_total_mib)
        mem_text = f"{_num(used, 5, '{:.1f}')}/{_num(total, 0, '{:.1f}')} GiB".ljust(15)
        if used is None and total is None:  # GB10's unified memory: "[N/A]" for both
            mem_text = f"{UNKNOWN} GiB".rjust(9).ljust(15)
        # Everything but the two bars: index and name 24, " util " 6, " 100%" 5, "  mem " 6,
        # " 19.4/79.6 GiB" 16, then "   59°C" 7, "   632/700 W" 13 and "  SM 1980 MHz" 13.
        bar_width = max(4, (width - 90) // 2)
        if sample.mig:
            util: list[Piece] = [("n/a: MIG on".ljust(bar_width + 5)[: bar_width + 5], "italic")]
        else:
            pct = f"{_num(sample.util_pct, 4)}%" if sample.util_pct is not None else UNKNOWN.rjust(5)
            util = [*bar(sample.util_pct, bar_width, UTIL_STYLE), (pct, "")]
        return [
            (f"{sample.index:>2} ", "bold"),
            (name, "bold"),
            (" util ", ""),
            *util,
            ("  mem ", ""),
            *bar(sample.mem_pct, bar_width, MEM_STYLE),
            (f" {mem_text}  ", ""),
            (temp, "bold red" if hot else ""),
            (f"  {power}  {clock}", ""),
        ]

    def history_line(self, sample: GpuSample, width: int) -> list[Piece]:
        width_ = max(4, (width - 3 - 5 - 6) // 2)
        util = (
            [(MIG_NOTE.ljust(width_)[:width_], "dim italic")]
            if sample.mig
            else spark(self.util_history, width_, UTIL_STYLE)[0]
        )
        return [
            ("   ", ""),
            ("util ", "dim"),
            *util,
            ("  mem ", "dim"),
            *spark(self.mem_history, width_, MEM_STYLE)[0],
        ]

    def tall_history(self, sample: GpuSample, width: int) -> list[list[Piece]]:
        width_ = max(4, (width - 3 - 5 - 6) // 2)
        if sample.mig:
            note: list[Piece] = [(MIG_NOTE.ljust(width_)[:width_], "dim italic")]
            util_rows = [note] + [[(" " * width_, "")]] * (SPARK_HEIGHT_TALL - 1)
        else:
            util_rows = spark(self.util_history, width_, UTIL_STYLE, SPARK_HEIGHT_TALL)
        mem_rows = spark(self.mem_history, width_, MEM_STYLE, SPARK_HEIGHT_TALL)
        lines = []
        for i, (u, m) in enumerate(zip(util_rows, mem_rows, strict=True)):
            first = i == 0
            lines.append(
                [
                    ("   ", ""),
                    ("util " if first else "     ", "dim"),
                    *u,
                    ("  mem " if first else "      ", "dim"),
                    *m,
                ]
            )
        lines.append([])
        return lines
