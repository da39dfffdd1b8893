"""The footer rebuilds only when the keys it shows change: the same keys keep the same widgets,
a key that becomes disabled (check_action) or a new binding still shows at once."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets._footer import FooterKey

from tests.ui.driving import wait_until
from tui.widgets.keys_footer import KeysFooter


class KeysApp(App[object]):
    BINDINGS = [Binding("s", "stop", "Stop"), Binding("x", "terminate", "Terminate")]
    running = reactive(True, bindings=True)

    def compose(self) -> ComposeResult:
        yield KeysFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "stop" and not self.running else True

    def action_stop(self) -> None:
        self.running = False


def keys(app: App[object]) -> dict[str, bool]:
    return {key.key: not key.has_class("-disabled") for key in app.query(FooterKey)}


async def test_same_keys_keep_their_widgets_and_a_change_shows() -> None:
    app = KeysApp()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: bool(keys(app)))  # shown once the app has focus
        shown = list(app.query(FooterKey))
        assert keys(app) == {"s": True, "x": True, "ctrl+p": True}
        for _ in range(5):
            app.screen.refresh_bindings()
        await pilot.pause()
        assert list(app.query(FooterKey)) == shown  # nothing changed: not rebuilt

        await pilot.press("s")  # Stop greys out
        await wait_until(pilot, lambda: keys(app) == {"s": False, "x": True, "ctrl+p": True})

        app.bind("g", "gpu", description="GPU")
        app.screen.refresh_bindings()
        await wait_until(pilot, lambda: keys(app).get("g") is True)


async def test_a_new_screens_footer_is_built_once() -> None:
    """The keys its first compose shows count as shown: the bindings signal after a screen's mount
    does not build the same keys again (it did: a fifth of Enter → cockpit's first paint). Fails if
    Textual's _bindings_ready flag, read by KeysFooter.compose, goes away (the footer still works)."""
    from textual.screen import Screen

    class Second(Screen[None]):
        BINDINGS = [Binding("g", "gpu", "GPU")]

        def compose(self) -> ComposeResult:
            yield KeysFooter()

    app = KeysApp()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: bool(keys(app)))
        await app.push_screen(Second())
        await wait_until(pilot, lambda: "g" in {k.key for k in app.screen.query(FooterKey)})
        first = list(app.screen.query(FooterKey))
        for _ in range(3):
            await pilot.pause()
        assert list(app.screen.query(FooterKey)) == first


async def test_keys_at_compose_shows_the_keys_in_the_first_paint() -> None:
    """With keys_at_compose the keys are there when the screen mounts (before its first paint),
    greyed as check_action says; Textual's Footer (and KeysFooter without it) mounts them only
    after a refresh. Focusing a widget with its own binding still adds its key."""
    from textual.screen import Screen
    from textual.widgets import Static

    class Field(Static, can_focus=True):
        BINDINGS = [Binding("ctrl+g", "go", "Go")]

    class Cockpitish(Screen[None]):
        AUTO_FOCUS = ""  # nothing focused until the test says so
        BINDINGS = [Binding("g", "gpu", "GPU"), Binding("s", "stop", "Stop")]

        def __init__(self, keys_at_compose: bool) -> None:
            super().__init__()
            self.keys_at_compose = keys_at_compose
            self.at_mount: dict[str, bool] = {}

        def compose(self) -> ComposeResult:
            yield Field()
            yield KeysFooter(keys_at_compose=self.keys_at_compose)

        def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
            return None if action == "stop" else True

        def on_mount(self) -> None:
            self.at_mount = {key.key: not key.has_class("-disabled") for key in self.query(FooterKey)}

    app = KeysApp()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: bool(keys(app)))
        early, late = Cockpitish(keys_at_compose=True), Cockpitish(keys_at_compose=False)
        await app.push_screen(early)
        assert early.at_mount["g"] is True and early.at_mount["s"] is False
        early.query_one(Field).focus()
        await wait_until(pilot, lambda: {"ctrl+g", "g"} <= {k.key for k in early.query(FooterKey)})
        await app.push_screen(late)
        assert late.at_mount == {}  # Textual's own way: keys after the first refresh
        await wait_until(pilot, lambda: "g" in {k.key for k in late.query(FooterKey)})


async def test_keys_mount_already_compact_or_not_and_follow_the_footer() -> None:
    """Each key mounts with the class it ends with: not restyled as it mounts (Textual's watcher
    added -compact and the data binding removed it, twice per key); compact still follows."""
    from textual.dom import DOMNode
    from textual.screen import Screen

    class Keyed(Screen[None]):
        BINDINGS = [Binding("g", "gpu", "GPU")]

        def compose(self) -> ComposeResult:
            yield KeysFooter(keys_at_compose=True)

    app = KeysApp()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: bool(keys(app)))
        restyled: list[DOMNode] = []
        update_styles = app.update_styles

        def counting(node: DOMNode, animate: bool = True) -> None:
            restyled.append(node)
            update_styles(node, animate)

        app.update_styles = counting  # type: ignore[method-assign]
        await app.push_screen(Keyed())
        await wait_until(pilot, lambda: "g" in {k.key for k in app.screen.query(FooterKey)})
        await pilot.pause()
        assert not [node for node in restyled if isinstance(node, FooterKey)]
        compact = {k.key: k.has_class("-compact") for k in app.screen.query(FooterKey)}
        assert compact == {"g": False, "s": False, "x": False, "ctrl+p": True}  # as Textual's Footer

        app.screen.query_one(KeysFooter).compact = True
        await pilot.pause()
        assert all(k.has_class("-compact") for k in app.screen.query(FooterKey))
