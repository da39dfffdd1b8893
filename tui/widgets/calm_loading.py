"""The app's loading indicator: Textual's own pulse, redrawn 5 times a second instead of 16.

Its animation follows the clock, so fewer redraws show the same pulse a little less smoothly; each
redraw of a table-sized overlay costs several milliseconds, and while the instances list waits on
AWS the indicator was the biggest cost on the UI thread (about 7 ms a frame, 16 frames a second).
"""

from __future__ import annotations

from textual.widgets import LoadingIndicator

REDRAWS_PER_S = 5


class CalmLoadingIndicator(LoadingIndicator):
    def on_mount(self) -> None:
        # LoadingIndicator's own mount handler sets 1/16, and runs after this one: set ours after it.
        self.call_later(self._calm)

    def _calm(self) -> None:
        self.auto_refresh = 1 / REDRAWS_PER_S
