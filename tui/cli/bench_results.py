"""`d2l-tui bench --results [--json]`: the benchmark runs compared, as the results screen shows them.

Text: the table side by side across types (one column per type, one line per figure), the speed-up
at each GPU count, and the assumptions under it. --json: every record as kept, plus the derived
figures per type (speed-up, efficiency, $ per epoch, $ per PFLOP, the book's cost) and the scaling
series. Problems with the results file go to stderr as sentences naming the file; the exit status
is still 0 when some runs could be read. Reads a local file only: no AWS, no instance.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from tui.cli.output import say, table
from tui.flows.bench_compare import NO_RUNS, Comparison, compare, notes, transposed

if TYPE_CHECKING:
    from tui.context import AppContext


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        action="store_true",
        help="print the benchmark runs kept on this machine, compared across instance types",
    )
    parser.add_argument("--json", action="store_true", help="with --results: the records and figures as JSON")


def print_results(args: argparse.Namespace, ctx: AppContext | None = None) -> int:
    """0 printed (no runs yet is an answer too); 1 when the file has problems and no run could be read."""
    from tui.services.bench_results import load_results

    results = load_results()
    comparison = compare(results)
    for problem in comparison.problems:
        say(f"d2l-tui: {problem}")
    if getattr(args, "json", False):
        print(json.dumps(comparison.to_json(results.records), indent=2))
    elif comparison.rows:
        print(text(comparison))
    else:
        say(NO_RUNS)
    return 1 if comparison.problems and not results.records else 0


def text(comparison: Comparison) -> str:
    lines = [table(transposed(comparison)), ""]
    series = comparison.series
    if series:
        lines.append("Speed-up against GPU count (ideal: N× on N GPUs):")
        lines.append(table([["", "GPUs", "speed-up", "efficiency"]] + _scaling_rows(comparison)))
        lines.append("")
    lines.extend(notes(comparison))
    return "\n".join(lines)


def _scaling_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for s in comparison.series:
        for i, (gpus, speedup) in enumerate(s.points):
            rows.append([s.label if i == 0 else "", str(gpus), f"{speedup:.2f}×", f"{speedup / gpus:.0%}"])
    return rows
