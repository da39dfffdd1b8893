"""The replaying nvidia-smi with load=follow (--demo's hosts): busy while a registered training process
runs, idle otherwise, for every GPU model, from the model's own capture of that state or one derived
from a real capture of it (tui/demo/gpu_load.py). The processes here are real ones on this machine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.instances import FAKE_NVIDIA_SMI
from tui.demo.bench_replay import GPU_PYTHON
from tui.services.remote.gpu_parse import GpuQuery, parse_help

FIELDS = "index,name,utilization.gpu,memory.used,memory.total,power.draw,power.limit,clocks.current.sm"


def replay(home: Path, *args: str, **settings: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "D2L_FAKE_NVIDIA_SMI_LOAD": "follow"}
    env.update({f"D2L_FAKE_NVIDIA_SMI_{k.upper()}": v for k, v in settings.items()})
    done = subprocess.run(
        [sys.executable, str(FAKE_NVIDIA_SMI), *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def gpus(home: Path, profile: str, **settings: str) -> list[dict[str, float | str]]:
    out = replay(home, f"--query-gpu={FIELDS}", "--format=csv,noheader,nounits", profile=profile, **settings)
    rows = []
    for line in out.splitlines():
        values = line.split(", ")
        row: dict[str, float | str] = {}
        for field, value in zip(FIELDS.split(","), values, strict=True):
            try:
                row[field] = float(value)
            except ValueError:
                row[field] = value
        rows.append(row)
    return rows


def apps(home: Path, profile: str, **settings: str) -> list[list[str]]:
    out = replay(
        home,
        "--query-compute-apps=gpu_bus_id,pid,used_memory,process_name",
        "--format=csv,noheader,nounits",
        profile=profile,
        **settings,
    )
    return [line.split(", ") for line in out.splitlines()]


@pytest.fixture
def training(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A live process registered as holding the GPUs, as gpu-python registers itself."""
    process = subprocess.Popen(["sleep", "60"])
    held = tmp_path / ".d2l-fake-gpu"
    held.mkdir()
    (held / str(process.pid)).touch()
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize(
    ("profile", "busy_util"),
    [("t4", 97.0), ("a10g", 97.0), ("v100s-x8", 97.0), ("l40s", 9.0), ("h200", 100.0), ("h100", 100.0)],
)
def test_idle_until_a_training_process_holds_the_gpus_then_busy_as_its_model(
    tmp_path: Path, profile: str, busy_util: float
) -> None:
    idle = gpus(tmp_path, profile)
    assert {row["utilization.gpu"] for row in idle} == {0.0}
    assert apps(tmp_path, profile) == []

    process = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / ".d2l-fake-gpu").mkdir()
        (tmp_path / ".d2l-fake-gpu" / str(process.pid)).touch()
        busy = gpus(tmp_path, profile)
        held = apps(tmp_path, profile)
    finally:
        process.kill()
        process.wait()
    assert busy[0]["utilization.gpu"] == busy_util
    for before, after in zip(idle, busy, strict=True):  # the same GPU: its identity is its own capture's
        for field in ("index", "name", "memory.total", "power.limit"):
            assert before[field] == after[field]
        assert 0 < float(after["memory.used"]) <= float(after["memory.total"])
        assert float(before["power.draw"]) < float(after["power.draw"]) <= float(after["power.limit"])
    assert [pid for _, pid, _, _ in held] == [str(process.pid)] * len(busy)  # on every GPU
    assert [float(used) for _, _, used, _ in held] == [row["memory.used"] for row in busy]

    assert {row["utilization.gpu"] for row in gpus(tmp_path, profile)} == {0.0}  # it ended: idle
    assert not list((tmp_path / ".d2l-fake-gpu").iterdir())  # and forgotten


def test_the_t4s_busy_row_is_its_capture_in_a_real_training_runs_state(
    tmp_path: Path, training: subprocess.Popen[bytes]
) -> None:
    (t4,) = gpus(tmp_path, "t4")
    # V100S GPU 0 trained at 97%, 31689 of 32510 MiB, 232.80 of 250 W, 1410 of 1597 MHz: the same shares
    # of the T4's 15360 MiB, 70 W and 1590 MHz.
    assert (t4["utilization.gpu"], t4["memory.used"], t4["power.draw"], t4["clocks.current.sm"]) == (
        97.0,
        round(31689 / 32510 * 15360),
        round(232.80 / 250 * 70, 2),
        round(1410 / 1597 * 1590),
    )


def test_two_processes_share_each_gpus_memory_and_mig_stays_unknown(
    tmp_path: Path, training: subprocess.Popen[bytes]
) -> None:
    second = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / ".d2l-fake-gpu" / str(second.pid)).touch()
        held = apps(tmp_path, "h100", gpus="2")
        (row, _) = gpus(tmp_path, "h100", gpus="2")
    finally:
        second.kill()
        second.wait()
    assert sorted(pid for _, pid, _, _ in held) == sorted([str(training.pid), str(second.pid)] * 2)
    assert {float(used) for _, _, used, _ in held} == {round(float(row["memory.used"]) / 2)}
    (mig,) = gpus(tmp_path, "a100-mig")
    assert mig["utilization.gpu"] == "[N/A]"  # MIG says no utilisation, busy or not


def test_gpu_python_registers_its_own_pid_then_runs_python(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "D2L_SIM_PYTHON": sys.executable}
    done = subprocess.run(
        [str(GPU_PYTHON), "-c", "import os; print(os.getpid())"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / ".d2l-fake-gpu").iterdir()] == [done.stdout.strip()]


def test_the_apps_own_query_reads_the_busy_t4(tmp_path: Path, training: subprocess.Popen[bytes]) -> None:
    query = GpuQuery.for_driver(parse_help(replay(tmp_path, "--help-query-gpu", profile="t4")))
    out = replay(tmp_path, *query.command(500).split()[1:-2], profile="t4")  # one sample, no loop
    (sample,) = [query.parse(line) for line in out.splitlines()]
    assert sample is not None and (sample.name, sample.util_pct, sample.mem_total_mib) == (
        "Tesla T4",
        97.0,
        15360.0,
    )
