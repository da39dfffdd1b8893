"""Step 5: the root volume (gp3), 64 GB by default as in the chapter, never below the image."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Static

from tui.screens.base import StepScreen
from tui.screens.wizard_state import MAX_DISK_GIB

# gp3 list price in us-east-1 ($/GB-month); other regions are within ~20%.
GP3_USD_PER_GB_MONTH = 0.08


def validate_disk(text: str, minimum: int) -> tuple[int | None, str]:
    """(size, "") or (None, a sentence saying what to type)."""
    text = text.strip()
    if not text.isdigit():
        return None, f"Type a whole number of GiB, e.g. {max(64, minimum)}."
    size = int(text)
    if size < minimum:
        return None, f"The image needs at least {minimum} GiB (its snapshot size). Type {minimum} or more."
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

    def compose_body(self) -> ComposeResult:
        yield Static("Root volume size (GiB, gp3, encrypted, deleted on terminate):")
        yield Input(id="disk", max_length=8)
        yield Static("", id="disk-cost")

    def on_mount(self) -> None:
        assert self.state.image is not None
        field = self.query_one("#disk", Input)
        field.value = str(self.state.disk_gib or self.state.default_disk())
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        assert self.state.image is not None
        size, problem = validate_disk(event.value, self.state.image.root_gib)
        self.show_error(problem)
        cost = self.query_one("#disk-cost", Static)
        if size is None:
            cost.update("")
        else:
            cost.update(
                f"About ${size * GP3_USD_PER_GB_MONTH:,.2f}/month while it exists "
                f"(image minimum {self.state.image.root_gib} GiB)."
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_next()

    def accept(self) -> str | None:
        assert self.state.image is not None
        size, problem = validate_disk(self.query_one("#disk", Input).value, self.state.image.root_gib)
        if size is None:
            return problem
        self.state.disk_gib = size
        return None
