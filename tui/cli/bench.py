"""`d2l-tui bench NAME [--quick] [--attach | --stop]`: benchmark an instance's GPUs with the book's work.

The run is the setup's detached runner (tui/flows/bench.py): its lines go to stdout as they come,
connection news to stderr, then a summary of the figures on stdout, recorded once in the local
results table. Ctrl+C stops following, not the run: `--attach` collects its figures later, `--stop`
cancels it. Exit status: 0 figures, 1 none (the sentence says why), 3 no run to attach to, 130
interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tui.cli.bench_results import add_results_arguments, print_results
from tui.cli.instance import NAME_HELP, trusting_once
from tui.cli.output import PROG, UsageError, say, waiting_notice

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.services.remote.provision import Update


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    what = (
        "benchmark an instance: matmul TFLOPS, memory bandwidth, and the book's ResNet-18 on 1..N GPUs, "
        "in money at its $/h"
    )
    parser = sub.add_parser(
        "bench", parents=[common], help=what, description=what[0].upper() + what[1:] + "."
    )
    # NAME is optional: `bench --results` compares the runs kept here and names no instance.
    parser.add_argument("name", metavar="NAME", nargs="?", help=NAME_HELP)
    parser.add_argument(
        "--trust-host-key",
        action="store_true",
        help="when the console output shows no host key, trust the one the server presents (first use only)",
    )
    add_results_arguments(parser)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few steps; trains on 1 and all GPUs only"
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--attach", action="store_true", help="only follow (or collect) the latest run; start none"
    )
    how.add_argument("--stop", action="store_true", help="cancel the benchmark running on the instance")
    parser.set_defaults(handler=run, check=_check, local=lambda args: args.results)


def _check(args: argparse.Namespace) -> None:
    if args.results and args.name:
        raise UsageError(
            f"bench takes NAME or --results, not both: `{PROG} bench --results` compares the runs kept here."
        )
    if not args.results and not args.name:
        raise UsageError(
            f"bench needs an instance NAME (`{PROG} ls` lists them), or --results for the runs kept here."
        )
    if args.json and not args.results:
        raise UsageError("--json goes with --results (a run prints its progress and summary as text).")


def run(args: argparse.Namespace, ctx: AppContext | None) -> int:
    import asyncio

    from tui.flows import bench

    if args.results:
        return print_results(args, ctx)
    assert ctx is not None  # only --results runs without the cloud

    with waiting_notice(f"Looking up {args.name} and its price"):
        target = bench.target_for(ctx, args.name, args.region, quick=args.quick)
    label = target.label
    if args.stop:
        stopped = asyncio.run(
            trusting_once(target.link, args.trust_host_key, lambda: bench.stop_bench(target.link))
        )
        say(f"Cancelled the benchmark on {label}." if stopped else f"No benchmark is running on {label}.")
        return 0 if stopped is not None else 1
    for notice in target.notices():
        say(notice)
    try:
        outcome = asyncio.run(
            trusting_once(
                target.link,
                args.trust_host_key,
                lambda: bench.run_bench(target, _print_update, attach=args.attach),
            )
        )
    except KeyboardInterrupt:
        say(
            f"Stopped following. The benchmark goes on on {label}: `{PROG} bench {label} --attach` "
            f"collects its figures, `{PROG} bench {label} --stop` cancels it."
        )
        return 130
    if outcome is None:
        return 1
    if outcome.record is None:
        say(outcome.sentence)
        return 3 if outcome.rc is None and outcome.sentence.startswith("No benchmark") else 1
    print("\n".join(bench.summary_lines(outcome.record)), flush=True)
    if outcome.recorded:
        from tui.services.bench_results import results_file

        say(f"Recorded in {results_file()}.")
    else:
        say("This run was already in the results table: not recorded twice.")
    return 0


def _print_update(update: Update) -> None:
    from tui.models import StepEvent, StepState
    from tui.services.remote.bench import RESULT_PREFIX
    from tui.services.remote.provision import LinkState

    if isinstance(update, LinkState):
        words = {"connecting": "Connecting…", "connected": "Connected.", "reconnecting": "Reconnecting…"}
        say(f"{words.get(update.state, update.state)} {update.detail}".rstrip())
        return
    if not isinstance(update, list):
        return
    out = []
    for item in update:
        if isinstance(item, StepEvent):
            if item.step and item.state is StepState.RUNNING and not item.note:
                out.append("==> Benchmark: running")
            elif item.step and item.state is not StepState.RUNNING:
                out.append(f"==> Benchmark: {'done' if item.state is StepState.DONE else 'stopped'}")
        elif item.startswith(RESULT_PREFIX):
            out.append("bench: figures received")
        else:
            out.append(item)
    if out:
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
