"""The App: start-up (credentials or the simulated cloud), then the launch wizard.

Start-up paints first and imports boto3 (and moto, for --demo) in a worker afterwards, so the
first frame is not held up by the heavy imports.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from tui.context import AppContext, make_context
from tui.screens.base import BACK, StepScreen
from tui.screens.wizard_state import WizardState
from tui.widgets.calm_loading import CalmLoadingIndicator
from tui.widgets.keys_footer import KeysFooter

if TYPE_CHECKING:
    # Handlers are found by name (on_launch_from_image_chosen): the classes are only annotations.
    from tui.messages import InstancesListed, LaunchFromImageChosen
    from tui.models import Instance

log = logging.getLogger(__name__)

CHECKING = "Checking your AWS credentials…"
OPENING = "Opening your instances…"


def wizard_steps() -> list[type[StepScreen]]:
    from tui.screens.gpu_type import GpuTypeStep
    from tui.screens.image import ImageStep
    from tui.screens.keypair import KeyPairStep
    from tui.screens.limits import LimitsStep
    from tui.screens.region import RegionStep
    from tui.screens.review import ReviewStep
    from tui.screens.storage import StorageStep

    return [RegionStep, LimitsStep, GpuTypeStep, ImageStep, StorageStep, KeyPairStep, ReviewStep]


class D2lApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "d2l-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave d2l-tui", priority=True),
        # Every key of the screen, with what it does: at 80 columns the footer can't hold them all.
        Binding(
            "question_mark",
            "toggle_keys",
            "Keys",
            id="app.keys",
            tooltip="Show or hide every key of this screen",
        ),
        Binding(
            "ctrl+l",
            "instances",
            "Instances",
            id="app.instances",
            tooltip="Every instance d2l-tui launched, what it costs, and its actions (Escape: back)",
        ),
    ]

    def __init__(
        self,
        ctx: AppContext | None = None,
        *,
        demo: bool = False,
        profile: str | None = None,
        region: str | None = None,
        instances: bool = False,
        wizard: tuple[WizardState, type[StepScreen]] | None = None,
        open_instance: Instance | None = None,
    ) -> None:
        """``wizard``: start the wizard on that step with the earlier steps' choices already in the
        state (as after Back from a later step); by default it starts on the region step."""
        super().__init__()
        self.ctx = ctx
        self.demo = demo
        self.profile = profile
        self.region = region
        self.state = wizard[0] if wizard else WizardState()
        self._first_step = wizard[1] if wizard else None
        self.credentials_ok = False  # the instances screen needs working credentials
        self.open_instances = instances or open_instance is not None  # the instances screen over the wizard
        self.open_instance = open_instance  # `open NAME`: its cockpit over the instances screen at start
        self._quota_news_asked = False
        self._instances_closed: asyncio.Event | None = None  # set when `--instances`' first screen closes
        self._wizard_from_start = False  # launch from an image: the loop goes back to the first step
        opening = OPENING if self.open_instances and not demo else CHECKING
        self._starting_status = Static("Starting the simulated cloud…" if demo else opening)

    def compose(self) -> ComposeResult:
        with Vertical(id="starting"):
            yield self._starting_status
            yield CalmLoadingIndicator()
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.open_instances and not self.demo:
            # `--instances` on AWS: that screen is the first frame, painting last time's list. Its
            # own listing proves the credentials (when every region fails it says why), so the
            # identity round trip and the quota-request news wait (on_instances_screen_listed).
            # The light starting screen paints first (as the wizard's does): building the table,
            # its styles and keys took as long again as the whole first frame.
            self.open_instances = False
            self._instances_closed = asyncio.Event()
            self.call_after_refresh(self._open_instances_first)
        # After the first frame: the worker imports boto3 (and moto) in a thread, and the GIL it
        # holds while importing would otherwise delay the first paint.
        self.call_after_refresh(self.run_wizard)

    def _open_instances_first(self) -> None:
        from tui.screens.instances import InstancesScreen

        closed = self._instances_closed
        assert closed is not None
        self.push_screen(InstancesScreen(self._aws_context()), lambda _: closed.set())
        if self.open_instance is not None:
            from tui.screens.cockpit import CockpitScreen

            # Escape leaves the cockpit for the list, as when it was opened from there.
            self.push_screen(CockpitScreen(self._aws_context(), self.open_instance))

    def _aws_context(self) -> AppContext:
        if self.ctx is None:
            self.ctx = make_context(self.profile, self.region, demo=False)
        return self.ctx

    async def _app_context(self) -> AppContext:
        if self.ctx is None and self.demo:
            # Starting moto imports it and blocks: in a thread, the first frame is already painted.
            self.ctx = await asyncio.to_thread(make_context, self.profile, self.region, True)
        return self._aws_context()

    async def _ensure_credentials(self) -> bool:
        """True to go on; False when the user chose to quit."""
        from tui.screens.credentials import CredentialsScreen
        from tui.services.errors import D2lError

        while True:
            ctx = await self._app_context()
            try:
                identity = await self._identity(ctx)
                log.info("AWS identity: %s (simulated=%s)", identity, ctx.simulated)
                return True
            except D2lError as exc:  # credentials, or no answer at all (network, AWS_ENDPOINT_URL)
                log.warning("credentials: %s", exc)
                choice = await self.push_screen(CredentialsScreen(exc), wait_for_dismiss=True)
            if choice == "quit":
                return False
            if choice == "demo":
                self.demo = True
                self.ctx = None

    async def _identity(self, ctx: AppContext) -> str:
        """The identity check, saying after a few seconds without an answer what it waits for: a
        silent network is not a spinner forever."""
        from tui.widgets.patience import no_answer_words, while_silent

        def still_checking(waited: float) -> None:
            if not ctx.simulated:
                self._starting_status.update(f"{CHECKING} {no_answer_words(waited)} Ctrl+Q quits.")

        patience = while_silent(self, still_checking)
        try:
            return await asyncio.to_thread(ctx.aws.identity)
        finally:
            patience.stop()
            if not ctx.simulated:
                self._starting_status.update(CHECKING)  # as it was, for a retry

    @work(exclusive=True, group="wizard", exit_on_error=False)
    async def run_wizard(self) -> None:
        from tui.screens.launch_view import LaunchScreen
        from tui.screens.limits import LimitsStep

        if self._instances_closed is not None:
            await self._instances_closed.wait()  # `--instances`: the wizard starts after it
        if not await self._ensure_credentials():
            self.exit()
            return
        self.credentials_ok = True
        self.report_quota_requests()
        self.refresh_bindings()
        ctx = await self._app_context()
        if self.open_instances:
            # `--instances`: that screen alone first (the region step's ~20 region queries would
            # compete with its own); Escape then lands where a plain start would have.
            from tui.screens.instances import InstancesScreen

            await self.push_screen(InstancesScreen(ctx), wait_for_dismiss=True)
        steps = wizard_steps()
        index = steps.index(self._first_step) if self._first_step else 0
        open_request = False
        while True:
            if open_request and steps[index] is LimitsStep:
                # A launch refused by a vCPU limit: the limits step opens the increase request.
                screen: StepScreen = LimitsStep(ctx, self.state, open_request=True)
            else:
                screen = steps[index](ctx, self.state)
            open_request = False
            result = await self.push_screen(screen, wait_for_dismiss=True)
            if self._wizard_from_start:
                # Launch from an image changed the state: every step is re-created from it.
                self._wizard_from_start = False
                index = 0
                continue
            if result == BACK:
                index = max(0, index - 1)
                continue
            if index < len(steps) - 1:
                index += 1
                continue
            launch_screen = LaunchScreen(
                ctx, self.state.spec(), self.state.client_token(), framework=self.state.framework
            )
            outcome = await self.push_screen(launch_screen, wait_for_dismiss=True)
            if outcome == "again":
                self.state = WizardState(region=self.state.region, quotas=self.state.quotas)
                index = 0
            elif outcome == "limits":
                index = steps.index(LimitsStep)
                open_request = True
            # "back": stay on the review step with every choice kept

    def on_launch_from_image_chosen(self, event: LaunchFromImageChosen) -> None:
        from tui.screens.launch_from_image import choose_image

        choose_image(self.state, event.region, event.image)
        self.notify(
            f"Launching from {event.image.name} ({event.image.image_id}) in {event.region}: check each step.",
            markup=False,
        )
        self._wizard_from_start = True
        if isinstance(self.screen, StepScreen):
            # The instances screen is gone (popped at once); the step under it ends, and the wizard
            # loop starts again at the first step. Not on a step: the loop does so after the next one.
            self.screen.dismiss(BACK)

    def on_instances_listed(self, _: InstancesListed) -> None:
        # AWS answered the instances screen: the credentials work (`--instances` skipped the check).
        self.credentials_ok = True
        self.report_quota_requests()
        self.refresh_bindings()

    def report_quota_requests(self) -> None:
        """Once per run: open (or lately decided) GPU quota requests in the home region."""
        if not self._quota_news_asked:
            self._quota_news_asked = True
            self._report_quota_requests()

    @work(thread=True, exit_on_error=False, group="quota-requests")
    def _report_quota_requests(self) -> None:
        """As one notification. Only news: a failure is logged and start-up goes on as if there
        were none."""
        from tui.services.cloud.request_news import notice, requests_to_report

        try:
            if self.ctx is None:
                return
            region = self.ctx.aws.home_region
            requests = requests_to_report(self.ctx.aws, region)
            if requests:
                # notify() touches the app's widgets: from this thread, only via call_from_thread.
                self.call_from_thread(self.notify, notice(requests, region), timeout=20, markup=False)
        except Exception:
            log.warning("start-up check of quota requests failed", exc_info=True)

    # -- the instances screen: reachable from anywhere once credentials work; Escape comes back --

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "instances":
            return True if self.credentials_ok and self.ctx is not None else False
        return True

    def action_toggle_keys(self) -> None:
        from textual.widgets import HelpPanel

        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_instances(self) -> None:
        from tui.screens.instance_actions import InstanceActions
        from tui.screens.instances import InstancesScreen

        if self.ctx is None or not self.credentials_ok or isinstance(self.screen, InstancesScreen):
            return
        below = self.screen_stack[-2] if len(self.screen_stack) > 1 else None
        if isinstance(self.screen, InstanceActions) and isinstance(below, InstancesScreen):
            self.screen.dismiss(None)  # a cockpit opened from the list: back to that list
            return
        self.push_screen(InstancesScreen(self.ctx))

    def action_bench_results(self) -> None:
        from tui.screens.bench_results import BenchResultsScreen

        self.push_screen(BenchResultsScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        from tui.screens.bench_results import BenchResultsScreen
        from tui.screens.instance_actions import InstanceActions

        yield from super().get_system_commands(screen)
        if self.check_action("instances", ()) and not isinstance(screen, InstanceActions):
            yield SystemCommand(
                "Instances", "Every instance d2l-tui launched, with costs", self.action_instances
            )
        if isinstance(screen, InstanceActions):
            yield from screen.palette_commands()  # every key that applies now, gated like the footer
        if not isinstance(screen, BenchResultsScreen):
            yield SystemCommand(
                "Benchmark results",
                "Every benchmark run compared across types: speed, $ per epoch, scaling",
                self.action_bench_results,
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place for worker failures; the default branch catches workers nobody else handles.
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("worker %s failed", event.worker.name, exc_info=error)
        from tui.services.errors import D2lError

        if isinstance(error, D2lError):
            self.notify(str(error), severity="error", timeout=10, markup=False)  # AWS's words: plain
        else:
            self.notify("Something went wrong; details are in the log file.", severity="error", timeout=10)

    def get_loading_widget(self) -> Widget:
        return CalmLoadingIndicator()  # every `widget.loading = True` in the app

    def farewell(self) -> list[str]:
        """What to say once the screen is gone: the instances last seen running (services/sightings)."""
        from tui.services.sightings import farewell

        if self.ctx is None or self.ctx.simulated:
            return []
        return farewell(self.ctx.sightings.billed())

    async def on_unmount(self) -> None:
        if self.ctx is not None:
            await self.ctx.aclose()  # tunnels' local ports, the simulated cloud (Jupyter stays)


def make_app(ctx: AppContext | None = None, **kwargs: Any) -> D2lApp:
    return D2lApp(ctx, **kwargs)


def run_app(args: argparse.Namespace) -> int:
    from tui.logs import setup_logging

    setup_logging()
    app = make_app(
        demo=bool(getattr(args, "demo", False)),
        profile=getattr(args, "profile", None),
        region=getattr(args, "region", None),
        instances=bool(getattr(args, "instances", False)),
        open_instance=getattr(args, "open_instance", None),
    )
    from tui.leaving import run_then_leave

    return run_then_leave(app, then=lambda: print_farewell(app))


def print_farewell(app: D2lApp) -> None:
    """Quitting stops nothing on AWS: name what was last seen running (never for --demo, whose cloud
    ends with the app)."""
    try:
        for line in app.farewell():
            print(line, file=sys.stderr)
    except OSError:  # the terminal is gone (closed window): nobody is there to read it
        log.info("quit reminder not printed: no terminal")
