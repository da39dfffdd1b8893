"""Textual's Footer, rebuilt only when the keys it shows have changed.

Textual's Footer removes and remounts every key on each `refresh_bindings()` (every focus change,
every `reactive(bindings=True)` change, every screen that calls it after a state change), one
queued rebuild per call even when several land in one frame. Each rebuild is a restyle, a layout
and a repaint of the whole footer: about a third of a wizard walk's CPU, and part of the time from
Enter on an instance to the cockpit's first paint. Most of those calls leave the same keys, in the
same order, enabled the same way: this footer compares what it would show with what it shows and
skips the rebuild when nothing differs. Everything else is Textual's own Footer.

Textual's Footer also shows no keys in its first compose: it waits for the screen's first bindings
signal, then rebuilds after the next refresh, so a new screen is painted once with an empty footer
and again with its keys (a restyle, a layout and a paint more: a fifth of Enter → cockpit). A screen
whose ``check_action`` answers before its widgets are mounted passes ``keys_at_compose=True``: its
footer shows its keys from the first compose, and the signal after the mount rebuilds only if
focusing a widget changed them. Each key is mounted already styled compact or not (Textual's
restyles each one twice as it mounts).
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    """A Footer that skips a rebuild which would show the same keys."""

    _shown: Hashable = None

    def __init__(self, *children: Widget, keys_at_compose: bool = False, **kwargs: object) -> None:
        super().__init__(*children, **kwargs)  # type: ignore[arg-type]
        self._keys_at_compose = keys_at_compose

    def _keys(self) -> Hashable:
        """Everything Footer.compose reads: the shown bindings (a frozen dataclass: key, action,
        description, group, tooltip...) in order, how each key is displayed, whether it is enabled,
        and the command palette's key."""
        if not self.is_attached:
            return None
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (binding, self.app.get_key_display(binding), enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        ) + (self.show_command_palette, self.app.ENABLE_COMMAND_PALETTE)

    def compose(self) -> ComposeResult:
        if self._keys_at_compose and self.is_attached:
            self.set_reactive(Footer._bindings_ready, True)  # Footer.compose shows no keys before it
        # What the first compose shows counts as shown: the bindings signal that follows a new
        # screen's mount would otherwise rebuild the same keys once more (a fifth of Enter → cockpit).
        # _bindings_ready: Textual's own flag (False until the screen's bindings are known); its
        # compose shows no keys before it, so only a compose that shows keys counts.
        self._shown = self._keys() if getattr(self, "_bindings_ready", False) else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # Each key's compact flag and class as they end up once mounted, set before: else
                # its watcher adds -compact and the data binding to Footer.compact removes it again,
                # two restyles per key. The palette's key is not bound: it keeps FooterKey's True.
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget

    async def recompose(self) -> None:
        keys = self._keys()
        if keys is not None and keys == self._shown:
            return
        self._shown = keys
        await super().recompose()
