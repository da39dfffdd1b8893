"""`d2l-tui ssh NAME` (a shell on the instance, through the system's ssh) and `d2l-tui ssh-config`
(`Host d2l-NAME` entries, so plain `ssh d2l-NAME` works)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from tui.cli.instance import add_instance_command
from tui.cli.output import PROG, say, warn

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance
    from tui.services.cloud.aws import Aws


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    what = "open a shell on an instance"
    ssh = add_instance_command(sub, common, "ssh", what)
    ssh.add_argument("--print", action="store_true", help="print the ssh command instead of running it")
    ssh.add_argument("ssh_args", nargs="*", metavar="-- SSH_ARGS", help="after --: passed on to ssh")
    ssh.set_defaults(handler=run_ssh)


def add_config_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    config = sub.add_parser(
        "ssh-config",
        parents=[common],
        help="write `Host d2l-NAME` entries for running instances (ssh d2l-NAME)",
        description="Write the app's ssh config include file (one Host per running instance) and print its path. "
        "With --install, also add one Include line to ~/.ssh/config (asked for, never done silently).",
    )
    config.add_argument("--install", action="store_true", help="add the Include line to ~/.ssh/config")
    config.set_defaults(handler=run_ssh_config)


def run_ssh(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.flows.reach import key_for
    from tui.services.cloud import lifecycle
    from tui.services.errors import InputError
    from tui.services.remote import sshconfig

    instance = lifecycle.find_instance(ctx.aws, args.name, args.region)
    if not lifecycle.can("ssh", instance):
        raise InputError(
            f"{instance.name} is {instance.state} and has no public address to ssh to.",
            f"Start it with `{PROG} start {instance.name}`."
            if instance.state == "stopped"
            else "Wait a moment and try again.",
        )
    key = key_for(instance, ctx.key_dir, check=True)  # OpenSSH would refuse a loose one with a wall of @s
    if not args.print:
        _pin_from_console(ctx.aws, instance)
    argv = sshconfig.ssh_argv(instance, key)
    extra = [a for a in args.ssh_args if a != "--"] if args.ssh_args else []
    if args.print:
        import shlex

        print(shlex.join(argv + extra), flush=True)
        return 0
    sshconfig.known_hosts_path().parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    os.execvp(argv[0], argv + extra)  # the shell is ssh's: nothing of ours stays running
    return 0  # not reached: execvp replaces this process


def _pin_from_console(aws: Aws, instance: Instance) -> None:
    """Pin the host keys from the console output before the first login (ssh then checks them
    strictly); when the console has none, ssh asks the person, showing the fingerprint."""
    from tui.services.remote.instance_link import console_wait_s, known_hosts
    from tui.services.remote.ssh import ensure_pinned

    check = ensure_pinned(aws, instance, known_hosts(), timeout_s=console_wait_s(instance), on_wait=say)
    if not check.pinned:
        say("The console output shows no host key yet: ssh will show the server's fingerprint and ask you.")


def run_ssh_config(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.services.cloud.keys import find_private_key
    from tui.services.cloud.lifecycle import list_managed
    from tui.services.remote import sshconfig

    listing = list_managed(ctx.aws, [args.region] if args.region else None)
    instances = listing.instances
    keys = {i.key_name: find_private_key(i.key_name, ctx.key_dir) for i in instances if i.key_name}
    include = sshconfig.include_path(ctx.key_dir)
    # A region that did not answer keeps its hosts: not seen is not gone.
    sshconfig.sync(include, instances, keys, complete=listing.complete and not args.region, on_notice=warn)
    if not listing.complete:
        from tui.models import unanswered_words

        say(f"{unanswered_words(listing.failed)}: its hosts were left as they were.")
    hosts = sorted(sshconfig.read_blocks(include))
    say(f"{len(hosts)} host(s): {', '.join(hosts) or 'none running'}")
    if args.install:
        added = sshconfig.install_include(include)
        say(f"{'Added' if added else 'Already there:'} `{sshconfig.include_line(include)}` in ~/.ssh/config.")
    elif not sshconfig.include_installed(include):
        say(
            f"To use `ssh d2l-NAME`, run `{PROG} ssh-config --install` (adds one Include line to ~/.ssh/config)."
        )
    print(include, flush=True)
    return 0
