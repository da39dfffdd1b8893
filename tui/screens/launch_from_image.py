"""Launching from a saved image: the wizard again, with "My AMIs" and that image chosen.

The instances screen sets the wizard's state (region and image) and closes. The wizard loop
re-creates each step from that state, so the wizard is walked back to its first step: the region
step highlights the image's region and the image step the image itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App

from tui.models import ImageChoice, Region
from tui.screens.base import BACK, StepScreen

if TYPE_CHECKING:
    from tui.screens.wizard_state import WizardState

# The wizard loop pushes the previous step a few frames after a step is dismissed.
_REWIND_TRY_S = 0.05
_REWIND_TRIES = 100


def choose_image(state: WizardState, region: str, image: ImageChoice) -> None:
    """What the wizard would hold had the user picked ``image`` under My AMIs in ``region``."""
    if state.region is None or state.region.name != region:
        state.region = Region(name=region)  # the region step replaces it with the measured one
        state.quotas = []  # another region's limits
    if state.gpu_type is not None and state.gpu_type.arch != image.arch:
        state.gpu_type = None  # an x86_64 image can't boot an arm64 type: the user picks again
    state.image = image
    state.disk_gib = None  # the disk defaults from the image's root size


def rewind_wizard(app: App[Any], tries: int = _REWIND_TRIES) -> None:
    """Walk the wizard back to its first step; each step on the way is re-created from the state."""
    screen = app.screen
    if not isinstance(screen, StepScreen):
        # Between a step's dismissal and the next push, or a launch screen: wait a little, then stop.
        if tries > 0:
            app.set_timer(_REWIND_TRY_S, lambda: rewind_wizard(app, tries - 1))
        return
    if screen.STEP > 0:
        screen.dismiss(BACK)
        app.set_timer(_REWIND_TRY_S, lambda: rewind_wizard(app, tries - 1))
        return
    # The first step was already showing (it wasn't re-created): have it read the state again.
    reload = getattr(screen, "action_reload", None)
    if callable(reload):
        reload()
