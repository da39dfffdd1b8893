"""The cockpit: one screen per instance, where its setup, GPUs, Jupyter, shell and lifecycle keys live.

Opened after a launch (on the Setup pane), with Enter (or l, g, t) from the instances list, and by
``d2l-tui open NAME``. The header is always AWS's last answer (polled like the list: quick while the
instance changes state, slow when it is settled). The lifecycle keys (s S x i c o) and B (the
benchmark, tui/screens/bench.py) work from every pane; a pane's own keys apply while it has focus, so
the Jupyter pane copies its URL with u and opens it with b (c and o stay the ssh keys).

The SSH panes are made when first shown and only while the instance can be reached: a stopped
instance has no GPU stream to show. When the instance leaves "running" (stopped here, from the
console, or by the idle auto-stop) the GPU stream and the setup follow end with a line saying why,
and the tunnel closes; when it runs again, what the person had open reconnects. Its auto-stop line and
`a` are in tui/screens/cockpit_autostop.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ContentSwitcher, Static

from tui.screens.cockpit_autostop import AUTOSTOP_READ_S, CockpitAutostop
from tui.screens.instance_actions import INSTANCES_CSS, LIFECYCLE_ACTIONS, InstanceActions, lifecycle_bindings
from tui.services.cloud import lifecycle
from tui.services.cloud.costs import InstanceRow, money
from tui.services.errors import D2lError
from tui.services.remote import sshconfig
from tui.widgets.instance_header import InstanceHeader
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.pane_tabs import PaneBody, PaneTabs
from tui.widgets.plain import plain
from tui.widgets.ssh_failure import SshFailure

if TYPE_CHECKING:
    from pathlib import Path

    from tui.context import AppContext
    from tui.flows.instance_ops import Action
    from tui.models import Instance, Recipe
    from tui.services.remote.instance_link import Link
    from tui.services.remote.provision import Mode

log = logging.getLogger(__name__)

Pane = Literal["setup", "gpu", "jupyter", "shell", "details"]
PANES: tuple[tuple[Pane, str], ...] = (
    ("setup", "Setup (l)"),
    ("gpu", "GPU (g)"),
    ("jupyter", "Jupyter (t)"),
    ("shell", "Shell (o)"),
    ("details", "Details (d)"),
)
SSH_PANES: tuple[Pane, ...] = ("setup", "gpu", "jupyter")

COCKPIT_CSS = (
    INSTANCES_CSS
    + """
CockpitScreen ContentSwitcher { height: 1fr; }
CockpitScreen PaneBody { padding: 0 1; height: 1fr; }
CockpitScreen PaneBody > Vertical { height: 1fr; }
CockpitScreen .pane-title { color: $text-muted; height: auto; }
CockpitScreen .pane-waiting { color: $text-muted; padding: 1 0; height: auto; }
CockpitScreen #cockpit-details, CockpitScreen #cockpit-shell { height: auto; }
"""
)


class CockpitScreen(CockpitAutostop, InstanceActions):
    DEFAULT_CSS = COCKPIT_CSS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        *lifecycle_bindings(),
        Binding("d", "show_pane('details')", "Details", show=False, id="cockpit.details"),
        Binding("J", "stop_jupyter", "Stop Jupyter", show=False, id="cockpit.stop_jupyter"),
        Binding(
            "a",
            "autostop",
            "Auto-stop",
            show=False,
            id="cockpit.autostop",
            tooltip="Change when it stops itself",
        ),
        Binding(
            "B",
            "bench",
            "Benchmark",
            show=False,
            id="cockpit.bench",
            tooltip="Measure its GPUs and the book's training, in money at its $/h",
        ),
        Binding("escape", "back", "Back", id="cockpit.back", tooltip="Back; setup and tunnel keep running"),
    ]

    def __init__(
        self,
        ctx: AppContext,
        instance: Instance,
        *,
        row: InstanceRow | None = None,
        pane: Pane = "details",
        recipe: Recipe | None = None,
        setup_mode: Mode = "reattach",
        start_tunnel: bool = False,
        key: Path | None = None,
    ) -> None:
        super().__init__()
        self.key = key  # the launch's own key file, when it chose one outside the key folder
        self.ctx = ctx
        self.instance = instance
        ctx.sightings.saw(instance, ctx.clock())  # as whoever opened it just read it from AWS
        self.row = row
        self.first_pane: Pane = pane
        self.recipe = recipe
        self.setup_mode: Mode = setup_mode
        self.start_tunnel = start_tunnel
        self.instance_id = instance.instance_id
        self.aws_region = instance.region
        self.gone = False
        self.opened: set[Pane] = set()  # the SSH panes the person opened: reconnected after a start
        # The Stop flow closes the tunnel itself (tui/flows/instance_ops.py) before the header sees
        # "stopping": whether it was up is noted when s is pressed, so Start can bring it back.
        self.tunnel_up_at_stop = False
        self.asked_here: str | None = None  # stop/terminate pressed here, until the state changes
        self.closed_why = ""  # why the SSH panes closed (the instance stopped), until it runs again
        self._link: Link | None = None
        self.autostop_words: str | None = None  # the agent's own words, read over SSH
        self._autostop_read_at = float("-inf")

    # -- layout ---------------------------------------------------------------------------------

    def _breakpoint_classes(self, width: int, *, update: bool = True) -> None:
        """-narrow or -wide, as Textual's Screen sets them on a Resize."""
        wide_enough = [name for at, name in sorted(self.HORIZONTAL_BREAKPOINTS) if width >= at]
        classes = {name: name == wide_enough[-1] for _, name in self.HORIZONTAL_BREAKPOINTS}
        self.update_classes(classes, update=update, animate=False)

    def compose(self) -> ComposeResult:
        # Textual sets the breakpoint class on the screen's first Resize, after its first layout:
        # a restyle of every widget and one more layout. Set now, that Resize changes nothing.
        self._breakpoint_classes(self.app.size.width, update=False)
        yield InstanceHeader(id="cockpit-header")
        yield PaneTabs(PANES, self.first_pane, id="cockpit-tabs")
        with ContentSwitcher(initial=self.first_pane, id="cockpit-panes"):
            for pane, _title in PANES:
                with PaneBody(id=pane):
                    if pane == "details":
                        yield Static("", id="cockpit-details")
                    elif pane == "shell":
                        yield Static("", id="cockpit-shell")
                    else:
                        yield Static("", classes="pane-waiting")
        yield Static("", id="instances-status")
        yield KeysFooter(keys_at_compose=True)  # check_action reads the instance, never a widget

    def on_mount(self) -> None:
        self._show_instance()
        self._open(self.first_pane)
        # The header's prices and the instance's state as AWS says now, once the screen is painted:
        # asked at mount, the answer (and its thread's share of the GIL) came before the first paint
        # and laid the screen out a second time.
        self.call_after_refresh(self.refresh_soon)

    _resumed_once = False

    @on(events.ScreenResume)
    def _styles_just_applied(self, event: events.ScreenResume) -> None:
        """Textual's Screen restyles every widget when a screen resumes (its handler runs after this
        one). The first resume follows the mount, which has just styled each widget (with the
        breakpoint class, set in compose): that second pass over all 32 was redundant. Later
        resumes (back from a screen on top) restyle as before."""
        if not self._resumed_once:
            self._resumed_once = True
            event.refresh_styles = False

    _resized_once = False

    def on_resize(self, event: events.Resize) -> None:
        """Textual's Screen answers every Resize with a whole layout and paint (and a layout of each
        screen under it). The first Resize is the one the screen's own first layout sends, at the
        size it was just laid out at: that second layout and paint were a fifth of Enter → cockpit
        painted. A later Resize (the terminal's) is Textual's to handle, as before."""
        first, self._resized_once = not self._resized_once, True
        if first and event.size == self.size:
            event.stop()
            event.prevent_default()  # Screen._on_resize: the layout again and the breakpoint classes
            self._breakpoint_classes(event.size.width)  # unchanged since compose unless it resized

    def key_path(self, instance: Instance) -> Path | None:
        return self.key or super().key_path(instance)

    @property
    def link(self) -> Link:
        if self._link is None:
            self._link = self.ctx.instance_link(self.instance, self.key_path(self.instance))
        return self._link

    # -- panes ----------------------------------------------------------------------------------

    def shown_pane(self) -> Pane:
        return self.query_one(PaneTabs).shown  # type: ignore[return-value]

    def action_show_pane(self, pane: Pane) -> None:
        """Its key, or a click on its name in the tab line."""
        if pane not in dict(PANES):
            return
        self.query_one(PaneTabs).show(pane)
        self.query_one(ContentSwitcher).current = pane
        self._open(pane)

    def _open(self, pane: Pane) -> None:
        if pane in SSH_PANES:
            self.opened.add(pane)
            self._mount_ssh_pane(pane)
        self._focus_pane(pane)

    def _focus_pane(self, pane: Pane) -> None:
        body = self.query_one(f"#{pane}", PaneBody)
        live = [child for child in body.children if child.can_focus]
        if live:  # else none: Textual takes focus from a pane the switcher hides
            live[0].focus()

    def _reachable(self) -> bool:
        # Right after a launch the instance may still be pending: the setup pane waits for SSH itself.
        if self.instance.state == "pending" and self.recipe is not None:
            return True
        return not self.gone and lifecycle.can("ssh", self.instance)

    def _mount_ssh_pane(self, pane: Pane) -> None:
        body = self.query_one(f"#{pane}", PaneBody)
        if self.live_pane(pane) is not None:
            return
        waiting = body.query_one(".pane-waiting", Static)
        if not self._reachable():
            waiting.update(plain(self._why_not_reachable(pane)))
            waiting.display = True
            return
        waiting.display = False
        body.mount(self._make_pane(pane))
        if self.shown_pane() == pane:  # focus in a hidden pane would steal the keys
            self.call_after_refresh(self._focus_pane, pane)

    def _make_pane(self, pane: Pane) -> Static:
        if pane == "setup":
            from tui.screens.provision import SetupPane

            recipe, self.recipe = self.recipe, None  # a fresh run is started once; later: reattach
            mode: Mode = self.setup_mode if recipe is not None else "reattach"
            return SetupPane(  # type: ignore[return-value]
                self.link, recipe=recipe, mode=mode, instance_type=self.instance.instance_type
            )
        if pane == "gpu":
            from tui.screens.gpu_panel import GpuPane

            return GpuPane(self.link)  # type: ignore[return-value]
        from tui.screens.tunnel import JupyterPane

        start, self.start_tunnel = self.start_tunnel, False
        return JupyterPane(self.ctx.tunnels, self.link, self.instance_id, start=start)  # type: ignore[return-value]

    def live_pane(self, pane: Pane) -> Static | None:
        body = self.query_one(f"#{pane}", PaneBody)
        live = [child for child in body.children if "pane-waiting" not in child.classes]
        return live[0] if live else None  # type: ignore[return-value]

    def _why_not_reachable(self, pane: Pane) -> str:
        what = {"setup": "The setup log", "gpu": "The GPU panel", "jupyter": "Jupyter"}[pane]
        state = "no longer exists" if self.gone else f"is {self.instance.state}"
        then = " Press S to start it." if self.instance.state == "stopped" else ""
        if self.instance.state in lifecycle.TRANSITIONAL_STATES:
            then = " This pane connects by itself when it is running."
        return f"{what} needs SSH, and {self.instance.name or self.instance_id} {state}.{then}"

    def _close_ssh_panes(self, why: str) -> None:
        """The instance left "running": its streams end, with a line that says why."""
        was_up, self.tunnel_up_at_stop = self.tunnel_up_at_stop, False
        if self.ctx.tunnels.is_active(self.instance_id) or was_up:
            self.ctx.tunnels.stop(self.instance_id)
            self.opened.add("jupyter")
            self.start_tunnel = True  # it was up: it comes back when the instance runs again
        for pane in SSH_PANES:
            live = self.live_pane(pane)
            if live is not None:
                live.remove()
            waiting = self.query_one(f"#{pane}", PaneBody).query_one(".pane-waiting", Static)
            waiting.update(plain(f"{why} {self._why_not_reachable(pane)}"))
            waiting.display = True
        self.closed_why = why  # kept on the panes' line until the instance runs again
        self._link = None  # a new address after the next start

    # -- the instance ---------------------------------------------------------------------------

    def selected(self) -> InstanceRow | None:
        if self.gone:
            return None
        return self.row or InstanceRow(self.instance, "", None, None, 0, 0.0, costs_pending=True)

    def shown_rows(self) -> Iterable[InstanceRow]:
        row = self.selected()
        return [row] if row is not None else []

    @work(thread=True, exclusive=True, group="instance-refresh", exit_on_error=False)
    def load(self) -> None:
        from tui.services.cloud.costs import row_for

        try:
            row = row_for(
                self.ctx.aws,
                self.ctx.hourly_prices,
                self.aws_region,
                self.instance_id,
                now=self.ctx.clock(),
                ebs=self.ctx.ebs_prices,
            )
        except Exception as exc:
            self.app.call_from_thread(self._load_failed, exc)
            return
        self.app.call_from_thread(self._loaded, row)

    def _loaded(self, row: InstanceRow | None) -> None:
        was_running = self.instance.state == "running" and not self.gone
        if row is None:
            if not self.gone:
                self.say(f"{self.instance.name or self.instance_id} is terminated: it no longer exists.")
            self.gone, self.row = True, None
            # What the header and the status line show: DescribeInstances no longer lists it.
            self.instance = replace(self.instance, state="terminated", public_dns="", public_ip="")
            self.ctx.sightings.gone(self.instance_id)
        else:
            self.row, self.instance = row, row.instance
            self.ctx.sightings.saw(row.instance, self.ctx.clock())
        running = self.instance.state == "running" and not self.gone
        if was_running and not running:
            name = self.instance.name or self.instance_id
            asked, self.asked_here = self.asked_here, None
            if asked:
                self._close_ssh_panes(f"{name} stopped running.")
            else:  # nobody pressed a key here: say who else can have done it
                self._close_ssh_panes(
                    f"{name} stopped running, not from here: its idle auto-stop, the EC2 console or AWS stopped it."
                )
        elif running and not was_running:
            self.closed_why = ""
            for pane in self.opened:  # started again: reconnect what was open (a new address)
                self._link = None
                self._mount_ssh_pane(pane)
        self._show_instance()
        self.refresh_bindings()
        self._arm()
        if (
            running
            and time.monotonic() - self._autostop_read_at >= AUTOSTOP_READ_S
            and self._reached_before()
        ):
            self._autostop_read_at = time.monotonic()
            self.read_autostop()

    def _load_failed(self, exc: BaseException) -> None:
        # Shown, then retried on the timer: refreshing at once would loop while AWS is unreachable.
        message = str(exc) if isinstance(exc, D2lError) else "Refreshing failed; details are in the log file."
        if not isinstance(exc, D2lError):
            log.error("refreshing %s failed", self.instance_id, exc_info=exc)
        self.say(f"{message} Press r to retry now.", error=True)
        self._arm()

    # A lifecycle action's sentence names a passing state ("book is stopping."): once a poll shows
    # where it settled, the status line says that instead of staying on the passing one.
    _PASSING = ("pending", "stopping", "shutting-down")
    _passing_said = ""

    def acted(self, message: str) -> None:
        super().acted(message)
        self._passing_said = message if message.rstrip(".").endswith(self._PASSING) else ""

    def _settle_status_line(self) -> None:
        if self._passing_said and self.instance.state not in self._PASSING:
            status = self.query_one("#instances-status", Static)
            if str(status.render()) == self._passing_said:
                self.say(f"{self.instance.name or self.instance_id} is {self.instance.state}.")
            self._passing_said = ""

    def _show_instance(self) -> None:
        self._settle_status_line()
        now = self.ctx.clock()
        self.query_one(InstanceHeader).show(
            self.instance, None if self.gone else self.row, now, self.autostop_words
        )
        self.query_one("#cockpit-details", Static).update(plain(self._details()))
        self.query_one("#cockpit-shell", Static).update(plain(self._shell()))
        for pane in SSH_PANES:
            if self.live_pane(pane) is None and pane in self.opened:
                waiting = self.query_one(f"#{pane}", PaneBody).query_one(".pane-waiting", Static)
                if not self._reachable():
                    waiting.update(plain(f"{self.closed_why} {self._why_not_reachable(pane)}".strip()))

    def _details(self) -> str:
        if self.gone:
            return "This instance no longer exists. Press Escape to go back."
        inst, row = self.instance, self.row
        key = self.key_path(inst)
        lines = [
            f"Id            {inst.instance_id}",
            f"Region / zone {inst.region} / {inst.availability_zone or '-'}",
            f"Type          {inst.instance_type}  GPU {(row.gpu if row else '') or '-'}"
            + ("  (spot)" if inst.spot else ""),
            f"Image         {inst.image_id or '-'}",
            f"Key pair      {inst.key_name or '-'}  ({key or 'private key not found locally'})",
            f"Public DNS    {inst.public_dns or '-'}",
            f"Public IP     {inst.public_ip or '-'}",
        ]
        if row is not None and not row.costs_pending:
            lines += [
                "",
                f"Compute       {money(row.usd_per_hour, '/h')}, {money(row.usd_so_far)} since launch or last start",
                f"Disk          {row.disk_gib} GiB gp3, {money(row.disk_usd_per_month, '/month')}"
                + (" (billed while stopped)" if inst.state == "stopped" else ""),
            ]
        if sshconfig.can_alias(inst):
            lines += ["", f"ssh           {sshconfig.ssh_command(inst, key)}"]
        return "\n".join(lines)

    def _shell(self) -> str:
        inst = self.instance
        if self.gone or not sshconfig.can_alias(inst):
            return f"A shell needs a running instance with a public address; {inst.name or self.instance_id} is {inst.state}."
        key = self.key_path(inst)
        return (
            "Press o to open a shell here: the app steps aside and comes back when you exit.\n"
            "Press c to copy the command for another terminal:\n\n"
            f"  {sshconfig.ssh_command(inst, key)}\n\n"
            "d2l-tui checks the instance's host key (pinned from its console) before it connects."
        )

    # -- keys: the panes' letters switch panes here --------------------------------------------

    def on_ssh_failure_link_failed(self, message: SshFailure.LinkFailed) -> None:
        """A pane found the instance not running (auto-stop, the console): the header asks AWS now
        instead of saying "running" until its next poll."""
        message.stop()
        if not self.gone:
            self.refresh_soon()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_pane":
            return True
        if action in ("provision", "gpu", "tunnel"):
            return True  # the pane says why it can't connect
        if self.gone and action in LIFECYCLE_ACTIONS:
            return False  # terminated: no instance left to act on, so no key offered (not greyed)
        return super().check_action(action, parameters)

    def action_provision(self) -> None:
        self.action_show_pane("setup")

    def action_gpu(self) -> None:
        self.action_show_pane("gpu")

    def action_tunnel(self) -> None:
        self.tunnel_up_at_stop = False  # s then n, then t: what the person wants now is t's
        if self.shown_pane() == "jupyter":
            live = self.live_pane("jupyter")
            if live is not None:
                live.action_toggle_tunnel()  # type: ignore[attr-defined]
            return
        if not self.ctx.tunnels.is_active(self.instance_id):
            self.start_tunnel = True  # t means: Jupyter, forwarded here
        self.action_show_pane("jupyter")
        live = self.live_pane("jupyter")
        if live is not None and self.start_tunnel:
            self.start_tunnel = False
            live.start_tunnel()  # type: ignore[attr-defined]

    def lifecycle_action(self, inst: Instance, action: Action) -> Any:  # type: ignore[override]
        self.asked_here = action  # the state change that follows is the person's own
        return super().lifecycle_action(inst, action)

    def action_stop(self) -> None:
        self.tunnel_up_at_stop = self.ctx.tunnels.is_active(self.instance_id)
        super().action_stop()

    def action_back(self) -> None:
        """Esc leaves the innermost thing first: typing in the setup log's filter, then the cockpit."""
        from textual.widgets import Input

        focused = self.focused
        if isinstance(focused, Input) and focused.id == "provision-filter":
            pane = self.live_pane("setup")
            if pane is not None:
                pane.close_filter()  # type: ignore[attr-defined]
                return
        self.dismiss(None)

    def action_bench(self) -> None:
        from tui.screens.bench import BenchScreen
        from tui.services.remote.instance_link import InstanceLink

        if self.gone or self.instance.state != "running":
            self.say("The benchmark runs on the running instance: start it first (S).", error=True)
            return
        if not isinstance(self.link, InstanceLink):  # tests may hand in another Link
            self.say("This instance can't be benchmarked from here.", error=True)
            return
        self.app.push_screen(BenchScreen(self.ctx, self.link))
