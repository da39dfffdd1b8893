"""The GPU panel on the real OpenSSH sshd with an `nvidia-smi` that answers as a GB10 does
("[N/A]" memory: unified memory), lists a process whose name has brackets, or fails with a long
error that has brackets: unknown stays "n/a" (never "0.0 / 0.0 GiB"), and outside text is shown
as it is, cut at a word with "…".
"""

from __future__ import annotations

from pathlib import Path

from tests.support.instances import (
    SshdLink,
    gpu_sshd_fixture,  # noqa: F401  (the gpu_sshd fixture)
)
from tests.support.sshd import OpenSshServer
from tests.ui.driving import wait_until
from tests.ui.test_gpu_panel import SIZE, PanelApp, row_text, state_text, summary_text
from tui.models import GpuStatus
from tui.screens.gpu_panel import GpuPane
from tui.services.remote.gpu import GpuSampler
from tui.widgets.gpu_lines import GpuProcessTable

HELP = (
    Path(__file__).resolve().parents[2]
    / "tui"
    / "demo"
    / "nvidia-smi"
    / "h100-80gb-hbm3_590.48.01_help-query-gpu.txt"
)
# The app's query fields (as the H100 help lists them), answered as a DGX Spark's GB10 does.
GB10 = (
    "0, 0, NVIDIA GB10, GPU-5a1d, 0000000F:01:00.0, 96, [N/A], [N/A], [N/A], 51, 38.62, [N/A], 2418, Disabled"
)
PROCESS = "0000000F:01:00.0, GPU-5a1d, 4194301, [N/A], [bold]x [/] python train.py"
ERROR = (
    "[/] Failed to initialize NVML: GPU access blocked by the operating system. The NVIDIA kernel "
    "module was loaded, but no device matching the requested configuration is present in your system."
)


def fake_nvidia_smi(home: Path, query_gpu: str) -> None:
    """An nvidia-smi in the sshd user's ~/bin: the H100's field list, then `query_gpu` (shell)."""
    path = home / "bin" / "nvidia-smi"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *--help-query-gpu*) cat '{HELP}' ;;\n"
        f"  *--query-compute-apps*) printf '%s\\n' '{PROCESS}' ;;\n"
        f"  *--query-gpu*) {query_gpu} ;;\n"
        "esac\n"
    )
    path.chmod(0o755)


def panel(server: OpenSshServer, key: Path) -> GpuPane:
    link = SshdLink(server, key)
    sampler = GpuSampler(
        link.connect, lambda _: None, retry_delays=(30.0,), processes=True, process_every_s=0.5
    )
    return GpuPane(link, sampler=sampler)


async def test_a_gb10_says_memory_unknown_and_a_process_name_shows_as_it_is(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    fake_nvidia_smi(gpu_sshd.home, f"while :; do printf '%s\\n' '{GB10}'; sleep 0.5; done")
    screen = panel(gpu_sshd, client_key[0])
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: bool(screen.rows) and screen.ticks_shown >= 2, 30)
        summary = summary_text(screen)
        assert "memory n/a" in summary and "0.0 / 0.0" not in summary, summary
        row = row_text(screen, 0)
        assert row.startswith(" 0 GB10") and "n/a GiB" in row and "0.0/" not in row, row

        table = screen.query_one(GpuProcessTable)
        await wait_until(pilot, lambda: bool(table.processes), 15)
        assert "[bold]x [/] python train.py" in table.render().plain


async def test_an_unknown_error_with_brackets_is_shown_as_said_and_cut_at_a_word(
    gpu_sshd: OpenSshServer, client_key: tuple[Path, str]
) -> None:
    fake_nvidia_smi(gpu_sshd.home, f"printf '%s\\n' '{ERROR}' >&2; exit 9")
    screen = panel(gpu_sshd, client_key[0])
    async with PanelApp(screen).run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: screen.state.status is GpuStatus.FAILED, 30)
        await pilot.pause(0.1)
        shown = state_text(screen)
        assert shown.startswith("nvidia-smi stopped (exit status 9): [/] Failed to initialize NVML"), shown
        said = shown.split(": ", 1)[1].split("…", 1)[0]
        assert "…" in shown and said.split()[-1] in ERROR.split()  # cut between words
        assert "syste." not in shown
