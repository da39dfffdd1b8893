"""The published benchmark fixtures (tests/fixtures/bench/published-*.json) and a results file made
of them with the app's own store (tui/services/bench_results.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.bench_record import BenchRecord
from tui.services.bench_results import append_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bench"


def published_raw() -> dict[str, dict[str, Any]]:
    """instance type -> the fixture's JSON, as the file says it."""
    out = {}
    for path in sorted(FIXTURES.glob("published-*.json")):
        raw = json.loads(path.read_text())
        out[raw["instance_type"]] = raw
    return out


def published_records() -> list[BenchRecord]:
    return [BenchRecord.from_json(raw) for raw in published_raw().values()]


def results_file_of(path: Path, records: list[BenchRecord]) -> Path:
    """``path`` holding ``records``, appended as a run appends them."""
    for record in records:
        assert append_result(record, path)
    return path
