"""The wizard's state as accepting every earlier step's default leaves it, made with the service
calls those steps make: a test whose subject is a later step starts the app there
(``make_app(ctx, wizard=choices_before(ctx, Step))``) instead of walking from the region step.

One walk from the region step per behaviour stays where the walk is the subject (the keys-only
launch in tests/ui/test_wizard.py, the step pictures' own region and limits steps).
"""

from __future__ import annotations

from tests.ui.driving import LATENCIES
from tui.app import D2lApp, make_app, wizard_steps
from tui.context import AppContext
from tui.models import KeyChoice, Region
from tui.screens.base import StepScreen
from tui.screens.gpu_type import RECOMMENDED_TYPE
from tui.screens.keypair import DEFAULT_KEY_NAME
from tui.screens.wizard_state import WizardState
from tui.services.cloud.catalog import gpu_types
from tui.services.cloud.images import image_options
from tui.services.cloud.keys import find_private_key
from tui.services.cloud.quotas import read_quotas
from tui.services.cloud.regions import count_gpu_offerings

REGION = "us-east-1"  # the nearest by tests.ui.driving's fixed latencies: the region step's default


def choices_before(ctx: AppContext, step: type[StepScreen]) -> tuple[WizardState, type[StepScreen]]:
    """The state the wizard holds on reaching ``step`` with the defaults, and that step."""
    aws = ctx.aws
    done = wizard_steps().index(step)  # how many steps were accepted before it
    state = WizardState()
    if done > 0:  # the region step
        count = count_gpu_offerings(aws, REGION)
        state.region = Region(REGION, LATENCIES[REGION], count, simulated=aws.simulated)
    if done > 1:  # the limits step
        state.quotas = read_quotas(aws, REGION)
    if done > 2:  # the GPU type step: the recommended type
        catalog = gpu_types(aws, REGION, ctx.pricebook)
        state.gpu_type = next(t for t in catalog.types if t.instance_type == RECOMMENDED_TYPE)
    if done > 3:  # the image step: the first image offered
        images, _ = image_options(aws, REGION, state.gpu_type.arch)  # type: ignore[union-attr]
        state.image = images[0]
    if done > 4:  # the storage step: the image's default size
        state.disk_gib = state.default_disk()
    if done > 5:  # the key pair step: a new pair
        local = find_private_key(DEFAULT_KEY_NAME, ctx.key_dir)
        state.key = KeyChoice(
            name=DEFAULT_KEY_NAME, private_key_path=str(local) if local else None, create=True
        )
    return state, step


def app_on(ctx: AppContext, step: str) -> D2lApp:
    """The app that starts on the wizard step named ``step`` (a class name), defaults chosen before it."""
    first = next(s for s in wizard_steps() if s.__name__ == step)
    return make_app(ctx, wizard=choices_before(ctx, first))
