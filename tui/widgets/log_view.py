"""A fast, bounded log with follow on/off, a filter, and failure lines highlighted.

Textual's ``Log`` keeps plain strings and renders only the visible lines (the highlighter runs on
those alone), which is what a 50k-lines-a-second install log needs. This adds what the
provisioning screen wants on top: a copy of the last ``max_lines`` lines so a filter can be applied
and removed without asking the instance again.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual.timer import Timer
from textual.widgets import Log

# What a failing install prints: apt's "E:", pip's "ERROR:", Python tracebacks, our timeout line.
_FAILURE = re.compile(
    r"^(E: |ERROR|Error|error:|FATAL|fatal:|Traceback|\w*Error: )|timed out after|[Ff]ailed\b|No such file"
)
# Lines reach the Log at most once per this many seconds, however fast they arrive.
FLUSH_S = 1 / 30


class FailureHighlighter(Highlighter):
    def highlight(self, text: Text) -> None:
        if _FAILURE.search(text.plain):
            text.stylize("bold red")
        elif text.plain.startswith("+ "):
            text.stylize("dim")  # the commands the simulated instance would run


class LogView(Log):
    """A Log that remembers its last lines, can filter them, and follows the end unless told not to."""

    DEFAULT_CSS = """
    LogView { height: 1fr; border: round $panel; }
    LogView:focus { border: round $accent; }
    """

    def __init__(self, max_lines: int = 10_000, **kwargs: object) -> None:
        super().__init__(highlight=True, max_lines=max_lines, **kwargs)  # type: ignore[arg-type]
        self.highlighter = FailureHighlighter()
        self.kept: deque[str] = deque(maxlen=max_lines)
        self.filter_text = ""
        self.total_lines = 0  # every line seen, including those that scrolled out of the bound
        # Lines not yet written: only the last max_lines of a burst, the rest would be pruned at once.
        self._pending: deque[str] = deque(maxlen=max_lines)
        self._flush_timer: Timer | None = None

    def add_lines(self, lines: Iterable[str]) -> None:
        """Take lines now; they're written to the Log on the next flush (one write a frame at most)."""
        batch = list(lines)
        self.kept.extend(batch)
        self.total_lines += len(batch)
        if self.filter_text:
            needle = self.filter_text.lower()
            batch = [line for line in batch if needle in line.lower()]
        if batch:
            self._pending.extend(batch)
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(FLUSH_S, self._flush_due)

    def _flush_due(self) -> None:
        self._flush_timer = None
        self.flush()

    def flush(self) -> None:
        """Write the pending lines now (the screen calls this when the run ends)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if self._pending:
            lines = list(self._pending)
            self._pending.clear()
            self.write_lines(lines)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        # Private Textual API (8.2.8), no public way to size a Log's lines: Log.write_lines starts a
        # new thread worker (@work(thread=True) Log._update_size) for every write just to measure the
        # widest line, holding that write's lines until the loop runs its call_from_thread callback.
        # At 30 flushes a second that is 30 threads a second; one pass here is cheaper (len() for
        # plain ASCII). Also uses Log._process_line, _update_maximum_width and _updates. No upstream
        # issue names this; the closest is https://github.com/Textualize/textual/issues/2187 (high
        # write rates stall a log). tests/ui/test_log_view.py fails if the names change.
        if lines:
            width = max(
                len(line) if line.isascii() and "\t" not in line else cell_len(self._process_line(line))
                for line in lines
            )
            self._update_maximum_width(updates, width)

    def set_filter(self, text: str) -> None:
        self._pending.clear()  # shown again from `kept` below
        self.filter_text = text.strip()
        self.clear()
        needle = self.filter_text.lower()
        shown = [line for line in self.kept if needle in line.lower()] if needle else list(self.kept)
        self.write_lines(shown)

    def toggle_follow(self) -> bool:
        self.auto_scroll = not self.auto_scroll
        if self.auto_scroll:
            self.scroll_end(animate=False)
        return self.auto_scroll
