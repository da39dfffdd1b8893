"""A host app for testing one screen (or one cockpit pane) alone, and the --demo cloud they reach
instances in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moto import mock_aws
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widget import Widget

from tui.app import D2lApp
from tui.demo.cloud import add_realistic_image_sizes
from tui.demo.hosts import DemoHosts
from tui.demo.ssh_host import console_hook
from tui.services.cloud.aws import Aws
from tui.widgets.keys_footer import KeysFooter

TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"


class PaneScreen(Screen[None]):
    """One cockpit pane with a footer, focused as the cockpit focuses it; Escape leaves."""

    BINDINGS = [("escape", "dismiss", "Back")]

    def __init__(self, pane: Widget) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane
        yield KeysFooter()

    def on_mount(self) -> None:
        self.pane.focus()


def shown(pilot: Any) -> Any:
    """What the test looks at: the pane on a PaneScreen, else the screen itself."""
    screen = pilot.app.screen
    return screen.pane if isinstance(screen, PaneScreen) else screen


class ScreenApp(App[None]):
    """Just one screen (or a cockpit pane on a screen of its own), in the app's stylesheet."""

    CSS_PATH = str(TCSS)
    # The app's own "? Keys": the footer is the one a user sees.
    BINDINGS = [b for b in D2lApp.BINDINGS if getattr(b, "id", None) == "app.keys"]
    action_toggle_keys = D2lApp.action_toggle_keys

    def __init__(self, screen: Screen[Any] | Widget) -> None:
        super().__init__()
        self.first = screen if isinstance(screen, Screen) else PaneScreen(screen)

    def on_mount(self) -> None:
        self.push_screen(self.first)


@contextmanager
def demo_cloud(tmp_path: Path) -> Iterator[tuple[Aws, DemoHosts]]:
    """moto in-process whose GetConsoleOutput shows each loopback host's key, and those hosts."""
    hosts = DemoHosts(tmp_path / "hosts")

    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        console_hook(hosts.host_for_instance)(session)

    with mock_aws():
        yield Aws(region="us-east-1", customize=customize), hosts
