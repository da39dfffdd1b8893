"""Step 4: the image: Deep Learning AMI (driver and CUDA preinstalled), plain Ubuntu, or My AMIs."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.models import ImageChoice, ImageKind
from tui.screens.base import StepScreen
from tui.widgets.plain import plain

KIND_TITLES = {
    ImageKind.DLAMI: "Deep Learning AMI (NVIDIA driver and CUDA preinstalled)",
    ImageKind.UBUNTU_2404: "Ubuntu 24.04 (CUDA installed by d2l-tui)",
    ImageKind.UBUNTU_2204: "Ubuntu 22.04 (CUDA installed by d2l-tui)",
    ImageKind.MY_AMI: "My AMI",
    ImageKind.CUSTOM: "Image",
}


def image_prompt(image: ImageChoice) -> Text:
    text = Text(KIND_TITLES[image.kind], style="bold")
    date = image.creation_date[:10]
    text.append(
        f"\n  {image.name}\n  {image.image_id} · {image.arch} · root {image.root_gib} GiB", style="dim"
    )
    if date:
        text.append(f" · built {date}", style="dim")
    return text


class ImageStep(StepScreen):
    STEP = 3
    TITLE_TEXT = "Choose an image"
    HELP_TEXT = (
        "The Deep Learning AMI saves the 10+ minutes of installing the NVIDIA driver. "
        "Plain Ubuntu boots smaller; d2l-tui installs the driver for you."
    )
    BINDINGS = [Binding("r", "reload", "Refresh", id="image.reload", tooltip="Look the images up again")]

    def compose_body(self) -> ComposeResult:
        yield OptionList(id="images")
        yield Static("", id="image-notes")

    def on_mount(self) -> None:
        self.images: list[ImageChoice] = []
        self.action_reload()

    def action_reload(self) -> None:
        self.clear_error()
        self.query_one("#images", OptionList).loading = True
        self.load_images()

    @work(exclusive=True, group="images", exit_on_error=False)
    async def load_images(self) -> None:
        from tui.services.cloud.images import image_options

        options = self.query_one("#images", OptionList)
        assert self.state.region and self.state.gpu_type
        try:
            self.images, problems = await asyncio.to_thread(
                image_options, self.ctx.aws, self.state.region.name, self.state.gpu_type.arch
            )
        except Exception as exc:
            self.show_exception(exc, "looking up images")
            return
        finally:
            options.loading = False
        options.clear_options()
        options.add_options([Option(image_prompt(i), id=i.image_id) for i in self.images])
        self.query_one("#image-notes", Static).update(plain("\n".join(problems)))  # AWS's words: plain
        chosen = self.state.image.image_id if self.state.image else None
        index = next((n for n, i in enumerate(self.images) if i.image_id == chosen), 0)
        if self.images:
            options.highlighted = index
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_next()

    def accept(self) -> str | None:
        options = self.query_one("#images", OptionList)
        if not self.images or options.highlighted is None:
            return "No image is available yet. Press r to look again, or go back and pick another type."
        image = self.images[options.highlighted]
        if self.state.image is None or self.state.image.image_id != image.image_id:
            self.state.disk_gib = None  # a new image resets the disk to its default size
        self.state.image = image
        return None
