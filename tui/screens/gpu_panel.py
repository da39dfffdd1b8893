"""The cockpit's GPU pane: every GPU's utilization, memory, temperature, power and clock, with history.

A ``GpuSampler`` (tui.services.remote.gpu) runs in an async worker on the app's loop and streams one
long-lived nvidia-smi over SSH. It keeps the history; what it reports reaches this screen as
messages, samples and process lists as replaceable ones (a burst collapses to the newest, whose
rows read the full history). When nvidia-smi can't give numbers the panel says why and what to do,
and carries on by itself once it can (the driver appears, the instance is back from its reboot).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from tui.models import GpuProcesses, GpuState, GpuStatus, GpuTick
from tui.services.errors import D2lError
from tui.services.remote.gpu import (
    DEFAULT_INTERVAL_MS,
    GpuSampler,
    host_words,
    interval_step,
    interval_text,
    summarize,
)
from tui.services.remote.gpu_parse import describe
from tui.widgets.gpu_lines import GpuProcessTable, GpuRowList, GpuStateLine, GpuSummaryLine
from tui.widgets.gpu_row import GpuRow
from tui.widgets.plain import plain, then_markup
from tui.widgets.ssh_failure import SshFailure

if TYPE_CHECKING:
    from tui.services.remote.instance_link import Link

log = logging.getLogger(__name__)
TALL_UP_TO = 2  # GPUs that get four-line sparklines; more get the compact two-line rows


class GpuSampled(Message):
    """A complete tick (every GPU's sample for one interval); the newest replaces one not yet shown."""

    def __init__(self, tick: GpuTick) -> None:
        super().__init__()
        self.tick = tick

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GpuSampled)


class GpuProcessesRead(Message):
    def __init__(self, processes: GpuProcesses) -> None:
        super().__init__()
        self.processes = processes

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GpuProcessesRead)


class GpuStateChanged(Message):
    def __init__(self, state: GpuState) -> None:
        super().__init__()
        self.state = state


class GpuPane(Vertical, can_focus=True):
    """The live nvidia-smi of one instance; its keys apply while the pane has focus."""

    BINDINGS = [
        Binding("space", "pause", "Pause", id="gpu.pause", tooltip="Stop sampling, or sample again"),
        Binding(
            "minus",
            "faster",
            "Faster",
            id="gpu.faster",
            tooltip="Sample more often (every 500 ms at most: nvidia-smi's own utilization window)",
        ),
        Binding("plus", "slower", "Slower", id="gpu.slower", tooltip="Sample less often"),
        Binding(
            "equals_sign", "slower", "Slower", show=False, id="gpu.slower-equals", tooltip="Sample less often"
        ),
        Binding(
            "p",
            "processes",
            "Processes",
            id="gpu.processes",
            tooltip="Show or hide the processes on the GPUs",
        ),
        Binding("r", "retry", "Retry now", id="gpu.retry", tooltip="Try nvidia-smi (or SSH) again now"),
        Binding("t", "trust", "Trust key", id="gpu.trust", tooltip="Trust the host key shown (on first use)"),
    ]

    def __init__(
        self,
        link: Link,
        *,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        processes: bool = True,
        sampler: GpuSampler | None = None,
    ) -> None:
        super().__init__()
        self.link = link
        self.sampler = sampler or GpuSampler(
            link.connect, self._report, interval_ms=interval_ms, processes=processes
        )
        self.sampler.sink = self._report
        self.state: GpuState = self.sampler.state
        self.tick: GpuTick | None = None
        self.rows: dict[int, GpuRow] = {}
        self.failure = SshFailure()  # the error line, and a host key to trust on first use
        self.failed: D2lError | None = None  # the worker ended: this needs a person
        self.ticks_shown = 0
        self._summary_text = ""

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="pane-title")
        yield GpuStateLine("Connecting…", id="gpu-panel-state")
        yield GpuSummaryLine("", id="gpu-panel-summary")
        yield GpuRowList(id="gpu-panel-rows")
        yield GpuProcessTable(id="gpu-panel-procs")
        yield self.failure

    def _title(self) -> Content:
        title = f"GPUs on {self.link.label}"  # the instance's name: never markup
        note = "  [dim](simulated: the demo instance replays captured nvidia-smi output)[/dim]"
        return then_markup(title, note if self.link.simulated else "")

    def on_mount(self) -> None:
        self.query_one(GpuProcessTable).display = False  # until there are GPUs to show
        self.sample()

    # --- the stream ------------------------------------------------------------------------------

    @work(exclusive=True, group="gpu-panel", exit_on_error=False)
    async def sample(self) -> None:
        self.failed = None
        self._hide_error()
        try:
            await self.sampler.run()
        except Exception as exc:
            self._connection_failed(exc)

    def _report(self, update: GpuState | GpuTick | GpuProcesses) -> None:
        if isinstance(update, GpuTick):
            self.post_message(GpuSampled(update))
        elif isinstance(update, GpuProcesses):
            self.post_message(GpuProcessesRead(update))
        else:
            self.post_message(GpuStateChanged(update))

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        self.tick = message.tick
        self.ticks_shown += 1
        samples = message.tick.samples
        container = self.query_one(GpuRowList)
        tall = len(samples) <= TALL_UP_TO
        seen = set()
        new_rows = []
        for sample in samples:
            seen.add(sample.index)
            row = self.rows.get(sample.index)
            if row is None:
                history = self.sampler.history
                row = GpuRow(sample.index, history.util[sample.index], history.mem[sample.index])
                self.rows[sample.index] = row
                new_rows.append(row)
            row.set_class(tall, "-tall")
            row.set_class(False, "-stale")
            row.show(sample)
        for index in [i for i in self.rows if i not in seen]:
            self.rows.pop(index).remove()
        if new_rows:
            container.mount(*new_rows)
            self.query_one(GpuProcessTable).display = self.sampler.processes
        self._show_summary()

    def on_gpu_processes_read(self, message: GpuProcessesRead) -> None:
        if self.sampler.processes:
            self.query_one(GpuProcessTable).show(message.processes.processes)

    def on_gpu_state_changed(self, message: GpuStateChanged) -> None:
        self.state = message.state
        self._show_state()
        for row in self.rows.values():
            row.set_class(message.state.status is not GpuStatus.STREAMING, "-stale")
        self._show_summary()
        self.refresh_bindings()

    def _show_state(self) -> None:
        line = self.query_one(GpuStateLine)
        state = self.state
        streaming = state.status is GpuStatus.STREAMING and not self.sampler.paused
        line.set_class(streaming, "-streaming")
        line.set_class(state.problem, "-problem")
        if self.sampler.paused:
            line.update("Paused: nothing is sampled. Press space to sample again.")
        elif state.status is GpuStatus.CONNECTING:
            line.update(
                plain(f"Waiting for SSH: {state.what}" if state.what != "Connecting…" else state.what)
            )
        else:
            line.update(plain(describe(state)))  # nvidia-smi's own error text: plain

    def _show_summary(self) -> None:
        summary = self.query_one(GpuSummaryLine)
        tick = self.tick
        if tick is None:
            self._summary_text = ""
            summary.update("", layout=False)
            return
        host = summarize(tick.samples)
        parts = [f"{host.gpus} GPU{'s' if host.gpus != 1 else ''}"]
        parts.append("busy: n/a under MIG" if host.mig == host.gpus else f"{host.busy} busy")
        parts.extend(host_words(host))  # unknown says "n/a", never 0
        parts.append(f"every {interval_text(self.sampler.interval_ms)}")
        if self.sampler.paused:
            parts.append("paused")
        elif self.state.status is not GpuStatus.STREAMING:
            parts.append(f"last sample at {datetime.fromtimestamp(tick.at):%H:%M:%S}")
        if self.sampler.bad_lines:
            parts.append(f"{self.sampler.bad_lines} unreadable line(s) skipped")
        text = " · ".join(parts)
        if text != self._summary_text:
            self._summary_text = text
            summary.update(plain(text), layout=False)  # one line, always: no layout pass per sample

    def _connection_failed(self, exc: BaseException) -> None:
        self.failure.failed(exc, "The GPU panel stopped unexpectedly", retry="\nPress r to try again.")
        self.failed = exc if isinstance(exc, D2lError) else D2lError(str(exc))
        self.query_one(GpuStateLine).update("Not connected.")
        self.query_one(GpuStateLine).set_class(False, "-streaming")
        self.refresh_bindings()

    def _hide_error(self) -> None:
        self.failure.hide()

    @property
    def untrusted_key(self) -> str:
        """A host key the server presented that the person may choose to trust (t)."""
        return self.failure.untrusted_key

    # --- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            waiting = self.state.problem or self.state.status is GpuStatus.RECONNECTING
            # Hidden (False), not greyed, while the stream is fine: the cockpit's footer is narrow.
            return True if (self.failed is not None and not self.untrusted_key) or waiting else False
        if action == "trust":
            return bool(self.untrusted_key)  # hidden unless there is a key to trust
        return True

    def action_pause(self) -> None:
        if self.sampler.paused:
            self.sampler.resume()
            self.notify(f"Sampling every {interval_text(self.sampler.interval_ms)}.", markup=False)
        else:
            self.sampler.pause()
            self.notify("Paused.")
        self._show_state()
        self._show_summary()

    def action_faster(self) -> None:
        self._set_interval(interval_step(self.sampler.interval_ms, -1))

    def action_slower(self) -> None:
        self._set_interval(interval_step(self.sampler.interval_ms, 1))

    def _set_interval(self, interval_ms: int) -> None:
        before = self.sampler.interval_ms
        now = self.sampler.set_interval(interval_ms)
        if now == before:
            self.notify(
                f"Already sampling every {interval_text(now)} (500 ms is the shortest).", markup=False
            )
        elif self.sampler.paused:  # nothing is sampled now: say what the change will do
            self.notify(f"Paused: space samples again, every {interval_text(now)}.", markup=False)
        else:
            self.notify(f"Sampling every {interval_text(now)}.", markup=False)
        self._show_summary()

    def action_processes(self) -> None:
        table = self.query_one(GpuProcessTable)
        on = not self.sampler.processes
        self.sampler.set_processes(on)
        table.display = on and self.tick is not None
        if not on:
            table.clear()
        self.notify("Showing the processes on the GPUs." if on else "Processes hidden.")

    def action_retry(self) -> None:
        if self.failed is not None:
            self.sample()
        else:
            self.sampler.retry_now()

    def action_trust(self) -> None:
        if self.failure.trust(self.link):
            self.notify("Host key trusted and pinned for this instance.")
            self.sample()
