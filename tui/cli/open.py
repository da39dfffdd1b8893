"""`d2l-tui open NAME`: the app, started on that instance's cockpit.

The CLI never imports the app (contract cli-headless): this command only finds the instance, with
the same sentences as every other command on one instance, and leaves it on ``args.open_instance``
for tui/__main__.py (above both doors) to start the app on. A name that matches nothing, a region
that does not answer, an instance being terminated: one line and exit status 1, no app.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.cli.instance import add_instance_command
from tui.cli.output import PROG, UsageError

if TYPE_CHECKING:
    from tui.context import AppContext


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = add_instance_command(sub, common, "open", "open the app on an instance's cockpit")
    parser.set_defaults(handler=run, check=_check_demo)


def _check_demo(args: argparse.Namespace) -> None:
    if args.demo:
        # Each --demo run is a new, empty simulated cloud: no NAME can be in it yet.
        raise UsageError(
            f"--demo starts a new, empty simulated cloud, so it has no instance named {args.name!r} to open. "
            f"Run `{PROG} --demo`, launch one, and press Enter on it in the instances list (Ctrl+L)."
        )


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.services.cloud import lifecycle
    from tui.services.errors import InputError

    instance = lifecycle.find_instance(ctx.aws, args.name, args.region)
    if instance.state in ("shutting-down", "terminated"):
        raise InputError(
            f"{instance.name or instance.instance_id} is being terminated; there is nothing to open.",
            f"See `{PROG} ls`.",
        )
    args.open_instance = instance  # tui/__main__.py starts the app on it
    return 0
