"""Step 8: RunInstances, then live status until the instance answers; the ssh command one key away."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Log, Static

from tui.models import Instance, LaunchProgress, LaunchSpec
from tui.services.errors import D2lError
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.plain import assemble, plain
from tui.widgets.step_header import StepHeader

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)


class LaunchScreen(Screen[str]):
    """Dismissed with "back" (to the review, after a failure), "again" (a new launch) or "limits" (the
    launch hit a vCPU limit: the limits step, with the increase request for this type opened)."""

    BINDINGS = [
        Binding("c", "copy_ssh", "Copy ssh command", id="launch.copy", tooltip="Copy the ssh command"),
        Binding("escape", "back", "Back to review", id="launch.back", tooltip="Change something and retry"),
        Binding("n", "again", "New launch", id="launch.again", tooltip="Start the wizard again"),
        Binding(
            "l",
            "limits",
            "Request increase",
            id="launch.limits",
            tooltip="Open the limits step with the increase request for this type",
        ),
    ]

    def __init__(
        self, ctx: AppContext, spec: LaunchSpec, client_token: str, framework: str = "pytorch"
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.spec = spec
        self.client_token = client_token
        self.framework = framework  # what the provisioning run after the launch installs
        self.instance: Instance | None = None
        self.finished = False
        self.failed = False
        self.quota_failed = False  # the failure was a vCPU / instance limit

    def compose(self) -> ComposeResult:
        yield StepHeader(7, self.ctx.simulated)
        with Vertical(id="step-body"):
            yield Static(
                plain(f"Launching {self.spec.name} ({self.spec.instance_type} in {self.spec.region})"),
                id="step-title",
            )
            yield LoadingIndicator(id="launch-spinner")
            yield Log(id="launch-log", max_lines=500)
            yield Static("", id="step-error")
            yield Static("", id="launch-result")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.run_launch()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_ssh":
            return (
                True
                if self.instance and self.instance.state == "running" and self.instance.public_dns
                else False
            )
        if action == "back":
            return True if self.failed else False
        if action == "again":
            return True if self.finished else False
        if action == "limits":
            return True if self.quota_failed else False
        return True

    def _progress(self, event: LaunchProgress) -> None:
        # Called from the launch thread: hand the line to the event loop.
        self.app.call_from_thread(self._show_progress, event)

    def _show_progress(self, event: LaunchProgress) -> None:
        self.query_one("#launch-log", Log).write_line(event.message)
        if event.instance is not None:
            self.instance = event.instance
            self.ctx.sightings.saw(event.instance, self.ctx.clock())
            self.refresh_bindings()

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def run_launch(self) -> None:
        from tui.services.cloud.launch import launch

        worker_cancelled = self._cancelled
        try:
            instance = launch(
                self.ctx.aws,
                self.spec,
                self._progress,
                client_token=self.client_token,
                cancelled=worker_cancelled,
                key_dir=self.ctx.key_dir,
            )
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._succeeded, instance)

    def _cancelled(self) -> bool:
        from textual.worker import get_current_worker

        try:
            return get_current_worker().is_cancelled
        except Exception:
            return False

    def _failed(self, exc: BaseException) -> None:
        self.query_one("#launch-spinner").display = False
        self.query_one("#step-title", Static).update(
            plain(f"{self.spec.name} was not launched ({self.spec.instance_type} in {self.spec.region})")
        )
        self.failed = True
        if isinstance(exc, D2lError):
            log.warning("launch failed: %s (code=%s request=%s)", exc, exc.code, exc.request_id)
            message = str(exc)
        else:
            log.error("launch failed", exc_info=exc)
            message = "The launch failed unexpectedly. Details are in the log file."
        from tui.services.errors import QuotaError

        self.quota_failed = isinstance(exc, QuotaError)
        keys = "Press l to request a higher limit now, or Escape" if self.quota_failed else "Press Escape"
        error = self.query_one("#step-error", Static)
        error.update(plain(f"{message}\n{keys} to go back to the review."))  # AWS's words: plain
        error.add_class("visible")
        self.refresh_bindings()

    def _show_result(self, instance: Instance | None) -> None:
        """What the launched instance is now: running with its ssh command, or its state (a stop or
        start changes the address; a terminate ends it), never a command that can't work."""
        result = self.query_one("#launch-result", Static)
        launched = self.instance
        self.instance = instance
        if instance is None:
            gone = launched.instance_id if launched else self.spec.name
            result.update(assemble((gone, "bold"), " no longer exists: it was terminated."))
        elif instance.state != "running" or not (instance.public_dns or instance.public_ip):
            result.update(
                assemble(
                    (instance.instance_id, "bold"),
                    f" is {instance.state}. Its ssh command (and address) comes with the next start: "
                    "ctrl+l, then Enter on it.",
                )
            )
        else:
            command = self._ssh_command(instance)
            result.update(
                assemble(
                    (instance.instance_id, "bold"),
                    " is running at ",
                    (instance.public_dns or instance.public_ip or "-", "bold"),
                    f"\n\n  {command}\n\nPress c to copy the ssh command.",  # a key path: plain
                )
            )
        self.refresh_bindings()

    def on_screen_resume(self) -> None:
        # Back from the cockpit: it may have stopped, started (a new address) or terminated it.
        if self.finished and self.instance is not None:
            self.reread_instance(self.instance)

    @work(thread=True, exclusive=True, group="launch-reread", exit_on_error=False)
    def reread_instance(self, instance: Instance) -> None:
        from tui.services.cloud.lifecycle import describe_one

        try:
            now = describe_one(self.ctx.aws, instance.region, instance.instance_id)
        except Exception as exc:  # AWS not answering: the last words stay, the log says why
            log.warning("could not re-read %s: %s", instance.instance_id, exc)
            return
        self.app.call_from_thread(self._show_result, now)

    def _succeeded(self, instance: Instance) -> None:
        self.instance = instance
        self.ctx.sightings.saw(instance, self.ctx.clock())
        self.finished = True
        self.query_one("#launch-spinner").display = False
        self._show_result(instance)
        self.notify(f"{instance.name} is ready.", title="Launched", markup=False)
        if self.ctx.provision_after_launch:
            key = self.spec.key.private_key_path or self.key_path()
            open_provisioning(
                self.app,
                self.ctx,
                instance,
                Path(key) if key else None,
                framework=self.framework,
            )

    def key_path(self) -> str | None:
        from tui.services.cloud.keys import find_private_key

        found = find_private_key(self.spec.key.name, self.ctx.key_dir)
        return str(found) if found else None

    def _ssh_command(self, instance: Instance) -> str:
        """The same command as the instances screen's: the app's key and known_hosts, checked
        against the keys pinned for this instance (ssh asks, showing the fingerprint, until then)."""
        from tui.services.remote.sshconfig import ssh_command

        key = self.spec.key.private_key_path or self.key_path()
        return ssh_command(instance, Path(key) if key else None, user=self.spec.image.username)

    def action_copy_ssh(self) -> None:
        if self.instance is None:
            return
        command = self._ssh_command(self.instance)
        self.app.copy_to_clipboard(command)  # OSC 52: works over SSH and without a display
        self.copy_with_pyperclip(command)
        self.notify(command, title="Copied to the clipboard", markup=False)

    @work(thread=True, group="clipboard", exit_on_error=False)
    def copy_with_pyperclip(self, text: str) -> None:
        from tui.services.clipboard import copy_text

        copy_text(text)

    def action_back(self) -> None:
        if self.failed:
            self.dismiss("back")

    def action_limits(self) -> None:
        if self.quota_failed:
            self.dismiss("limits")

    def action_again(self) -> None:
        if self.finished:
            self.dismiss("again")


def open_provisioning(
    app: App[Any],
    ctx: AppContext,
    instance: Instance,
    key_path: Path | None,
    *,
    framework: str = "pytorch",
) -> None:
    """Right after a launch: the instance's cockpit on its Setup pane, running the book's recipe
    (plus the user's own steps) afresh."""
    from tui.flows.provisioning import plan_setup
    from tui.screens.cockpit import CockpitScreen

    link = ctx.instance_link(instance, key_path)
    try:
        setup = plan_setup(link, instance.instance_type, fresh=True, framework=framework)
    except D2lError as exc:
        # The instance is up all the same (e.g. "own steps only" and no recipe.toml): its cockpit,
        # with the sentence that says why no setup runs.
        app.push_screen(CockpitScreen(ctx, instance, pane="details", key=key_path))
        app.notify(str(exc), severity="error", timeout=15, markup=False)
        return
    cockpit = CockpitScreen(
        ctx, instance, pane="setup", recipe=setup.recipe, setup_mode=setup.mode, key=key_path
    )
    app.push_screen(cockpit)
