"""Shown when AWS credentials are missing or stale, or AWS does not answer at all: what to do,
retry, or try the simulated cloud."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Static

from tui.services.errors import CredentialsError, D2lError
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.plain import plain

HOW_TO = """\
d2l-tui uses the standard AWS credential chain, like the aws CLI:

  • an access key:  aws configure
  • an SSO login:   aws configure sso   then   aws sso login --profile NAME
  • a profile:      d2l-tui --profile NAME   (or AWS_PROFILE=NAME)

No AWS account yet? The simulated cloud runs the whole walk on this machine; nothing leaves it."""


class CredentialsScreen(Screen[str]):
    """Dismissed with "demo", "retry" or "quit"."""

    BINDINGS = [
        Binding("d", "choose('demo')", "Simulated cloud", id="creds.demo", tooltip="Try everything offline"),
        Binding("r", "choose('retry')", "Retry", id="creds.retry", tooltip="Check the credentials again"),
        Binding("q", "choose('quit')", "Quit", id="creds.quit", tooltip="Leave d2l-tui", show=False),
    ]

    def __init__(self, error: D2lError) -> None:
        super().__init__()
        self.error = error
        # Not a credentials problem: the network, a proxy or AWS_ENDPOINT_URL. Retry is the answer.
        self.unreachable = not isinstance(error, CredentialsError)

    def compose(self) -> ComposeResult:
        with Vertical(id="credentials"):
            yield Static(
                "AWS did not answer" if self.unreachable else "AWS credentials needed", id="step-title"
            )
            # AWS's or botocore's words (a profile name, an endpoint URL): plain text.
            yield Static(plain(self.error.what), id="credentials-what")
            yield Static(plain(self.error.next_step), id="credentials-next")
            if not self.unreachable:
                yield Static(HOW_TO, id="credentials-howto")
            with Horizontal(id="step-buttons"):
                yield Button("Try the simulated cloud", id="demo", variant="primary")
                yield Button("Retry", id="retry")
                yield Button("Quit", id="quit")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#retry" if self.unreachable else "#demo", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(event.button.id))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
