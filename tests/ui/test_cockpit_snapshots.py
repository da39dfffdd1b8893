"""SVG snapshots of every cockpit pane at 80×24 and 120×40: the header, the pane tabs, the pane and
the footer (Back and Quit first) must fit both.

Deterministic: a moto instance whose LaunchTime and addresses are pinned (tests/ui/
test_instances_snapshots.py), the app's clock fixed, a fixed key path, and the SSH panes on a link
that never connects (the panes' own pictures, connected, are in test_gpu_panel.py, test_provision.py
and test_tunnel.py): the Setup and GPU panes say "Connecting…", the Jupyter pane shows a tunnel that
is up. No live value is drawn.

Update after an intended change: pytest tests/ui/test_cockpit_snapshots.py --snapshot-update
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from textual.app import App
from textual.binding import Binding
from textual.pilot import Pilot

from tests.test_lifecycle import run
from tests.ui.driving import build_context, wait_until
from tests.ui.test_instances_snapshots import NOW, cloud
from tests.ui.test_tunnel import UP
from tui.app import D2lApp
from tui.screens.cockpit import PANES, CockpitScreen, Pane
from tui.services.cloud.lifecycle import describe_one
from tui.services.remote.recipe import book_recipe

TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"
KEY = Path("/home/reader/.ssh/d2l-tui/d2l-tui.pem")  # not the test's tmp_path: it is drawn
NAME = "d2l-g4dn-xlarge-3f9a"
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


class ParkedLink:
    """A link that never connects: the SSH panes stay on their first, still picture."""

    label = NAME
    simulated = False

    async def connect(self, on_wait: Any = None) -> Any:
        await asyncio.Event().wait()

    def trust(self, key_line: str) -> None:
        raise AssertionError("nothing is trusted in a picture")


class CockpitApp(App[None]):
    """The cockpit in the app's stylesheet, with the app's Quit and Keys (what the real footer shows)."""

    CSS_PATH = str(TCSS)
    BINDINGS = [b for b in D2lApp.BINDINGS if isinstance(b, Binding) and b.id in ("app.quit", "app.keys")]
    action_toggle_keys = D2lApp.action_toggle_keys

    def __init__(self, cockpit: CockpitScreen) -> None:
        super().__init__()
        self.cockpit = cockpit

    def on_mount(self) -> None:
        self.push_screen(self.cockpit)


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


def cockpit_on(pane: Pane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CockpitScreen:
    from moto.moto_api._internal import mock_random

    # The ssh command names the app's known_hosts file: a fixed place, not the test's tmp_path.
    monkeypatch.setenv("XDG_STATE_HOME", "/tmp/d2l-tui-pictures/state")
    aws = cloud()
    mock_random.seed(14)  # the instance id is drawn (Details, the ssh command)
    iid = run(aws, "us-east-1", NAME, itype="g4dn.xlarge")
    instance = describe_one(aws, "us-east-1", iid)
    assert instance is not None
    ctx = build_context(aws, tmp_path, simulated=True)  # bundled prices: no pricing API to vary
    ctx.clock = lambda: NOW
    ctx.tunnels.update(UP.__class__(**{**UP.__dict__, "instance_id": iid}))
    # The setup pane as right after a launch: the book's steps listed, waiting for SSH.
    recipe = book_recipe(instance_type="g4dn.xlarge") if pane == "setup" else None
    screen = CockpitScreen(ctx, instance, pane=pane, key=KEY, recipe=recipe, setup_mode="fresh")
    screen._link = ParkedLink()  # type: ignore[assignment]
    return screen


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("pane", [pane for pane, _ in PANES])
def test_cockpit_pane(
    pane: Pane, size: str, moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snap_compare: Any
) -> None:
    cockpit = cockpit_on(pane, tmp_path, monkeypatch)

    async def run_before(pilot: Pilot[Any]) -> None:
        # AWS's answer (prices, state) is in the header, and the pane is drawn.
        await wait_until(pilot, lambda: cockpit.row is not None and not cockpit.row.costs_pending, 30)
        await wait_until(
            pilot, lambda: pane not in ("setup", "gpu", "jupyter") or cockpit.live_pane(pane) is not None
        )
        await pilot.pause()

    assert snap_compare(CockpitApp(cockpit), terminal_size=SIZES[size], run_before=run_before)


async def test_keys_cut_from_the_footer_at_80x24_are_listed_by_question_mark(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the setup pane's own keys push Terminate and Image out of the footer; "?" (shown
    right after Back and Quit) lists every key of the screen, and "?" again hides the list."""
    from textual.widgets import HelpPanel
    from textual.widgets._footer import FooterKey

    cockpit = cockpit_on("setup", tmp_path, monkeypatch)
    app = CockpitApp(cockpit)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: cockpit.row is not None and not cockpit.row.costs_pending, 30)
        await pilot.pause()
        room = app.screen.size.width - 12  # the "^p palette" corner covers the footer's right end
        in_view = {k.action for k in app.screen.query(FooterKey) if k.region.width and k.region.right <= room}
        assert {"back", "quit", "toggle_keys"} <= in_view, in_view
        assert "terminate" not in in_view and "image" not in in_view, in_view  # else the test proves nothing
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: bool(app.screen.query(HelpPanel)))
        # The panel scrolls at 24 rows: read its whole table, not the part on screen.
        from rich.console import Console
        from textual.widgets._key_panel import BindingsTable

        console = Console(width=60, record=True, file=io.StringIO())
        console.print(app.screen.query_one(BindingsTable).render_bindings_table())
        listed = console.export_text()
        for words in ("Terminate", "Image", "Stop"):
            assert words in listed, (words, listed)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: not app.screen.query(HelpPanel))


async def test_escape_while_typing_a_log_filter_leaves_the_filter_not_the_cockpit(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    cockpit = cockpit_on("setup", tmp_path, monkeypatch)
    app = CockpitApp(cockpit)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: cockpit.live_pane("setup") is not None)
        await pilot.press("slash", "u", "v")
        box = cockpit.query_one("#provision-filter", Input)
        assert box.display and box.value == "uv" and box.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is cockpit  # the filter went, the cockpit stays
        assert not box.display and box.value == ""
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not cockpit)


async def test_a_terminal_resize_still_lays_the_cockpit_out_again(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cockpit skips only the Resize its own first layout sends (same size); the terminal's
    resizes are Textual's: the breakpoint class changes and the setup's steps go above its log."""
    cockpit = cockpit_on("setup", tmp_path, monkeypatch)
    app = CockpitApp(cockpit)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: cockpit.live_pane("setup") is not None)
        await pilot.pause()
        assert cockpit.has_class("-wide") and not cockpit.has_class("-narrow")
        steps, log = cockpit.query_one("#provision-steps"), cockpit.query_one("#provision-log")
        assert steps.region.y == log.region.y  # side by side
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: cockpit.has_class("-narrow") and not cockpit.has_class("-wide"))
        await wait_until(pilot, lambda: steps.region.bottom <= log.region.y)  # the steps above the log
        assert cockpit.query_one("KeysFooter").region.y == 23  # the footer on the new last row


async def test_the_tab_line_says_which_pane_shows_and_a_click_on_a_name_shows_it(
    moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys and clicks move the highlight with the pane; a pane without focusable widgets leaves
    none of a hidden pane's widgets with the keys (Jupyter's u and b must not act from Details)."""
    from textual.widgets import ContentSwitcher

    from tui.widgets.pane_tabs import PaneTabs

    cockpit = cockpit_on("details", tmp_path, monkeypatch)
    app = CockpitApp(cockpit)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tabs, switcher = cockpit.query_one(PaneTabs), cockpit.query_one(ContentSwitcher)
        assert tabs.shown == switcher.current == "details"
        line = str(tabs.render())
        for pane, title in PANES:
            # A click on the middle of the name, where the line draws it (one cell of padding).
            await pilot.click(PaneTabs, offset=(1 + line.index(title) + len(title) // 2, 0))
            await wait_until(pilot, lambda pane=pane: tabs.shown == switcher.current == pane)
        await pilot.press("t")
        await wait_until(
            pilot, lambda: switcher.current == "jupyter" and cockpit.live_pane("jupyter") is not None
        )
        await pilot.pause()
        await pilot.press("d")
        await wait_until(pilot, lambda: tabs.shown == switcher.current == "details")
        focused = app.focused
        assert focused is None or cockpit.query_one("#details") in focused.ancestors_with_self, focused
