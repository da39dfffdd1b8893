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

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Log

# What a failing install prints: apt's "E:", pip's "ERROR:", Python tracebacks, our timeout line.
_FAILURE = re.compile(
    r"^(E: |ERROR|Error|error:|FATAL|fatal:|Traceback|\w*Error: )|timed out after|[Ff]ailed\b|No such file"
)


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

    def add_lines(self, lines: Iterable[str]) -> None:
        batch = list(lines)
        self.kept.extend(batch)
        self.total_lines += len(batch)
        if self.filter_text:
            needle = self.filter_text.lower()
            batch = [line for line in batch if needle in line.lower()]
        if batch:
            self.write_lines(batch)

    def set_filter(self, text: str) -> None:
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
