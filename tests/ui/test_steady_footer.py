"""The cockpit's footer: redrawn when its keys change, left alone when a signal changes nothing."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from tests.ui.driving import wait_until
from tui.widgets.steady_footer import SteadyFooter


class KeysApp(App[None]):
    BINDINGS = [Binding("s", "stop", "Stop"), Binding("escape", "back", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.can_stop = True

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield SteadyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.can_stop if action == "stop" else True


def shown(app: App[None]) -> list[str]:
    return [key.description for key in app.screen.query(FooterKey)]


async def test_the_footer_follows_its_keys_and_only_them() -> None:
    app = KeysApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await wait_until(pilot, lambda: "Stop" in shown(app))
        keys = list(app.screen.query(FooterKey))
        for _ in range(5):
            app.screen.refresh_bindings()  # nothing changed: the same widgets stay
        await pilot.pause()
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) == keys

        app.can_stop = False  # a stopped instance: Stop goes away
        app.screen.refresh_bindings()
        await wait_until(pilot, lambda: "Stop" not in shown(app))
        assert "Back" in shown(app)
