"""The nouns of a benchmark run (issue 16): what `d2l-tui bench` measured on one instance.

One ``BenchRecord`` per run, kept locally one JSON object a line, compared across instance types on
the results screen and by `d2l-tui bench --results`. Plain frozen dataclasses like ``tui/models.py``;
nothing here imports Textual or boto3. The figures are what the instance's benchmark script printed;
speed-up, efficiency and money are derived here, once, for every door.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# The precisions the matmul test tries, in the order a table shows them. tf32 and bf16 exist only on
# Ampere and later; a GPU without them has no figure for them (not a zero).
PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
# One epoch of the book's Fashion-MNIST training set (d2l.load_data_fashion_mnist: 60,000 images).
EPOCH_IMAGES = 60_000
# What the book's training costs is "$ per epoch × BOOK_EPOCHS". The heavy part of the book's
# training is Chapters 7-8 (LeNet to DenseNet: about seven networks costing, per image, roughly what
# its ResNet-18 does: 0.3-1 GMAC), each trained 10 epochs on Fashion-MNIST, plus the multi-GPU
# chapter's ResNet-18 runs (Chapter 13) and the computer-vision examples (Chapter 14, ResNet-18 on
# CIFAR-10 and fine-tuning): about 100 such epochs. The other chapters' models are small beside them.
BOOK_EPOCHS = 100
# Where a record's figures came from: a run of the script, a datasheet (fixtures and docs only), or
# the --demo cloud's replay of a published record (never mixed into a comparison as a measurement).
SOURCES = ("measured", "published", "simulated")


@dataclass(frozen=True)
class MatmulFigure:
    precision: str  # one of PRECISIONS
    tflops: float  # measured dense matrix-multiply throughput
    peak_tflops: float | None = None  # the GPU's datasheet dense peak at this precision; None: unknown


@dataclass(frozen=True)
class DeviceFigures:
    """One GPU's own figures (or the CPU's, for the numpy check run on a machine without a GPU)."""

    index: int
    name: str
    matmul: tuple[MatmulFigure, ...] = ()
    memory_gbs: float | None = None  # device memory bandwidth (a device-to-device copy), GB/s
    host_to_device_gbs: float | None = None  # pinned host memory to the device, GB/s

    def at(self, precision: str) -> MatmulFigure | None:
        return next((m for m in self.matmul if m.precision == precision), None)


@dataclass(frozen=True)
class ScalingPoint:
    """The book's multi-GPU ResNet-18 on Fashion-MNIST, trained data-parallel on ``gpus`` GPUs."""

    gpus: int
    images_per_s: float

    @property
    def epoch_s(self) -> float:
        return EPOCH_IMAGES / self.images_per_s if self.images_per_s > 0 else float("inf")


@dataclass(frozen=True)
class BenchRecord:
    run_id: str  # unique per run (the runner's run key); a run is recorded once
    when: datetime  # UTC, when the run finished
    instance_type: str
    gpu_name: str  # "" where the machine has no GPU (the CPU-only check)
    gpu_count: int
    backend: str  # "torch" on a GPU; "numpy" for the CPU-only parts the test suite runs
    quick: bool
    data: str  # "fashion-mnist" (the book's download) | "generated" (same shape, no network) | "" (not run)
    devices: tuple[DeviceFigures, ...] = ()
    scaling: tuple[ScalingPoint, ...] = ()
    instance_id: str = ""
    instance_name: str = ""
    region: str = ""
    driver: str = ""
    cuda: str = ""
    framework: str = ""  # "pytorch", "numpy"
    framework_version: str = ""
    purchase: str = "on-demand"  # or "spot": which price the money figures use
    price_per_hour: float | None = None  # None: price unknown, so no money figures
    source: str = "measured"  # one of SOURCES
    notes: tuple[str, ...] = ()  # what the script said it skipped or assumed, in its words

    # ---- derived figures -------------------------------------------------------------------------

    def point(self, gpus: int) -> ScalingPoint | None:
        return next((p for p in self.scaling if p.gpus == gpus), None)

    def speedup(self, point: ScalingPoint) -> float | None:
        """Images/s on ``point.gpus`` GPUs over images/s on one; None without a 1-GPU figure."""
        one = self.point(1)
        if one is None or one.images_per_s <= 0:
            return None
        return point.images_per_s / one.images_per_s

    def efficiency(self, point: ScalingPoint) -> float | None:
        """Speed-up per GPU: 1.0 is perfect scaling."""
        speedup = self.speedup(point)
        return None if speedup is None else speedup / point.gpus

    def best_point(self) -> ScalingPoint | None:
        """The fastest configuration measured (normally all GPUs)."""
        return max(self.scaling, key=lambda p: p.images_per_s, default=None)

    def dollars_per_epoch(self, point: ScalingPoint | None = None) -> float | None:
        """What one epoch costs at the instance's rate, on ``point`` (default: the fastest)."""
        point = point or self.best_point()
        if point is None or self.price_per_hour is None or point.images_per_s <= 0:
            return None
        return self.price_per_hour * point.epoch_s / 3600

    def dollars_per_pflop(self, precision: str) -> float | None:
        """What a PFLOP of matrix multiply costs at this precision, with every GPU busy.

        The instance is billed as a whole, so the rate is divided by the sum of its GPUs' figures.
        """
        figures = [d.at(precision) for d in self.devices]
        total = sum(f.tflops for f in figures if f is not None)
        if self.price_per_hour is None or total <= 0:
            return None
        seconds_per_pflop = 1000 / total
        return self.price_per_hour * seconds_per_pflop / 3600

    # ---- the results file's shape ----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "when": self.when.astimezone(timezone.utc).isoformat(),
            "instance_type": self.instance_type,
            "gpu_name": self.gpu_name,
            "gpu_count": self.gpu_count,
            "backend": self.backend,
            "quick": self.quick,
            "data": self.data,
            "devices": [
                {
                    "index": d.index,
                    "name": d.name,
                    "matmul": [
                        {"precision": m.precision, "tflops": m.tflops, "peak_tflops": m.peak_tflops}
                        for m in d.matmul
                    ],
                    "memory_gbs": d.memory_gbs,
                    "host_to_device_gbs": d.host_to_device_gbs,
                }
                for d in self.devices
            ],
            "scaling": [{"gpus": p.gpus, "images_per_s": p.images_per_s} for p in self.scaling],
            "instance_id": self.instance_id,
            "instance_name": self.instance_name,
            "region": self.region,
            "driver": self.driver,
            "cuda": self.cuda,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "purchase": self.purchase,
            "price_per_hour": self.price_per_hour,
            "source": self.source,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BenchRecord:
        """The inverse of ``to_json``; raises KeyError/TypeError/ValueError on a malformed record
        (the store turns that into a sentence naming the file)."""
        when = datetime.fromisoformat(str(raw["when"]))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return cls(
            run_id=str(raw["run_id"]),
            when=when,
            instance_type=str(raw["instance_type"]),
            gpu_name=str(raw.get("gpu_name", "")),
            gpu_count=int(raw["gpu_count"]),
            backend=str(raw["backend"]),
            quick=bool(raw.get("quick", False)),
            data=str(raw.get("data", "")),
            devices=tuple(
                DeviceFigures(
                    index=int(d["index"]),
                    name=str(d["name"]),
                    matmul=tuple(
                        MatmulFigure(
                            precision=str(m["precision"]),
                            tflops=float(m["tflops"]),
                            peak_tflops=None if m.get("peak_tflops") is None else float(m["peak_tflops"]),
                        )
                        for m in d.get("matmul", ())
                    ),
                    memory_gbs=_float_or_none(d.get("memory_gbs")),
                    host_to_device_gbs=_float_or_none(d.get("host_to_device_gbs")),
                )
                for d in raw.get("devices", ())
            ),
            scaling=tuple(
                ScalingPoint(gpus=int(p["gpus"]), images_per_s=float(p["images_per_s"]))
                for p in raw.get("scaling", ())
            ),
            instance_id=str(raw.get("instance_id", "")),
            instance_name=str(raw.get("instance_name", "")),
            region=str(raw.get("region", "")),
            driver=str(raw.get("driver", "")),
            cuda=str(raw.get("cuda", "")),
            framework=str(raw.get("framework", "")),
            framework_version=str(raw.get("framework_version", "")),
            purchase=str(raw.get("purchase", "on-demand")),
            price_per_hour=_float_or_none(raw.get("price_per_hour")),
            source=str(raw.get("source", "measured")),
            notes=tuple(str(n) for n in raw.get("notes", ())),
        )


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


__all__ = [
    "EPOCH_IMAGES",
    "PRECISIONS",
    "SOURCES",
    "BenchRecord",
    "DeviceFigures",
    "MatmulFigure",
    "ScalingPoint",
]
