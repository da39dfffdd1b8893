"""Step 5: the root volume (gp3), 64 GB by default as in the chapter, never below the image."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Static

from tui.flows.launch_plan import BOOK_SETUP_DISK_GIB, MAX_DISK_GIB, OWN_SETUP, disk_problem, minimum_disk
from tui.models import ImageChoice
from tui.screens.base import StepScreen
from tui.services.cloud.ebs_prices import LIST_PRICES, EbsPrices, region_prices
from tui.widgets.plain import plain


def validate_disk(text: str, image: ImageChoice, *, book_setup: bool = True) -> tuple[int | None, str]:
    """(size, "") or (None, a sentence saying what to type)."""
    minimum, _ = minimum_disk(image.kind, image.root_gib, book_setup=book_setup)
    text = text.strip()
    if not text.isdigit():
        return None, f"Type a whole number of GiB, e.g. {max(64, minimum)}."
    size = int(text)
    problem = disk_problem(size, image.kind, image.root_gib, book_setup=book_setup)
    if problem:
        own = minimum_disk(image.kind, image.root_gib, book_setup=False)[0]
        if book_setup and size >= own:  # only the book's floor refuses it: say the way around it
            return None, f"{problem} Type {minimum} or more, or tick 'Only my own setup steps'."
        return None, f"{problem} Type {minimum} or more."
    if size > MAX_DISK_GIB:
        return None, f"A gp3 volume can be at most {MAX_DISK_GIB} GiB."
    return size, ""


class StorageStep(StepScreen):
    STEP = 4
    TITLE_TEXT = "Storage"
    HELP_TEXT = (
        "The root volume holds the driver, the Python environment, the notebooks and your data. "
        "It is billed while the instance is stopped too."
    )
    # The cost is painted with the list price at once; the region's own follows (load_prices).
    prices: EbsPrices = LIST_PRICES

    def compose_body(self) -> ComposeResult:
        yield Static("Root volume size (GiB, gp3, encrypted, deleted on terminate):")
        yield Input(id="disk", max_length=8)
        yield Static("", id="disk-cost")
        yield Checkbox(
            f"Only my own setup steps (recipe.toml): no {BOOK_SETUP_DISK_GIB} GiB floor",
            value=self.state.framework == OWN_SETUP,
            id="own-setup",
        )

    def on_mount(self) -> None:
        assert self.state.image is not None
        field = self.query_one("#disk", Input)
        field.value = str(self.state.disk_gib or self.state.default_disk())
        field.focus()
        self.load_prices()

    @work(exclusive=True, group="ebs-prices", exit_on_error=False)
    async def load_prices(self) -> None:
        assert self.state.region is not None
        # The Pricing API may take seconds on the first visit (cached on disk after): off the UI thread.
        self.prices = await asyncio.to_thread(region_prices, self.ctx.ebs_prices, self.state.region.name)
        self.paint_cost(self.query_one("#disk", Input).value)

    @property
    def book_setup(self) -> bool:
        return self.state.framework != OWN_SETUP

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        # The review's setup choice follows (and may set it back to a framework, checked there).
        if event.value:
            self.state.framework = OWN_SETUP
        elif self.state.framework == OWN_SETUP:
            self.state.framework = "pytorch"
        self._revalidate(self.query_one("#disk", Input).value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._revalidate(event.value)

    def _revalidate(self, typed: str) -> None:
        assert self.state.image is not None
        _, problem = validate_disk(typed, self.state.image, book_setup=self.book_setup)
        self.show_error(problem)
        self.paint_cost(typed)

    def paint_cost(self, typed: str) -> None:
        assert self.state.image is not None
        size, _ = validate_disk(typed, self.state.image, book_setup=self.book_setup)
        cost = self.query_one("#disk-cost", Static)
        if size is None:
            cost.update("")
            return
        cost.update(  # the price source names a file or an API: plain
            plain(
                f"About ${self.prices.volume_per_month(size):,.2f}/month while it exists "
                f"(at least {minimum_disk(self.state.image.kind, self.state.image.root_gib, book_setup=self.book_setup)[0]} GiB "
                "on this image).\n"
                f"gp3 at ${self.prices.gp3_gb_month:.3f} per GB-month: {self.prices.source}."
            )
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    def accept(self) -> str | None:
        assert self.state.image is not None
        size, problem = validate_disk(
            self.query_one("#disk", Input).value, self.state.image, book_setup=self.book_setup
        )
        if size is None:
            return problem
        self.state.disk_gib = size
        return None
