"""`d2l-tui autostop NAME 45m|off|status [--max-hours N]`: what stops an instance by itself, and
changing it on a running instance. The rules are the launch's (tui/flows/autostop.py).

`status` prints what AWS knows (the setting the instance was launched with, its CloudWatch backstop
alarm) and then the agent's own words, read over SSH."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.cli.instance import add_instance_arguments, link_for, trust_or_refuse
from tui.cli.launch import idle_arg, max_hours_arg
from tui.cli.output import UsageError
from tui.flows import autostop
from tui.models import TAG_AUTOSTOP, AutostopSetting

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tui.context import AppContext
    from tui.models import Instance
    from tui.services.cloud.aws import Aws
    from tui.services.remote.instance_link import InstanceLink


def _what_arg(text: str) -> str | int | None:
    """ "status", or the idle minutes (None: off)."""
    return "status" if text.strip().lower() == "status" else idle_arg(text)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser(
        "autostop",
        parents=[common],
        help="show or change when an instance stops itself (45m, off, status)",
        description="Show or change when an instance stops itself: after a time idle (no busy GPU, "
        "Jupyter kernel, SSH login or setup run) and/or a number of hours after each start.",
    )
    add_instance_arguments(parser)
    parser.add_argument(
        "what", metavar="IDLE|off|status", type=_what_arg, help="e.g. 45m or 2h; off; or status to show it"
    )
    parser.add_argument(
        "--max-hours",
        type=max_hours_arg,
        metavar="N",
        help="also stop it N hours after each start, busy or not",
    )
    parser.add_argument(
        "--terminate-when-idle",
        action="store_true",
        help="for a spot instance: agree that auto-stop terminates it (a one-time spot instance can't stop)",
    )
    parser.set_defaults(check=check, handler=run)


def check(args: argparse.Namespace) -> None:
    if args.what == "status" and args.max_hours is not None:
        raise UsageError("--max-hours changes the setting; `status` only shows it. Leave one out.")


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    import asyncio

    link = link_for(args, ctx)
    instance = link.instance
    if args.what == "status":
        for line in _what_aws_knows(ctx.aws, instance):
            print(line, flush=True)
        return asyncio.run(_over_ssh(link, args.trust_host_key, lambda: _print_agent_status(link)))
    setting = AutostopSetting(args.what, args.max_hours)
    problem = autostop.spot_problem(instance.spot, setting, args.terminate_when_idle)
    if problem:
        raise UsageError(f"{problem} Add --terminate-when-idle to agree, or give off.")

    async def change() -> None:
        for line in await autostop.change(ctx.aws, link, instance, setting):
            print(line, flush=True)

    return asyncio.run(_over_ssh(link, args.trust_host_key, change))


def _what_aws_knows(aws: Aws, instance: Instance) -> list[str]:
    from tui.services.cloud import alarms
    from tui.services.errors import D2lError

    launched = instance.tags.get(TAG_AUTOSTOP)
    lines = [f"Launched with: --autostop {launched}" if launched else "Launched with: no auto-stop"]
    try:
        alarm = alarms.for_instance(aws, instance)
    except D2lError as exc:
        return [*lines, f"Backstop: unknown ({exc.what})"]
    if alarm is None:
        return [*lines, "Backstop: no CloudWatch alarm"]
    return [
        *lines,
        f"Backstop: CloudWatch alarm {alarm.name} ({alarm.state}) will {alarm.action} it if its CPU stays "
        f"below {alarm.threshold_pct:g}% for {alarm.window_minutes} min",
    ]


async def _print_agent_status(link: InstanceLink) -> None:
    print(f"Agent: {await autostop.agent_status(link)}", flush=True)


async def _over_ssh(link: InstanceLink, trust: bool, work: Callable[[], Awaitable[None]]) -> int:
    """Run ``work`` (it connects through ``link``); an unknown host key is trusted only with
    --trust-host-key, and only the first time."""
    from tui.services.remote.ssh import HostKeyUnknown

    while True:
        try:
            await work()
            return 0
        except HostKeyUnknown as exc:
            if not trust_or_refuse(link, exc, trust):
                return 1
            trust = False
