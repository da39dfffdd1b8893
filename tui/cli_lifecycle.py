"""The headless lifecycle commands: stop | start | terminate | image NAME, ssh NAME, ssh-config.

Same services as the instances screen, same output rules as `launch` and `ls` (results on stdout,
progress on stderr, a failure as one line). Split from cli.py to keep each file readable.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.services.ebs_prices import EbsLookup

PROG = "d2l-tui"
log = logging.getLogger(__name__)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    from tui import cli_gpu, cli_provision, cli_tunnel

    cli_provision.add_command(sub, common)
    cli_tunnel.add_command(sub, common)
    cli_gpu.add_command(sub, common)
    for command, what in (
        ("stop", "stop an instance (its disk stays, and is billed)"),
        ("start", "start a stopped instance"),
        ("terminate", "terminate an instance and delete its disk (needs --yes)"),
        ("image", "save an instance's disk as an image (My AMIs)"),
        ("ssh", "open a shell on an instance"),
    ):
        parser = sub.add_parser(
            command, parents=[common], help=what, description=what[0].upper() + what[1:] + "."
        )
        parser.add_argument(
            "name", metavar="NAME", help="the instance's name (or id), as `d2l-tui ls` shows it"
        )
        if command == "terminate":
            parser.add_argument("--yes", action="store_true", help="go ahead: everything on its disk is lost")
        if command == "image":
            parser.add_argument("--image-name", help="the image's name (default: NAME-YYYYmmdd-HHMM)")
            parser.add_argument(
                "--terminate", action="store_true", help="terminate the instance once the image is available"
            )
            parser.add_argument("--yes", action="store_true", help="needed with --terminate")
        if command == "ssh":
            parser.add_argument(
                "--print", action="store_true", help="print the ssh command instead of running it"
            )
            parser.add_argument(
                "ssh_args", nargs="*", metavar="-- SSH_ARGS", help="after --: passed on to ssh"
            )
    cleanup = sub.add_parser(
        "cleanup",
        parents=[common],
        help="delete the app's leftovers: unused security groups, key pairs, volumes, snapshots (needs --yes)",
        description="Delete what d2l-tui made that nothing uses any more. Saved images are kept (delete them "
        "in the app, key D). Key pairs are deleted in AWS only: the private key files stay. Without --yes: "
        "lists what would be deleted.",
    )
    cleanup.add_argument("--yes", action="store_true", help="go ahead and delete them")
    config = sub.add_parser(
        "ssh-config",
        parents=[common],
        help="write `Host d2l-NAME` entries for running instances (ssh d2l-NAME)",
        description="Write the app's ssh config include file (one Host per running instance) and print its path. "
        "With --install, also add one Include line to ~/.ssh/config (asked for, never done silently).",
    )
    config.add_argument("--install", action="store_true", help="add the Include line to ~/.ssh/config")


COMMANDS = (
    "stop",
    "start",
    "terminate",
    "image",
    "ssh",
    "ssh-config",
    "cleanup",
    "provision",
    "tunnel",
    "gpu",
)


def run_command(args: argparse.Namespace, make_aws: Any, key_dir: Any, usage_error: type[Exception]) -> int:
    from tui.services import lifecycle, sshconfig

    if args.command == "terminate" and not args.yes:
        raise usage_error(f"terminate deletes {args.name} and everything on its disk. Add --yes to go ahead.")
    if args.command == "image" and args.terminate and not args.yes:
        raise usage_error("--terminate deletes the instance once the image is made. Add --yes to go ahead.")
    if args.command in ("provision", "tunnel", "gpu"):
        from tui import cli_gpu, cli_provision, cli_tunnel

        module = {"provision": cli_provision, "tunnel": cli_tunnel, "gpu": cli_gpu}[args.command]
        return int(module.run(args, make_aws, key_dir))
    aws = make_aws(args)
    keys_dir = key_dir(args)
    include = sshconfig.include_path(keys_dir)
    if args.command == "ssh-config":
        return _ssh_config(aws, args, keys_dir)
    if args.command == "cleanup":
        return _cleanup(aws, args, usage_error)
    instance = lifecycle.find_instance(aws, args.name, args.region)
    say = _say
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
    elif args.command == "image":
        name = args.image_name or lifecycle.default_image_name(instance)
        image_id = lifecycle.create_image(
            aws,
            instance,
            name,
            progress=say,
            poll_interval=0.2 if args.demo else 5.0,
            terminate_after=args.terminate,
        )
        print(image_id, flush=True)
    else:
        return _ssh(aws, args, instance, keys_dir)
    print(instance.instance_id, flush=True)
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def warn(sentence: str) -> None:
    """A local follow-up failed after AWS did the work: one line, and the exit code stays 0 (the
    instance's state is the outcome; a script retrying on 1 would stop or launch twice)."""
    _say(f"{PROG}: warning: {sentence}")


def drop_alias(include: Any, instance_id: str) -> None:
    """The instance's `ssh d2l-NAME` entry goes (stopped or terminated: its address is released)."""
    from tui.services import sshconfig

    try:
        sshconfig.remove(include, instance_id, on_notice=warn)
    except OSError as exc:
        log.warning("ssh config include %s not updated: %s", include, exc)
        warn(f"the ssh config include {include} could not be updated ({exc.strerror or exc}).")


def _ssh(aws: Any, args: argparse.Namespace, instance: Any, key_dir: Any) -> int:
    from tui.services import lifecycle, sshconfig
    from tui.services.errors import InputError
    from tui.services.keys import check_key, find_private_key

    if not lifecycle.can("ssh", instance):
        raise InputError(
            f"{instance.name} is {instance.state} and has no public address to ssh to.",
            f"Start it with `{PROG} start {instance.name}`."
            if instance.state == "stopped"
            else "Wait a moment and try again.",
        )
    key = find_private_key(instance.key_name, key_dir) if instance.key_name else None
    if key is not None:
        check_key(key, key_dir)  # OpenSSH would refuse it with a wall of @s; say the one command instead
    if not args.print:
        _pin_from_console(aws, instance)
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


def _pin_from_console(aws: Any, instance: Any) -> None:
    """Pin the host keys from the console output before the first login (ssh then checks them
    strictly); when the console has none, ssh asks the person, showing the fingerprint."""
    from tui.services.instance_link import console_wait_s, known_hosts
    from tui.services.ssh import ensure_pinned

    check = ensure_pinned(aws, instance, known_hosts(), timeout_s=console_wait_s(instance), on_wait=_say)
    if not check.pinned:
        _say("The console output shows no host key yet: ssh will show the server's fingerprint and ask you.")


def _ssh_config(aws: Any, args: argparse.Namespace, key_dir: Any) -> int:
    from tui.services import sshconfig
    from tui.services.keys import find_private_key
    from tui.services.lifecycle import list_managed

    listing = list_managed(aws, [args.region] if args.region else None)
    instances = listing.instances
    keys = {i.key_name: find_private_key(i.key_name, key_dir) for i in instances if i.key_name}
    include = sshconfig.include_path(key_dir)
    # A region that did not answer keeps its hosts: not seen is not gone.
    sshconfig.sync(include, instances, keys, complete=listing.complete and not args.region, on_notice=warn)
    if not listing.complete:
        from tui.models import unanswered_words

        _say(f"{unanswered_words(listing.failed)}: its hosts were left as they were.")
    hosts = sorted(sshconfig.read_blocks(include))
    _say(f"{len(hosts)} host(s): {', '.join(hosts) or 'none running'}")
    if args.install:
        added = sshconfig.install_include(include)
        _say(
            f"{'Added' if added else 'Already there:'} `{sshconfig.include_line(include)}` in ~/.ssh/config."
        )
    elif not sshconfig.include_installed(include):
        _say(
            f"To use `ssh d2l-NAME`, run `{PROG} ssh-config --install` (adds one Include line to ~/.ssh/config)."
        )
    print(include, flush=True)
    return 0


def ebs_prices(aws: Any, args: argparse.Namespace) -> EbsLookup:
    """Each region's EBS prices as the app reads them (Pricing API, cached beside the app's GPU
    prices); --demo: the list prices, the simulated cloud has no Pricing API."""
    from tui import paths
    from tui.services.catalog import PriceBook

    return PriceBook(aws, paths.cache_dir(), offline=bool(args.demo)).ebs


def leftovers_table(items: list[Any]) -> str:
    """The leftovers as `ls` prints its instances: aligned columns, a header, the monthly total."""
    from tui.services.costs import money
    from tui.services.leftovers import LABELS, monthly

    header = ("KIND", "NAME", "REGION", "ID", "$/MONTH", "DETAIL")
    rows = [header] + [
        (LABELS[x.kind], x.name or "-", x.region, x.resource_id, money(x.usd_per_month), x.detail)
        for x in items
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([*lines, f"Total: {money(monthly(items), '/month')}"])


def _cleanup(aws: Any, args: argparse.Namespace, usage_error: type[Exception]) -> int:
    from tui.cli import INCOMPLETE
    from tui.models import unanswered_words
    from tui.services.costs import money
    from tui.services.leftovers import bulk, clean_up, find_leftovers, monthly

    listing = find_leftovers(aws, [args.region] if args.region else None, ebs_prices(aws, args))
    # A region that did not answer may hold leftovers too: say so, whatever else happens.
    gaps = (
        ""
        if listing.complete
        else f"{PROG}: {unanswered_words(listing.failed)}: its leftovers are not listed. "
        f"Run `{PROG} cleanup` again later, or pass --region."
    )
    found = listing.items
    doomed = bulk(found)
    kept = len(found) - len(doomed)
    if kept:
        _say(f"{kept} saved image(s) kept; delete them in the app (instances screen, key D).")
    if not doomed:
        print(
            "Nothing to clean up" + ("." if listing.complete else " in the regions that answered."),
            flush=True,
        )
        if gaps:
            _say(gaps)
            return INCOMPLETE
        return 0
    print(leftovers_table(doomed), flush=True)
    if gaps:
        _say(gaps)
    if not args.yes:
        raise usage_error(f"cleanup deletes the {len(doomed)} resource(s) above. Add --yes to go ahead.")
    results = clean_up(aws, doomed, progress=_say)
    failed = [r for r in results if r.error is not None]
    saved = monthly(r.leftover for r in results if r.error is None)
    _say(f"Deleted {len(results) - len(failed)} of {len(results)}, saving {money(saved, '/month')}.")
    if failed:
        from tui.services.errors import D2lError

        raise D2lError(f"{len(failed)} could not be deleted: {failed[0].error}", "")
    return 0 if listing.complete else INCOMPLETE
