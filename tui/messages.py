"""App-wide Textual messages: what a screen tells the app (past tense, plain data).

A screen never imports the app: it posts one of these to ``self.app`` and the app, which owns the
wizard's state and its step stack, decides what follows. Messages that stay inside one screen
(a GPU sample for the GPU panel) live beside that screen.
"""

from __future__ import annotations

from textual.message import Message

from tui.models import ImageChoice


class InstancesListed(Message):
    """AWS answered the instances screen's first complete listing (so the credentials work)."""


class LaunchFromImageChosen(Message):
    """The user chose to launch from a saved image: the wizard starts again with it chosen."""

    def __init__(self, region: str, image: ImageChoice) -> None:
        super().__init__()
        self.region = region
        self.image = image
