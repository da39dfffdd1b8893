"""`d2l-tui launch … --yes`: launch a GPU instance as the wizard would, then print its id and the ssh
command. The defaults and checks are the wizard's (tui/flows/launch_plan.py)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from tui.cli.output import PROG, UsageError, say
from tui.flows import autostop, launch_plan
from tui.models import AutostopSetting, KeyChoice, LaunchProgress, LaunchSpec

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.services.cloud.aws import Aws

log = logging.getLogger(__name__)

DEFAULT_KEY_NAME = "d2l-tui"


def _type_arg(text: str) -> str:
    problem = launch_plan.instance_type_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _disk_arg(text: str) -> int:
    try:
        return launch_plan.parse_disk(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _image_arg(text: str) -> str:
    try:
        return launch_plan.parse_image(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def idle_arg(text: str) -> int | None:
    try:
        return autostop.parse_idle(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def max_hours_arg(text: str) -> float:
    try:
        return autostop.parse_max_hours(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
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
    launch.add_argument(
        "--name", help="instance name (default: d2l-<type>, then d2l-<type>-2, … if the region has it)"
    )
    launch.add_argument(
        "--autostop",
        dest="idle_minutes",
        type=idle_arg,
        default=autostop.DEFAULT_IDLE_MINUTES,
        metavar="IDLE",
        help=f"stop the instance after this long idle, e.g. 30m, 2h, or off (default: {autostop.DEFAULT_IDLE_MINUTES}m)",
    )
    launch.add_argument(
        "--max-hours",
        type=max_hours_arg,
        metavar="N",
        help="also stop it N hours after each start, busy or not",
    )
    launch.add_argument(
        "--terminate-when-idle",
        action="store_true",
        help="with --spot: agree that auto-stop terminates it (a one-time spot instance can't stop)",
    )
    launch.add_argument(
        "--own-setup",
        action="store_true",
        help=f"you will set it up with your own steps only (provision --recipe FILE), not the book's: "
        f"the disk may then be smaller than the book's {launch_plan.BOOK_SETUP_DISK_GIB} GiB",
    )
    launch.add_argument("--yes", action="store_true", help="go ahead: the instance is billed by the hour")
    launch.set_defaults(check=check, handler=run)


def check(args: argparse.Namespace) -> None:
    """Everything that can be refused before the context (and AWS) is touched."""
    from tui.services.cloud import keys, network
    from tui.services.errors import InputError

    if not args.yes:
        raise UsageError(
            "launch starts an instance billed by the hour and asks no questions. Add --yes to go ahead."
        )
    problem = keys.validate_key_name(args.key)
    if problem:
        raise InputError(problem, "Pass another --key.")
    problem = launch_plan.name_problem(args.name) if args.name is not None else None
    if problem:
        raise InputError(problem, "Pass another --name.")
    args.ssh_cidr, args.wide_ssh_warning = (
        network.validate_cidr(args.ssh_cidr) if args.ssh_cidr else ("", None)
    )
    args.autostop = AutostopSetting(args.idle_minutes, args.max_hours)
    problem = autostop.spot_problem(args.spot, args.autostop, args.terminate_when_idle)
    if problem:
        raise UsageError(f"{problem} Add --terminate-when-idle to agree, or --autostop off.")
    if args.wide_ssh_warning and not args.allow_wide_ssh:
        # Like the wizard's tick: a source this wide is never a typo's consequence.
        raise UsageError(
            f"{args.wide_ssh_warning} Add --allow-wide-ssh to go ahead with --ssh-cidr {args.ssh_cidr}."
        )


def _instance_arch(aws: Aws, region: str, instance_type: str) -> str:
    import botocore.exceptions as bex

    from tui.aws_response import error_code
    from tui.services.errors import InputError, from_client_error

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


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    from tui.logs import log_exception
    from tui.services.cloud import images, keys, lifecycle
    from tui.services.cloud.launch import launch
    from tui.services.errors import D2lError, InputError
    from tui.services.remote import sshconfig
    from tui.services.remote.instance_link import known_hosts

    aws = ctx.aws
    aws.identity()  # no credentials: say so before anything else is asked
    region = args.region or aws.home_region
    arch = _instance_arch(aws, region, args.instance_type)
    if args.image in launch_plan.IMAGE_KINDS:
        image = images.resolve_image(aws, region, launch_plan.IMAGE_KINDS[args.image], arch)
    else:
        image = images.describe_image(aws, region, args.image)
        if image.arch != arch:
            raise InputError(
                f"{image.image_id} is built for {image.arch}, but {args.instance_type} runs {arch}.",
                "Choose an image for that architecture, or another instance type.",
            )
    disk = args.disk if args.disk is not None else launch_plan.default_disk(image.root_gib)
    book_setup = not args.own_setup
    disk_refused = launch_plan.disk_problem(disk, image.kind, image.root_gib, book_setup=book_setup)
    if disk_refused:
        minimum, _ = launch_plan.minimum_disk(image.kind, image.root_gib, book_setup=book_setup)
        own, _ = launch_plan.minimum_disk(image.kind, image.root_gib, book_setup=False)
        around = " (or add --own-setup if only your own steps will run)" if disk >= own else ""
        raise InputError(
            f"--disk {disk} GiB is too small. {disk_refused}",
            f"Pass --disk {minimum} or more, or leave --disk out{around}.",
        )
    cidr = args.ssh_cidr
    if not cidr:
        ip = ctx.public_ip()  # --demo: the simulated cloud's made-up address
        if ip is None:
            raise InputError(
                "Could not detect your public IP address (checkip.amazonaws.com did not answer).",
                "Pass --ssh-cidr <your-ip>/32.",
            )
        cidr = f"{ip}/32"
    if args.wide_ssh_warning:
        say(f"{PROG}: warning: {args.wide_ssh_warning}")
    if args.name is None:  # the wizard's rule: the type's name, numbered if the region has it already
        args.name = launch_plan.default_name(args.instance_type, lifecycle.names_in_region(aws, region))

    spec = autostop.with_autostop(
        LaunchSpec(
            region=region,
            instance_type=args.instance_type,
            image=image,
            disk_gib=disk,
            key=KeyChoice(name=args.key, private_key_path=None, create=True),
            ssh_cidr=cidr,
            name=args.name,
            spot=args.spot,
        ),
        args.autostop,
    )
    log.info("CLI launch: %s", spec)
    say(f"Auto-stop: {autostop.describe(spec.autostop, spec.spot)}")

    def progress(event: LaunchProgress) -> None:
        log.info("launch progress: %s", event.message)
        say(event.message)

    poll_interval = 0.2 if ctx.simulated else 3.0
    instance = launch(aws, spec, progress, poll_interval=poll_interval, key_dir=ctx.key_dir)
    # stdout stays the id, then the ssh command (scripts read them); the name the other commands
    # take goes with the next step on stderr.
    say(f"Launched {spec.name}: `{PROG} provision {spec.name}` sets it up for the book.")
    print(instance.instance_id, flush=True)
    # The instance runs: from here a local file that fails is a warning and the exit code stays 0,
    # or a script retrying on failure would launch (and pay for) a second one.
    try:
        key_path = keys.find_private_key(instance.key_name or args.key, ctx.key_dir)
        print(sshconfig.ssh_command(instance, key_path, user=image.username), flush=True)
        known_hosts().check(instance.instance_id)  # the pins ssh will need: broken? say so now
    except (OSError, D2lError) as exc:
        log_exception(log, exc, f"{PROG} launch: {instance.instance_id} runs, but a local follow-up failed")
        say(f"{PROG}: warning: {instance.instance_id} is running. {exc}")
    return 0
