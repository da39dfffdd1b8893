"""The actions on one instance, shared by the instances table and an instance's own view.

Every AWS call runs in a thread worker; its outcome comes back as a notification and a refresh,
and a refusal (a race, a missing permission) as a sentence on the status line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SystemCommand
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from tui.flows.instance_ops import Action, InstanceOps
from tui.screens.confirm import IMAGE_FIRST, TERMINATE, ConfirmationModal, ImageNameModal, TypeNameModal
from tui.services.cloud import lifecycle
from tui.services.cloud.costs import InstanceRow, money
from tui.services.cloud.lifecycle import TRANSITIONAL_STATES
from tui.services.errors import D2lError
from tui.services.remote import sshconfig
from tui.widgets.plain import plain

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance

log = logging.getLogger(__name__)

ACTION_BINDINGS = [
    Binding("s", "stop", "Stop", id="instances.stop", tooltip="Stop (the disk stays, and is billed)"),
    Binding("S", "start", "Start", id="instances.start", tooltip="Start a stopped instance"),
    Binding("x", "terminate", "Terminate", id="instances.terminate", tooltip="Delete it and its disk"),
    Binding("i", "image", "Image", id="instances.image", tooltip="Save its disk as an image (My AMIs)"),
    Binding("c", "copy_ssh", "Copy", id="instances.copy", tooltip="Copy the ssh command"),
    Binding("o", "open_shell", "Shell", id="instances.shell", tooltip="Open a shell on it (ssh)"),
    Binding("l", "provision", "Setup", id="instances.provision", tooltip="The setup run: follow, retry"),
    Binding("t", "tunnel", "Jupyter", id="instances.tunnel", tooltip="Start/stop the Jupyter tunnel"),
    Binding("g", "gpu", "GPUs", id="instances.gpu", tooltip="Live nvidia-smi for every GPU"),
    Binding("r", "reload", "Refresh", id="instances.refresh", tooltip="Ask AWS again now"),
]


def lifecycle_bindings(
    panes: frozenset[str] = frozenset({"provision", "tunnel", "gpu", "open_shell", "reload"}),
) -> list[Binding]:
    """The action keys for one instance's cockpit: the panes' letters hide in the footer (the tabs
    show them, Shell (o) too), so the lifecycle keys, Back and Quit fit 80 columns. The instances list hides only
    the panes' letters (its status line names them; every key is in the palette)."""
    return [
        Binding(b.key, b.action, b.description, show=False, id=b.id, tooltip=b.tooltip)
        if b.action in panes
        else b
        for b in ACTION_BINDINGS
    ]


LIST_BINDINGS = lifecycle_bindings(frozenset({"provision", "tunnel", "gpu"}))
WAY_OUT = ("back", "quit", "toggle_keys")  # always first in the footer: the way out, and where every key is
# action -> what lifecycle.can() calls it
_NEEDS = {
    "stop": "stop",
    "start": "start",
    "terminate": "terminate",
    "image": "image",
    "copy_ssh": "ssh",
    "open_shell": "ssh",
    "provision": "ssh",
    "tunnel": "ssh",
    "stop_jupyter": "ssh",
    "gpu": "ssh",
    "bench": "ssh",
}
# The keys that act on an instance (none apply once it is gone).
LIFECYCLE_ACTIONS = frozenset(_NEEDS)
PALETTE = [
    ("Stop instance", "stop", "Stop the selected instance; its disk stays (and is billed)"),
    ("Start instance", "start", "Start the selected stopped instance"),
    ("Terminate instance", "terminate", "Delete the selected instance and its disk (type its name)"),
    ("Create image", "image", "Save the selected instance's disk as an image"),
    ("Copy ssh command", "copy_ssh", "Copy the ssh command of the selected instance"),
    ("Open a shell", "open_shell", "Suspend the app and ssh into the selected instance"),
    ("Setup log", "provision", "Follow the selected instance's setup run (or start it)"),
    ("Jupyter tunnel", "tunnel", "Start (or stop) Jupyter on the instance and forward it to localhost"),
    ("Stop Jupyter", "stop_jupyter", "Stop the Jupyter server on the selected instance"),
    ("GPU panel", "gpu", "Live nvidia-smi for every GPU of the selected instance"),
    ("Refresh instances", "reload", "Ask AWS for the instances now"),
    ("Setup pane", "show_pane('setup')", "The setup run: follow, retry"),
    ("GPU pane", "show_pane('gpu')", "Live nvidia-smi for every GPU"),
    ("Jupyter pane", "show_pane('jupyter')", "Jupyter's state, its URL and the tunnel"),
    ("Details", "show_pane('details')", "Where the instance is and what it costs"),
]

# Shared by the instances table and one instance's view (both show the status line).
INSTANCES_CSS = """
InstancesScreen #instances-table { height: 1fr; }
#instances-address { height: auto; padding: 0 1; }
#instances-status { height: auto; color: $text-muted; padding: 0 1; }
#instances-status.error { color: $error; text-style: bold; }
/* Rows remembered from last time, until AWS answers: visibly not live. */
#instances-table.remembered { color: $text-muted; text-style: italic; }
"""


def _run_ssh(argv: list[str]) -> int:
    returncode = subprocess.run(argv, check=False).returncode
    if returncode == 255:
        # ssh's own error is on the terminal now; the app's redraw would wipe it at once.
        print("\n[d2l-tui] ssh could not connect (its message is above). Press Enter to go back.")
        with contextlib.suppress(EOFError, OSError):
            input()
    return returncode


async def run_in_terminal(app: Any, argv: list[str]) -> str:
    """Run ``argv`` with the terminal to itself (the app suspended); "" when it ran, else why not.

    The command runs in a thread: the event loop must go on, because the simulated instance's SSH
    server (--demo) and a Jupyter tunnel's connection live on it. Meanwhile the app must not draw:
    its terminal writer is stopped while suspended, and a frame written then would fill the
    writer's bounded queue and block the loop. batch_update holds every repaint until resumed.
    """
    try:
        with app.batch_update(), app.suspend():
            returncode = await asyncio.to_thread(_run_ssh, argv)
    except Exception as exc:  # SuspendNotSupported (a web terminal), ssh not installed
        log.warning("open shell failed: %s", exc)
        return f"Could not open a shell here ({exc}). Press c to copy the ssh command instead."
    if returncode == 255:
        return "ssh could not connect (exit 255); press o to try again, or c to copy the command."
    return ""


class InstanceActions(Screen[None]):
    """A screen whose ``selected()`` row the action keys apply to."""

    ctx: AppContext
    # Seconds between polls: quick while something is pending/stopping, slow when all is settled.
    FAST_S = 3.0
    SLOW_S = 30.0
    _timer: Timer | None = None

    def selected(self) -> InstanceRow | None:
        raise NotImplementedError

    def shown_rows(self) -> Iterable[InstanceRow]:
        """The rows on screen; any of them changing state makes the next poll quick."""
        raise NotImplementedError

    # Each screen's thread worker that reads its rows from AWS, then calls _arm().
    load: Callable[..., Any]

    # -- chained polling: re-armed after each answer, so polls never pile up ---------------------
    # While another screen covers this one the chain pauses (nobody sees the rows, and the list
    # asks every region); shown again, it polls at once if a poll fell due meanwhile.

    _poll_due_at: float | None = None  # monotonic time of the armed poll; None: none armed
    _covered = False

    def refresh_soon(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._poll_due_at = None
        self.load()

    def _arm(self) -> None:
        busy = any(r.instance.state in TRANSITIONAL_STATES for r in self.shown_rows())
        delay = self.FAST_S if busy else self.SLOW_S
        self._poll_due_at = time.monotonic() + delay
        if not self._covered:
            self._timer = self.set_timer(delay, self._poll)

    def _poll(self) -> None:
        self._timer = None
        self._poll_due_at = None  # the load re-arms when it has answered
        self.load()

    def on_screen_suspend(self) -> None:
        self._covered = True
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_resume(self) -> None:
        self._covered = False
        if self._poll_due_at is None or self._timer is not None:
            return  # a load is under way (or none began yet): it arms the next poll itself
        left = self._poll_due_at - time.monotonic()
        if left <= 0:
            self._poll()
        else:
            self._timer = self.set_timer(left, self._poll)

    # -- what the footer and the palette offer --------------------------------------------------

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Back and Quit first: with a pane's keys and the lifecycle keys the footer is wider than
        the terminal, and the footer cuts from the right (the way out must never be cut)."""
        bindings = super().active_bindings

        def place(item: tuple[str, ActiveBinding]) -> int:
            action = item[1].binding.action
            return WAY_OUT.index(action) if action in WAY_OUT else len(WAY_OUT)

        return dict(sorted(bindings.items(), key=place))

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Every key that applies now (the footer's, its hidden ones too), with the key in the title."""
        titles = {action: (title, help_text) for title, action, help_text in PALETTE}
        titles.update({action: (t, h) for t, action, h in getattr(self, "EXTRA_PALETTE", ())})
        for node, binding, enabled, tooltip in self.active_bindings.values():
            if not enabled or binding.action in WAY_OUT or binding.action.startswith("app."):
                continue
            title, help_text = titles.get(
                binding.action, (binding.description, tooltip or binding.description)
            )
            key = self.app.get_key_display(binding)
            yield SystemCommand(
                f"{title} · {key}", help_text, partial(self.app.run_action, binding.action, node)
            )

    def say(self, message: str, error: bool = False) -> None:
        status = self.query_one("#instances-status", Static)
        status.update(plain(message))  # names and AWS messages: never markup
        status.set_class(error, "error")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needs = _NEEDS.get(action)
        if needs is None:
            return True
        row = self.selected()
        if row is None:
            return None  # greyed: the key exists, once there is an instance
        # False leaves it out of the footer (Start on a running one, Stop on a stopped one): the
        # footer is wider than 120 columns with every key, and cuts from the right.
        return True if lifecycle.can(needs, row.instance) else False

    def key_path(self, instance: Instance) -> Path | None:
        from tui.flows.reach import key_for

        return key_for(instance, self.ctx.key_dir)

    # -- actions --------------------------------------------------------------------------------

    def action_stop(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("stop", row.instance):
            return
        inst = row.instance
        body = (
            f"{inst.name} stops being billed by the hour ({money(row.usd_per_hour, '/h')}), but its disk "
            f"({row.disk_gib} GiB) is still billed: {money(row.disk_usd_per_month, '/month')}.\n"
            "Its public address changes when it starts again (the ssh command and ssh config follow).\n"
            "Anything not saved to disk (running notebooks, GPU memory) is lost."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.lifecycle_action(inst, "stop")

        self.app.push_screen(ConfirmationModal(f"Stop {inst.name}?", body, yes="Stop"), answered)

    def action_start(self) -> None:
        row = self.selected()
        if row is not None and lifecycle.can("start", row.instance):
            self.lifecycle_action(row.instance, "start")

    def action_terminate(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("terminate", row.instance):
            return
        inst = row.instance

        def answered(choice: str | None) -> None:
            if choice == TERMINATE:
                self.lifecycle_action(inst, "terminate")
            elif choice == IMAGE_FIRST:
                self.ask_image(inst, terminate_after=True)

        detail = f"{inst.instance_type} in {inst.region} ({inst.instance_id}), {inst.state}."
        self.app.push_screen(TypeNameModal(inst.name or inst.instance_id, detail), answered)

    def action_image(self) -> None:
        row = self.selected()
        if row is not None and lifecycle.can("image", row.instance):
            self.ask_image(row.instance, terminate_after=False)

    def ask_image(self, inst: Instance, terminate_after: bool) -> None:
        def answered(choice: tuple[str, bool] | None) -> None:
            if choice is not None:
                self.make_image(inst, choice[0], choice[1])

        modal = ImageNameModal(inst.name, lifecycle.default_image_name(inst), terminate_after)
        self.app.push_screen(modal, answered)

    def action_copy_ssh(self) -> None:
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        if self.ctx.ssh_endpoint is not None:  # the simulated cloud: its address leads nowhere
            self.copy_simulated_ssh(row.instance)
            return
        self.copy_command(sshconfig.ssh_command(row.instance, self.key_path(row.instance)))

    def copy_command(self, command: str, title: str = "Copied to the clipboard") -> None:
        self.app.copy_to_clipboard(command)  # OSC 52: works over SSH and without a display
        self.copy_with_pyperclip(command)
        self.notify(command, title=title, markup=False)

    @work(exclusive=True, group="copy", exit_on_error=False)
    async def copy_simulated_ssh(self, instance: Instance) -> None:
        """The command that reaches the simulated instance's loopback server, its key pinned first
        (as for a shell): it works from another terminal for as long as the app runs."""
        key = self.key_path(instance)
        try:
            current, host, port = await self.ctx.instance_link(instance, key).prepare(on_wait=self.say)
        except D2lError as exc:
            self.say(f"{exc} Press c to try again.", error=True)
            return
        endpoint = (host, port) if port is not None else None
        command = shlex.join(sshconfig.ssh_argv(current, key, endpoint=endpoint))
        self.copy_command(command, "Copied: the simulated instance answers on loopback while the app runs")

    @work(thread=True, group="clipboard", exit_on_error=False)
    def copy_with_pyperclip(self, text: str) -> None:
        from tui.services.clipboard import copy_text

        copy_text(text)

    @work(exclusive=True, group="shell", exit_on_error=False)
    async def action_open_shell(self) -> None:
        """Suspend the app and run `ssh` in this terminal; the app comes back when it exits."""
        row = self.selected()
        if row is None or not lifecycle.can("ssh", row.instance):
            return
        key = self.key_path(row.instance)
        link = self.ctx.instance_link(row.instance, key)
        self.say(f"Opening a shell on {link.label}…")
        try:
            # Pinned from the console first, so ssh checks the key strictly instead of asking.
            instance, host, port = await link.prepare(on_wait=self.say)
        except D2lError as exc:
            self.say(f"{exc} Press o to try again.", error=True)
            return
        endpoint = (host, port) if port is not None else None
        argv = sshconfig.ssh_argv(instance, key, endpoint=endpoint)
        failure = await run_in_terminal(self.app, argv)
        if failure:
            self.say(failure, error=True)  # stays until the next action: the list's refresh keeps it
        else:
            self.say("")
            self.notify(f"Back from the shell on {link.label}.", timeout=4, markup=False)
        self.refresh_soon()

    def action_reload(self) -> None:
        self.refresh_soon()

    # -- workers --------------------------------------------------------------------------------

    def _ops(self) -> InstanceOps:
        """The flow, from a worker thread: its notices become toasts, its tunnel stops run on the loop."""
        app = self.app

        def warn(notice: str) -> None:
            app.call_from_thread(self.notify, notice, severity="warning", timeout=15, markup=False)

        return InstanceOps.of(self.ctx, on_notice=warn, on_loop=app.call_from_thread)

    @work(thread=True, group="instance-action", exit_on_error=False)
    def lifecycle_action(self, inst: Instance, action: Action) -> None:
        self.app.call_from_thread(self.say, f"Asking AWS to {action} {inst.name}…")
        try:
            outcome = self._ops().act(action, inst)
        except Exception as exc:
            self.app.call_from_thread(self.failed, exc, f"{action} {inst.name}")
            return
        self.app.call_from_thread(self.acted, outcome.summary)

    # None: the flow's own interval (tests make it quick).
    IMAGE_POLL_S: float | None = None

    @work(thread=True, group="instance-image", exit_on_error=False)
    def make_image(self, inst: Instance, name: str, terminate_after: bool) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        try:
            outcome = self._ops().create_image(
                inst,
                name,
                terminate_after=terminate_after,
                progress=lambda line: self.app.call_from_thread(self.say, line),
                cancelled=lambda: worker.is_cancelled,
                poll_interval=self.IMAGE_POLL_S,
            )
        except Exception as exc:
            self.app.call_from_thread(self.failed, exc, f"create an image of {inst.name}")
            return
        self.app.call_from_thread(self.acted, outcome.summary)

    def acted(self, message: str) -> None:
        self.say(message)
        self.notify(message, markup=False)
        self.refresh_soon()

    def failed(self, exc: BaseException, doing: str) -> None:
        if isinstance(exc, D2lError):
            log.warning("%s failed: %s (code=%s)", doing, exc, exc.code)
            message = str(exc)
        else:
            log.error("%s failed", doing, exc_info=exc)
            message = f"Could not {doing}; details are in the log file. Press r to refresh."
        self.say(message, error=True)
        self.notify(message, severity="error", timeout=10, markup=False)
        self.refresh_soon()  # the table stays true to AWS after a refusal
