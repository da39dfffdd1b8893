"""`d2l-tui stop | start | terminate | image NAME`: the instances screen's s, S, x and i, headless.

The same flow as the instances screen (tui/flows/instance_ops: the AWS call and what follows it),
the same output rules as `launch` and `ls` (results on stdout, progress on stderr, a failure as one
line, a local follow-up that failed as a warning with exit status 0)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.cli.instance import add_instance_command
from tui.cli.output import PROG, UsageError, say, warn

if TYPE_CHECKING:
    from tui.context import AppContext


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    for command, what in (
        ("stop", "stop an instance (its disk stays, and is billed)"),
        ("start", "start a stopped instance"),
        ("terminate", "terminate an instance and delete its disk (needs --yes)"),
        ("image", "save an instance's disk as an image (My AMIs)"),
    ):
        parser = add_instance_command(sub, common, command, what)
        if command == "terminate":
            parser.add_argument("--yes", action="store_true", help="go ahead: everything on its disk is lost")
            parser.set_defaults(check=_check_terminate)
        if command == "image":
            parser.add_argument("--image-name", help="the image's name (default: NAME-YYYYmmdd-HHMM)")
            parser.add_argument(
                "--terminate", action="store_true", help="terminate the instance once the image is available"
            )
            parser.add_argument("--yes", action="store_true", help="needed with --terminate")
            parser.set_defaults(check=_check_image)
        parser.set_defaults(handler=run)


def _check_terminate(args: argparse.Namespace) -> None:
    if not args.yes:
        raise UsageError(f"terminate deletes {args.name} and everything on its disk. Add --yes to go ahead.")


def _check_image(args: argparse.Namespace) -> None:
    if args.terminate and not args.yes:
        raise UsageError("--terminate deletes the instance once the image is made. Add --yes to go ahead.")


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.flows.instance_ops import InstanceOps
    from tui.services.cloud import lifecycle

    ops = InstanceOps.of(ctx, on_notice=warn)
    instance = lifecycle.find_instance(ctx.aws, args.name, args.region)
    if args.command == "image":
        outcome = ops.create_image(instance, args.image_name, terminate_after=args.terminate, progress=say)
        print(outcome.image_id, flush=True)
    else:
        outcome = ops.act(args.command, instance)
        say(outcome.summary + _AFTER.get(args.command, "").format(name=instance.name, prog=PROG))
    print(instance.instance_id, flush=True)
    return 0


# What a script's reader needs to know next, after the summary.
_AFTER = {
    "stop": " Its disk is still billed; its public address changes on start.",
    "start": " `{prog} ssh {name}` once it is running.",
}
