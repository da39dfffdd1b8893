"""What every command on one instance shares (stop, start, terminate, image, ssh, provision, tunnel,
gpu): its parser and NAME argument; for those that reach it over SSH, --trust-host-key, the link to the
instance, and the explicit trust-on-first-use rule."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from tui.cli.output import PROG, say

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.services.remote.instance_link import InstanceLink
    from tui.services.remote.ssh import HostKeyUnknown

FRAMEWORKS = ("pytorch", "tensorflow", "jax", "mxnet")
T = TypeVar("T")


NAME_HELP = "the instance's name (or id), as `d2l-tui ls` shows it"
Subparsers = argparse._SubParsersAction  # argparse's own type for what add_subparsers returns


def add_instance_command(
    sub: Subparsers[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    command: str,
    what: str,
    *,
    over_ssh: bool = False,
) -> argparse.ArgumentParser:
    """`d2l-tui COMMAND NAME …`: `what` is its --help line (and, capitalised, its description);
    commands that connect over SSH also take --trust-host-key."""
    parser = sub.add_parser(
        command, parents=[common], help=what, description=what[0].upper() + what[1:] + "."
    )
    if over_ssh:
        add_instance_arguments(parser)
    else:
        parser.add_argument("name", metavar="NAME", help=NAME_HELP)
    return parser


def add_instance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help=NAME_HELP)
    parser.add_argument(
        "--trust-host-key",
        action="store_true",
        help="when the console output shows no host key, trust the one the server presents (first use only)",
    )


def add_framework_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """--framework (provision: what the setup installs; tunnel: whose notebooks Jupyter serves)."""
    parser.add_argument(
        "--framework", default="pytorch", choices=FRAMEWORKS, help=f"{what} (default: pytorch)"
    )


def link_for(args: argparse.Namespace, ctx: AppContext) -> InstanceLink:
    """An InstanceLink to the instance named on the command line, its private key checked (a loose
    or planted key: the sentence and the chmod, not a login)."""
    from tui.flows.reach import find_link

    return find_link(ctx, args.name, args.region)


def trust_or_refuse(link: InstanceLink, exc: HostKeyUnknown, trust: bool) -> bool:
    """A HostKeyUnknown: pin the presented key when --trust-host-key was given (True: try again),
    else say how to trust it and refuse (False). Only ever the first time: a key that changes
    after pinning is HostKeyChanged, which nothing here accepts."""
    if not trust:
        say(f"{PROG}: {exc.what}")
        say(f"Run again with --trust-host-key to trust {exc.fingerprint} (only if you expect it).")
        return False
    link.trust(exc.presented)
    say(f"Trusted and pinned {exc.fingerprint} for {link.label}.")
    return True


async def trusting_once(link: InstanceLink, trust: bool, attempt: Callable[[], Awaitable[T]]) -> T | None:
    """``attempt()`` (something that connects through ``link``); when the host key is unknown, pin
    it and attempt again if --trust-host-key was given, once, else refuse (say how): None."""
    from tui.services.remote.ssh import HostKeyUnknown

    while True:
        try:
            return await attempt()
        except HostKeyUnknown as exc:
            if not trust_or_refuse(link, exc, trust):
                return None
            trust = False  # once: a key that changes after this is refused
