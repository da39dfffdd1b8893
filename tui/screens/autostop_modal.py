"""The cockpit's `a`: change when a running instance stops itself. The rules and sentences are the
launch's (tui/flows/autostop.py); the cockpit sends the answer to the agent and the backstop alarm."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.flows import autostop
from tui.models import AutostopSetting
from tui.screens.confirm import MODAL_CSS
from tui.widgets.plain import plain


class AutostopModal(ModalScreen[AutostopSetting | None]):
    """Type 45m, 2h or off and press Enter; Escape leaves it as it is. A one-time spot instance's
    auto-stop terminates it: said first, and a second Enter agrees."""

    DEFAULT_CSS = MODAL_CSS + "AutostopModal { align: center middle; }"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="autostop.cancel", tooltip="Leave auto-stop as it is"),
    ]

    def __init__(self, name: str, spot: bool, current: str = "") -> None:
        super().__init__()
        self.instance_name = name
        self.spot = spot
        self.current = current
        self._agreed_to: str | None = None  # the typed value a spot warning was shown for

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(plain(f"Auto-stop for {self.instance_name}"), classes="modal-title")
            yield Static(plain(self.current or "The agent's setting is not known yet."), id="autostop-now")
            yield Input(f"{autostop.DEFAULT_IDLE_MINUTES}m", id="autostop-idle", placeholder="45m, 2h or off")
            yield Static("", id="autostop-note")
            yield Static("", id="autostop-error", classes="modal-error")

    def on_mount(self) -> None:
        self._note()

    def _typed(self) -> AutostopSetting:
        return AutostopSetting(autostop.parse_idle(self.query_one(Input).value))

    def _note(self) -> None:
        try:
            note, error = autostop.describe(self._typed(), self.spot), ""
        except ValueError as exc:
            note, error = "", str(exc)
        self.query_one("#autostop-note", Static).update(plain(note + " Enter to set it, Escape to keep it."))
        self.query_one("#autostop-error", Static).update(plain(error))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._agreed_to = None
        self._note()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            setting = self._typed()
        except ValueError:
            return  # the sentence is already under the field
        problem = autostop.spot_problem(self.spot, setting, agreed=self._agreed_to == event.value)
        if problem:
            self._agreed_to = event.value
            self.query_one("#autostop-error", Static).update(
                plain(f"{problem} Press Enter again to agree, or type off.")
            )
            return
        self.dismiss(setting)

    def action_cancel(self) -> None:
        self.dismiss(None)
