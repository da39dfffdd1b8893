"""The GPU panel's data: nvidia-smi streamed over one SSH channel, parsed line by line.

One long-lived ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits -lms N`` per connection
(never a process per tick), read with tui.services.remote.gpu_parse: a line that doesn't fit the query is
skipped and counted, and lines are grouped into one ``GpuTick`` per interval, kept in a bounded
``GpuHistory``.

When nvidia-smi can't give numbers the sampler says why (``GpuState``: not installed yet, driver
not loaded, driver/library mismatch, no devices, anything else it printed) and tries again with
backoff, on the same connection: it recovers by itself when provisioning installs the driver or
the instance comes back from its reboot. An SSH drop reconnects (through the caller's ``connect``,
which finds the instance's current address); the history is kept.

The processes on the GPUs come from ``--query-compute-apps`` joined with ``ps`` for the user, on a
slower cadence than the samples. ``summarize`` and the interval steps are what the panel shows of
it. No Textual here: the screen and ``d2l-tui gpu`` share all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tui.models import GpuProcesses, GpuSample, GpuState, GpuStatus, GpuTick
from tui.services.polling import wait_event
from tui.services.remote.gpu_parse import (
    MIN_INTERVAL_MS,
    PROCESSES_SCRIPT,
    GpuQuery,
    TickAssembler,
    classify,
    known_problem,
    parse_help,
    parse_processes,
)

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_MS = 1000
INTERVAL_STEPS_MS = (500, 1000, 2000, 5000, 10_000)
PROCESS_EVERY_S = 5.0  # the process list is slower to change than the samples, and costs an exec
HISTORY_POINTS = 600  # per GPU and series: 10 minutes at 1 s, 5 at the 500 ms floor
BUSY_PCT = 5.0  # a GPU at or above this utilization counts as busy in the host summary
# Seconds between tries while nvidia-smi can't give numbers (the driver is being installed, …).
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
# Seconds before reconnecting after a drop (the ssh layer has its own backoff while SSH is down).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


# --- history and the host summary -----------------------------------------------------------------


class GpuHistory:
    """Utilization and memory % per GPU over the last `points` samples (bounded; kept across drops)."""

    def __init__(self, points: int = HISTORY_POINTS) -> None:
        self.points = points
        self.util: dict[int, deque[float | None]] = {}
        self.mem: dict[int, deque[float | None]] = {}
        self.ticks = 0

    def add(self, tick: GpuTick) -> None:
        for sample in tick.samples:
            util = self.util.get(sample.index)
            if util is None:
                util = self.util[sample.index] = deque(maxlen=self.points)
                self.mem[sample.index] = deque(maxlen=self.points)
            util.append(sample.util_pct)
            self.mem[sample.index].append(sample.mem_pct)
        self.ticks += 1


@dataclass(frozen=True)
class HostSummary:
    """Sums over the GPUs that report a value; how many those are is kept beside each sum, so a
    value nvidia-smi didn't give ("[N/A]": GB10's unified memory, say) is never added as 0."""

    gpus: int
    busy: int
    mig: int  # GPUs in MIG mode (their utilization isn't known per GPU)
    mem_used_mib: float | None  # None: no GPU reports both used and total memory
    mem_total_mib: float | None
    mem_gpus: int  # the GPUs in the memory sums
    power_w: float | None  # None: no GPU reports its power draw
    power_limit_w: float | None  # over the same GPUs; None unless each of them reports one
    power_gpus: int  # the GPUs in the power sum


def summarize(samples: Iterable[GpuSample]) -> HostSummary:
    samples = list(samples)
    with_mem = [s for s in samples if s.mem_used_mib is not None and s.mem_total_mib is not None]
    with_power = [s for s in samples if s.power_w is not None]
    limits = [s.power_limit_w for s in with_power]
    return HostSummary(
        gpus=len(samples),
        busy=sum(1 for s in samples if s.util_pct is not None and s.util_pct >= BUSY_PCT),
        mig=sum(1 for s in samples if s.mig),
        mem_used_mib=sum(s.mem_used_mib or 0.0 for s in with_mem) if with_mem else None,
        mem_total_mib=sum(s.mem_total_mib or 0.0 for s in with_mem) if with_mem else None,
        mem_gpus=len(with_mem),
        power_w=sum(s.power_w or 0.0 for s in with_power) if with_power else None,
        power_limit_w=sum(x for x in limits if x is not None) if limits and None not in limits else None,
        power_gpus=len(with_power),
    )


def of_gpus(counted: int, gpus: int) -> str:
    """ " (of the 2 of 3 GPUs that report it)" when a sum leaves GPUs out, else ""."""
    return "" if counted == gpus else f" (of the {counted} of {gpus} GPUs that report it)"


def host_words(host: HostSummary) -> list[str]:
    """The host's memory and power as the panel says them: unknown is "n/a", never 0."""
    if host.mem_used_mib is None or host.mem_total_mib is None:
        memory = "memory n/a"
    else:
        pct = f" ({100 * host.mem_used_mib / host.mem_total_mib:.0f}%)" if host.mem_total_mib else ""
        memory = f"memory {gib_text(host.mem_used_mib)} / {gib_text(host.mem_total_mib)} GiB{pct}"
        memory += of_gpus(host.mem_gpus, host.gpus)
    if host.power_w is None:
        power = "power n/a"
    else:
        limit = f" / {host.power_limit_w:,.0f}" if host.power_limit_w is not None else ""
        power = f"power {host.power_w:,.0f}{limit} W" + of_gpus(host.power_gpus, host.gpus)
    return [memory, power]


def interval_text(interval_ms: int) -> str:
    return f"{interval_ms} ms" if interval_ms < 1000 else f"{interval_ms / 1000:g} s"


def gib_text(mib: float) -> str:
    return f"{mib / 1024:,.1f}"


def interval_step(interval_ms: int, direction: int) -> int:
    """The next longer (direction 1) or shorter (-1) of the usual intervals."""
    if direction > 0:
        return next((s for s in INTERVAL_STEPS_MS if s > interval_ms), INTERVAL_STEPS_MS[-1])
    return next((s for s in reversed(INTERVAL_STEPS_MS) if s < interval_ms), MIN_INTERVAL_MS)


# --- the sampler ----------------------------------------------------------------------------------

Update = GpuState | GpuTick | GpuProcesses
Sink = Callable[[Update], None]
OnWait = Callable[[str], None]
Connect = Callable[[OnWait], Awaitable["asyncssh.SSHClientConnection"]]
_CHUNK = 1 << 16
_KEEP_SAID = 20  # lines of non-data output kept to explain why nvidia-smi stopped


class GpuSampler:
    """Streams an instance's GPUs into `sink` until cancelled: states, ticks and process lists.

    ``connect(on_wait)`` is called for every (re)connection. D2lErrors from it (host key,
    authentication, the instance was stopped, SSH never came up) end ``run``: they need a person.
    The controls (interval, pause, processes, retry now) may be used while it runs.
    """

    def __init__(
        self,
        connect: Connect,
        sink: Sink,
        *,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        processes: bool = True,
        process_every_s: float = PROCESS_EVERY_S,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        reconnect_delays: tuple[float, ...] = RECONNECT_DELAYS,
        history_points: int = HISTORY_POINTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connect = connect
        self.sink = sink
        self.processes = processes
        self.process_every_s = process_every_s
        self.retry_delays = retry_delays
        self.reconnect_delays = reconnect_delays
        self.clock = clock
        self.history = GpuHistory(history_points)
        self.state = GpuState(GpuStatus.CONNECTING, "Connecting…")
        self.latest: GpuTick | None = None
        self.bad_lines = 0
        self.paused = False
        self._interval_ms = max(MIN_INTERVAL_MS, int(interval_ms))
        self._restart = asyncio.Event()  # interval changed, paused/resumed, retry now
        self._wake_processes = asyncio.Event()
        self._bus_index: dict[str, int] = {}
        self._uuid_index: dict[str, int] = {}
        self._streamed = False  # a tick arrived since the last failure

    # --- controls --------------------------------------------------------------------------------

    @property
    def interval_ms(self) -> int:
        return self._interval_ms

    def set_interval(self, interval_ms: int) -> int:
        """Sample every interval_ms (500 ms at least); the stream restarts with it."""
        new = max(MIN_INTERVAL_MS, int(interval_ms))
        if new != self._interval_ms:
            self._interval_ms = new
            self._restart.set()
        return new

    def pause(self) -> None:
        self.paused = True
        self._restart.set()

    def resume(self) -> None:
        self.paused = False
        self._restart.set()
        self._wake_processes.set()

    def set_processes(self, on: bool) -> None:
        self.processes = on
        if on:
            self._wake_processes.set()

    def retry_now(self) -> None:
        """Cut a backoff wait short."""
        self._restart.set()

    # --- the loop --------------------------------------------------------------------------------

    def _emit(self, update: Update) -> None:
        if isinstance(update, GpuState):
            self.state = update
        self.sink(update)

    def _waiting(self, line: str) -> None:
        status = GpuStatus.CONNECTING if self.latest is None else GpuStatus.RECONNECTING
        self._emit(GpuState(status, line))

    async def run(self) -> None:
        import asyncssh

        drops = 0
        while True:
            if self.latest is None:
                self._emit(GpuState(GpuStatus.CONNECTING, "Connecting…"))
            conn = await self.connect(self._waiting)
            try:
                await self._serve(conn)
            except (OSError, asyncssh.Error) as exc:
                if self._streamed:
                    drops = 0
                delay = self.reconnect_delays[min(drops, len(self.reconnect_delays) - 1)]
                drops += 1
                log.info("gpu stream dropped (%s); reconnecting in %.0f s", exc, delay)
                self._emit(
                    GpuState(
                        GpuStatus.RECONNECTING,
                        f"The connection dropped ({exc or type(exc).__name__}); reconnecting in {delay:.0f} s.",
                        retry_in_s=delay,
                    )
                )
                await self._wait_restart(delay)
            finally:
                conn.close()

    async def _serve(self, conn: asyncssh.SSHClientConnection) -> None:
        """Sample over one connection until it drops (raises OSError or asyncssh.Error)."""
        query: GpuQuery | None = None
        failures = 0
        self._streamed = False
        processes = asyncio.ensure_future(self._process_loop(conn))
        try:
            while True:
                self._restart.clear()
                if self.paused:
                    await self._restart.wait()
                    continue
                state: GpuState | None = None
                if query is None:
                    query, state = await self._probe(conn)
                if query is not None and state is None:
                    state = await self._stream(conn, query)
                    if state is None:  # restarted on request
                        continue
                assert state is not None
                if state.status is GpuStatus.NOT_INSTALLED:
                    query = None  # probe the new install's fields when it appears
                if self._streamed:
                    failures, self._streamed = 0, False
                delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
                failures += 1
                log.info("nvidia-smi: %s (retry in %.0f s)", state.what, delay)
                self._emit(replace(state, retry_in_s=delay))
                await self._wait_restart(delay)
        finally:
            processes.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await processes

    async def _wait_restart(self, seconds: float) -> None:
        self._restart.clear()
        await wait_event(self._restart, seconds)

    async def _probe(self, conn: asyncssh.SSHClientConnection) -> tuple[GpuQuery | None, GpuState | None]:
        """The fields this driver knows (`--help-query-gpu`), or why nvidia-smi can't be used."""
        result = await conn.run("nvidia-smi --help-query-gpu", check=False)
        if result.exit_status is None and result.exit_signal is None:
            raise ConnectionResetError("the connection closed during the nvidia-smi probe")
        out, err = str(result.stdout or ""), str(result.stderr or "")
        if result.exit_status == 0:
            supported = parse_help(out)
            return GpuQuery.for_driver(supported if "index" in supported else None), None
        state = classify(f"{out}\n{err}", result.exit_status)
        if state.status is GpuStatus.FAILED:
            return GpuQuery.for_driver(None), None  # no help to read: ask for the portable fields
        return None, state

    async def _stream(self, conn: asyncssh.SSHClientConnection, query: GpuQuery) -> GpuState | None:
        """Stream until nvidia-smi exits (why, as a state) or a restart is asked for (None)."""
        process = await conn.create_process(
            query.command(self._interval_ms), encoding="utf-8", errors="replace"
        )
        said: deque[str] = deque(maxlen=_KEEP_SAID)
        stderr: deque[str] = deque(maxlen=_KEEP_SAID)
        errors = asyncio.ensure_future(_drain(process.stderr, stderr))
        reader = asyncio.ensure_future(self._read(process, query, said))
        restart = asyncio.ensure_future(self._restart.wait())
        try:
            done, _ = await asyncio.wait({reader, restart}, return_when=asyncio.FIRST_COMPLETED)
            if reader not in done:
                return None
            reader.result()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait_closed(), 5)
            if process.exit_status is None and process.exit_signal is None:
                raise ConnectionResetError("the nvidia-smi stream closed")
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(errors, 1)
            return classify("\n".join([*said, *stderr]), process.exit_status)
        finally:
            for task in (reader, restart, errors):
                task.cancel()
            process.close()

    async def _read(self, process: asyncssh.SSHClientProcess[str], query: GpuQuery, said: deque[str]) -> None:
        assembler = TickAssembler()
        partial = ""
        while True:
            chunk = await process.stdout.read(_CHUNK)
            if not chunk:
                return
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            for line in lines:
                line = line.rstrip("\r")
                if not line:
                    continue
                sample = query.parse(line)
                if sample is None:
                    said.append(line)
                    if known_problem(line) is None:
                        self.bad_lines += 1
                        log.debug("skipped a line from nvidia-smi: %r", line[:200])
                    continue
                for samples in assembler.feed(sample):
                    self._tick(samples)

    def _tick(self, samples: tuple[GpuSample, ...]) -> None:
        if self.state.status is not GpuStatus.STREAMING:
            self._emit(GpuState(GpuStatus.STREAMING))
            self._wake_processes.set()
        self._streamed = True
        tick = GpuTick(samples, self.clock(), self.bad_lines)
        self.latest = tick
        self.history.add(tick)
        for s in samples:
            if s.bus_id:
                self._bus_index[s.bus_id.upper()] = s.index
            if s.uuid:
                self._uuid_index[s.uuid] = s.index
        self._emit(tick)

    async def _process_loop(self, conn: asyncssh.SSHClientConnection) -> None:
        import asyncssh

        while True:
            self._wake_processes.clear()
            if self.processes and not self.paused and self.state.status is GpuStatus.STREAMING:
                try:
                    result = await conn.run(PROCESSES_SCRIPT, check=False)
                except (OSError, asyncssh.Error):
                    return  # the stream notices the drop and reconnects
                found = parse_processes(str(result.stdout or ""), self._bus_index, self._uuid_index)
                if found is not None:
                    self._emit(GpuProcesses(found, self.clock()))
            await wait_event(self._wake_processes, self.process_every_s)


async def _drain(stream: asyncssh.SSHReader[str], keep: deque[str]) -> None:
    """Read stderr as it comes (unread, it would hold up stdout on the same channel), keeping
    the last lines to explain an exit."""
    while chunk := await stream.read(_CHUNK):
        keep.extend(line for line in chunk.splitlines() if line.strip())
