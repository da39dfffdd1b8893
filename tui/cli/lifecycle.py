"""`d2l-tui stop | start | terminate | image NAME`: the instances screen's s, S, x and i, headless.

Same services as the instances screen, same output rules as `launch` and `ls` (results on stdout,
progress on stderr, a failure as one line)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tui.cli.instance import add_instance_command
from tui.cli.output import PROG, UsageError, say, warn

if TYPE_CHECKING:
    from tui.context import AppContext

log = logging.getLogger(__name__)


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
    from tui.services.cloud import lifecycle
    from tui.services.remote import sshconfig

    aws = ctx.aws
    include = sshconfig.include_path(ctx.key_dir)
    instance = lifecycle.find_instance(aws, args.name, args.region)
    if args.command == "stop":
        after = lifecycle.stop(aws, instance)
        say(
            f"{instance.name} is {after.state}. Its disk is still billed; its public address changes on start."
        )
        drop_alias(include, instance.instance_id)
    elif args.command == "start":
        after = lifecycle.start(aws, instance)
        say(f"{instance.name} is {after.state}; `{PROG} ssh {instance.name}` once it is running.")
    elif args.command == "terminate":
        after = lifecycle.terminate(aws, instance)
        say(f"{instance.name} is {after.state}.")
        drop_alias(include, instance.instance_id)
    else:  # image
        name = args.image_name or lifecycle.default_image_name(instance)
        image_id = lifecycle.create_image(
            aws,
            instance,
            name,
            progress=say,
            poll_interval=0.2 if ctx.simulated else 5.0,
            terminate_after=args.terminate,
        )
        print(image_id, flush=True)
    print(instance.instance_id, flush=True)
    return 0


def drop_alias(include: Path, instance_id: str) -> None:
    """The instance's `ssh d2l-NAME` entry goes (stopped or terminated: its address is released)."""
    from tui.services.remote import sshconfig

    try:
        sshconfig.remove(include, instance_id, on_notice=warn)
    except OSError as exc:
        log.warning("ssh config include %s not updated: %s", include, exc)
        warn(f"the ssh config include {include} could not be updated ({exc.strerror or exc}).")
