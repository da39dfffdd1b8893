"""The comparison the results screen and `bench --results` show, on the published fixtures: every
derived figure is computed here by hand from the fixture's own numbers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.bench import FIXTURES, published_raw, published_records, results_file_of
from tui.flows.bench_compare import BOOK_EPOCHS, compare, dollars, seconds, transposed
from tui.services.bench_results import load_results


def images(raw: dict, gpus: int) -> float:
    return next(p["images_per_s"] for p in raw["scaling"] if p["gpus"] == gpus)


def test_every_fixture_says_it_is_published_in_its_name_and_its_source() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) >= 6, names
    for name in names:
        assert name.startswith("published-"), name
    for raw in published_raw().values():
        assert raw["source"] == "published"
        assert any("not a measurement" in note for note in raw["notes"])


def test_speedup_efficiency_and_money_match_the_fixture_by_hand(tmp_path: Path) -> None:
    path = results_file_of(tmp_path / "results.jsonl", published_records())
    rows = {row.instance_type: row for row in compare(load_results(path)).rows}
    raw = published_raw()["g4dn.12xlarge"]
    price = raw["price_per_hour"]

    speedup = images(raw, 4) / images(raw, 1)
    per_epoch = price * (60_000 / images(raw, 4)) / 3600
    fp16_total = sum(m["tflops"] for d in raw["devices"] for m in d["matmul"] if m["precision"] == "fp16")
    per_pflop = price * (1000 / fp16_total) / 3600

    row = rows["g4dn.12xlarge"]
    assert row.speedup == pytest.approx(speedup)
    assert row.efficiency == pytest.approx(speedup / 4)
    assert row.dollars_per_epoch == pytest.approx(per_epoch)
    assert row.dollars_per_pflop == pytest.approx(per_pflop)
    assert row.book_dollars == pytest.approx(per_epoch * BOOK_EPOCHS)
    fp32 = raw["devices"][0]["matmul"][0]
    assert fp32["precision"] == "fp32"
    matmul = row.matmul("fp32")
    assert matmul is not None and matmul.share_of_peak == pytest.approx(fp32["tflops"] / fp32["peak_tflops"])
    assert row.matmul("tf32") is None  # a T4 has no TF32: no figure, not a zero

    # The 8-GPU type: the speed-up is taken on all eight.
    p4d = published_raw()["p4d.24xlarge"]
    assert rows["p4d.24xlarge"].speedup == pytest.approx(images(p4d, 8) / images(p4d, 1))
    assert rows["p4d.24xlarge"].all_gpus is not None and rows["p4d.24xlarge"].all_gpus.gpus == 8
    # A single-GPU type has no speed-up, but its money figures.
    one = rows["g4dn.xlarge"]
    assert one.speedup is None and one.efficiency is None
    g4 = published_raw()["g4dn.xlarge"]
    assert one.dollars_per_epoch == pytest.approx(g4["price_per_hour"] * 60_000 / images(g4, 1) / 3600)


def test_the_table_prints_the_figures_side_by_side(tmp_path: Path) -> None:
    path = results_file_of(tmp_path / "results.jsonl", published_records())
    lines = transposed(compare(load_results(path)))
    header = lines[0]
    assert header[0] == "" and {"g4dn.12xlarge", "p4d.24xlarge", "g5.xlarge"} <= set(header)
    by_label = {line[0]: line[1:] for line in lines[1:]}
    column = header.index("g4dn.12xlarge") - 1
    raw = published_raw()["g4dn.12xlarge"]
    speedup = images(raw, 4) / images(raw, 1)
    assert by_label["Speed-up"][column] == f"{speedup:.2f}× on 4"
    assert by_label["Efficiency"][column] == f"{speedup / 4:.0%}"
    assert by_label["GPUs"][column] == "4× T4"
    assert by_label["Source"][column] == "published"
    assert by_label["tf32 TFLOPS"][column] == "-"
    assert by_label["Book $"][column] == dollars(raw["price_per_hour"] * 60_000 / images(raw, 4) / 3600 * 100)
    # Cheapest first within a source.
    assert header[1] == "g4dn.xlarge"


def test_newest_full_run_per_type_and_sources_never_mixed(tmp_path: Path) -> None:
    records = {r.instance_type: r for r in published_records()}
    base = records["g4dn.12xlarge"]
    old = dataclasses.replace(base, run_id="m-old", source="measured", when=base.when - timedelta(days=2))
    new = dataclasses.replace(
        base,
        run_id="m-new",
        source="measured",
        when=base.when + timedelta(days=1),
        price_per_hour=1.158,
        purchase="spot",
    )
    quick = dataclasses.replace(new, run_id="m-quick", quick=True, when=base.when + timedelta(days=3))
    only_quick = dataclasses.replace(
        records["g5.xlarge"], run_id="q", source="measured", quick=True, when=base.when + timedelta(days=4)
    )
    simulated = dataclasses.replace(
        base, run_id="sim", source="simulated", when=base.when + timedelta(days=9)
    )
    path = results_file_of(tmp_path / "r.jsonl", [*records.values(), old, new, quick, only_quick, simulated])
    comparison = compare(load_results(path))

    keys = [(row.source, row.instance_type) for row in comparison.rows]
    assert keys.count(("measured", "g4dn.12xlarge")) == 1
    assert ("published", "g4dn.12xlarge") in keys and ("simulated", "g4dn.12xlarge") in keys
    sources = [row.source for row in comparison.rows]
    assert sources == sorted(sources, key=["measured", "published", "simulated"].index)

    row = next(r for r in comparison.rows if (r.source, r.instance_type) == ("measured", "g4dn.12xlarge"))
    assert row.record.run_id == "m-new" and row.runs == 3 and not row.quick_only
    assert row.cells()["per_hour"] == "$1.16 spot"
    quick_row = next(r for r in comparison.rows if (r.source, r.instance_type) == ("measured", "g5.xlarge"))
    assert quick_row.quick_only and quick_row.cells()["source"] == "measured, quick"
    published = next(
        r for r in comparison.rows if (r.source, r.instance_type) == ("published", "g4dn.12xlarge")
    )
    assert published.record.run_id == "published-g4dn.12xlarge"  # not replaced by a newer simulated run
    labels = [s.label for s in comparison.series]
    assert "g4dn.12xlarge" in labels and "g4dn.12xlarge (published)" in labels
    assert "g4dn.12xlarge (simulated)" in labels


def test_a_corrupt_results_file_is_compared_anyway_with_a_sentence_naming_it(tmp_path: Path) -> None:
    path = results_file_of(tmp_path / "results.jsonl", published_records()[:2])
    with path.open("a") as f:
        f.write('{"run_id": "cut-off", "when": \n')
        f.write("[1, 2, 3]\n")
    comparison = compare(load_results(path))
    assert len(comparison.rows) == 2
    assert len(comparison.problems) == 2
    assert str(path) in comparison.problems[0] and "Line 3" in comparison.problems[0]
    assert "Line 4" in comparison.problems[1]


def test_figures_are_written_for_a_reader() -> None:
    assert dollars(None) == "-"
    assert dollars(0.011575) == "$0.0116"
    assert dollars(3.912) == "$3.91"
    assert dollars(1234.5) == "$1,234"
    assert seconds(24.58) == "24.6 s"
    assert seconds(79.7) == "1 min 20 s"
    assert seconds(7300) == "2 h 01 min"


def test_the_fixtures_are_what_their_generator_writes() -> None:
    """published.py holds the rule (SOURCES.md); a figure edited by hand in a JSON file fails here."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("published", FIXTURES / "published.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for itype, gpu, count, price in generator.INSTANCES:
        path = FIXTURES / generator.file_name(itype, gpu)
        assert json.loads(path.read_text()) == generator.record(itype, gpu, count, price).to_json(), path.name


def test_the_fixtures_prices_and_gpu_counts_are_the_bundled_catalogs() -> None:
    """SOURCES.md says so: us-east-1 on-demand in tui/data/aws-gpu-catalog.csv."""
    import csv

    catalog = Path(__file__).resolve().parents[1] / "tui" / "data" / "aws-gpu-catalog.csv"
    with catalog.open() as f:
        rows = {r["instance_type"]: r for r in csv.DictReader(f) if r["region"] == "us-east-1"}
    for itype, raw in published_raw().items():
        assert raw["price_per_hour"] == pytest.approx(float(rows[itype]["ondemand_usd_per_hour"])), itype
        assert raw["gpu_count"] == int(rows[itype]["gpu_count"]), itype
