"""Reading nvidia-smi: real captured rows (H100, H200, L40S, MIG, a P100's nounits row), every error
text the panel must recognise, the field probe, tick grouping, the process join, and the replay
(tui/demo/bin/nvidia-smi) answering the app's own query from the real captures, XML ones included.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.instances import FAKE_NVIDIA_SMI
from tui.models import GpuSample, GpuStatus, GpuTick
from tui.services.remote.gpu import HISTORY_POINTS, GpuHistory, interval_step, summarize
from tui.services.remote.gpu_parse import (
    PS_MARK,
    GpuQuery,
    TickAssembler,
    classify,
    describe,
    parse_help,
    parse_processes,
)

DEMO = Path(__file__).resolve().parents[1] / "tui" / "demo" / "nvidia-smi"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvidia-smi"
NEW_HELP = DEMO / "h100-80gb-hbm3_590.48.01_help-query-gpu.txt"
OLD_HELP = DEMO / "older-driver_help-query-gpu_netdata.txt"


def capture(name: str, folder: Path = DEMO) -> GpuSample:
    """A `--format=csv` capture (header + one row) read by a query built from its header."""
    header, row = (folder / name).read_text().splitlines()[:2]
    query = GpuQuery.from_header(header)
    sample = query.parse(row)
    assert sample is not None, f"{name}: {query.width} fields, row has {len(row.split(', '))}"
    return sample


def test_h100_loaded_and_idle_captures() -> None:
    load = capture("h100-80gb-hbm3_590.48.01_query-gpu-allfields_load.csv")
    assert (load.index, load.name, load.bus_id) == (0, "NVIDIA H100 80GB HBM3", "00000000:00:09.0")
    assert (load.util_pct, load.mem_util_pct) == (100.0, 11.0)
    assert (load.mem_used_mib, load.mem_total_mib) == (19818.0, 81559.0)
    assert (load.temp_c, load.power_w, load.power_limit_w, load.sm_clock_mhz) == (59.0, 631.95, 700.0, 1980.0)
    assert load.mig is False and load.count == 1
    idle = capture("h100-80gb-hbm3_590.48.01_query-gpu-allfields_idle.csv")
    # An idle GPU's zeros are real zeros, not blanks.
    assert (idle.util_pct, idle.mem_used_mib, idle.sm_clock_mhz) == (0.0, 0.0, 345.0)


def test_h200_and_l40s_captures() -> None:
    h200 = capture("h200_590.48.01_query-gpu-allfields_load.csv")
    assert (h200.name, h200.mem_total_mib, h200.mem_used_mib) == ("NVIDIA H200", 143771.0, 32362.0)
    l40s = capture("l40s_595.80_query-gpu-allfields_load.csv")  # 202 columns on driver 595.80
    assert (l40s.name, l40s.util_pct, l40s.power_limit_w, l40s.sm_clock_mhz) == (
        "NVIDIA L40S",
        9.0,
        350.0,
        2520.0,
    )
    assert l40s.mig is False  # mig.mode.current is [N/A] on a GPU without MIG


def test_mig_capture_has_memory_but_no_utilization() -> None:
    mig = capture("h100-80gb-hbm3-mig_590.48.01_query-gpu-allfields_load.csv")
    assert mig.mig is True
    assert mig.util_pct is None and mig.mem_util_pct is None  # [N/A] under MIG: blank, not 0
    assert (mig.mem_used_mib, mig.mem_total_mib, mig.power_w) == (11125.0, 81559.0, 433.78)


def test_a_real_nounits_row_with_na() -> None:
    p100 = capture("tesla-p100_query-gpu_csv-nounits.csv", FIXTURES)  # no index: GPU 0
    assert (p100.index, p100.name, p100.util_pct, p100.temp_c) == (0, "Tesla P100-PCIE-16GB", 0.0, 37.0)
    assert (p100.power_w, p100.sm_clock_mhz) == (28.16, 405.0)
    assert p100.mem_total_mib is None and p100.power_limit_w is None  # not in that query


QUERY = GpuQuery.for_driver(parse_help(NEW_HELP.read_text()))
ROW = "3, 8, NVIDIA H100 80GB HBM3, GPU-1, 00000000:53:00.0, 87, 40, 1000, 81559, 61, 512.5, 700.00, 1980, Disabled"


@pytest.mark.parametrize(
    "value", ["[N/A]", "N/A", "[Not Supported]", "[Insufficient Permissions]", "[Unknown Error]", ""]
)
def test_values_nvidia_smi_could_not_give_are_blank(value: str) -> None:
    cells = ROW.split(", ")
    for pos in (5, 6, 7, 9, 10, 11, 12):  # utilization, memory used, temperature, power, limit, clock
        cells[pos] = value
    sample = QUERY.parse(", ".join(cells))
    assert sample is not None and sample.index == 3 and sample.mem_total_mib == 81559.0
    assert sample.util_pct is sample.mem_util_pct is sample.mem_used_mib is None
    assert sample.temp_c is sample.power_w is sample.power_limit_w is sample.sm_clock_mhz is None
    assert sample.mem_pct is None


@pytest.mark.parametrize(
    "line",
    [
        ROW.rsplit(", ", 1)[0],  # a column short
        ROW + ", extra",  # one too many
        "x, 8, NVIDIA H100 80GB HBM3, GPU-1, 00000000:53:00.0, 87, 40, 1000, 81559, 61, 512.5, 700.00, 1980, Disabled",
        "Unable to determine the device handle for GPU0000:53:00.0: Unknown Error",
        "",
    ],
)
def test_lines_that_dont_fit_are_refused(line: str) -> None:
    assert QUERY.parse(line) is None


def test_the_probe_keeps_only_fields_the_driver_knows() -> None:
    new, old = parse_help(NEW_HELP.read_text()), parse_help(OLD_HELP.read_text())
    assert "power.draw.average" in new and "power.draw.average" not in old
    assert {"clocks.sm", "clocks.current.sm", "gpu_name", "name"} <= old  # aliases count too
    # The portable set: the same query on the 590 driver and on the older one.
    assert GpuQuery.for_driver(new).fields == GpuQuery.for_driver(old).fields
    assert "power.draw" in QUERY.fields and not any(".average" in f or ".instant" in f for f in QUERY.fields)
    # A driver without MIG fields: mig.mode.current is left out and lines still parse.
    older = GpuQuery.for_driver(old - {"mig.mode.current", "enforced.power.limit"})
    assert "mig.mode.current" not in older.fields and "power.limit" in older.fields
    sample = older.parse("0, 1, Tesla T4, GPU-x, 00000000:00:1E.0, 3, 1, 22, 15360, 40, 26.78, 70.00, 585")
    assert sample is not None and sample.power_limit_w == 70.0 and sample.mig is False
    assert QUERY.command(250).endswith("--format=csv,noheader,nounits -lms 500")  # the 500 ms floor


ERRORS = [
    (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
        "latest NVIDIA driver is installed and running.",
        9,
        GpuStatus.NO_DRIVER,
        "reboot",
    ),
    (
        "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 590.48",
        18,
        GpuStatus.MISMATCH,
        "Reboot",
    ),
    ("No devices were found", 6, GpuStatus.NO_DEVICES, "stop and start"),
    ("bash: line 1: nvidia-smi: command not found", 127, GpuStatus.NOT_INSTALLED, "driver step"),
    ("", 127, GpuStatus.NOT_INSTALLED, "driver step"),
    ("sh: 1: nvidia-smi: not found", 127, GpuStatus.NOT_INSTALLED, "driver step"),
]


@pytest.mark.parametrize(("text", "rc", "status", "advice"), ERRORS)
def test_each_error_text_is_a_state_with_a_next_step(
    text: str, rc: int, status: GpuStatus, advice: str
) -> None:
    state = classify(text, rc)
    assert state.status is status and state.problem and state.exit_status == rc
    assert advice in state.next_step
    assert describe(replace(state, retry_in_s=4.0)).endswith(f"{state.next_step} Trying again in 4 s.")


def test_anything_else_is_said_as_it_was() -> None:
    state = classify('Field "power.draw.average" is not a valid field to query.\n', 2)
    assert state.status is GpuStatus.FAILED
    assert (
        state.what
        == 'nvidia-smi stopped (exit status 2): Field "power.draw.average" is not a valid field to query.'
    )
    assert "tried again by itself" in state.next_step


def test_ticks_are_grouped_by_count_or_by_a_repeated_index() -> None:
    s = [GpuSample(index=i, count=3) for i in range(3)]
    group = TickAssembler()
    assert group.feed(s[0]) == [] and group.feed(s[1]) == []
    assert group.feed(s[2]) == [tuple(s)]
    no_count = [GpuSample(index=i) for i in range(2)]
    group = TickAssembler()
    assert group.feed(no_count[0]) == [] and group.feed(no_count[1]) == []
    assert group.feed(no_count[0]) == [tuple(no_count)]  # GPU 0 again: the last tick was complete


def test_history_is_bounded_and_summary_adds_up() -> None:
    history = GpuHistory()
    for n in range(HISTORY_POINTS + 50):
        history.add(
            GpuTick((GpuSample(index=0, util_pct=float(n % 100), mem_used_mib=1, mem_total_mib=4),), 0.0)
        )
    assert len(history.util[0]) == HISTORY_POINTS and history.ticks == HISTORY_POINTS + 50
    assert history.util[0][-1] == float((HISTORY_POINTS + 49) % 100) and history.mem[0][-1] == 25.0
    host = summarize(
        [
            GpuSample(
                index=0, util_pct=100, mem_used_mib=1024, mem_total_mib=2048, power_w=300, power_limit_w=400
            ),
            GpuSample(
                index=1, util_pct=0, mem_used_mib=0, mem_total_mib=2048, power_w=None, power_limit_w=400
            ),
            GpuSample(index=2, mig=True, mem_used_mib=512, mem_total_mib=2048, power_w=50, power_limit_w=400),
        ]
    )
    assert (host.gpus, host.busy, host.mig) == (3, 1, 1)
    assert (host.mem_used_mib, host.mem_total_mib, host.mem_gpus) == (1536, 6144, 3)
    # GPU 1 gives no power draw: the sum (and its limit) is over the two that do, and says so.
    assert (host.power_w, host.power_limit_w, host.power_gpus) == (350, 800, 2)
    assert [
        interval_step(1000, -1),
        interval_step(500, -1),
        interval_step(1000, 1),
        interval_step(10_000, 1),
    ] == [
        500,
        500,
        2000,
        10_000,
    ]


def test_processes_are_joined_with_ps_for_the_user() -> None:
    out = (
        "00000000:00:09.0, GPU-0, 11327, 2566, /root/tools/memhog\n"
        "00000000:01:09.0, GPU-1, 11345, 15690, ./gpu_burn\n"
        "00000000:99:00.0, GPU-7, 4242, [N/A], python, with, commas\n"
        "No running processes found\n"
        f"{PS_MARK} 0\n"
        "  11327 alice                            /root/tools/memhog --size 2G\n"
        "   4242 bob                              python train.py, epoch 3\n"
    )
    procs = parse_processes(out, {"00000000:00:09.0": 0, "00000000:01:09.0": 1}, {"GPU-7": 7})
    assert procs is not None
    assert [(p.gpu_index, p.pid, p.user, p.used_mib) for p in procs] == [
        (0, 11327, "alice", 2566.0),
        (1, 11345, "", 15690.0),  # ps can't see it: no user, nvidia-smi's name
        (7, 4242, "bob", None),  # joined by UUID; [N/A] memory is blank
    ]
    assert [p.command for p in procs] == [
        "/root/tools/memhog --size 2G",
        "./gpu_burn",
        "python train.py, epoch 3",
    ]
    assert parse_processes(f"No devices were found\n{PS_MARK} 6\n", {}, {}) is None
    assert parse_processes(f"{PS_MARK} 0\n", {}, {}) == ()


# --- the replay answers the app's own query from the captures -------------------------------------


def replay(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    env.update({f"D2L_FAKE_NVIDIA_SMI_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, str(FAKE_NVIDIA_SMI), *args], env=env, capture_output=True, text=True, timeout=30
    )


def replayed(profile: str, **settings: str) -> list[GpuSample]:
    help_text = replay("--help-query-gpu", profile=profile).stdout
    query = GpuQuery.for_driver(parse_help(help_text))
    result = replay(*query.command(500).split()[1:-2], profile=profile, **settings)
    assert result.returncode == 0, result.stdout + result.stderr
    samples = [query.parse(line) for line in result.stdout.splitlines()]
    assert None not in samples
    return samples  # type: ignore[return-value]


def test_the_replay_of_xml_captures_t4_a10g_v100s_and_a100_mig() -> None:
    (t4,) = replayed("t4")
    assert (t4.name, t4.mem_total_mib, t4.mem_used_mib, t4.power_limit_w, t4.temp_c) == (
        "Tesla T4",
        15360.0,
        1032.0,
        70.0,
        40.0,
    )
    (a10g,) = replayed("a10g")
    assert (a10g.name, a10g.mem_total_mib, a10g.power_limit_w, a10g.sm_clock_mhz) == (
        "NVIDIA A10G",
        23028.0,
        300.0,
        210.0,
    )
    v100s = replayed("v100s-x8")
    assert [s.index for s in v100s] == list(range(8)) and {s.count for s in v100s} == {8}
    assert [s.util_pct for s in v100s] == [97.0, 75.0, 80.0, 23.0, 98.0, 98.0, 91.0, 99.0]
    assert len({s.bus_id for s in v100s}) == 8
    (a100,) = replayed("a100-mig")
    assert (a100.name, a100.mig, a100.util_pct, a100.mem_total_mib) == (
        "NVIDIA A100-SXM4-40GB",
        True,
        None,
        40960.0,
    )


def test_the_replay_of_csv_captures_and_copies() -> None:
    eight = replayed("h100", gpus="8", ticks="1")
    assert [s.index for s in eight] == list(range(8)) and len({s.bus_id for s in eight}) == 8
    loaded = [s for s in eight if s.util_pct == 100.0]
    assert loaded and all(s.mem_used_mib == 19818.0 and s.power_w == 631.95 for s in loaded)
    (mig,) = replayed("h100", mode="mig")
    assert mig.mig and mig.util_pct is None and mig.mem_used_mib == 11125.0
    # An older driver refuses what its help doesn't list, as nvidia-smi does.
    refused = replay("--query-gpu=index,power.draw.average", "--format=csv", profile="t4")
    assert (
        refused.returncode == 2
        and 'Field "power.draw.average" is not a valid field to query.' in refused.stdout
    )


@pytest.mark.parametrize(
    ("mode", "rc", "status"),
    [
        ("driver-missing", 9, GpuStatus.NO_DRIVER),
        ("mismatch", 18, GpuStatus.MISMATCH),
        ("no-devices", 6, GpuStatus.NO_DEVICES),
    ],
)
def test_the_replay_fails_as_told(mode: str, rc: int, status: GpuStatus) -> None:
    result = replay(*QUERY.command(500).split()[1:], mode=mode)
    assert result.returncode == rc
    assert classify(result.stdout + result.stderr, result.returncode).status is status
    assert replay("--help-query-gpu", mode=mode).returncode == 0  # the help needs no driver


def test_the_replay_picks_a_capture_for_an_instance_type() -> None:
    """What --demo can pass the simulated instance (D2L_FAKE_NVIDIA_SMI_INSTANCE_TYPE)."""
    for kind, count, name in (
        ("g4dn.xlarge", 1, "Tesla T4"),
        ("g5.12xlarge", 4, "NVIDIA A10G"),
        ("p4d.24xlarge", 8, "NVIDIA A100-SXM4-40GB"),
        ("p5.48xlarge", 8, "NVIDIA H100 80GB HBM3"),
    ):
        listed = replay("-L", instance_type=kind).stdout.splitlines()
        assert len(listed) == count and all(f": {name} (UUID: " in line for line in listed), kind
