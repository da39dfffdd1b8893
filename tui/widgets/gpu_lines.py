"""The GPU panel's other parts: the state line, the host summary, the GPU list and the processes.

Each carries its own CSS so the panel looks the same wherever it is mounted.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tui.models import GpuProcess

COMMAND_WIDTH = 70


class GpuStateLine(Static):
    """Why there are no (new) numbers: waiting for SSH, nvidia-smi not there yet, paused, …"""

    DEFAULT_CSS = """
    GpuStateLine { height: auto; color: $text-muted; }
    GpuStateLine.-problem { color: $warning; text-style: bold; }
    GpuStateLine.-streaming { display: none; }
    """


class GpuSummaryLine(Static):
    DEFAULT_CSS = """
    GpuSummaryLine { height: 1; color: $text-muted; }
    """


class GpuRowList(VerticalScroll):
    DEFAULT_CSS = """
    GpuRowList { height: auto; max-height: 1fr; padding: 1 0 0 0; }
    """


class GpuProcessTable(Widget):
    """The processes on the GPUs as a plain list, newest read every few seconds.

    Not a DataTable: there is nothing to select, and a DataTable's row removals each ask for a
    layout pass, which made a changing process list the panel's biggest cost. This redraws only
    when the list changed, and only itself; rows that don't fit become "… and N more".
    """

    DEFAULT_CSS = """
    GpuProcessTable { height: 1fr; min-height: 4; border: round $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.processes: tuple[GpuProcess, ...] = ()
        self._read = False  # a list was read at least once ("none running" is then known)
        self.border_title = "Processes on the GPUs"

    def show(self, processes: tuple[GpuProcess, ...]) -> None:
        if processes == self.processes and self._read:
            return
        self.processes, self._read = processes, True
        count = len(processes)
        title = f"Processes on the GPUs ({count})" if count else "Processes on the GPUs: none running"
        if title != self.border_title:
            self.border_title = title
        self.refresh()

    def clear(self) -> None:
        self.processes, self._read = (), False
        self.border_title = "Processes on the GPUs"
        self.refresh()

    @property
    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return [_cells(p) for p in self.processes]

    def render(self) -> Text:
        fit = max(1, self.size.height - 1)
        rows = self.rows
        if len(rows) > fit:
            rows = rows[: fit - 1]
        lines = [Text(_line(("GPU", "PID", "User", "GPU mem", "Command")), style="bold")]
        lines.extend(Text(_line(row)) for row in rows)
        if len(rows) < len(self.processes):
            lines.append(Text(f"… and {len(self.processes) - len(rows)} more", style="dim"))
        return Text("\n").join(lines)


def _line(cells: tuple[str, str, str, str, str]) -> str:
    gpu, pid, user, mem, command = cells
    return f"{gpu:<3}  {pid:>8}  {user[:12]:<12}  {mem:>10}  {command}"


def _cells(proc: GpuProcess) -> tuple[str, str, str, str, str]:
    mem = f"{proc.used_mib:.0f} MiB" if proc.used_mib is not None else "n/a"  # [N/A]: unknown, not 0
    command = proc.command if len(proc.command) <= COMMAND_WIDTH else proc.command[: COMMAND_WIDTH - 1] + "…"
    gpu = str(proc.gpu_index) if proc.gpu_index is not None else "?"
    return gpu, str(proc.pid), proc.user, mem, command
