"""The speed-up plot drawn in text: each type's points where its speed-up falls between the axis's
labels, the ideal line under them, and every figure in the legend."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench import published_records, results_file_of
from tui.flows.bench_compare import compare
from tui.services.bench_results import load_results
from tui.widgets.scaling_plot import IDEAL, draw, legend


def series(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = results_file_of(tmp_path / "r.jsonl", published_records())
    return compare(load_results(path)).series


def test_each_point_lies_between_the_labels_of_its_speedup(tmp_path: Path) -> None:
    plotted = series(tmp_path)
    assert [s.label for s in plotted][-1] == "p4d.24xlarge (published)"  # D: the only 8-GPU type
    lines = [line.plain for line in draw(plotted, 60, 14)]
    assert all(len(line) <= 60 for line in lines)
    label_line = {line.split()[0]: i for i, line in enumerate(lines) if "┤" in line}
    assert set(label_line) == {"1", "2", "4", "8"}
    d_line = next(i for i, line in enumerate(lines) if line.rstrip().endswith("D"))
    assert label_line["8"] < d_line < label_line["4"]  # 6.86× on 8 GPUs: under 8, over 4
    # Every type is 1.00× on one GPU: the letters side by side on the "1" line, at the left.
    assert lines[label_line["1"]].startswith("1 ┤ABCD")
    # The ideal (N× on N GPUs) is drawn, and ends at the top right.
    assert IDEAL in lines[label_line["8"]] and lines[label_line["8"]].rstrip().endswith(IDEAL)
    ticks = lines[-1].split()
    assert ticks == ["1", "2", "4", "8", "GPUs"]


def test_the_legend_says_every_speedup_and_efficiency(tmp_path: Path) -> None:
    keys = [line.plain for line in legend(series(tmp_path))]
    assert keys[3].startswith("D p4d.24xlarge (published), 8× A100: ")
    assert keys[3].endswith(", 6.86× on 8 (86%)")
    assert keys[0].startswith("A g4dn.12xlarge (published), 4× T4: 1.80× on 2 (90%)")


def test_any_size_draws_within_its_width(tmp_path: Path) -> None:
    plotted = series(tmp_path)
    for width in (12, 40, 79, 118):
        for height in (3, 8, 30):
            lines = draw(plotted, width, height)
            assert all(len(line) <= width for line in lines), (width, height)
            assert len(lines) == max(height - 2, 4) + 2
