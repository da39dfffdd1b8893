"""`d2l-tui bench --results [--json]` (run in the test's process, tests/support/cli_run.py), reading the results file the app keeps
(under XDG_STATE_HOME), made of the published fixtures with the app's own store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.bench import published_raw, published_records, results_file_of
from tests.support.cli_run import run_cli
from tui.flows.bench_compare import BOOK_EPOCHS, NO_RUNS


def d2l(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In this process, as `python -m tui` runs it (tests/support/cli_run.py)."""
    return run_cli(dict(os.environ), *args)  # the isolated env: XDG_STATE_HOME under tmp_path, no AWS


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return results_file_of(
        Path(os.environ["XDG_STATE_HOME"]) / "d2l-tui" / "bench-results.jsonl", published_records()
    )


def test_the_table_is_printed_side_by_side(results: Path, tmp_path: Path) -> None:
    done = d2l(tmp_path, "bench", "--results")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = lines[0].split()
    assert header == [
        "g4dn.xlarge",
        "g5.xlarge",
        "g4dn.12xlarge",
        "g5.12xlarge",
        "p3.8xlarge",
        "p4d.24xlarge",
    ]
    speedups = next(line for line in lines if line.startswith("Speed-up "))
    p4d = published_raw()["p4d.24xlarge"]
    one, eight = (next(p["images_per_s"] for p in p4d["scaling"] if p["gpus"] == n) for n in (1, 8))
    assert speedups.split()[-3:] == [f"{eight / one:.2f}×", "on", "8"]
    # The scaling table: the type's first line is 1 GPU, then 2, 4 and 8 on lines of their own.
    start = next(i for i, line in enumerate(lines) if line.startswith("p4d.24xlarge (published) "))
    assert [line.split()[-3] for line in lines[start : start + 4]] == ["1", "2", "4", "8"]
    assert f"about {BOOK_EPOCHS} epochs" in done.stdout and "not measurements" in done.stdout
    assert done.stderr == ""


def test_json_holds_every_record_and_the_derived_figures(results: Path, tmp_path: Path) -> None:
    done = d2l(tmp_path, "bench", "--results", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    raw = published_raw()
    assert {r["run_id"]: r for r in data["records"]} == {r["run_id"]: r for r in raw.values()}
    rows = {row["instance_type"]: row for row in data["comparison"]}
    t4 = raw["g4dn.12xlarge"]
    one, four = (next(p["images_per_s"] for p in t4["scaling"] if p["gpus"] == n) for n in (1, 4))
    derived = rows["g4dn.12xlarge"]["derived"]
    assert derived["speedup"] == pytest.approx(four / one)
    assert derived["efficiency"] == pytest.approx(four / one / 4)
    per_epoch = t4["price_per_hour"] * 60_000 / four / 3600
    assert derived["dollars_per_epoch"] == pytest.approx(per_epoch)
    assert derived["book_dollars"] == pytest.approx(per_epoch * BOOK_EPOCHS)
    assert rows["g4dn.12xlarge"]["source"] == "published"
    assert data["book_epochs"] == BOOK_EPOCHS and data["problems"] == []
    series = {s["label"]: s["points"] for s in data["scaling"]}
    assert series["g4dn.12xlarge (published)"][-1] == [4, pytest.approx(four / one)]
    assert "g4dn.xlarge (published)" not in series  # one GPU: nothing to plot


def test_a_damaged_line_is_named_on_stderr_and_the_rest_printed(results: Path, tmp_path: Path) -> None:
    with results.open("a") as f:
        f.write("not json\n")
    done = d2l(tmp_path, "bench", "--results")
    assert done.returncode == 0
    assert f"Line 7 of {results} is not a benchmark record" in done.stderr
    assert "p4d.24xlarge" in done.stdout


def test_only_damaged_lines_fail_with_the_sentence(tmp_path: Path) -> None:
    path = Path(os.environ["XDG_STATE_HOME"]) / "d2l-tui" / "bench-results.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("{}\n")
    done = d2l(tmp_path, "bench", "--results", "--json")
    assert done.returncode == 1
    assert f"Line 1 of {path}" in done.stderr
    assert json.loads(done.stdout)["records"] == []


def test_no_runs_says_how_to_make_one(tmp_path: Path) -> None:
    done = d2l(tmp_path, "bench", "--results")
    assert done.returncode == 0
    assert done.stdout == "" and NO_RUNS in done.stderr


def test_bench_without_name_or_results_is_refused_with_a_sentence(tmp_path: Path) -> None:
    done = d2l(tmp_path, "bench")
    assert done.returncode == 2
    assert "needs an instance NAME" in done.stderr and "--results" in done.stderr
    assert "Traceback" not in done.stderr
    both = d2l(tmp_path, "bench", "my-box", "--results")
    assert both.returncode == 2 and "NAME or --results, not both" in both.stderr
    json_alone = d2l(tmp_path, "bench", "my-box", "--json")
    assert json_alone.returncode == 2 and "--json goes with --results" in json_alone.stderr


def test_results_are_read_from_this_machine_without_starting_a_cloud(results: Path, tmp_path: Path) -> None:
    """--demo would start a simulated cloud (and say so) for a command that asks no cloud anything."""
    done = d2l(tmp_path, "--demo", "bench", "--results")
    assert done.returncode == 0, done.stderr
    assert "g4dn.12xlarge" in done.stdout and "simulated cloud" not in done.stderr
