"""The chapter's exercises 2 and 3 from the local benchmark table: how fast each GPU type is, what
its epoch and the book cost, and how well its GPUs scale.

Both doors show what this decides: the results screen (tui/screens/bench_results.py) and
`d2l-tui bench --results` (tui/cli/bench_results.py). One row per instance type and source: the
type's newest full run (a quick run only where no full one exists, and said so), with how many runs
there are. Measured, published and simulated records are never mixed: each source has rows of its
own, labelled, measured first. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.bench_record import BOOK_EPOCHS, EPOCH_IMAGES, SOURCES, BenchRecord, ScalingPoint
from tui.services.bench_results import BenchResults

BOOK_ASSUMPTION = (
    f"Book $ takes the book's training as about {BOOK_EPOCHS} epochs of its ResNet-18 on Fashion-MNIST "
    "(mostly the CNN chapters' ten-epoch runs)."
)
PUBLISHED_NOTE = "Published: datasheet peaks and estimates, not measurements."
SIMULATED_NOTE = "Simulated: --demo's replays, not a GPU."
SHOWN_PRECISIONS = ("fp32", "tf32", "fp16")
SOURCE_ORDER = {source: i for i, source in enumerate(SOURCES)}  # measured, published, simulated

# The figures the doors show, in order: (key, label). Every row of the comparison has a cell for each.
FIGURES = (
    ("source", "Source"),
    ("gpus", "GPUs"),
    ("fp32", "fp32 TFLOPS"),
    ("tf32", "tf32 TFLOPS"),
    ("fp16", "fp16 TFLOPS"),
    ("memory", "Memory GB/s"),
    ("h2d", "Host→GPU GB/s"),
    ("images", "Images/s, all"),
    ("epoch", "Epoch"),
    ("speedup", "Speed-up"),
    ("efficiency", "Efficiency"),
    ("per_hour", "$/h"),
    ("per_epoch", "$/epoch"),
    ("per_pflop", "$/PFLOP fp16"),
    ("book", "Book $"),
    ("runs", "Runs"),
)


def short_gpu(name: str) -> str:
    """'NVIDIA A100-SXM4-40GB' -> 'A100', 'Tesla T4' -> 'T4': the table's cells are narrow."""
    words = [w for w in name.split() if w not in ("NVIDIA", "Tesla", "GeForce")]
    return words[0].split("-")[0] if words else (name or "-")


@dataclass(frozen=True)
class Matmul:
    tflops: float
    share_of_peak: float | None  # of the datasheet's dense peak; None: no peak known


@dataclass(frozen=True)
class TypeRow:
    """One instance type's newest run from one source, with the figures derived from it."""

    instance_type: str
    source: str
    record: BenchRecord
    runs: int  # of this type from this source
    quick_only: bool  # no full run yet: the figures are a quick run's

    @property
    def gpu_label(self) -> str:
        gpu = short_gpu(self.record.gpu_name) if self.record.gpu_name else "CPU"
        return f"{self.record.gpu_count}× {gpu}" if self.record.gpu_name else gpu

    def matmul(self, precision: str) -> Matmul | None:
        """The best GPU's figure (a datasheet peak is per GPU)."""
        figures = [f for d in self.record.devices if (f := d.at(precision)) is not None]
        if not figures:
            return None
        best = max(figures, key=lambda f: f.tflops)
        share = best.tflops / best.peak_tflops if best.peak_tflops else None
        return Matmul(best.tflops, share)

    @property
    def memory_gbs(self) -> float | None:
        values = [d.memory_gbs for d in self.record.devices if d.memory_gbs is not None]
        return max(values, default=None)

    @property
    def host_to_device_gbs(self) -> float | None:
        values = [d.host_to_device_gbs for d in self.record.devices if d.host_to_device_gbs is not None]
        return max(values, default=None)

    @property
    def all_gpus(self) -> ScalingPoint | None:
        """The training figure on the most GPUs measured (all of them, normally)."""
        return max(self.record.scaling, key=lambda p: p.gpus, default=None)

    @property
    def speedup(self) -> float | None:
        point = self.all_gpus
        return None if point is None or point.gpus < 2 else self.record.speedup(point)

    @property
    def efficiency(self) -> float | None:
        point = self.all_gpus
        return None if point is None or point.gpus < 2 else self.record.efficiency(point)

    @property
    def dollars_per_epoch(self) -> float | None:
        return self.record.dollars_per_epoch(self.all_gpus)

    @property
    def dollars_per_pflop(self) -> float | None:
        return self.record.dollars_per_pflop("fp16")

    @property
    def book_dollars(self) -> float | None:
        per_epoch = self.dollars_per_epoch
        return None if per_epoch is None else per_epoch * BOOK_EPOCHS

    @property
    def label(self) -> str:
        """'g4dn.12xlarge (published)': a measurement's rows carry the type alone."""
        return self.instance_type if self.source == "measured" else f"{self.instance_type} ({self.source})"

    def cells(self) -> dict[str, str]:
        """The figures as the doors print them, keyed like FIGURES; "-" where there is none."""
        point = self.all_gpus
        source = self.source + (", quick" if self.quick_only else "")
        return {
            "source": source,
            "gpus": self.gpu_label,
            **{p: _matmul_cell(self.matmul(p)) for p in SHOWN_PRECISIONS},
            "memory": _number(self.memory_gbs),
            "h2d": _number(self.host_to_device_gbs, 1),
            "images": "-" if point is None else f"{_number(point.images_per_s)} on {point.gpus}",
            "epoch": "-" if point is None else seconds(point.epoch_s),
            "speedup": "-"
            if self.speedup is None or point is None
            else f"{self.speedup:.2f}× on {point.gpus}",
            "efficiency": "-" if self.efficiency is None else f"{self.efficiency:.0%}",
            "per_hour": dollars(self.record.price_per_hour)
            + (" spot" if self.record.purchase == "spot" and self.record.price_per_hour is not None else ""),
            "per_epoch": dollars(self.dollars_per_epoch),
            "per_pflop": dollars(self.dollars_per_pflop),
            "book": dollars(self.book_dollars),
            "runs": str(self.runs),
        }

    def derived(self) -> dict[str, Any]:
        """The derived figures as numbers, for --json."""
        point = self.all_gpus
        return {
            "gpus": self.gpu_label,
            "matmul": {
                p: None
                if (m := self.matmul(p)) is None
                else {"tflops": m.tflops, "share_of_peak": m.share_of_peak}
                for p in SHOWN_PRECISIONS
            },
            "memory_gbs": self.memory_gbs,
            "host_to_device_gbs": self.host_to_device_gbs,
            "all_gpus": None if point is None else {"gpus": point.gpus, "images_per_s": point.images_per_s},
            "epoch_s": None if point is None else point.epoch_s,
            "speedup": self.speedup,
            "efficiency": self.efficiency,
            "dollars_per_epoch": self.dollars_per_epoch,
            "dollars_per_pflop_fp16": self.dollars_per_pflop,
            "book_dollars": self.book_dollars,
        }


@dataclass(frozen=True)
class Series:
    """One type's speed-up against GPU count, for the plot (exercise 3)."""

    label: str  # TypeRow.label: the source is in it
    gpu_label: str
    points: tuple[tuple[int, float], ...]  # (GPUs, speed-up), fewest GPUs first


@dataclass(frozen=True)
class Comparison:
    rows: tuple[TypeRow, ...]  # measured first, then published, then simulated; cheapest first
    problems: tuple[str, ...] = ()  # the results file's, as sentences

    @property
    def series(self) -> tuple[Series, ...]:
        """Every row that trained on two GPUs or more: a single-GPU type has nothing to plot."""
        out = []
        for row in self.rows:
            points = tuple(
                (p.gpus, speedup)
                for p in sorted(row.record.scaling, key=lambda p: p.gpus)
                if (speedup := row.record.speedup(p)) is not None
            )
            if len(points) >= 2:
                out.append(Series(row.label, row.gpu_label, points))
        return tuple(out)

    def to_json(self, records: tuple[BenchRecord, ...]) -> dict[str, Any]:
        return {
            "book_epochs": BOOK_EPOCHS,
            "book_assumption": BOOK_ASSUMPTION,
            "epoch_images": EPOCH_IMAGES,
            "comparison": [
                {
                    "instance_type": row.instance_type,
                    "source": row.source,
                    "runs": row.runs,
                    "quick_only": row.quick_only,
                    "run_id": row.record.run_id,
                    "derived": row.derived(),
                }
                for row in self.rows
            ],
            "scaling": [{"label": s.label, "points": [list(p) for p in s.points]} for s in self.series],
            "records": [r.to_json() for r in records],
            "problems": list(self.problems),
        }


def compare(results: BenchResults) -> Comparison:
    groups: dict[tuple[str, str], list[BenchRecord]] = {}
    for record in sorted(results.records, key=lambda r: r.when):
        groups.setdefault((record.source, record.instance_type), []).append(record)
    rows = []
    for (source, itype), runs in groups.items():
        full = [r for r in runs if not r.quick]
        newest = (full or runs)[-1]
        rows.append(TypeRow(itype, source, newest, len(runs), quick_only=not full))
    rows.sort(
        key=lambda r: (
            SOURCE_ORDER.get(r.source, len(SOURCE_ORDER)),
            r.record.price_per_hour if r.record.price_per_hour is not None else float("inf"),
            r.instance_type,
        )
    )
    return Comparison(tuple(rows), results.problems)


def notes(comparison: Comparison) -> list[str]:
    """What a reader must know to read the table: the book's assumption, what isn't measured."""
    sources = {row.source for row in comparison.rows}
    return [
        BOOK_ASSUMPTION,
        *([PUBLISHED_NOTE] if "published" in sources else []),
        *([SIMULATED_NOTE] if "simulated" in sources else []),
    ]


def transposed(comparison: Comparison) -> list[list[str]]:
    """The table side by side across types: a header of types, then one line per figure."""
    rows = comparison.rows
    table = [["", *(r.instance_type for r in rows)]]  # the Source line tells two of a type apart
    cells = [r.cells() for r in rows]
    for key, label in FIGURES:
        table.append([label, *(c[key] for c in cells)])
    return table


# ---- how figures are written -------------------------------------------------------------------


def dollars(value: float | None) -> str:
    """$1,234, $12.40, $0.0115: three significant figures under a dollar (an epoch can cost a cent)."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.3g}"


def seconds(value: float) -> str:
    if value == float("inf"):
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _matmul_cell(figure: Matmul | None) -> str:
    if figure is None:
        return "-"
    share = "" if figure.share_of_peak is None else f" ({figure.share_of_peak:.0%})"
    return f"{figure.tflops:.1f}{share}"


NO_RUNS = (
    "No benchmark runs yet. Run one on an instance with `d2l-tui bench NAME` (add --quick for a short "
    "run) or with B on an instance; every run's figures are kept and compared here."
)
