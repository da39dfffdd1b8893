"""What the commands that reach one instance over SSH share (provision, tunnel, gpu): the NAME and
--trust-host-key arguments, the link to the instance, and the explicit trust-on-first-use rule."""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROG = "d2l-tui"


def add_instance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the instance's name (or id), as `d2l-tui ls` shows it")
    parser.add_argument(
        "--trust-host-key",
        action="store_true",
        help="when the console output shows no host key, trust the one the server presents (first use only)",
    )


def link_for(args: argparse.Namespace, make_aws: Any, key_dir: Any) -> Any:
    """An InstanceLink to the instance named on the command line, with its key pair's private key."""
    from tui.services import lifecycle
    from tui.services.instance_link import InstanceLink, known_hosts
    from tui.services.keys import check_key, find_private_key

    aws = make_aws(args)
    instance = lifecycle.find_instance(aws, args.name, args.region)
    key = find_private_key(instance.key_name, key_dir(args)) if instance.key_name else None
    if key is not None:
        check_key(key, key_dir(args))  # a loose or planted key: the sentence and the chmod, not a login
    return InstanceLink(aws, instance, key, known_hosts())


def trust_or_refuse(link: Any, exc: Any, trust: bool) -> bool:
    """A HostKeyUnknown: pin the presented key when --trust-host-key was given (True: try again),
    else say how to trust it and refuse (False). Only ever the first time: a key that changes
    after pinning is HostKeyChanged, which nothing here accepts."""
    if not trust:
        note(f"{PROG}: {exc.what}")
        note(f"Run again with --trust-host-key to trust {exc.fingerprint} (only if you expect it).")
        return False
    link.trust(exc.presented)
    note(f"Trusted and pinned {exc.fingerprint} for {link.label}.")
    return True


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
