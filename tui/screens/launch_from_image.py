"""Launching from a saved image: the wizard again, with "My AMIs" and that image chosen.

The instances screen posts ``LaunchFromImageChosen`` and closes; the app's wizard loop applies
``choose_image`` to its state and starts again at the first step, re-creating each step from that
state: the region step highlights the image's region and the image step the image itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.models import ImageChoice, Region

if TYPE_CHECKING:
    from tui.screens.wizard_state import WizardState


def choose_image(state: WizardState, region: str, image: ImageChoice) -> None:
    """What the wizard would hold had the user picked ``image`` under My AMIs in ``region``."""
    if state.region is None or state.region.name != region:
        state.region = Region(name=region)  # the region step replaces it with the measured one
        state.quotas = []  # another region's limits
    if state.gpu_type is not None and state.gpu_type.arch != image.arch:
        state.gpu_type = None  # an x86_64 image can't boot an arm64 type: the user picks again
    state.image = image
    state.disk_gib = None  # the disk defaults from the image's root size
