"""Step 7: every parameter that will be sent, what it costs, and the security defaults."""

from __future__ import annotations

import asyncio
import logging

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Input, Select, Static

from tui.flows import autostop
from tui.flows.launch_plan import OWN_SETUP, default_name, disk_problem
from tui.models import AutostopSetting, Purchase
from tui.screens.base import StepScreen
from tui.services.cloud.ebs_prices import LIST_PRICES, EbsPrices, region_prices
from tui.widgets.plain import plain

log = logging.getLogger(__name__)

# The provisioning run after the launch installs one framework (the book has a notebook set per framework).
FRAMEWORK_OPTIONS = [
    ("PyTorch 2.0 (the book's default)", "pytorch"),
    ("TensorFlow 2.12", "tensorflow"),
    ("JAX 0.4.13", "jax"),
    ("MXNet 1.9.1 (retired to the Apache Attic in 2023)", "mxnet"),
    ("Only my own steps (recipe.toml), not the book's", OWN_SETUP),
]


class ReviewStep(StepScreen):
    STEP = 6
    TITLE_TEXT = "Review and launch"
    NEXT_LABEL = "Launch"
    BINDINGS = [
        Binding("ctrl+n", "next", "Launch", id="wizard.launch", tooltip="Launch with these settings"),
        Binding(
            "ctrl+o",
            "toggle_autostop",
            "Auto-stop",
            id="review.autostop",
            tooltip="Auto-stop off, or back on",
        ),
    ]
    # The disk's cost is painted with the list price at once; the region's own follows (load_prices).
    prices: EbsPrices = LIST_PRICES

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="review-scroll"):
            yield Static("", id="review-table")
            # Compact fields (no border): the form and the cost fit 120×40 with spot's sentences.
            yield Static("Name:")
            yield Input(id="name", max_length=64, compact=True)
            yield Static("Allow SSH (TCP 22) only from:", id="cidr-label")
            yield Input(id="cidr", placeholder="looking up your public IP…", compact=True)
            yield Checkbox("I understand: SSH will be open to the whole internet", id="open-world")
            yield Static("Then set it up for the book with:", id="framework-label")
            yield Select(
                FRAMEWORK_OPTIONS, value=self.state.framework, allow_blank=False, id="framework", compact=True
            )
            yield Static("", id="framework-note")
            yield Static("Stop it by itself when idle for (e.g. 30m, 2h, or off; Ctrl+O toggles):")
            yield Input(self.state.autostop.tag_value.split()[0], id="autostop", compact=True)
            yield Static("", id="autostop-note")
            yield Checkbox(
                "I understand: idle, this spot instance is terminated and its disk deleted", id="spot-idle"
            )
        # Outside the scroll: what it costs (and spot's terms) is never below the fold.
        yield Static("", id="review-cost")
        yield Static("", id="review-placement")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "framework":
            self.render_framework_note(event.value)

    def render_framework_note(self, framework: object) -> None:
        """Own steps only, and no recipe.toml yet: said before the launch, not after it."""
        from tui.services.remote.user_recipe import user_recipe_path

        path = user_recipe_path()
        missing = framework == OWN_SETUP and not path.exists()
        note = self.query_one("#framework-note", Static)
        note.update(
            plain(
                f"There is no {path} yet: nothing will run after the launch until you write it."
                if missing
                else ""
            )
        )
        note.display = missing

    def on_mount(self) -> None:
        self.render_framework_note(self.state.framework)
        assert self.state.gpu_type is not None
        if self.state.name:
            self.query_one("#name", Input).value = self.state.name
        else:
            offered = default_name(self.state.gpu_type.instance_type)
            self.query_one("#name", Input).value = offered
            self.find_free_name(offered)
        self.query_one("#open-world", Checkbox).display = False
        self.render_autostop()
        self.render_review()
        self.load_prices()
        if self.state.ssh_cidr:
            self.query_one("#cidr", Input).value = self.state.ssh_cidr
        else:
            self.lookup_ip()
        if self.state.purchase == Purchase.SPOT:
            self.lookup_placement_score()
        self.query_one("#name", Input).focus()

    @work(exclusive=True, group="free-name", exit_on_error=False)
    async def find_free_name(self, offered: str) -> None:
        """The type's name is offered at once; if an instance in the region has it already, the next
        free one (launch_plan.default_name, as `launch` picks) takes its place, unless it was edited."""
        from tui.services.cloud.lifecycle import names_in_region

        assert self.state.region and self.state.gpu_type
        try:
            in_use = await asyncio.to_thread(names_in_region, self.ctx.aws, self.state.region.name)
        except Exception as exc:  # the name stays the type's: a duplicate is allowed, only less handy
            log.info("names in %s not read: %s", self.state.region.name, exc)
            return
        field = self.query_one("#name", Input)
        if field.value == offered:
            field.value = default_name(self.state.gpu_type.instance_type, in_use)

    @work(exclusive=True, group="placement", exit_on_error=False)
    async def lookup_placement_score(self) -> None:
        # How likely a spot request is to be fulfilled now: worth knowing before launching spot.
        from tui.services.cloud.placement import placement_score

        assert self.state.region and self.state.gpu_type
        line = self.query_one("#review-placement", Static)
        line.update("Reading the spot placement score…")
        score = await asyncio.to_thread(
            placement_score, self.ctx.aws, self.state.region.name, self.state.gpu_type.instance_type
        )
        line.update(plain(score.text))

    @work(exclusive=True, group="ebs-prices", exit_on_error=False)
    async def load_prices(self) -> None:
        assert self.state.region is not None
        # The storage step has usually read them already (the disk cache answers at once), but not
        # when it was left before its price arrived: off the UI thread either way.
        self.prices = await asyncio.to_thread(region_prices, self.ctx.ebs_prices, self.state.region.name)
        self.render_cost()

    @work(exclusive=True, group="public-ip", exit_on_error=False)
    async def lookup_ip(self) -> None:
        ip = await asyncio.to_thread(self.ctx.public_ip)
        field = self.query_one("#cidr", Input)
        if ip and not field.value:
            field.value = f"{ip}/32"
        elif not ip:
            field.placeholder = "e.g. 198.51.100.23/32"
            self.show_error("Couldn't look up your public IP. Type the address (or CIDR) you will SSH from.")

    def render_review(self) -> None:
        state = self.state
        assert state.region and state.gpu_type and state.image and state.key
        t = state.gpu_type
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        spot = state.purchase == Purchase.SPOT
        disk = state.disk_gib or state.default_disk()
        key = state.key
        key_text = f"{key.name} (new ed25519, imported into {state.region.name})" if key.create else key.name
        rows = [
            ("Region", state.region.name),
            (
                "Instance type",
                f"{t.instance_type}: {t.gpu_name} × {t.gpu_count}, {t.vcpus} vCPUs, {t.memory_gib:g} GiB",
            ),
            ("Purchase", "spot (can be interrupted with 2 minutes' notice)" if spot else "on-demand"),
            ("Image", f"{state.image.name} ({state.image.image_id})"),
            ("Root volume", f"{disk} GiB gp3, encrypted, deleted on terminate"),
            ("Key pair", key_text),
            ("Security group", "d2l-tui-ssh-…: inbound TCP 22 only from the address below; nothing else"),
            ("Metadata", "IMDSv2 required (HttpTokens=required)"),
            ("Tags", "d2l-tui:managed=true, d2l-tui:name=<name> on the instance, volume, key and group"),
        ]
        for label, value in rows:
            table.add_row(label, plain(value))  # AMI and key names, from outside: plain
        self.query_one("#review-table", Static).update(table)
        self.render_cost()

    def render_cost(self) -> None:
        state = self.state
        assert state.gpu_type is not None
        t = state.gpu_type
        spot = state.purchase == Purchase.SPOT
        price = t.spot_usd_per_hour if spot else t.ondemand_usd_per_hour
        volume = self.prices.volume_per_month(state.disk_gib or state.default_disk())
        if price is None:
            cost = f"Price unknown for {t.instance_type}. Disk: about ${volume:,.2f}/month."
        else:
            cost = (
                f"Costs about ${price:,.3f}/hour (${price * 24:,.2f}/day) while running, "
                f"plus ${volume:,.2f}/month for the disk while it exists, running or stopped."
            )
        if spot:
            cost += (
                "\nSpot: the lowest price in the region lately; it moves with demand. AWS can take the "
                "instance back with 2 minutes' notice: it is then terminated and its disk deleted, so keep "
                "work you need elsewhere (git, S3)."
            )
        cost += self.quota_warning()
        self.query_one("#review-cost", Static).update(cost)

    def quota_warning(self) -> str:
        """A sentence when the chosen type is known not to fit its vCPU quota ("" when it fits or is unknown)."""
        from tui.services.cloud.quotas import fit

        t = self.state.gpu_type
        assert t is not None
        fits, short = fit(t, self.state.quotas, self.state.purchase)
        if fits is not False:
            return ""
        return (
            f"\n[b]The {t.bucket} {self.state.purchase.value} vCPU limit is {short:g} short for {t.instance_type}:[/b] "
            "AWS will refuse the launch. Go back to Limits (Escape) and press i to request an increase."
        )

    def _autostop_typed(self) -> AutostopSetting:
        """What the auto-stop field says, keeping the cap chosen elsewhere; ValueError: its sentence."""
        idle = autostop.parse_idle(self.query_one("#autostop", Input).value)
        return AutostopSetting(idle, self.state.autostop.max_hours)

    def render_autostop(self) -> None:
        spot = self.state.purchase == Purchase.SPOT
        try:
            setting = self._autostop_typed()
        except ValueError as exc:
            note, setting = str(exc), AutostopSetting()
        else:
            note = autostop.describe(setting, spot)
            minute_s = self._simulated_minute_s()
            if setting.on and minute_s:
                note += f" In this simulated cloud a minute of it lasts {minute_s:g} s."
        self.query_one("#autostop-note", Static).update(plain(note))
        self.query_one("#spot-idle", Checkbox).display = spot and setting.on

    def _simulated_minute_s(self) -> float | None:
        """--demo runs the agent with short minutes (tui/demo/cloud.py), so its stop comes soon."""
        hosts = getattr(self.ctx.cloud, "hosts", None)
        return getattr(hosts, "agent_minute_s", None)

    def action_toggle_autostop(self) -> None:
        field = self.query_one("#autostop", Input)
        on = field.value.strip().lower() != "off"
        field.value = "off" if on else f"{autostop.DEFAULT_IDLE_MINUTES}m"
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "autostop":
            self.clear_error()
            self.render_autostop()
        if event.input.id == "cidr":
            self.clear_error()
            tick = self.query_one("#open-world", Checkbox)
            tick.value = False  # a tick agrees to the source it was given for, not to the next one typed
            tick.display = self._wide_source(event.value)

    def _wide_source(self, text: str) -> bool:
        """Whether `text` opens SSH wider than a /24 (or /48), however it is written; names what the
        tick then agrees to."""
        from tui.services.cloud.network import WHOLE_INTERNET_WARNING, validate_cidr
        from tui.services.errors import InputError

        try:
            cidr, warning = validate_cidr(text)
        except InputError:
            return False
        if warning:
            agree = "the whole internet" if warning == WHOLE_INTERNET_WARNING else f"all of {cidr}"
            self.query_one("#open-world", Checkbox).label = f"I understand: SSH will be open to {agree}"
        return warning is not None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "name":
            self.query_one("#cidr", Input).focus()
        else:
            self.action_next()

    def accept(self) -> str | None:
        from tui.services.cloud.keys import validate_key_name
        from tui.services.cloud.network import validate_cidr
        from tui.services.errors import InputError

        name = self.query_one("#name", Input).value.strip()
        # Instance names become file names (ssh config, known_hosts entries): same rules as key names.
        problem = validate_key_name(name)
        if problem:
            return problem.replace("Key names", "Names").replace("key name", "name")
        try:
            cidr, warning = validate_cidr(self.query_one("#cidr", Input).value)
        except InputError as exc:
            return str(exc)
        if warning and not self.query_one("#open-world", Checkbox).value:
            self.query_one("#open-world", Checkbox).display = self._wide_source(cidr)
            return f"{warning} Tick the box to confirm, or type your own address."
        try:
            setting = self._autostop_typed()
        except ValueError as exc:
            return str(exc)
        problem = autostop.spot_problem(
            self.state.purchase == Purchase.SPOT, setting, self.query_one("#spot-idle", Checkbox).value
        )
        if problem:
            return f"{problem} Tick the box to agree, or type off."
        self.state.autostop = setting
        self.state.name = name
        self.state.ssh_cidr = cidr
        framework = self.query_one("#framework", Select).value
        framework = framework if isinstance(framework, str) else "pytorch"
        image = self.state.image
        assert image is not None
        disk = self.state.disk_gib or self.state.default_disk()
        too_small = framework != OWN_SETUP and disk_problem(disk, image.kind, image.root_gib)
        if too_small:  # the storage step let it through for "own steps only", now changed here
            return (
                f"The disk is {disk} GiB. {too_small} Press Esc back to Storage for a larger disk, "
                "or choose 'Only my own steps' as the setup."
            )
        self.state.framework = framework
        return None
