"""A Footer that redraws only when what it shows changed.

Textual's Footer recomposes (every key a new widget, each styled) on every bindings signal: each
focus change and each refresh_bindings. Opening the cockpit sends about nine (its panes take focus,
its first AWS answer refreshes the keys) for the same keys, and those recomposes were most of the
time from Enter to the cockpit's first paint (bench/cockpit.py). Here a burst is one recompose, and
none when the keys, their labels and their enabled state are as shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.screen import Screen


class SteadyFooter(Footer):
    _pending = False
    _shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._pending:
            self._pending = True
            self.call_after_refresh(self._recompose_if_changed)

    def _what_it_shows(self) -> tuple[object, ...]:
        return tuple(
            (key, binding.action, binding.description, binding.show, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
        )

    def compose(self) -> ComposeResult:
        if self.is_attached:
            self._shown = self._what_it_shows()
        yield from super().compose()

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if not self.is_attached:  # its screen was closed meanwhile
            return
        shown = self._what_it_shows()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
