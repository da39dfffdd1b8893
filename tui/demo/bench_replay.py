"""The --demo instance's benchmark: a record told again by the real script, labelled simulated.

The simulated machine has no GPU and no PyTorch, so its benchmark (the same runner, recipe and
d2l_bench.py as a real instance's) runs ``--replay`` on a record written here for its instance
type: the GPU's datasheet peaks as its matmul and memory figures (so they read as 100% of peak,
plainly not a measurement) and an illustrative scaling curve. The script marks it "simulated",
and the results table keeps it apart from measurements (tui/bench_record.py SOURCES).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPLAY_DELAY_S = 0.4  # seconds between progress lines: a few seconds in all, like a short run
# Illustrative only: images/s on one GPU per datasheet fp32 TFLOPS, and each added GPU's share.
_IMAGES_PER_S_PER_TFLOP = 100.0
_EACH_MORE_GPU = 0.93


def replay_record(instance_type: str) -> dict[str, Any]:
    from tui.services.bench_peaks import peaks_for
    from tui.services.cloud.bundled_catalog import bundled_specs

    spec = bundled_specs().get(instance_type)
    gpu_name = spec.gpu_name if spec else "T4"
    count = spec.gpu_count if spec else 1
    peaks = peaks_for(gpu_name)
    tflops = peaks.tflops if peaks else {"fp32": 8.1}
    name = f"NVIDIA {gpu_name} (simulated)"
    one = _IMAGES_PER_S_PER_TFLOP * tflops.get("fp32", 8.1)
    return {
        "gpu_name": name,
        "gpu_count": count,
        "backend": "torch",
        "data": "generated",
        "devices": [
            {
                "index": i,
                "name": name,
                "matmul": [{"precision": p, "tflops": v, "peak_tflops": v} for p, v in tflops.items()],
                "memory_gbs": peaks.memory_gbs if peaks else None,
                "host_to_device_gbs": None,
            }
            for i in range(count)
        ],
        "scaling": [
            {"gpus": n, "images_per_s": one * n * _EACH_MORE_GPU ** (n - 1)} for n in range(1, count + 1)
        ],
        "driver": "",
        "cuda": "",
        "framework": "pytorch",
        "framework_version": "2.0.0",
        "notes": ["The figures are the GPU's datasheet peaks and an illustrative scaling curve."],
    }


def bench_environment(home: Path, instance_type: str) -> dict[str, str]:
    """What the simulated machine's benchmark step reads (tui/services/remote/bench.py): this Python
    in place of ~/d2l's, and the record to replay."""
    record = home / ".d2l-simulated" / "bench-replay.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(replay_record(instance_type)))
    return {
        "D2L_BENCH_PYTHON": sys.executable,
        "D2L_BENCH_REPLAY": str(record),
        "D2L_BENCH_REPLAY_DELAY": f"{REPLAY_DELAY_S:g}",
    }
