"""The cockpit's pane names on one line, the shown one highlighted; a click on a name shows it.

One Static instead of Textual's TabbedContent: its tab bar is a dozen widgets (a tab each, their
containers, an animated underline) that were half of the cockpit's widgets and about a third of the
time from Enter on an instance to the cockpit's first frame (bench/cockpit.py: first frame ~110 ms
with it, ~70 ms without, same minutes). The panes have their own keys (shown in each name), so the
line only needs to say where you are and take a click.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static


class PaneBody(Vertical):
    """One pane's content; the ContentSwitcher shows the one whose id is the pane's name."""


class PaneTabs(Static):
    DEFAULT_CSS = """
    PaneTabs {
        height: 1; padding: 0 1; background: $panel; color: $text-muted;
        link-style: none; link-style-hover: underline;
    }
    """

    def __init__(self, panes: Sequence[tuple[str, str]], shown: str, *, id: str | None = None) -> None:
        self.panes = tuple(panes)  # (name, title with its key), in order
        self.shown = shown
        super().__init__(self._line(), id=id)

    def show(self, pane: str) -> None:
        if pane != self.shown:
            self.shown = pane
            self.update(self._line())

    def _line(self) -> Content:
        # The titles are the app's own words, never outside text: markup is safe here.
        parts = []
        for name, title in self.panes:
            if name == self.shown:  # not a link: a link's colours would override these
                parts.append(
                    Content.from_markup(
                        f"[b $block-cursor-foreground on $block-cursor-background] {title} [/]"
                    )
                )
            else:
                parts.append(Content.from_markup(f"[@click=screen.show_pane('{name}')] {title} [/]"))
        return Content(" ").join(parts)
