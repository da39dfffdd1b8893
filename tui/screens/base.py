"""The frame every wizard step shares: breadcrumb, title, explanation, body, inline error, Back/Next.

How every screen runs work (one way each; the screens follow it):

- Blocking work (boto3, keyring, files, a flow or service that blocks): a thread worker,
  ``@work(thread=True, exit_on_error=False, group="...")`` (``exclusive=True`` only with its own
  group). It calls the flow or service with plain arguments and hands the result back with
  ``self.app.call_from_thread(self.show_..., result)``: never a widget touched from the thread.
- Async SSH work (asyncssh: provisioning, the GPU stream, tunnels): an async worker on the app's
  loop, ``@work(exclusive=True, group="...", exit_on_error=False)``, awaiting the flow; a connection
  closes in ``finally``. What must outlive the screen (a tunnel) runs as an app-level worker
  (``self.app.run_worker``) held by the context (``ctx.tunnels``).
- Errors a worker does not catch reach the app's one ``on_worker_state_changed``. A screen says
  what the app should do next by posting a message from tui/messages.py; it never imports the app.
- Polls are chained: re-armed with ``set_timer`` after each answer, paused while the screen is
  covered (``on_screen_suspend`` / ``on_screen_resume``, see InstanceActions).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Static

from tui.screens.wizard_state import WizardState
from tui.services.errors import D2lError
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.patience import no_answer_words, while_loading
from tui.widgets.plain import plain
from tui.widgets.step_header import StepHeader

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)

# A step's screen is dismissed with NEXT or BACK; what was chosen lives in WizardState.
NEXT = "next"
BACK = "back"


def show_step_error(screen: Screen[Any], message: str) -> None:
    """The #step-error line every screen has: what went wrong and the next step ("" hides it)."""
    error = screen.query_one("#step-error", Static)
    error.update(plain(message))  # AWS messages, names, paths: plain text, never markup
    error.set_class(bool(message), "visible")


class StepScreen(Screen[str]):
    """One step of the launch wizard."""

    STEP = 0
    TITLE_TEXT = ""
    HELP_TEXT = ""
    NEXT_LABEL = "Next"

    BINDINGS = [
        Binding("escape", "back", "Back", id="wizard.back", tooltip="Previous step; choices are kept"),
        Binding("ctrl+n", "next", "Next", id="wizard.next", tooltip="Accept this step"),
    ]

    def __init__(self, ctx: AppContext, state: WizardState) -> None:
        super().__init__()
        self.ctx = ctx
        self.state = state

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Back, Next and Quit first: at 80 columns a step's own keys fill the footer, and the
        footer cuts from the right (the way on and the way out must never be cut)."""
        first = {"back": 0, "next": 1, "quit": 2}
        bindings = super().active_bindings
        return dict(sorted(bindings.items(), key=lambda item: first.get(item[1].binding.action, 3)))

    def compose(self) -> ComposeResult:
        yield StepHeader(self.STEP, self.ctx.simulated)
        with Vertical(id="step-body"):
            yield Static(self.TITLE_TEXT, id="step-title")
            if self.HELP_TEXT:
                yield Static(self.HELP_TEXT, id="step-help")
            yield from self.compose_body()
            yield Static("", id="step-error")
            yield Static("", id="step-wait")
        with Horizontal(id="step-buttons"):
            yield Button("Back", id="back", disabled=self.STEP == 0)
            yield Button(self.NEXT_LABEL, id="next", variant="primary")
        yield KeysFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def _on_mount(self, event: events.Mount) -> None:
        # Besides Screen's and each step's own (Textual calls every class's handler): a step that has
        # been loading for seconds says what it waits for (the simulated cloud is only ever slow).
        if not self.ctx.simulated:
            while_loading(self, self._say_waiting)

    def _say_waiting(self, waited: float | None) -> None:
        notice = self.query_one("#step-wait", Static)
        notice.update("" if waited is None else no_answer_words(waited))
        notice.set_class(waited is not None, "visible")

    # -- inline errors: a sentence and a next step, never a traceback ---------------------------

    def show_error(self, message: str) -> None:
        show_step_error(self, message)

    def show_exception(self, exc: BaseException, doing: str) -> None:
        self.show_error(self.explain_exception(exc, doing))

    def explain_exception(self, exc: BaseException, doing: str) -> str:
        """The sentence for a failure while ``doing`` (logged, with the traceback when unexpected)."""
        if not isinstance(exc, D2lError):
            # botocore's own (a timeout, a refused call) get the sentence the start-up check gives.
            from tui.services.cloud.aws import as_d2l_error

            unknown = D2lError("", "")
            classified = as_d2l_error(exc, self.ctx.aws.profile, fallback=unknown)
            if classified is not unknown:
                log.warning("%s failed", doing, exc_info=exc)
                exc = classified
        if isinstance(exc, D2lError):
            log.warning("%s failed: %s (code=%s request=%s)", doing, exc, exc.code, exc.request_id)
            return str(exc)
        log.error("%s failed", doing, exc_info=exc)
        return f"Something went wrong while {doing}. Details are in the log file; press r to retry."

    def clear_error(self) -> None:
        self.show_error("")

    # -- navigation ------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()
        elif event.button.id == "next":
            self.action_next()

    def action_back(self) -> None:
        if self.STEP > 0:
            self.dismiss(BACK)

    def action_next(self) -> None:
        problem = self.accept()
        if problem:
            self.show_error(problem)
            return
        self.dismiss(NEXT)

    def accept(self) -> str | None:
        """Store the step's choice in the state; return a sentence when it can't be accepted."""
        return None

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "back" and self.STEP == 0:
            return None
        return True
