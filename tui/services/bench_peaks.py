"""The GPUs' datasheet peaks (tui/data/bench/gpu-peaks.csv, sources noted there), by GPU name.

A measured figure is shown beside its peak ("31 of 35 TFLOPS"): the GPU names are the price
catalog's (aws-gpu-catalog.csv), and PyTorch's device names ("NVIDIA A100-SXM4-80GB", "Tesla T4")
are matched to them too.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

PEAKS_FILE = "gpu-peaks.csv"


@dataclass(frozen=True)
class GpuPeaks:
    gpu_name: str
    tflops: dict[str, float]  # precision -> dense peak; a precision the GPU lacks is absent
    memory_gbs: float | None


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def all_peaks() -> dict[str, GpuPeaks]:
    text = resources.files("tui.data").joinpath("bench").joinpath(PEAKS_FILE).read_text("utf-8")
    rows = csv.DictReader(
        io.StringIO("".join(line for line in text.splitlines(True) if not line.startswith("#")))
    )
    peaks = {}
    for row in rows:
        tflops = {p: v for p in ("fp32", "tf32", "fp16", "bf16") if (v := _number(row[p])) is not None}
        peaks[row["gpu_name"]] = GpuPeaks(row["gpu_name"], tflops, _number(row["memory_gbs"]))
    return peaks


def _catalog_name(device_name: str) -> str:
    """PyTorch's device name as the catalog spells the GPU ("" when it is none of them)."""
    words = device_name.upper().replace("NVIDIA", " ").replace("TESLA", " ")
    for name in sorted(all_peaks(), key=len, reverse=True):  # A100-80GB before A100
        base, _, memory = name.upper().partition("-")
        if re.search(rf"(?<![A-Z0-9]){re.escape(base)}(?![A-Z0-9])", words) and (
            not memory or memory in words
        ):
            return name
    return ""


def peaks_for(gpu_name: str) -> GpuPeaks | None:
    """The peaks of a GPU named as the catalog names it, or as PyTorch does; None when not listed."""
    peaks = all_peaks()
    return peaks.get(gpu_name) or peaks.get(_catalog_name(gpu_name))
