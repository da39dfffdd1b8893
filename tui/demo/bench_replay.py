"""The --demo instance's benchmark: a record told again by the real script, labelled simulated.

The simulated machine has no GPU and no PyTorch, so its benchmark (the same runner, recipe and
d2l_bench.py as a real instance's) runs ``--replay`` on a record written here for its instance
type: a share of the GPU's datasheet peaks and an estimated training rate and scaling, by the same
rule as the published fixtures, so the demo's table reads like a run's, not like 100% of peak. The script marks it "simulated",
and the results table keeps it apart from measurements (tui/bench_record.py SOURCES).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

REPLAY_DELAY_S = 0.4  # seconds between progress lines: a few seconds in all, like a short run

# The estimate rule, shared with the published fixtures (tests/fixtures/bench/published.py, whose
# SOURCES.md argues each figure): a run reaches a share of the datasheet peak, not the peak.
# The book's ResNet-18 (28×28 Fashion-MNIST, 3×3 stem, no max pooling): about 0.43 GMAC forward per
# image; training is about three forward passes, at 2 FLOP per MAC.
TRAIN_GFLOP_PER_IMAGE = 0.43 * 3 * 2
# Share of the achieved fp32 matmul rate a small-image CNN training step keeps (a guess: batch 256
# of 28×28 images is far from a large GEMM; batch norm, the optimizer and launches cost the rest).
CNN_UTILISATION = 0.4
MEMORY_SHARE = 0.8  # a device-to-device copy's share of the datasheet bandwidth
MATMUL_SHARE = 0.6  # the achieved share of a matmul peak where a GPU has no figure of its own
PER_DOUBLING = 0.90  # scaling efficiency kept per doubling of GPUs (PCIe; NVLink keeps about 0.95)


def images_per_s(fp32_tflops: float) -> float:
    """One GPU's training rate on the book's ResNet-18 at this achieved fp32 rate (the estimate)."""
    return fp32_tflops * CNN_UTILISATION * 1000 / TRAIN_GFLOP_PER_IMAGE


def scaled(one: float, gpus: int, per_doubling: float = PER_DOUBLING) -> float:
    return one * gpus * per_doubling ** math.log2(gpus)


def replay_record(instance_type: str) -> dict[str, Any]:
    from tui.services.bench_peaks import peaks_for
    from tui.services.cloud.bundled_catalog import bundled_specs

    spec = bundled_specs().get(instance_type)
    gpu_name = spec.gpu_name if spec else "T4"
    count = spec.gpu_count if spec else 1
    peaks = peaks_for(gpu_name)
    tflops = peaks.tflops if peaks else {"fp32": 8.1}
    name = f"NVIDIA {gpu_name} (simulated)"
    achieved = {p: round(v * MATMUL_SHARE, 2) for p, v in tflops.items()}
    one = images_per_s(achieved.get("fp32", 8.1 * MATMUL_SHARE))
    return {
        "gpu_name": name,
        "gpu_count": count,
        "backend": "torch",
        "data": "generated",
        "devices": [
            {
                "index": i,
                "name": name,
                "matmul": [
                    {"precision": p, "tflops": achieved[p], "peak_tflops": v} for p, v in tflops.items()
                ],
                "memory_gbs": round(peaks.memory_gbs * MEMORY_SHARE, 1)
                if peaks and peaks.memory_gbs
                else None,
                "host_to_device_gbs": None,
            }
            for i in range(count)
        ],
        "scaling": [{"gpus": n, "images_per_s": round(scaled(one, n), 1)} for n in range(1, count + 1)],
        "driver": "",
        "cuda": "",
        "framework": "pytorch",
        "framework_version": "2.0.0",
        "notes": [
            f"Simulated: {MATMUL_SHARE:.0%} of the GPU's datasheet peaks and an estimated ResNet-18 rate "
            "and scaling (the rule of the published fixtures), not a measurement."
        ],
    }


# This Python, registered as holding the simulated GPUs while it runs (the GPU pane shows them busy).
GPU_PYTHON = Path(__file__).resolve().parent / "bin" / "gpu-python"


def bench_environment(home: Path, instance_type: str) -> dict[str, str]:
    """What the simulated machine's benchmark step reads (tui/services/remote/bench.py): this Python
    (through gpu-python) in place of ~/d2l's, and the record to replay."""
    record = home / ".d2l-simulated" / "bench-replay.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(replay_record(instance_type)))
    return {
        "D2L_BENCH_PYTHON": str(GPU_PYTHON),
        "D2L_SIM_PYTHON": sys.executable,
        "D2L_BENCH_REPLAY": str(record),
        "D2L_BENCH_REPLAY_DELAY": f"{REPLAY_DELAY_S:g}",
    }
