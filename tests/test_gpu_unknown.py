"""Numbers nvidia-smi did not give stay unknown: a GB10 row ("[N/A]" memory: unified memory) is
never summed as 0 GiB, a sum over GPUs says which GPUs it covers, and nvidia-smi's own error text is
shortened at a word, with "…", never mid-word.
"""

from __future__ import annotations

import random
from pathlib import Path

from tui.cli.gpu import sample_line
from tui.models import GpuSample, GpuStatus
from tui.services.remote.gpu import host_words, summarize
from tui.services.remote.gpu_parse import GpuQuery, classify, parse_help
from tui.services.words import ELLIPSIS, shorten
from tui.widgets.gpu_row import GpuRow, as_text

DEMO = Path(__file__).resolve().parents[1] / "tui" / "demo" / "nvidia-smi"
QUERY = GpuQuery.for_driver(parse_help((DEMO / "h100-80gb-hbm3_590.48.01_help-query-gpu.txt").read_text()))
# The app's own query fields, as a DGX Spark's GB10 answers them: memory is unified, so nvidia-smi
# has no framebuffer numbers ("[N/A]"), and no power limit either; the rest is there.
GB10 = (
    "0, 0, NVIDIA GB10, GPU-5a1d, 0000000F:01:00.0, 96, [N/A], [N/A], [N/A], 51, 38.62, [N/A], 2418, Disabled"
)
H100 = "1, 1, NVIDIA H100 80GB HBM3, GPU-1, 00000000:53:00.0, 87, 40, 1000, 81559, 61, 512.5, 700.00, 1980, Disabled"


def parsed(row: str) -> GpuSample:
    sample = QUERY.parse(row)
    assert sample is not None
    return sample


def test_a_gb10_row_reads_unknown_memory_not_zero() -> None:
    gb10 = parsed(GB10)
    assert gb10.name == "NVIDIA GB10" and gb10.util_pct == 96.0
    assert gb10.mem_used_mib is None and gb10.mem_total_mib is None and gb10.power_limit_w is None

    host = summarize([gb10])
    assert host.mem_used_mib is None and host.mem_total_mib is None and host.mem_gpus == 0
    memory, power = host_words(host)
    assert memory == "memory n/a" and "0.0" not in memory
    assert power == "power 39 W"  # the draw is known, the limit isn't: no "/ 0"

    numbers = as_text(GpuRow(0, [], []).numbers(gb10, 120)).plain
    assert "n/a GiB" in numbers and "0.0" not in numbers and " 96%" in numbers

    line = sample_line(gb10, 0.0)
    assert "mem n/a  temp 51 C  power 38.6/n/a W  sm 2418 MHz" in line and " 0/" not in line


def test_a_sum_over_gpus_says_which_gpus_it_covers() -> None:
    host = summarize([parsed(GB10), parsed(H100), parsed(H100.replace("1, 1,", "2, 2,", 1))])
    assert (host.gpus, host.mem_gpus, host.power_gpus) == (3, 2, 3)
    memory, power = host_words(host)
    assert memory.startswith("memory 2.0 / 159.3 GiB (1%)")
    assert memory.endswith("(of the 2 of 3 GPUs that report it)")
    # One limit unknown: the sum of limits would be a lie, so it is left out, the draw stays.
    assert power == "power 1,064 W"


def test_every_gpu_known_says_nothing_more() -> None:
    host = summarize([parsed(H100)])
    assert host_words(host) == ["memory 1.0 / 79.6 GiB (1%)", "power 512 / 700 W"]


def test_an_unknown_error_is_cut_at_a_word_with_an_ellipsis() -> None:
    said = (
        "Failed to initialize NVML: GPU access blocked by the operating system. The NVIDIA kernel module "
        "was loaded, but no device matching the requested configuration is present in your system."
    )
    state = classify(said + "\n", 9)
    assert state.status is GpuStatus.FAILED
    assert state.what.startswith("nvidia-smi stopped (exit status 9): Failed to initialize NVML")
    assert state.what.endswith(ELLIPSIS) and "syste." not in state.what
    words = state.what.removesuffix(ELLIPSIS).split()
    assert words[-1] in said.split()  # the last word shown is whole


def test_shorten_never_cuts_a_word_unless_it_is_the_only_one() -> None:
    rng = random.Random(13)
    alphabet = "ab cdé\t[]/.\u00a0x"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        limit = rng.randrange(1, 60)
        short = shorten(text, limit)
        flat = " ".join(text.split())
        assert len(short) <= limit
        if len(flat) <= limit:
            assert short == flat
            continue
        assert short.endswith(ELLIPSIS)
        shown = short.removesuffix(ELLIPSIS)
        assert flat.startswith(shown)
        if " " in flat[: limit - len(ELLIPSIS) + 1]:
            # Cut between words (only the punctuation before the ellipsis may go).
            assert flat[len(shown) :].lstrip(".,;:").startswith(" ")


NASTY_CELLS = [
    "[N/A]",
    "N/A",
    "",
    "[Not Supported]",
    "abc",
    "[bold]",
    "-1",
    "nan",
    "inf",
    "1e309",
    "9" * 400,
    "\x00",
    "[/]",
]


def test_any_row_reads_without_a_crash_and_says_unknown_as_n_a() -> None:
    rng = random.Random(11)
    cells = H100.split(", ")
    tried = 0
    for _ in range(3000):
        row = list(cells)
        for pos in rng.sample(range(len(row)), rng.randrange(1, len(row))):
            row[pos] = rng.choice(NASTY_CELLS)
        sample = QUERY.parse(", ".join(row))
        if sample is None:
            continue  # an unreadable index: the line is skipped (and counted) by the sampler
        tried += 1
        numbers = [sample.util_pct, sample.mem_used_mib, sample.mem_total_mib, sample.temp_c, sample.power_w]
        assert all(v is None or v == v and abs(v) != float("inf") for v in numbers)  # no nan, no inf
        line = sample_line(sample, 0.0)
        readings = line.split("  util ", 1)[1]  # after the name, which may well say "nan"
        assert "nan" not in readings and "inf" not in readings
        assert "util " in as_text(GpuRow(0, [], []).numbers(sample, 120)).plain
        if sample.mem_used_mib is None:
            assert "mem n/a" in sample_line(sample, 0.0) or "mem n/a/" in sample_line(sample, 0.0)
        words = host_words(summarize([sample, parsed(H100)]))
        if sample.mem_used_mib is None or sample.mem_total_mib is None:
            assert words[0].endswith("(of the 1 of 2 GPUs that report it)")
    assert tried > 1000
