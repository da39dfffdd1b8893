"""Auto-stop, decided once for the wizard, `d2l-tui launch --autostop` and `d2l-tui autostop`: what a
person may type, the default, the sentence that says what will happen, and the joints to the
on-instance agent (tui/services/remote/autostop.py: its installer as the launch's user data, its
setting and status over SSH).

Why these numbers:
- On by default, 30 minutes idle: long enough to read a section of the book between cells, short
  enough that a forgotten p4d.24xlarge (about $22/h) costs a coffee, not a month's rent.
- At least 10 minutes: the agent warns 5 minutes before it stops the machine; a shorter window
  would mostly be warnings.
- At most 12 hours: the CloudWatch backstop waits twice the window (services/cloud/alarms.py), and
  CloudWatch evaluates an alarm over one day at most.
- A cap of at most 168 hours (a week): longer runs are better started without a cap.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from tui.models import AutostopConfig, AutostopSetting, Instance, LaunchSpec
from tui.services.errors import D2lError

if TYPE_CHECKING:
    from tui.services.cloud.aws import Aws
    from tui.services.remote.instance_link import Link

DEFAULT_IDLE_MINUTES = 30
DEFAULT_AUTOSTOP = AutostopSetting(idle_minutes=DEFAULT_IDLE_MINUTES)
MIN_IDLE_MINUTES = 10
MAX_IDLE_MINUTES = 12 * 60
MAX_CAP_HOURS = 168

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hr|hrs|hours?)?$")
_HOURS = re.compile(r"^(\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?)?$")
_EXAMPLES = "like 30m, 2h or 90 (minutes), or off"


def parse_idle(text: str) -> int | None:
    """Minutes of idleness before the instance stops (None: off) from `30m`, `1h`, `90` or `off`;
    ValueError with the sentence to show (what is wrong and what to type instead)."""
    typed = text.strip().lower()
    if typed in ("off", "no", "never", "none"):
        return None
    match = _DURATION.match(typed)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: type one {_EXAMPLES}.")
    number, unit = float(match.group(1)), match.group(2) or "m"
    minutes = number * 60 if unit.startswith("h") else number
    if minutes < MIN_IDLE_MINUTES:
        raise ValueError(
            f"{text!r} is too short: the agent warns 5 minutes before it stops the instance, so give "
            f"{MIN_IDLE_MINUTES}m or more, or off."
        )
    if minutes > MAX_IDLE_MINUTES:
        raise ValueError(
            f"{text!r} is too long: auto-stop waits at most {MAX_IDLE_MINUTES // 60}h; give less, "
            "or off and stop the instance yourself."
        )
    if minutes != int(minutes):
        raise ValueError(f"{text!r} is not a whole number of minutes: type one {_EXAMPLES}.")
    return int(minutes)


def parse_max_hours(text: str) -> float:
    """The cap in hours from `8` or `8h`; ValueError with the sentence to show."""
    match = _HOURS.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a number of hours: type one like 8 or 1.5.")
    hours = float(match.group(1))
    if not 0 < hours <= MAX_CAP_HOURS:
        raise ValueError(
            f"the cap must be more than 0 and at most {MAX_CAP_HOURS} hours (a week), not {text!r}."
        )
    return hours


def describe(setting: AutostopSetting, spot: bool) -> str:
    """One sentence saying what will happen, as the review step and the CLI plan show it."""
    if not setting.on:
        return "Off: the instance runs, and is billed, until you stop it."
    verb = "terminates (its disk is deleted)" if spot else "stops (its disk stays, and is billed)"
    parts = []
    if setting.idle_minutes is not None:
        parts.append(
            f"after {setting.idle_minutes} min idle (no busy GPU, Jupyter kernel, SSH login or setup run)"
        )
    if setting.max_hours is not None:
        parts.append(f"{setting.max_hours:g} h after each start, busy or not")
    sentence = f"The instance {verb} " + " or ".join(parts) + ", without your laptop."
    if spot:
        sentence += " A one-time spot instance can't be stopped, so idle means terminate."
    return sentence


def spot_problem(spot: bool, setting: AutostopSetting, agreed: bool) -> str | None:
    """A one-time spot instance can't stop: its auto-stop terminates it. Said, and agreed to, first."""
    if spot and setting.on and not agreed:
        return (
            "A one-time spot instance can't be stopped, so auto-stop would terminate it and delete its "
            "disk when it is idle."
        )
    return None


def agent_config(setting: AutostopSetting, spot: bool) -> AutostopConfig:
    """The agent's config.json for a setting. Two models on purpose: the setting is what a person
    chose (None: not wanted; it is the tag and the backstop's input), the config is the agent's whole
    file (0: off, plus its thresholds and what a shutdown does), whose other values keep the agent's
    defaults."""
    return AutostopConfig(
        idle_minutes=setting.idle_minutes or 0,
        max_hours=setting.max_hours or 0,
        on_shutdown="terminate" if spot else "stop",
    )


def user_data_for(setting: AutostopSetting, spot: bool = False) -> str:
    """The user data that installs the agent at launch (tui/services/remote/autostop.py), off when
    the setting is: an instance launched with auto-stop off can still get it later with
    `d2l-tui autostop NAME 30m`, which only rewrites the agent's setting."""
    from tui.services.remote.autostop import autostop_user_data

    # cloud-init runs user data as a script only when it starts with "#!"; the fragment has none.
    return "#!/bin/bash\n" + autostop_user_data(agent_config(setting, spot))


def with_autostop(spec: LaunchSpec, setting: AutostopSetting) -> LaunchSpec:
    """The spec with its auto-stop and the user data that installs it; a sentence when the user data
    does not fit RunInstances' 16 KB."""
    from tui.services.cloud.launch import user_data_problem

    user_data = user_data_for(setting, spec.spot)
    problem = user_data_problem(user_data)
    if problem:
        raise D2lError(problem, "Launch with --autostop off, and report this as a bug.")
    return dataclasses.replace(spec, autostop=setting, user_data=user_data)


async def set_on_instance(link: Link, setting: AutostopSetting, spot: bool = False) -> str:
    """Change the running agent's setting over SSH, installing the agent first on an instance
    launched without it; the agent's own words after one check with the new setting."""
    from tui.services.remote import autostop as agent

    config = agent_config(setting, spot)
    async with await link.connect() as conn:
        try:
            status = await agent.write_config(conn, config)
        except agent.AgentNotInstalled:
            await agent.install(conn, config)
            status = await agent.write_config(conn, config)
    return agent.describe(status)


async def agent_status(link: Link) -> str:
    """The agent's own words ("idle 12 of 30 min — stops at 15:42", "not idle: kernel busy")."""
    from tui.services.remote import autostop as agent

    async with await link.connect() as conn:
        status = await agent.read_status(conn)
    return agent.describe(status)


async def agent_words(link: Link) -> str | None:
    """The agent's own words, or None where it has said nothing yet (not installed, or not checked)."""
    from tui.services.remote import autostop as agent

    async with await link.connect() as conn:
        status = await agent.read_status(conn)
    return None if status is None else agent.describe(status)


async def change(aws: Aws, link: Link, instance: Instance, setting: AutostopSetting) -> list[str]:
    """A running instance's auto-stop changed: the agent first (when it can't be reached nothing
    changes), then the backstop alarm to match. Returns the sentence saying what now holds and the
    agent's own words after its first check with it."""
    import asyncio

    from tui.services.cloud import alarms

    words = await set_on_instance(link, setting, instance.spot)
    await asyncio.to_thread(alarms.put_for_instance, aws, instance, setting)
    return [describe(setting, instance.spot), f"Agent: {words}"]
