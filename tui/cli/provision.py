"""`d2l-tui provision NAME`: start (or reattach to) an instance's setup run and stream its log.

The same follow_run loop as the provisioning screen: the log's lines go to stdout as they arrive,
each step's start and end as a `==>` line, connection news to stderr. The exit code is the run's:
0 every step finished, 1 a step failed (or SSH couldn't be used), 3 nothing to reattach to.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tui.cli.instance import add_framework_argument, add_instance_command, link_for, trusting_once
from tui.cli.output import PROG, say

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Recipe
    from tui.services.remote.instance_link import InstanceLink
    from tui.services.remote.provision import Update


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    what = "set an instance up for the book (or follow the setup running there) and stream its log"
    parser = add_instance_command(sub, common, "provision", what, over_ssh=True)
    add_framework_argument(parser, "the framework the notebooks use")
    parser.add_argument("--recipe", type=Path, metavar="FILE", help="run only the steps of this recipe file")
    parser.add_argument(
        "--attach", action="store_true", help="only follow the run already on the instance; start nothing"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    import asyncio

    from tui.flows.provisioning import plan_setup

    link = link_for(args, ctx)
    setup = plan_setup(
        link, link.instance.instance_type, fresh=not args.attach, framework=args.framework, only=args.recipe
    )
    try:
        return asyncio.run(_follow(link, setup.recipe, attach=args.attach, trust=args.trust_host_key))
    except KeyboardInterrupt:
        say(
            f"Stopped following. The setup goes on on the instance: `{PROG} provision {link.label} --attach`."
        )
        return 130


async def _follow(link: InstanceLink, recipe: Recipe | None, *, attach: bool, trust: bool) -> int:
    from tui.services.remote.provision import follow_run

    printer = _Printer()
    followed = await trusting_once(
        link,
        trust,
        lambda: follow_run(
            lambda: link.connect(say), printer.update, recipe=recipe, mode="reattach" if attach else "fresh"
        ),
    )
    if followed is None:
        return 1
    outcome, _ = followed
    if outcome.ok or outcome.not_started:
        say(outcome.summary)
    else:
        from tui.flows.provisioning import failed_step_words

        title = printer.titles.get(outcome.failed_step, outcome.failed_step)
        say(failed_step_words(outcome, title, printer.hints.get(outcome.failed_step, "")))
        say("Fix the cause, then run the same command again: done steps are skipped.")
    if outcome.not_started:
        say(f"Start it with `{PROG} provision {link.label}`.")
        return 3
    return 0 if outcome.ok else 1


class _Printer:
    """Log lines to stdout as they come; step changes as `==>` lines with their durations."""

    def __init__(self) -> None:
        self.titles: dict[str, str] = {}
        self.hints: dict[str, str] = {}
        self.started: dict[str, float] = {}

    def update(self, update: Update) -> None:
        from tui.models import StepEvent, StepState
        from tui.services.remote.provision import LinkState, RunPlan

        if isinstance(update, RunPlan):
            self.titles.update({s.name: s.title for s in update.steps})
            self.hints.update({s.name: s.hint for s in update.steps if s.hint})
            return
        if isinstance(update, LinkState):
            words = {
                "connecting": "Connecting…",
                "connected": "Connected.",
                "reconnecting": "Reconnecting…",
                "rebooting": "Rebooting…",
            }
            say(f"{words[update.state]} {update.detail}".rstrip())
            return
        out = []
        for item in update:
            if not isinstance(item, StepEvent):
                out.append(item)
                continue
            if not item.step:
                continue
            title = self.titles.get(item.step, item.step)
            if item.state is StepState.RUNNING:
                self.started.setdefault(item.step, time.monotonic())
                if item.note.startswith("retry"):
                    out.append(f"==> {title}: {item.note}")
                continue
            took = ""
            if item.step in self.started and item.note != "already":
                took = f" ({time.monotonic() - self.started.pop(item.step):.0f} s)"
            word = {StepState.DONE: "done", StepState.SKIPPED: "skipped", StepState.FAILED: "FAILED"}.get(
                item.state, item.state.value
            )
            if item.note == "already":
                word += " earlier"
            rc = f", exit code {item.rc}" if item.state is StepState.FAILED else ""
            out.append(f"==> {title}: {word}{rc}{took}")
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
