"""`d2l-tui gpu NAME`: an instance's GPUs, one line (or JSON object) per GPU per sample, until Ctrl-C.

The same sampler as the GPU panel: one nvidia-smi stream over SSH, the same honest states (printed
on stderr as sentences: waiting for SSH, nvidia-smi not installed yet, driver not loaded, …) and the
same recovery by itself. With --once it prints one sample and exits: 0, or 1 when nvidia-smi can't
give numbers (the sentence says why). Never imports Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tui.cli.instance import add_instance_command, link_for, trusting_once
from tui.cli.output import say

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import GpuSample
    from tui.services.remote.gpu import Update
    from tui.services.remote.instance_link import InstanceLink


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    what = "watch an instance's GPUs (nvidia-smi over SSH): one line per GPU per sample, until Ctrl-C"
    parser = add_instance_command(sub, common, "gpu", what, over_ssh=True)
    parser.add_argument("--once", action="store_true", help="print one sample and exit")
    parser.add_argument("--json", action="store_true", help="one JSON object per GPU per sample")
    parser.add_argument(
        "--interval",
        type=_interval_arg,
        default=1000,
        metavar="MS",
        help="milliseconds between samples (default 1000, at least 500: nvidia-smi's own utilization window)",
    )
    parser.set_defaults(handler=run)


def _interval_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds") from None
    if value < 500:
        raise argparse.ArgumentTypeError(
            "500 ms is the shortest interval (nvidia-smi's own utilization window)"
        )
    return value


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    import asyncio

    link = link_for(args, ctx)
    try:
        return asyncio.run(
            watch(
                link,
                once=args.once,
                as_json=args.json,
                interval_ms=args.interval,
                trust=args.trust_host_key,
            )
        )
    except KeyboardInterrupt:
        return 130


async def watch(
    link: InstanceLink, *, once: bool, as_json: bool, interval_ms: int, trust: bool = False
) -> int:
    """Print samples until cancelled (or the first one, with once); the exit status."""
    import asyncio
    from dataclasses import replace

    from tui.models import GpuState, GpuTick
    from tui.services.remote.gpu import GpuSampler
    from tui.services.remote.gpu_parse import describe

    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    last_said = ""

    def sink(update: Update) -> None:
        nonlocal last_said
        if isinstance(update, GpuTick):
            if as_json:
                lines = [json.dumps(sample_json(s, update.at)) for s in update.samples]
            else:
                lines = [sample_line(s, update.at) for s in update.samples]
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            if once and not done.done():
                done.set_result(0)
        elif isinstance(update, GpuState):
            # --once gives up at the first problem: no "trying again in…" then.
            line = describe(replace(update, retry_in_s=None) if once else update)
            if line and line != last_said:
                say(line)
                last_said = line
            if once and update.problem and not done.done():
                done.set_result(1)

    sampler = GpuSampler(link.connect, sink, interval_ms=interval_ms, processes=False)

    async def until_done() -> int:
        task = asyncio.ensure_future(sampler.run())
        try:
            waiting: set[asyncio.Future[Any]] = {task, done}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if done.done():
                return done.result()
            task.result()  # run() ends only by raising (a HostKeyUnknown: trusting_once decides)
            return 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    code = await trusting_once(link, trust, until_done)
    return 1 if code is None else code


UNKNOWN = "n/a"  # as the GPU panel says it


def _v(value: float | None, fmt: str = "{:.0f}") -> str:
    return UNKNOWN if value is None else fmt.format(value)


def sample_line(sample: GpuSample, at: float) -> str:
    """One GPU as a line: values nvidia-smi didn't give as "n/a", never as 0."""
    when = datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]
    util = "n/a (MIG)" if sample.mig and sample.util_pct is None else _unit(_v(sample.util_pct), "%")
    used, total = sample.mem_used_mib, sample.mem_total_mib
    mem = UNKNOWN if used is None and total is None else f"{_v(used)}/{_v(total)} MiB"
    power, limit = sample.power_w, sample.power_limit_w
    watts = UNKNOWN if power is None and limit is None else f"{_v(power, '{:.1f}')}/{_v(limit)} W"
    return (
        f"{when}  gpu {sample.index}  {sample.name or UNKNOWN}  util {util}  "
        f"mem {mem}  temp {_unit(_v(sample.temp_c), ' C')}  power {watts}  "
        f"sm {_unit(_v(sample.sm_clock_mhz), ' MHz')}"
    )


def _unit(value: str, unit: str) -> str:
    return value if value == UNKNOWN else value + unit


def sample_json(sample: GpuSample, at: float) -> dict[str, Any]:
    """One GPU as a JSON object: values nvidia-smi didn't give are null."""
    return {
        "time": datetime.fromtimestamp(at).astimezone().isoformat(timespec="milliseconds"),
        "index": sample.index,
        "name": sample.name,
        "uuid": sample.uuid,
        "bus_id": sample.bus_id,
        "utilization_pct": sample.util_pct,
        "memory_utilization_pct": sample.mem_util_pct,
        "memory_used_mib": sample.mem_used_mib,
        "memory_total_mib": sample.mem_total_mib,
        "temperature_c": sample.temp_c,
        "power_w": sample.power_w,
        "power_limit_w": sample.power_limit_w,
        "sm_clock_mhz": sample.sm_clock_mhz,
        "mig": sample.mig,
    }
