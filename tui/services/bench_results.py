"""The local table of benchmark runs: one JSON record a line, appended once per run.

The results are the user's measurements (they cost money to make), so a damaged file is never set
aside or rewritten: a line that is not a record is skipped with a sentence that names the file and
the line, and every other run is still shown. Appending writes one whole line with O_APPEND, so two
runs finishing at once can't interleave, and a run already recorded (same run id, e.g. after a
reattach) is not recorded twice.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tui.bench_record import BenchRecord
from tui.paths import state_dir
from tui.services.local_files import UnreadableFile, read_text

log = logging.getLogger(__name__)

RESULTS_NAME = "bench-results.jsonl"


def results_file() -> Path:
    return state_dir() / RESULTS_NAME


@dataclass(frozen=True)
class BenchResults:
    records: tuple[BenchRecord, ...]  # oldest first, as they were run
    problems: tuple[str, ...] = ()  # a sentence per line or file that could not be read

    def by_type(self) -> dict[str, tuple[BenchRecord, ...]]:
        """Runs grouped by instance type, each type's newest run last."""
        groups: dict[str, list[BenchRecord]] = {}
        for record in sorted(self.records, key=lambda r: r.when):
            groups.setdefault(record.instance_type, []).append(record)
        return {name: tuple(runs) for name, runs in groups.items()}


def load_results(path: Path | None = None) -> BenchResults:
    """Every readable record in the file; a missing file is no runs yet, not a problem."""
    path = path or results_file()
    try:
        text = read_text(path)
    except FileNotFoundError:
        return BenchResults(())
    except UnreadableFile as exc:
        log.warning("benchmark results %s unreadable: %s", path, exc.reason)
        return BenchResults(
            (),
            (
                f"The benchmark results file {path} could not be read ({exc.reason}); no runs are shown. "
                "Move it away to start a new table; it is left as it is.",
            ),
        )
    records: list[BenchRecord] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise TypeError("not an object")
            record = BenchRecord.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("benchmark results %s line %d skipped: %s", path, number, exc)
            problems.append(
                f"Line {number} of {path} is not a benchmark record; it was skipped and the other runs are shown."
            )
            continue
        if record.run_id in seen:
            continue
        seen.add(record.run_id)
        records.append(record)
    return BenchResults(tuple(records), tuple(problems))


def append_result(record: BenchRecord, path: Path | None = None) -> bool:
    """Add the run to the table; False (and nothing written) when its run id is already there."""
    path = path or results_file()
    if any(r.run_id == record.run_id for r in load_results(path).records):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record.to_json(), separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return True
