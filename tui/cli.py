"""The headless commands: `d2l-tui launch … --yes` and `d2l-tui ls`, for scripts.

They compose the same services the wizard uses and never import Textual. Output: results on stdout
(the instance id and the ssh command; the table or JSON), progress on stderr, and any failure as one
line on stderr, "d2l-tui: <what happened> <what to do>", exit status 1. Tracebacks, AWS request ids
and error codes go to the log file only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tui.models import ImageKind, Instance, InstanceListing, KeyChoice, LaunchProgress, LaunchSpec

log = logging.getLogger(__name__)

PROG = "d2l-tui"
DEFAULT_KEY_NAME = "d2l-tui"
MIN_DEFAULT_DISK_GIB = 64  # room for conda, a framework and the book's data sets
MAX_DISK_GIB = 16384  # gp3's limit
NOTICE_AFTER_S = 1.0  # a headless wait says what it waits for after this long, then every
NOTICE_EVERY_S = 10.0  # this many seconds how long it has been waiting
IMAGE_KINDS = {
    "dlami": ImageKind.DLAMI,
    "ubuntu": ImageKind.UBUNTU_2404,
    "ubuntu-24.04": ImageKind.UBUNTU_2404,
    "ubuntu-22.04": ImageKind.UBUNTU_2204,
}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")


# Exit status of a listing (ls, ls --leftovers, cleanup) that some regions did not answer: what was
# printed is what the other regions said, and the missing regions are named on stderr.
INCOMPLETE = 4
EXIT_CODES = (
    "Exit status: 0 done, 1 failed, 2 refused (bad arguments, or --yes missing), "
    f"{INCOMPLETE} incomplete (some regions did not answer: they are named on stderr, and the list "
    "may miss what runs there), 130 interrupted."
)


class _UsageError(Exception):
    """Refused before anything is sent; exit status 2 like argparse's own errors."""


def _region_arg(text: str) -> str:
    if not _REGION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a region name like us-east-1")
    return text


def _type_arg(text: str) -> str:
    if not _INSTANCE_TYPE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an instance type like g4dn.xlarge")
    return text


def _disk_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of GiB") from None
    if not 1 <= value <= MAX_DISK_GIB:
        raise argparse.ArgumentTypeError(f"the disk must be 1 to {MAX_DISK_GIB} GiB")
    return value


def _image_arg(text: str) -> str:
    if text.lower() in IMAGE_KINDS or _AMI.match(text):
        return text.lower()
    raise argparse.ArgumentTypeError(f"choose {', '.join(IMAGE_KINDS)} or an ami-… id, not {text!r}")


def build_parser() -> argparse.ArgumentParser:
    # The global options are accepted before or after the command (`d2l-tui --region X ls` and
    # `d2l-tui ls --region X`); SUPPRESS keeps a subcommand from resetting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS, help="use the embedded simulated cloud"
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="AWS profile (default: the usual chain)")
    common.add_argument(
        "--region", type=_region_arg, default=argparse.SUPPRESS, help="AWS region (default: the profile's)"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Launch and use an AWS GPU instance for Dive into Deep Learning. "
        "Without a command: the interactive app.",
        epilog=EXIT_CODES,
    )
    # Only for the app (no command): start on the instances screen once the credentials check passes.
    parser.add_argument(
        "--instances", action="store_true", help="open the instances screen at start (Escape: the wizard)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    launch = sub.add_parser(
        "launch",
        parents=[common],
        help="launch an instance (no questions asked: needs --yes)",
        description="Launch a GPU instance as the wizard would, then print its id and the ssh command.",
    )
    launch.add_argument(
        "--type", dest="instance_type", required=True, type=_type_arg, help="e.g. g4dn.xlarge"
    )
    launch.add_argument(
        "--disk", type=_disk_arg, metavar="GIB", help="root disk (default: 64, or the image's size if larger)"
    )
    launch.add_argument(
        "--image",
        type=_image_arg,
        default="dlami",
        help="dlami (default), ubuntu, ubuntu-22.04 or an ami-… id",
    )
    launch.add_argument("--key", default=DEFAULT_KEY_NAME, help="key pair name (created if needed)")
    launch.add_argument("--ssh-cidr", help="who may SSH in (default: your public IP /32)")
    launch.add_argument(
        "--allow-wide-ssh",
        action="store_true",
        help="let --ssh-cidr be wider than a /24 (IPv6: /48), up to the whole internet",
    )
    launch.add_argument("--spot", action="store_true", help="a one-time spot instance")
    launch.add_argument("--name", help="instance name (default: d2l-<type>-<random>)")
    launch.add_argument("--yes", action="store_true", help="go ahead: the instance is billed by the hour")

    ls = sub.add_parser(
        "ls",
        parents=[common],
        help="list the app's instances in every enabled region",
        description="List the instances d2l-tui manages (in --region only, when given).",
        epilog=EXIT_CODES,
    )
    ls.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    ls.add_argument(
        "--leftovers",
        action="store_true",
        help="also list unused resources and saved images, with $/month (table only)",
    )

    from tui.cli_lifecycle import add_commands

    add_commands(sub, common)  # stop | start | terminate | image NAME, ssh NAME, ssh-config
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line as a Namespace with every global option present (demo, profile, region,
    command), wherever it was given."""
    args = build_parser().parse_args(argv)
    # Not set_defaults: the parents share their Action objects, so a default set on the top parser
    # would also reset, in the subcommand, a value given before it.
    for name, default in (("demo", False), ("profile", None), ("region", None), ("command", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# The simulated cloud started for --demo: held until the command ends (moto stops when it is dropped).
_clouds: list[Any] = []


def _make_aws(args: argparse.Namespace) -> Any:
    if args.demo:
        from tui.demo.cloud import SimulatedCloud

        cloud = SimulatedCloud()
        _clouds.append(cloud)
        return cloud.start()
    from tui.services.aws import Aws

    return Aws(profile=args.profile, region=args.region)


def _key_dir(args: argparse.Namespace) -> Path:
    if args.demo:
        from tui import paths

        # Simulated key pairs belong to no real account: keep them out of ~/.ssh (as the app does).
        return paths.state_dir() / "simulated-ssh"
    from tui.services.keys import DEFAULT_KEY_DIR

    return DEFAULT_KEY_DIR


def _instance_arch(aws: Any, region: str, instance_type: str) -> str:
    import botocore.exceptions as bex

    from tui.services.errors import InputError, error_code, from_client_error

    try:
        answer = aws.client("ec2", region).describe_instance_types(InstanceTypes=[instance_type])
    except bex.ClientError as exc:
        if error_code(exc) == "InvalidInstanceType":
            raise InputError(
                f"{instance_type} is not an EC2 instance type in {region}.",
                "Check the name (for example g4dn.xlarge or g5.xlarge).",
            ) from exc
        raise from_client_error(exc, "DescribeInstanceTypes") from exc
    types = answer.get("InstanceTypes", [])
    archs = types[0].get("ProcessorInfo", {}).get("SupportedArchitectures", []) if types else []
    return "x86_64" if "x86_64" in archs or not archs else str(archs[0])


def default_name(instance_type: str) -> str:
    """d2l-g4dn-xlarge-3f9a: the type says what it is, the suffix keeps two launches apart."""
    return f"d2l-{instance_type.replace('.', '-')}-{secrets.token_hex(2)}"


def _launch(args: argparse.Namespace) -> int:
    from tui.logs import log_exception
    from tui.services import images, keys, network, sshconfig
    from tui.services.errors import D2lError, InputError
    from tui.services.instance_link import known_hosts
    from tui.services.launch import launch

    if not args.yes:
        raise _UsageError(
            "launch starts an instance billed by the hour and asks no questions. Add --yes to go ahead."
        )
    problem = keys.validate_key_name(args.key)
    if problem:
        raise InputError(problem, "Pass another --key.")
    name = args.name if args.name is not None else default_name(args.instance_type)
    if not name.strip() or len(name) > 128 or not name.isprintable():
        raise InputError("The name must be 1 to 128 printable characters.", "Pass another --name.")
    cidr, warning = network.validate_cidr(args.ssh_cidr) if args.ssh_cidr else ("", None)
    if warning and not args.allow_wide_ssh:
        # Like the wizard's tick: a source this wide is never a typo's consequence.
        raise _UsageError(f"{warning} Add --allow-wide-ssh to go ahead with --ssh-cidr {cidr}.")

    aws = _make_aws(args)
    aws.identity()  # no credentials: say so before anything else is asked
    region = args.region or aws.home_region
    arch = _instance_arch(aws, region, args.instance_type)
    if args.image in IMAGE_KINDS:
        image = images.resolve_image(aws, region, IMAGE_KINDS[args.image], arch)
    else:
        image = images.describe_image(aws, region, args.image)
        if image.arch != arch:
            raise InputError(
                f"{image.image_id} is built for {image.arch}, but {args.instance_type} runs {arch}.",
                "Choose an image for that architecture, or another instance type.",
            )
    disk = args.disk if args.disk is not None else max(MIN_DEFAULT_DISK_GIB, image.root_gib)
    if disk < image.root_gib:
        raise InputError(
            f"The disk ({disk} GiB) is smaller than the image's root snapshot ({image.root_gib} GiB).",
            f"Pass --disk {image.root_gib} or more, or leave --disk out.",
        )
    if not cidr:
        if args.demo:
            from tui.demo.cloud import DEMO_PUBLIC_IP

            cidr = f"{DEMO_PUBLIC_IP}/32"
        else:
            ip = network.detect_public_ip()
            if ip is None:
                raise InputError(
                    "Could not detect your public IP address (checkip.amazonaws.com did not answer).",
                    "Pass --ssh-cidr <your-ip>/32.",
                )
            cidr = f"{ip}/32"
    if warning:
        _say(f"{PROG}: warning: {warning}")

    key_dir = _key_dir(args)
    spec = LaunchSpec(
        region=region,
        instance_type=args.instance_type,
        image=image,
        disk_gib=disk,
        key=KeyChoice(name=args.key, private_key_path=None, create=True),
        ssh_cidr=cidr,
        name=name,
        spot=args.spot,
    )
    log.info("CLI launch: %s", spec)

    def progress(event: LaunchProgress) -> None:
        log.info("launch progress: %s", event.message)
        _say(event.message)

    instance = launch(aws, spec, progress, poll_interval=0.2 if args.demo else 3.0, key_dir=key_dir)
    print(instance.instance_id, flush=True)
    # The instance runs: from here a local file that fails is a warning and the exit code stays 0,
    # or a script retrying on failure would launch (and pay for) a second one.
    try:
        key_path = keys.find_private_key(instance.key_name or args.key, key_dir)
        print(sshconfig.ssh_command(instance, key_path, user=image.username), flush=True)
        known_hosts().check(instance.instance_id)  # the pins ssh will need: broken? say so now
    except (OSError, D2lError) as exc:
        log_exception(log, exc, f"{PROG} launch: {instance.instance_id} runs, but a local follow-up failed")
        _say(f"{PROG}: warning: {instance.instance_id} is running. {exc}")
    return 0


def _as_json(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.instance_id,
        "name": instance.name,
        "region": instance.region,
        "type": instance.instance_type,
        "state": instance.state,
        "public_dns": instance.public_dns,
        "public_ip": instance.public_ip,
        "key_name": instance.key_name,
        "image_id": instance.image_id,
        "availability_zone": instance.availability_zone,
        "spot": instance.spot,
        "launch_time": instance.launch_time.isoformat() if instance.launch_time else None,
    }


def _table(instances: list[Instance]) -> str:
    header = ("NAME", "REGION", "TYPE", "STATE", "PUBLIC DNS", "ID")
    rows = [header] + [
        (i.name or "-", i.region, i.instance_type, i.state, i.public_dns or "-", i.instance_id)
        for i in instances
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@contextlib.contextmanager
def _waiting_notice(what: str) -> Iterator[None]:
    """Say on stderr what the command waits for once that takes over a second, then every 10 s for
    how long: a region or an endpoint that does not answer would otherwise leave a silent terminal."""
    done = threading.Event()
    start = time.monotonic()

    def tell() -> None:
        if done.wait(NOTICE_AFTER_S):
            return
        _say(f"{PROG}: {what}…")
        while not done.wait(NOTICE_EVERY_S):
            _say(f"{PROG}: still waiting for AWS after {time.monotonic() - start:.0f} s; Ctrl+C stops.")

    threading.Thread(target=tell, name="waiting-notice", daemon=True).start()
    try:
        yield
    finally:
        done.set()


def _ls(args: argparse.Namespace) -> int:
    from tui.models import unanswered_words
    from tui.services.lifecycle import list_managed

    aws = _make_aws(args)
    where = args.region or "every enabled region"
    with _waiting_notice(f"asking {where} for the instances it launched"):
        listing = list_managed(aws, [args.region] if args.region else None)
    if args.json:
        print(json.dumps(_listing_json(listing), indent=2))
    elif listing.instances:
        print(_table(listing.instances))
    elif listing.complete:
        print(f"No instances launched by {PROG} in {args.region or 'any enabled region'}.")
    else:
        print(f"No instances launched by {PROG} in the regions that answered.")
    complete = listing.complete
    if not listing.complete:
        _say(f"{PROG}: {unanswered_words(listing.failed)}: the list may be incomplete. {_AGAIN}")
    if args.leftovers and not args.json:
        from tui.cli_lifecycle import ebs_prices, leftovers_table
        from tui.services.leftovers import find_leftovers

        with _waiting_notice(f"looking for leftovers in {where}"):
            found = find_leftovers(aws, [args.region] if args.region else None, ebs_prices(aws, args))
        none = "none" if found.complete else "none in the regions that answered"
        print("\nLeftovers and saved images:\n" + (leftovers_table(found.items) if found.items else none))
        if not found.complete:
            _say(f"{PROG}: leftovers: {unanswered_words(found.failed)}: the list may be incomplete. {_AGAIN}")
        complete = complete and found.complete
    return 0 if complete else INCOMPLETE


_AGAIN = f"Run `{PROG} ls` again, or pass --region for the others."


def _listing_json(listing: InstanceListing) -> dict[str, Any]:
    """complete is false while failed_regions names regions that did not answer: their instances
    are not in the list, and may be running."""
    return {
        "complete": listing.complete,
        "instances": [_as_json(i) for i in listing.instances],
        "failed_regions": [{"region": f.region, "reason": f.reason} for f in listing.failed],
    }


def run(args: argparse.Namespace) -> int:
    """Run a headless command; the exit status: 0 done, 1 failed, 2 refused, 4 incomplete (ls,
    cleanup: some regions did not answer), 130 interrupted."""
    from tui.logs import log_exception, setup_logging

    # Never raises: a read-only home or a full disk costs the log file (one line says so), not the command.
    setup_logging()
    log.info("%s %s", PROG, " ".join(sys.argv[1:]))
    try:
        if args.command == "launch":
            return _launch(args)
        if args.command == "ls":
            return _ls(args)
        from tui.cli_lifecycle import COMMANDS, run_command

        if args.command in COMMANDS:
            return run_command(args, _make_aws, _key_dir, _UsageError)
        raise AssertionError(f"unknown command {args.command!r}")  # argparse only lets known ones through
    except _UsageError as exc:
        _say(f"{PROG}: {exc}")
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted by the user")
        maybe = f" An instance may have started: check with `{PROG} ls`." if args.command == "launch" else ""
        _say(f"{PROG}: Interrupted.{maybe}")
        return 130
    except Exception as exc:
        log_exception(log, exc, f"{PROG} {args.command} failed")
        from tui.services.aws import as_d2l_error

        err = as_d2l_error(exc, getattr(args, "profile", None))
        next_step = err.next_step
        from tui.logs import working_log_file

        log_now = working_log_file()  # the disk may have filled since: never point at an empty log
        see_log = f"Details are in {log_now}." if log_now else ""
        if not next_step or next_step == "See the log file for details.":
            next_step = see_log
        _say(f"{PROG}: {err.what} {next_step}".rstrip())
        if getattr(args, "demo", False) and args.command not in ("launch", "ls"):
            # Each headless --demo command starts its own, empty simulated cloud.
            _say(
                f"{PROG}: --demo starts a new, empty simulated cloud for every command: "
                f"its instances live as long as the app (`{PROG} --demo`), where l, t and g do this."
            )
        return 1
    finally:
        while _clouds:
            _clouds.pop().stop()
