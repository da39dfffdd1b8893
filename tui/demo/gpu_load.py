"""Busy while a training process runs: which capture a simulated GPU shows, for the replaying nvidia-smi.

On an instance the GPU is busy while a process holds it and idle otherwise; the demo's replay
follows the same rule (``load=follow``, set by the demo's hosts). A process "holds the GPU" when it
registered itself in the host's registry folder, as the demo's ``gpu-python`` does before it
becomes the benchmark's Python: one empty file per PID, forgotten once the PID is gone.

Busy shows the GPU model's loaded capture and idle its idle one. Where the captures hold only one
of the two for a model (the T4 and A10G captures are idle, the L40S and H200 ones loaded), the
other is derived from a real capture of the missing state (``LOAD_DONOR``, ``IDLE_DONOR``): its
utilisation, temperature and performance state as they are, its memory, power and clocks as the
same share of this GPU's own total, limit and maximum. Such a row is labelled derived in
tui/demo/nvidia-smi/SOURCES.md; the GPU's identity (name, memory size, power limit, bus, UUID) is
always its own capture's.

Standard library only: the replaying nvidia-smi imports it under whatever python3 the host has.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A real training run: 8 V100S-PCIE-32GB, each 97% busy under one `python` process.
LOAD_DONOR = "v100s-pcie-32gb-x8_460.73.01_q-x.xml"
# A real idle H100: 0%, no process, clocks down to 345 of 1980 MHz.
IDLE_DONOR = "h100-80gb-hbm3_590.48.01_query-gpu-allfields_idle.csv"

_NUMBER = re.compile(r"^(-?[0-9.]+) ?(.*)$")
KEPT_FROM_DONOR = ("utilization.gpu", "utilization.memory", "temperature.gpu", "pstate")
CLOCKS = ("graphics", "sm", "memory")


def registry(home: str) -> Path:
    return Path(os.environ.get("D2L_FAKE_GPU_PROCS") or Path(home) / ".d2l-fake-gpu")


def training_pids(folder: Path) -> list[int]:
    """The registered PIDs still running, oldest registration first; gone ones are forgotten."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    alive = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            entry.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass  # someone else's process took the number: it runs, but it is not ours
        alive.append(pid)
    return alive


def process_name(pid: int) -> str:
    """What nvidia-smi calls a process: its executable's name (Linux /proc; elsewhere "python3")."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "python3"
    except OSError:
        return "python3"


def state_of(row: dict[str, str]) -> str:
    """busy | idle | unknown (MIG reports no utilisation: the same capture serves both)."""
    util = _number(row.get("utilization.gpu", ""))
    if util is None:
        return "unknown"
    return "idle" if util == 0 else "busy"


def derive(own: dict[str, str], donor: dict[str, str]) -> dict[str, str]:
    """This GPU's row in the donor's state: see the module's docstring for what comes from where."""
    row = dict(own)
    for field in KEPT_FROM_DONOR:
        if field in donor:
            row[field] = donor[field]
    used = _share(donor, "memory.used", "memory.total")
    total = _number(own.get("memory.total", ""))
    if used is not None and total is not None:
        row["memory.used"] = f"{round(used * total)} MiB"
        row["memory.free"] = f"{round(total - used * total)} MiB"
    draw = _share(donor, "power.draw", "power.limit")
    limit = _number(own.get("power.limit", ""))
    if draw is not None and limit is not None:
        row["power.draw"] = f"{draw * limit:.2f} W"
    for clock in CLOCKS:
        share = _share(donor, f"clocks.current.{clock}", f"clocks.max.{clock}")
        top = _number(own.get(f"clocks.max.{clock}", ""))
        if share is not None and top is not None:
            row[f"clocks.current.{clock}"] = f"{round(share * top)} MHz"
    return row


def _share(row: dict[str, str], part: str, whole: str) -> float | None:
    numerator, denominator = _number(row.get(part, "")), _number(row.get(whole, ""))
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _number(value: str) -> float | None:
    match = _NUMBER.match(value.strip())
    return float(match.group(1)) if match else None


def share_out(used: str, among: int) -> str:
    """One process's part of a GPU's used memory ("[N/A]" where the GPU doesn't say)."""
    total = _number(used)
    if total is None or among < 1:
        return "[N/A]"
    return f"{round(total / among)} MiB"
