"""Reading nvidia-smi: what the GPU panel asks of it and what its output means. Pure: no I/O.

``GpuQuery`` is the ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits -lms N`` command and
its parser: the fields asked for (less those the driver's ``--help-query-gpu`` doesn't list), and
how to read a line of their values. Every line is checked against the number of fields asked for;
a line that doesn't fit is not a sample. ``TickAssembler`` groups samples into one tick per
interval (each line carries ``count``, the number of GPUs, so a tick is complete as soon as its
last GPU arrives).

When nvidia-smi can't give numbers, ``classify`` says why (``GpuState``: not installed yet, driver
not loaded, driver/library mismatch, no devices, anything else it printed). The processes on the
GPUs come from ``PROCESSES_SCRIPT`` (``--query-compute-apps`` joined with ``ps`` for the user),
read by ``parse_processes``. What runs all this over SSH is tui.services.remote.gpu.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tui.models import GpuProcess, GpuSample, GpuState, GpuStatus
from tui.services.words import ELLIPSIS, shorten

MIN_INTERVAL_MS = 500  # nvidia-smi's own utilization window: sampling faster shows nothing new

# What we read, as (sample attribute, nvidia-smi field names in order of preference). The names are
# in every driver's `--help-query-gpu` from 450 on (the captures in tests/fixtures/nvidia-smi):
# power.draw.average/.instant are not (older drivers refuse the whole query), so power.draw it is.
WANTED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("index", ("index",)),
    ("count", ("count",)),
    ("name", ("name",)),
    ("uuid", ("uuid",)),
    ("bus_id", ("pci.bus_id",)),
    ("util_pct", ("utilization.gpu",)),
    ("mem_util_pct", ("utilization.memory",)),
    ("mem_used_mib", ("memory.used",)),
    ("mem_total_mib", ("memory.total",)),
    ("temp_c", ("temperature.gpu",)),
    ("power_w", ("power.draw",)),
    ("power_limit_w", ("enforced.power.limit", "power.limit")),
    ("sm_clock_mhz", ("clocks.current.sm",)),
    ("mig", ("mig.mode.current",)),
)
# The other names nvidia-smi accepts (and prints in headers) for the fields above.
ALIASES = {
    "gpu_name": "name",
    "gpu_uuid": "uuid",
    "gpu_bus_id": "pci.bus_id",
    "clocks.sm": "clocks.current.sm",
    "gpu.power.current_limit": "enforced.power.limit",
    "gpu.power.requested_limit": "power.limit",
}
_TEXT = frozenset({"name", "uuid", "bus_id"})
_INT = frozenset({"index", "count"})
# Units `--format=csv` (without nounits) appends; a capture taken that way parses the same.
_UNITS = frozenset({"MiB", "%", "W", "MHz", "C", "us"})
_PREFERENCE = {attr: names for attr, names in WANTED}


def _number(text: str) -> float | None:
    """A numeric cell, or None for what nvidia-smi prints instead of a value: [N/A], N/A,
    [Not Supported], [Insufficient Permissions], [Unknown Error], … (shown blank, never 0)."""
    if not text or text[0] == "[" or text == "N/A":
        return None
    try:
        value = float(text)
    except ValueError:
        head, _, unit = text.rpartition(" ")
        value = None
        if unit in _UNITS:
            with contextlib.suppress(ValueError):
                value = float(head)
    # "nan", "inf" or an overflow is no reading either: unknown, never shown as a number.
    return value if value is not None and math.isfinite(value) else None


# What nvidia-smi prints instead of a text value: "[N/A]", "[Not Supported]", "[Unknown Error]"…
# Only the whole cell: a process named "[bold]x [/] train.py" is a name, not a placeholder.
_PLACEHOLDER = re.compile(r"\[[A-Za-z][A-Za-z ]*\]")


def _text(text: str) -> str:
    return "" if not text or text == "N/A" or _PLACEHOLDER.fullmatch(text) else text


class GpuQuery:
    """The fields asked of nvidia-smi, in column order, and how to read a line of their values."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(fields)
        canonical = [ALIASES.get(f, f) for f in self.fields]
        columns: list[tuple[int, str]] = []
        for attr, names in WANTED:
            for name in names:  # the most preferred name present wins
                if name in canonical:
                    columns.append((canonical.index(name), attr))
                    break
        self.width = len(self.fields)
        self._columns = tuple(columns)

    @classmethod
    def for_driver(cls, supported: set[str] | None = None) -> GpuQuery:
        """Our fields, less those the driver's `--help-query-gpu` doesn't list (None: not probed)."""
        fields = []
        for attr, names in WANTED:
            for name in names:
                if supported is None or name in supported or attr == "index":
                    fields.append(name)
                    break
        return cls(fields)

    @classmethod
    def from_header(cls, header: str) -> GpuQuery:
        """The query a `--format=csv` header line describes ("memory.used [MiB]" is memory.used)."""
        return cls(name.split(" [", 1)[0].strip() for name in header.rstrip("\r\n").split(", "))

    def command(self, interval_ms: int) -> str:
        return (
            f"nvidia-smi --query-gpu={','.join(self.fields)} --format=csv,noheader,nounits "
            f"-lms {max(MIN_INTERVAL_MS, int(interval_ms))}"
        )

    def parse(self, line: str) -> GpuSample | None:
        """One line as a sample; None when it isn't one (wrong number of columns, unreadable
        index). A query without index (someone else's capture) reads as GPU 0."""
        cells = line.split(", ")
        if len(cells) != self.width:
            return None
        values: dict[str, Any] = {"index": 0}
        for pos, attr in self._columns:
            cell = cells[pos].strip()
            if attr in _TEXT:
                values[attr] = _text(cell)
            elif attr == "mig":
                values[attr] = cell == "Enabled"
            elif attr in _INT:
                if cell.isdigit():
                    values[attr] = int(cell)
                elif attr == "index":
                    return None
            else:
                values[attr] = _number(cell)
        return GpuSample(**values)


def parse_help(text: str) -> set[str]:
    """Every field name (aliases too) a `nvidia-smi --help-query-gpu` lists."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith('"'):
            names.update(part for i, part in enumerate(line.split('"')) if i % 2)
    return names


class TickAssembler:
    """Groups samples into one tick per interval: complete when `count` GPUs arrived, or when an
    index shows up again (a driver that doesn't report count)."""

    def __init__(self) -> None:
        self._batch: list[GpuSample] = []
        self._seen: set[int] = set()

    def feed(self, sample: GpuSample) -> list[tuple[GpuSample, ...]]:
        done = []
        if sample.index in self._seen:
            done.append(self.flush())
        self._batch.append(sample)
        self._seen.add(sample.index)
        if sample.count is not None and len(self._batch) >= sample.count:
            done.append(self.flush())
        return [d for d in done if d]

    def flush(self) -> tuple[GpuSample, ...]:
        batch = tuple(self._batch)
        self._batch, self._seen = [], set()
        return batch


# --- what nvidia-smi says instead of numbers ----------------------------------------------------

_NOT_INSTALLED = GpuState(
    GpuStatus.NOT_INSTALLED,
    "nvidia-smi isn't installed on the instance yet.",
    "The setup's NVIDIA driver step installs it (follow the setup with l on the instances screen, "
    "or `d2l-tui provision NAME`); the GPUs show up as soon as it is there.",
)
_NO_DRIVER = GpuState(
    GpuStatus.NO_DRIVER,
    "nvidia-smi couldn't communicate with the NVIDIA driver: it is installed but not loaded.",
    "The setup's reboot step loads it (or run `sudo reboot` on the instance); sampling picks up by "
    "itself after the reboot.",
)
_MISMATCH = GpuState(
    GpuStatus.MISMATCH,
    "The NVIDIA driver was updated but the old one is still loaded (driver/library version mismatch).",
    "Reboot the instance (the setup's reboot step, or `sudo reboot`); sampling picks up by itself.",
)
_NO_DEVICES = GpuState(
    GpuStatus.NO_DEVICES,
    "nvidia-smi found no GPU on this instance.",
    "Check that its type has one (g4dn, g5, g6, p4d, p5, …). If it does, stop and start the instance "
    "to move it to another host.",
)
_PATTERNS = (
    ("command not found", _NOT_INSTALLED),
    ("nvidia-smi: not found", _NOT_INSTALLED),
    ("couldn't communicate with the nvidia driver", _NO_DRIVER),
    ("driver/library version mismatch", _MISMATCH),
    ("no devices were found", _NO_DEVICES),
)


def known_problem(text: str) -> GpuState | None:
    low = text.lower()
    for needle, state in _PATTERNS:
        if needle in low:
            return state
    return None


def classify(text: str, exit_status: int | None) -> GpuState:
    """What nvidia-smi's output (stdout and stderr) and exit status mean for the panel."""
    found = known_problem(text)
    if found is None and exit_status == 127:
        found = _NOT_INSTALLED
    if found is not None:
        return replace(found, exit_status=exit_status)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # Its own words, cut at a word with "…" when long (a sentence cut mid-word reads as a typo).
    said = f": {shorten(first, 160).rstrip('.')}" if first else ""
    end = "" if said.endswith(ELLIPSIS) else "."
    return GpuState(
        GpuStatus.FAILED,
        f"nvidia-smi stopped (exit status {exit_status}){said}{end}",
        "It is tried again by itself; if it keeps failing, run nvidia-smi on the instance "
        "(`d2l-tui ssh NAME`) to see why.",
        exit_status=exit_status,
    )


def describe(state: GpuState) -> str:
    """The state as one line: what, the next step, and when the panel tries again."""
    text = f"{state.what} {state.next_step}".strip()
    if state.retry_in_s is not None and state.problem:
        text += f" Trying again in {state.retry_in_s:.0f} s."
    return text


# --- processes ------------------------------------------------------------------------------------

APPS_FIELDS = "gpu_bus_id,gpu_uuid,pid,used_memory,process_name"
PS_MARK = "::d2l-ps::"
PROCESSES_SCRIPT = (
    f"apps=$(nvidia-smi --query-compute-apps={APPS_FIELDS} --format=csv,noheader,nounits 2>&1); "
    'rc=$?; printf "%s\\n" "$apps"; '
    f'echo "{PS_MARK} $rc"; '
    "pids=$(printf '%s\\n' \"$apps\" | awk -F', ' '$3 ~ /^[0-9]+$/ {print $3}' | sort -u | paste -sd, -); "
    'if [ -n "$pids" ]; then ps -o pid=,user:32=,args= -p "$pids" 2>/dev/null; fi; true'
)


def parse_processes(
    text: str, bus_index: dict[str, int], uuid_index: dict[str, int]
) -> tuple[GpuProcess, ...] | None:
    """The processes script's output as processes (None: nvidia-smi couldn't list them)."""
    apps, mark, rest = text.partition(PS_MARK)
    if not mark:
        return None
    rc_text, _, ps_out = rest.partition("\n")
    if rc_text.strip() != "0":
        return None
    users: dict[int, tuple[str, str]] = {}
    for line in ps_out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit():
            users[int(parts[0])] = (parts[1], parts[2] if len(parts) > 2 else "")
    found = []
    for line in apps.splitlines():
        cells = line.split(", ", 4)
        if len(cells) != 5 or not cells[2].strip().isdigit():
            continue  # "No running processes found" on old drivers, or a line we can't read
        bus, uuid, pid_text, used, name = (c.strip() for c in cells)
        pid = int(pid_text)
        index = bus_index.get(bus.upper())
        if index is None:
            index = uuid_index.get(uuid)
        user, args = users.get(pid, ("", ""))
        found.append(GpuProcess(index, pid, _number(used), args or _text(name), user))
    found.sort(key=lambda p: (p.gpu_index if p.gpu_index is not None else 1 << 30, p.pid))
    return tuple(found)
