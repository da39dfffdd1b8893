"""Modals that guard what costs money or loses data: y/n, type-the-name, and the image name."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from tui.widgets.plain import assemble, plain

MODAL_CSS = """
ConfirmationModal, TypeNameModal, ImageNameModal { align: center middle; }
.modal-box { width: 72; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
.modal-box .modal-title { text-style: bold; padding-bottom: 1; }
.modal-box .modal-error { color: $error; height: auto; }
.modal-box Horizontal { height: auto; align-horizontal: right; padding-top: 1; }
.modal-box Button { margin-left: 1; }
"""


class ConfirmationModal(ModalScreen[bool]):
    """y confirms, n or escape declines."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n", "answer(False)", "No", id="confirm.no", tooltip="Leave it as it is"),
        Binding(
            "escape", "answer(False)", "Cancel", id="confirm.cancel", tooltip="Leave it as it is", show=False
        ),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            # Both name outside things (instances, leftovers, hosts): plain text, never markup.
            yield Static(plain(self.title_text), classes="modal-title")
            yield Static(plain(self.body))
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


# What TypeNameModal answers.
TERMINATE = "terminate"
IMAGE_FIRST = "image-first"


class TypeNameModal(ModalScreen[str | None]):
    """Terminate only once the instance's name is typed; or create an image first."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="terminate.cancel", tooltip="Keep the instance"),
        Binding(
            "ctrl+o",
            "image_first",
            "Image first",
            id="terminate.image",
            tooltip="Save a disk image, then terminate",
        ),
    ]

    def __init__(self, name: str, detail: str) -> None:
        super().__init__()
        self.expected = name
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(plain(f"Terminate {self.expected}?"), classes="modal-title")
            yield Static(
                assemble(
                    f"{self.detail}\nTerminating deletes the instance and its disk: everything on it is lost.\n"
                    "Type ",
                    (self.expected, "bold"),
                    " and press Enter to terminate, or ctrl+o to create an image first.",
                )
            )
            yield Input(placeholder="the name, as shown above", id="typed-name")
            yield Static("", classes="modal-error", id="terminate-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create an image first", id="image-first")
                yield Button("Terminate", id="terminate", variant="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._terminate()

    def _terminate(self) -> None:
        if self.query_one("#typed-name", Input).value.strip() == self.expected:
            self.dismiss(TERMINATE)
        else:
            self.query_one("#terminate-error", Static).update(
                plain(f"The name doesn't match: type {self.expected} exactly, or press Escape to keep it.")
            )

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_image_first(self) -> None:
        self.dismiss(IMAGE_FIRST)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "terminate":
            self._terminate()
        elif event.button.id == "image-first":
            self.dismiss(IMAGE_FIRST)
        else:
            self.dismiss(None)


class ImageNameModal(ModalScreen[tuple[str, bool] | None]):
    """The image's name (prefilled) and whether to terminate the instance once it is available."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="image.cancel", tooltip="Don't create an image")]

    def __init__(self, instance_name: str, default: str, terminate_after: bool = False) -> None:
        super().__init__()
        self.instance_name = instance_name
        self.default = default
        self.terminate_after = terminate_after

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(plain(f"Create an image of {self.instance_name}"), classes="modal-title")
            yield Static(
                "The image keeps the disk (the driver, ~/d2l, the notebooks) as snapshots billed per GB-month; "
                "launch it later from My AMIs. A running instance reboots once while it is taken."
            )
            yield Input(value=self.default, id="image-name")
            yield Checkbox(
                "Terminate the instance once the image is available",
                self.terminate_after,
                id="image-then-terminate",
            )
            yield Static("", classes="modal-error", id="image-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create image", id="create", variant="primary")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._create()

    def _create(self) -> None:
        from tui.services.cloud.lifecycle import validate_image_name

        name = self.query_one("#image-name", Input).value.strip()
        problem = validate_image_name(name)
        if problem:
            self.query_one("#image-error", Static).update(plain(problem))  # quotes what was typed
            return
        self.dismiss((name, self.query_one("#image-then-terminate", Checkbox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._create()
        else:
            self.dismiss(None)
