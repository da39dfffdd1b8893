"""Setting an instance up for the book, the decisions both doors share: which run to follow (a
fresh run of which recipe, or whatever run the instance already has) and how a failed step is said.

The run itself lives on the instance (services/remote/provision: follow_run); the provisioning
screen and `d2l-tui provision` each follow it and present its lines their own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.models import Recipe
    from tui.services.remote.instance_link import Link
    from tui.services.remote.provision import Mode, RunOutcome


@dataclass(frozen=True)
class SetupRun:
    link: Link
    recipe: Recipe | None  # None: follow the run already on the instance, start nothing
    mode: Mode


def plan_setup(
    link: Link, instance_type: str, *, fresh: bool, framework: str = "pytorch", only: Path | None = None
) -> SetupRun:
    """A fresh run of the book's recipe for this GPU and framework (plus the user's own steps; with
    ``only``, just that file's), or a reattach. A recipe that can't be read raises its D2lError.

    ``framework`` OWN_SETUP (the launch chose "only my own steps"): the user's recipe.toml alone; an
    InputError when there is none, so nothing runs that the user did not write."""
    if not fresh:
        return SetupRun(link, None, "reattach")
    from tui.flows.launch_plan import OWN_SETUP
    from tui.services.remote.provision import recipe_for

    if framework == OWN_SETUP:
        return SetupRun(link, own_recipe(simulated=link.simulated, name=link.label), "fresh")

    recipe = recipe_for(instance_type, framework, simulated=link.simulated, only=only)
    return SetupRun(link, recipe, "fresh")


def own_recipe(*, simulated: bool, name: str = "NAME") -> Recipe:
    """The user's recipe.toml alone (printed, not run, on the simulated cloud)."""
    from tui.services.errors import InputError
    from tui.services.remote.recipe import compose
    from tui.services.remote.user_recipe import load_recipe_file, user_recipe_path

    path = user_recipe_path()
    if not path.exists():
        raise InputError(
            f"No setup ran: this launch asked for your own steps only, and {path} does not exist.",
            f"Write your steps there, then run: d2l-tui provision {name} --recipe {path}",
        )
    return compose(None, load_recipe_file(path), "pytorch", simulated=simulated)


def failed_step_words(outcome: RunOutcome, title: str, hint: str = "") -> str:
    """ "Step 'Install the driver' failed (exit code 2). <the step's hint>"."""
    return f"Step '{title}' failed (exit code {outcome.rc}). {hint}".rstrip()
