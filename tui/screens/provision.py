"""The cockpit's Setup pane: the recipe's checklist with states and durations, and the live log.

It runs ``follow_run`` in an async worker on the app's loop (asyncssh lives there); lines and
events arrive in batches and go straight to the widgets. The run itself lives on the instance:
leaving the cockpit, losing the network or quitting the app doesn't stop it, and opening the
pane again reattaches where the log is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from tui import paths
from tui.models import Recipe, StepEvent, StepState
from tui.widgets.live_table import LiveTable
from tui.widgets.log_view import LogView
from tui.widgets.plain import plain, then_markup
from tui.widgets.ssh_failure import SshFailure

if TYPE_CHECKING:
    from tui.services.remote.instance_link import Link
    from tui.services.remote.provision import LinkState, LogItem, Mode, RunOutcome, RunPlan

log = logging.getLogger(__name__)

MAX_LINES = 10_000
_ICONS = {
    StepState.WAITING: "·",
    StepState.RUNNING: "▶",
    StepState.DONE: "✓",
    StepState.SKIPPED: "↷",
    StepState.FAILED: "✗",
}


TITLE_WIDTH = 37


@dataclass
class StepRow:
    name: str
    title: str
    hint: str = ""
    state: StepState = StepState.WAITING
    started_at: float | None = None  # the instance's clock
    started_here: float | None = None  # our monotonic clock, for the live duration
    seconds: float | None = None
    note: str = ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class SetupPane(Vertical, can_focus=True):
    """The setup run of one instance; its keys apply while the pane (or a widget in it) has focus."""

    BINDINGS = [
        Binding("f", "follow", "Follow", id="provision.follow", tooltip="Keep the end of the log in view"),
        Binding("slash", "filter", "Filter", id="provision.filter", tooltip="Show only lines containing…"),
        Binding("w", "save", "Save log", id="provision.save", tooltip="Save the whole log to a local file"),
        Binding(
            "r",
            "retry",
            "Retry",
            id="provision.retry",
            tooltip="Run the failed step again (done ones are skipped)",
        ),
        Binding(
            "t", "trust", "Trust key", id="provision.trust", tooltip="Trust the host key shown (on first use)"
        ),
        Binding(
            "p",
            "setup_book",
            "Set up",
            id="provision.setup",
            tooltip="Nothing set up here yet: run the book's steps (PyTorch, plus your recipe.toml's)",
        ),
    ]

    def __init__(
        self,
        link: Link,
        *,
        recipe: Recipe | None = None,
        mode: Mode = "reattach",
        remote_dir: str | None = None,
        instance_type: str = "",
    ) -> None:
        super().__init__()
        self.link = link
        self.instance_type = instance_type  # which GPU the book's steps are for (p, where none ran)
        self.recipe = recipe
        self.mode: Mode = mode
        self.remote_dir = remote_dir
        self.steps: dict[str, StepRow] = {}
        self.log_offset: int | None = None
        self.outcome: RunOutcome | None = None
        self.failure = SshFailure()  # the error line, and a host key to trust on first use
        self.link_state = "connecting"
        self.link_lost = False  # following ended without an outcome (SSH refused or dropped): r retries
        if recipe is not None:
            for step in recipe.steps:
                self.steps[step.name] = StepRow(step.name, step.title, step.hint)

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="pane-title")
        yield Static("Connecting…", id="provision-link")
        with Horizontal(id="provision-panes"):
            yield LiveTable(id="provision-steps", cursor_type="row", zebra_stripes=False)
            with Vertical(id="provision-right"):
                yield Input(
                    placeholder="Show only lines containing… (Enter to apply, empty to clear)",
                    id="provision-filter",
                )
                yield LogView(max_lines=MAX_LINES, id="provision-log")
        yield self.failure

    def _title(self) -> Content:
        title = f"Setting up {self.link.label}"  # the instance's name: never markup
        if self.recipe is not None:
            from tui.services.remote.recipe import BOOK_STEP_NAMES

            book = any(step.name in BOOK_STEP_NAMES for step in self.recipe.steps)
            title += f" for {self.recipe.framework}" if book else " with your own steps"
        note = "  [dim](simulated: the demo instance prints the commands it would run)[/dim]"
        return then_markup(title, note if self.link.simulated else "")

    def on_mount(self) -> None:
        table = self.query_one("#provision-steps", DataTable)
        table.add_column(" ", key="icon", width=1)
        # 37: the three columns and their padding fill the 50 columns inside the box beside the log
        # (#provision-steps in app.tcss); the book's titles fit, a longer one of the user's ends in "…".
        table.add_column("Step", key="title", width=TITLE_WIDTH)
        table.add_column("Time", key="time", width=6)
        for row in self.steps.values():
            self._add_row(row)
        self.query_one("#provision-filter", Input).display = False
        self.set_interval(1.0, self._tick_running)
        self.follow()

    # --- the run ---------------------------------------------------------------------------------

    @work(exclusive=True, group="provision", exit_on_error=False)
    async def follow(self) -> None:
        from tui.services.remote.provision import DEFAULT_REMOTE_DIR, follow_run

        self.outcome = None
        self.link_lost = False
        self._hide_error()
        try:
            outcome, self.log_offset = await follow_run(
                lambda: self.link.connect(self._waiting),
                self._update,
                recipe=self.recipe,
                mode=self.mode,
                remote_dir=self.remote_dir or DEFAULT_REMOTE_DIR,
                offset=self.log_offset,
            )
        except Exception as exc:
            self._connection_failed(exc)
            return
        self._finished(outcome)

    def _waiting(self, line: str) -> None:
        from tui.services.remote.hostkeys import PinNote

        if isinstance(line, PinNote):  # how the host keys were pinned: kept in the log, not a passing line
            self.query_one("#provision-log", LogView).add_lines([line])
            self.notify(line, title="Host keys", severity="warning", timeout=15, markup=False)
            return
        self.query_one("#provision-link", Static).update(plain(line))

    def _update(self, update: list[LogItem] | LinkState | RunPlan) -> None:
        from tui.services.remote.provision import LinkState, RunPlan

        if isinstance(update, LinkState):
            self.link_state = update.state
            text = {
                "connecting": "Connecting…",
                "connected": "Connected",
                "reconnecting": "Reconnecting…",
                "rebooting": "Rebooting…",
            }[update.state]
            self.query_one("#provision-link", Static).update(plain(f"{text} {update.detail}".strip()))
            return
        if isinstance(update, RunPlan):
            self._plan(update)
            return
        lines: list[str] = []
        view = self.query_one("#provision-log", LogView)
        for item in update:
            if isinstance(item, str):
                lines.append(item)
                continue
            if lines:
                view.add_lines(lines)
                lines = []
            self._event(item)
        if lines:
            view.add_lines(lines)

    def _plan(self, plan: RunPlan) -> None:
        for step in plan.steps:
            if step.name not in self.steps:
                self.steps[step.name] = row = StepRow(step.name, step.title, step.hint)
                self._add_row(row)
            elif step.hint and not self.steps[step.name].hint:
                self.steps[step.name].hint = step.hint

    def _event(self, event: StepEvent) -> None:
        if not event.step:
            if event.state is StepState.RUNNING:  # a (new) run starts: steps not done yet wait again
                for waiting in self.steps.values():
                    if waiting.state in (StepState.RUNNING, StepState.FAILED):
                        waiting.state, waiting.seconds = StepState.WAITING, None
                        self._show_row(waiting)
            return
        row = self.steps.get(event.step)
        if row is None:
            row = self.steps[event.step] = StepRow(event.step, event.step)
            self._add_row(row)
        if event.state is StepState.RUNNING:
            if row.state is not StepState.RUNNING or row.started_at is None:
                row.started_at, row.started_here = event.at, time.monotonic()
            row.seconds = None
        elif event.note != "already" and row.started_at is not None:
            row.seconds = max(0.0, event.at - row.started_at)
        row.state = event.state
        row.note = event.note
        self._show_row(row)

    def _add_row(self, row: StepRow) -> None:
        table = self.query_one("#provision-steps", DataTable)
        table.add_row(*self._cells(row), key=row.name)

    def _cells(self, row: StepRow) -> tuple[Text, Text, str]:
        seconds = row.seconds
        if row.state is StepState.RUNNING and row.started_here is not None:
            seconds = time.monotonic() - row.started_here
        title = row.title + (f" ({row.note})" if row.note.startswith("retry") else "")
        style = {StepState.FAILED: "bold red", StepState.RUNNING: "bold", StepState.SKIPPED: "dim"}.get(
            row.state
        )
        icon = _ICONS[row.state]
        # Text, not markup: the title comes from a recipe file or the instance's plan.
        return (
            Text(icon, style=style or ""),
            Text(title, style=style or "", overflow="ellipsis", no_wrap=True),
            _duration(seconds),
        )

    def _show_row(self, row: StepRow) -> None:
        table = self.query_one("#provision-steps", DataTable)
        icon, title, duration = self._cells(row)
        table.update_cell(row.name, "icon", icon)
        table.update_cell(row.name, "title", title)
        table.update_cell(row.name, "time", duration)

    def _tick_running(self) -> None:
        for row in self.steps.values():
            if row.state is StepState.RUNNING:
                self._show_row(row)

    def _finished(self, outcome: RunOutcome) -> None:
        self.query_one("#provision-log", LogView).flush()
        self.outcome = outcome
        if outcome.ok:
            self.query_one("#provision-link", Static).update(
                "Done: every step finished. The environment is ~/d2l (source ~/d2l/bin/activate)."
            )
            self.notify(f"{self.link.label} is set up.", title="Provisioning finished", markup=False)
        elif outcome.not_started:
            self.query_one("#provision-link", Static).update("Connected: no setup has run here.")
            name = self.link.label
            self._show_error(
                "Nothing has been set up on this instance yet. Press p to run the book's steps "
                f"(PyTorch). For another framework: `d2l-tui provision {name} --framework F`; "
                f"only your own steps: `d2l-tui provision {name} --recipe FILE`."
            )
        else:
            from tui.flows.provisioning import failed_step_words

            failed = self.steps.get(outcome.failed_step)
            name = failed.title if failed else outcome.failed_step
            self.query_one("#provision-link", Static).update(
                Text(f"Stopped at '{name}'; the steps after it did not run.")
            )
            self._show_error(
                failed_step_words(outcome, name, failed.hint if failed else "") + "\n"
                "Its output is in the log above (failures in red). Press r to retry it; done steps are skipped."
            )
        self.refresh_bindings()

    def _connection_failed(self, exc: BaseException) -> None:
        self.query_one("#provision-log", LogView).flush()
        self.failure.failed(exc, "Following the setup failed unexpectedly")
        self.outcome = None
        self.link_lost = True
        self.refresh_bindings()

    def _show_error(self, text: str) -> None:
        self.failure.show(text)

    def _hide_error(self) -> None:
        self.failure.hide()

    @property
    def untrusted_key(self) -> str:
        """A host key the server presented that the person may choose to trust (t)."""
        return self.failure.untrusted_key

    # --- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            failed = self.outcome is not None and not self.outcome.ok and not self.outcome.not_started
            # False, not None: a key that can't apply is left out of the footer (it is narrow in the
            # cockpit, beside the lifecycle keys), and comes back when it applies (refresh_bindings).
            return True if failed or self._link_failed() else False
        if action == "trust":
            return True if self.untrusted_key else False
        if action == "setup_book":
            return True if self.outcome is not None and self.outcome.not_started else False
        return True

    def _link_failed(self) -> bool:
        # Its own flag, not a worker: self.workers is the app's, whose first worker was another
        # screen's, or none before this pane's follow started (r showed before it had even tried).
        return self.outcome is None and self.link_lost and not self.untrusted_key

    def action_follow(self) -> None:
        following = self.query_one("#provision-log", LogView).toggle_follow()
        self.notify("Following the end of the log." if following else "Not following: scroll freely.")

    def action_filter(self) -> None:
        box = self.query_one("#provision-filter", Input)
        box.display = True
        box.focus()

    def close_filter(self) -> None:
        """Esc while typing a filter: the filter goes (all lines again), the log keeps the focus."""
        box = self.query_one("#provision-filter", Input)
        box.value = ""
        box.display = False
        view = self.query_one("#provision-log", LogView)
        view.set_filter("")
        view.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "provision-filter":
            return
        view = self.query_one("#provision-log", LogView)
        view.set_filter(event.value)
        if not event.value.strip():
            event.input.display = False
        view.focus()

    def action_retry(self) -> None:
        if self.outcome is not None and not self.outcome.ok:
            self.mode = "retry"
        self.follow()

    def action_setup_book(self) -> None:
        """Where no setup ran: a fresh run of the book's steps for this GPU (the launch's default)."""
        from tui.flows.provisioning import plan_setup
        from tui.services.errors import D2lError

        try:
            run = plan_setup(self.link, self.instance_type, fresh=True)
        except D2lError as exc:  # the user's recipe.toml can't be read: its sentence names the file
            self._show_error(str(exc))
            return
        assert run.recipe is not None
        self.recipe, self.mode = run.recipe, run.mode
        for step in run.recipe.steps:
            if step.name not in self.steps:
                self.steps[step.name] = row = StepRow(step.name, step.title, step.hint)
                self._add_row(row)
        self.query_one(".pane-title", Static).update(self._title())
        self.follow()

    def action_trust(self) -> None:
        if self.failure.trust(self.link):
            self.notify("Host key trusted and pinned for this instance.")
            self.follow()

    def action_save(self) -> None:
        self.save_log()

    @work(group="provision-save", exit_on_error=False)
    async def save_log(self) -> None:
        from tui.logs import private_dir, write_private
        from tui.services.errors import local_file_error
        from tui.services.remote.provision import DEFAULT_REMOTE_DIR, Provisioner

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = paths.state_dir() / "logs" / f"provision-{_safe(self.link.label)}-{stamp}.log"
        try:
            # Logs can hold hostnames, paths and command output: the user's alone (0700 / 0600).
            private_dir(target.parent)
            try:
                conn = await self.link.connect(None)
                try:
                    data = await Provisioner(conn, self.remote_dir or DEFAULT_REMOTE_DIR).read_log()
                finally:
                    conn.close()
                whole = True
            except Exception as exc:  # unreachable: keep what we have rather than nothing
                log.warning("reading the whole log failed: %s", exc)
                view = self.query_one("#provision-log", LogView)
                data = ("\n".join(view.kept) + "\n").encode("utf-8")
                whole = False
            write_private(target, data)
        except OSError as exc:  # a full disk or a read-only home: say so, nothing else is lost
            log.warning("saving the provisioning log failed", exc_info=exc)
            problem = local_file_error(exc)
            self.notify(
                str(problem) if problem else str(exc), title="Log not saved", severity="error", markup=False
            )
            return
        if whole:
            self.notify(str(target), title="Whole log saved", markup=False)
        else:
            self.notify(
                f"{target} (the last {len(view.kept)} lines: the instance couldn't be reached)",
                title="Log saved",
                severity="warning",
                markup=False,
            )


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")[:60] or "instance"
