"""The whole table of issue 17 in one run: every path of d2l-tui beside its baseline, interleaved
round by round, with ratios taken per round (this shared machine's speed drifts minute to minute).

Real mode runs WITH credentials against a moto server on loopback (AWS_ENDPOINT_URL), 3 regions.
DescribeRegions answers as for a new AWS account (17 enabled regions; bench/moto_world.py says why);
the rows marked "moto's 20 regions" ask what stock moto lists as enabled, measured in the same rounds.
Each program runs in a private 120x40 tmux (bench/tmux_run.py); the bare Textual app
(bench/bare_app.py) is measured in the same rounds and every time is also given as a ratio to it.
`aws ec2 describe-instances` is called by its real path (not a shim), interleaved with `d2l-tui ls`.
Then how cost grows: `ls --json` and the instances screen with 0, 60 and 300 instances.

    .venv/bin/python bench/all.py [--rounds 5] [--grow-rounds 3] [--only startup|instances|grow]

Prints figures; not a test. Medians over rounds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.moto_world import BIN, REGIONS, MotoWorld, base_env, real_aws_cli  # noqa: E402
from bench.tmux_run import TmuxRun  # noqa: E402

BARE = [sys.executable, str(Path(__file__).with_name("bare_app.py"))]
# Peers that are not on this machine are named, never silently dropped.
MISSING_PEERS = [name for name in ("servonaut",) if not shutil.which(name)]

Figures = dict[str, float]


def bare(fig: Figures) -> None:
    with TmuxRun(BARE, base_env(tempfile.mkdtemp(prefix="d2l-bench-"))) as run:
        fig["bare.first"] = run.wait_for("first", lambda s: "bare textual app" in s)
        fig["bare.first_cpu"] = run.seen.cpu["first"]
        run.settle(0.3)
    fig["bare.rss"] = run.seen.peak_rss_mib


def wizard(fig: Figures, env: dict[str, str]) -> None:
    """`d2l-tui` with credentials: the first frame says it checks them."""
    with TmuxRun([str(BIN)], env) as run:
        fig["wizard.first"] = run.wait_for("first", lambda s: "Checking your AWS credentials" in s)
        fig["wizard.first_cpu"] = run.seen.cpu["first"]
        run.settle(1.0)
    fig["wizard.rss"] = run.seen.peak_rss_mib


def instances(
    fig: Figures, env: dict[str, str], count: int, prefix: str, *, remembered: bool = False
) -> None:
    """`d2l-tui --instances`: the first frame, every row on screen, the sweep done with costs, and
    the peak memory with the screen open (leftovers listed too)."""
    with TmuxRun([str(BIN), "--instances"], env) as run:
        # Its first frame: the starting screen that says it opens them, or the screen itself.
        fig[f"{prefix}.first"] = run.wait_for(
            "first", lambda s: "Opening your instances" in s or "Your instances" in s
        )
        fig[f"{prefix}.first_cpu"] = run.seen.cpu["first"]
        if count:

            def rows(screen: str) -> bool:
                return f"{count} instance(s)" in screen and ("remembered" in screen) == remembered

        else:

            def rows(screen: str) -> bool:
                return "No instances launched" in screen

        fig[f"{prefix}.rows"] = run.wait_for("rows", rows)
        fig[f"{prefix}.rows_cpu"] = run.seen.cpu["rows"]
        fig[f"{prefix}.done"] = run.wait_for(
            "done", lambda s: f"{count} instance(s); running" in s or "No instances launched" in s
        )
        fig[f"{prefix}.done_cpu"] = run.seen.cpu["done"]
        run.settle(1.5)  # the leftovers sweep runs after the rows: its memory counts too
    fig[f"{prefix}.rss"] = run.seen.peak_rss_mib


def demo(fig: Figures) -> None:
    with TmuxRun([str(BIN), "--demo"], base_env(tempfile.mkdtemp(prefix="d2l-bench-"))) as run:
        fig["demo.first"] = run.wait_for("first", lambda s: "Starting the simulated cloud" in s)
        fig["demo.ready"] = run.wait_for("ready", lambda s: "us-east-1" in s)
        run.settle(1.0)
    fig["demo.rss"] = run.seen.peak_rss_mib


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one command (it must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime


def ls_and_aws(fig: Figures, env: dict[str, str], aws: str | None, prefix: str) -> None:
    fig[f"{prefix}.ls"], fig[f"{prefix}.ls_cpu"] = timed([str(BIN), "ls", "--json"], env)
    if aws:
        fig[f"{prefix}.aws"], fig[f"{prefix}.aws_cpu"] = timed(
            [aws, "ec2", "describe-instances", "--region", "us-east-1"], env
        )


# -- printing -------------------------------------------------------------------------------------


def med(rounds: list[Figures], key: str) -> float:
    values = [r[key] for r in rounds if key in r]
    return statistics.median(values) if values else float("nan")


def ratio(rounds: list[Figures], key: str, base: str) -> float:
    """Median of the per-round ratios: both figures of a round saw the same machine."""
    values = [r[key] / r[base] for r in rounds if key in r and base in r and r[base]]
    return statistics.median(values) if values else float("nan")


def say(*text: str) -> None:
    """To the real stdout: moto's server prints a line for every call it cannot route (the Pricing
    API) to sys.stdout, which MotoWorld points elsewhere."""
    print(*text, file=sys.__stdout__, flush=True)


def row(path: str, ours: str, beside: str, ratios: str) -> None:
    say(f"| {path} | {ours} | {beside} | {ratios} |")


def s(value: float) -> str:
    return f"{value:.3f} s"


def run_rounds(count: int, one: Callable[[Figures], None], label: str) -> list[Figures]:
    rounds = []
    for n in range(count):
        fig: Figures = {}
        one(fig)
        rounds.append(fig)
        print(f"  {label} round {n + 1}/{count} done", file=sys.stderr, flush=True)
    return rounds


def main_table(world: MotoWorld, rounds: int, aws: str | None) -> list[Figures]:
    world.fill(20)
    count = world.count
    warm_home = tempfile.mkdtemp(prefix="d2l-bench-warm-")
    # Warm the page cache and .pyc files, and leave the remembered list for the second-start path.
    instances({}, world.env(warm_home), count, "warmup")
    demo({})
    bare({})

    flips = itertools.cycle([False, True])

    def both_region_lists(fig: Figures, run: Callable[[Figures, str], None], flip: bool) -> None:
        """The new account's 17 regions ("cold"/"n60") and moto's stock list ("stock") side by side,
        in turn first: a slot's place in the round showed in its figures (the cold start right after
        the wizard ran slower whichever the regions)."""
        pair = [("", world.default_account), ("stock", world.stock_regions)]
        for prefix, regions in reversed(pair) if flip else pair:
            regions()
            try:
                run(fig, prefix)
            finally:
                world.default_account()
                world.wait_idle()  # calls still in flight when a run ended (the leftovers sweep) end first

    def one(fig: Figures) -> None:
        flip = next(flips)
        bare(fig)
        wizard(fig, world.env())
        # A fresh HOME each: nothing remembered.
        both_region_lists(fig, lambda f, p: instances(f, world.env(), count, p or "cold"), flip)
        instances(fig, world.env(warm_home), count, "warm", remembered=True)
        world.wait_idle()
        demo(fig)
        both_region_lists(fig, lambda f, p: ls_and_aws(f, world.env(), None if p else aws, p or "n60"), flip)

    figures = run_rounds(rounds, one, "main")
    r = figures
    say(f"\n{count} managed instances in {len(REGIONS)} regions on a moto server ({world.endpoint});")
    default, stock = world.enabled_regions(), world.enabled_regions(stock=True)
    say(
        f"DescribeRegions lists a new account's {default} enabled regions (stock moto lists {stock}: "
        "it marks af-south-1, eu-south-1 and ap-southeast-3 enabled, which are opt-in regions on AWS);"
    )
    say(f"medians of {rounds} interleaved rounds; ratios are medians of per-round ratios.\n")
    say("| path | d2l-tui | beside it | ratio |")
    say("|---|---|---|---|")
    row(
        "first frame, wizard",
        s(med(r, "wizard.first")),
        f"bare Textual app {s(med(r, 'bare.first'))}",
        f"{ratio(r, 'wizard.first', 'bare.first'):.2f}× bare (target ≤ 1.3×)",
    )
    row(
        "first frame, `--instances`",
        f"{s(med(r, 'cold.first'))}, {med(r, 'cold.first_cpu'):.2f} s CPU",
        f"bare {s(med(r, 'bare.first'))}, {med(r, 'bare.first_cpu'):.2f} s CPU; "
        f"wizard's CPU {med(r, 'wizard.first_cpu'):.2f} s",
        f"{ratio(r, 'cold.first', 'bare.first'):.2f}× bare (target ≤ 1.3×); "
        f"CPU {ratio(r, 'cold.first_cpu', 'wizard.first_cpu'):.2f}× the wizard's (target ≤ 1.0×)",
    )
    row(
        f"{count} instances on screen, first start",
        f"{s(med(r, 'cold.rows'))}, {med(r, 'cold.rows_cpu'):.2f} s CPU; "
        f"costs shown {s(med(r, 'cold.done'))}; {med(r, 'cold.rss'):.0f} MiB",
        f"bare {s(med(r, 'bare.first'))}",
        f"{ratio(r, 'cold.rows', 'bare.first'):.2f}× bare (target ≤ 1.5 s)",
    )
    row(
        f"the same, moto's {stock} regions",
        f"{s(med(r, 'stock.rows'))}, {med(r, 'stock.rows_cpu'):.2f} s CPU; "
        f"costs shown {s(med(r, 'stock.done'))}",
        f"bare {s(med(r, 'bare.first'))}",
        f"{ratio(r, 'stock.rows', 'bare.first'):.2f}× bare",
    )
    row(
        "the same, second start (remembered list)",
        s(med(r, "warm.rows")),
        f"bare {s(med(r, 'bare.first'))}",
        f"{ratio(r, 'warm.rows', 'bare.first'):.2f}× bare",
    )
    if aws:
        row(
            "`ls --json`, every enabled region",
            f"{s(med(r, 'n60.ls'))}, {med(r, 'n60.ls_cpu'):.2f} s CPU",
            f"`aws ec2 describe-instances`, one region, {s(med(r, 'n60.aws'))}, "
            f"{med(r, 'n60.aws_cpu'):.2f} s CPU",
            f"{ratio(r, 'n60.ls', 'n60.aws'):.2f}× aws (target ≤ 1.0×)",
        )
    else:
        row("`ls --json`, every enabled region", s(med(r, "n60.ls")), "aws CLI not installed", "-")
    row(
        f"`ls --json`, moto's {stock} regions",
        f"{s(med(r, 'stock.ls'))}, {med(r, 'stock.ls_cpu'):.2f} s CPU",
        f"aws as above {s(med(r, 'n60.aws'))}" if aws else "-",
        f"{ratio(r, 'stock.ls', 'n60.aws'):.2f}× aws" if aws else "-",
    )
    row(
        "peak memory: real mode (instances open) / wizard / `--demo`",
        f"{med(r, 'cold.rss'):.0f} / {med(r, 'wizard.rss'):.0f} / {med(r, 'demo.rss'):.0f} MiB",
        f"bare {med(r, 'bare.rss'):.0f} MiB",
        f"{ratio(r, 'cold.rss', 'bare.rss'):.1f}× / {ratio(r, 'wizard.rss', 'bare.rss'):.1f}× / "
        f"{ratio(r, 'demo.rss', 'bare.rss'):.1f}× bare (targets ≤ 100 / - / ≤ 180 MiB)",
    )
    row(
        "`--demo`: region step ready",
        s(med(r, "demo.ready")),
        f"bare {s(med(r, 'bare.first'))}",
        f"{ratio(r, 'demo.ready', 'bare.first'):.2f}× bare",
    )
    if MISSING_PEERS:
        say(f"\nNot measured (not installed here): {', '.join(MISSING_PEERS)}.")
    return figures


def grow(world: MotoWorld, rounds: int, aws: str | None, n60: list[Figures] | None) -> None:
    """`ls --json` and the instances screen (first start) with 0, 60 and 300 instances."""
    results: dict[int, list[Figures]] = defaultdict(list)
    for per_region in (0, 20, 100):
        count = per_region * len(REGIONS)
        if per_region == 20 and n60:
            results[count] = [
                {"ls": f["n60.ls"], "ls_cpu": f["n60.ls_cpu"], "aws": f.get("n60.aws", float("nan"))}
                | {k.replace("cold.", "inst."): v for k, v in f.items() if k.startswith("cold.")}
                for f in n60
            ]
            continue
        world.fill(per_region)
        ls_and_aws({}, world.env(), aws, "warmup")

        def one(fig: Figures, count: int = count) -> None:
            ls_and_aws(fig, world.env(), aws, "g")
            instances(fig, world.env(), count, "inst")
            world.wait_idle()
            fig["ls"], fig["ls_cpu"] = fig.pop("g.ls"), fig.pop("g.ls_cpu")
            fig["aws"] = fig.pop("g.aws", float("nan"))

        results[count] = run_rounds(rounds, one, f"{count} instances")
    say("\nHow cost grows (first start of the instances screen; medians):\n")
    say(
        "| instances | `ls --json` | its CPU | aws, one region | instances on screen | app CPU then | costs shown | peak RSS |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for count in sorted(results):
        r = results[count]
        say(
            f"| {count} | {s(med(r, 'ls'))} | {med(r, 'ls_cpu'):.2f} s | {s(med(r, 'aws'))} | "
            f"{s(med(r, 'inst.rows'))} | {med(r, 'inst.rows_cpu'):.2f} s | {s(med(r, 'inst.done'))} | "
            f"{med(r, 'inst.rss'):.0f} MiB |"
        )
    if 0 in results and 300 in results:
        slope = (med(results[300], "inst.done_cpu") - med(results[0], "inst.done_cpu")) / 300
        ls_slope = (med(results[300], "ls_cpu") - med(results[0], "ls_cpu")) / 300
        say(
            f"\nPer instance: app CPU +{slope * 1000:.2f} ms (to costs shown); `ls` CPU +{ls_slope * 1000:.2f} ms."
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grow-rounds", type=int, default=3)
    parser.add_argument("--only", choices=["table", "grow"], default=None)
    opts = parser.parse_args()
    if not shutil.which("tmux"):
        say("tmux is not installed (apt-get install tmux)")
        return 1
    aws = real_aws_cli()
    say(f"d2l-tui: {BIN}; aws CLI: {aws or 'not installed (its rows are left out)'}")
    from bench.machine_speed import speed_line

    say(f"{speed_line()} (before)")
    with MotoWorld() as world:
        n60 = main_table(world, opts.rounds, aws) if opts.only in (None, "table") else None
        if opts.only in (None, "grow"):
            grow(world, opts.grow_rounds, aws, n60)
    say(f"{speed_line()} (after)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
