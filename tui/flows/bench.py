"""Benchmarking an instance (issue 16), the decisions both doors share: whether it can run (the
instance running, the book's setup finished), starting it or following the run already there, turning
its result line into a BenchRecord with the instance's facts and price, and recording it once.

The run itself is the setup's detached runner with a one-step recipe (services/remote/bench.py), so
it outlives the connection; `d2l-tui bench` and the cockpit follow it and show its lines their way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.bench_record import BOOK_EPOCHS, BenchRecord
from tui.logs import PROG
from tui.services.errors import D2lError

if TYPE_CHECKING:
    from tui.context import AppContext
    from tui.models import Instance
    from tui.services.remote.instance_link import InstanceLink
    from tui.services.remote.provision import RemoteState, Update


class BenchRefused(D2lError):
    """The benchmark can't run on this instance now; the sentence says why and what to do."""


@dataclass(frozen=True)
class BenchTarget:
    link: InstanceLink
    instance: Instance
    gpu_name: str  # as the price catalog names it; "" when the type isn't in it
    gpu_count: int  # from the catalog; 0 when unknown
    purchase: str  # "on-demand" or "spot": as launched
    price_per_hour: float | None  # the rate the money figures use; None: unknown
    quick: bool

    @property
    def label(self) -> str:
        return self.link.label

    def notices(self) -> list[str]:
        """What the person should know before it starts (said, not refused)."""
        said = []
        if self.quick and self.gpu_count > 2:
            said.append(
                f"--quick trains on 1 and {self.gpu_count} GPUs only, at small sizes; the full run "
                f"measures 1 to {self.gpu_count} GPUs (speed-up at every count)."
            )
        if self.price_per_hour is None:
            said.append(
                f"No {self.purchase} price is known for {self.instance.instance_type}: no money figures."
            )
        return said


@dataclass(frozen=True)
class BenchOutcome:
    record: BenchRecord | None  # None: the run ended without figures
    recorded: bool = False  # False with a record: it was in the table already (a reattach)
    sentence: str = ""  # why there are no figures, with the next step
    rc: int | None = None


def target_for(ctx: AppContext, name: str, region: str | None, *, quick: bool) -> BenchTarget:
    """The instance called ``name``, refused with a sentence unless it is running; its GPUs and
    price from the app's catalog (asks AWS: call it from a thread)."""
    from tui.flows.reach import find_link

    return target_from(ctx, find_link(ctx, name, region), quick=quick)


def target_from(ctx: AppContext, link: InstanceLink, *, quick: bool) -> BenchTarget:
    """The benchmark target for an instance already at hand (the cockpit's), as ``target_for``."""
    from tui.services.cloud.bundled_catalog import bundled_specs

    instance = link.instance
    if instance.state != "running":
        raise BenchRefused(
            f"{link.label} is {instance.state}: the benchmark runs on a running instance.",
            f"Start it (S on the instances screen, or `{PROG} start {link.label}`), then benchmark it.",
        )
    spec = bundled_specs().get(instance.instance_type)
    purchase = "spot" if instance.spot else "on-demand"
    names = [instance.instance_type] if instance.spot else None
    try:
        ondemand, spot = ctx.pricebook.prices(instance.region, names)[0].get(
            instance.instance_type, (None, None)
        )
    except Exception:  # a price is a nicety here: the benchmark runs without one
        ondemand, spot = None, None
    return BenchTarget(
        link=link,
        instance=instance,
        gpu_name=spec.gpu_name if spec else "",
        gpu_count=spec.gpu_count if spec else 0,
        purchase=purchase,
        price_per_hour=spot if instance.spot else ondemand,
        quick=quick,
    )


def setup_problem(label: str, setup: RemoteState) -> BenchRefused | None:
    """The setup's state on the instance as a refusal; None when it finished."""
    if setup.status == "done" and not setup.running:
        return None
    if setup.running or setup.status == "running" or setup.status.startswith("rebooting"):
        return BenchRefused(
            f"The setup on {label} is still running: the benchmark needs the book's environment it installs.",
            f"Follow it (l in the cockpit, or `{PROG} provision {label} --attach`), then benchmark.",
        )
    if setup.status.startswith("failed"):
        step = setup.status.removeprefix("failed").strip()
        return BenchRefused(
            f"The setup on {label} did not finish (step '{step}' failed): the book's environment isn't complete.",
            f"Run the setup again (`{PROG} provision {label}`; finished steps are skipped), then benchmark.",
        )
    return BenchRefused(
        f"The setup hasn't been run on {label}: the benchmark runs in the book's environment it installs.",
        f"Run the setup first (`{PROG} provision {label}`), then benchmark.",
    )


async def run_bench(
    target: BenchTarget,
    sink: Callable[[Update], None],
    *,
    attach: bool = False,
    results_path: Path | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> BenchOutcome:
    """Start the benchmark (or follow the one running there; with ``attach``, only follow the latest
    run), stream its lines to ``sink``, and record its figures once. Refusals raise BenchRefused."""
    from tui.services.bench_results import append_result
    from tui.services.remote import bench
    from tui.services.remote.provision import DEFAULT_REMOTE_DIR, Provisioner, follow_run

    link = target.link
    conn = await link.connect()
    try:
        problem = setup_problem(link.label, await Provisioner(conn, DEFAULT_REMOTE_DIR).state())
        running = (await Provisioner(conn, bench.BENCH_DIR).state()).running
    finally:
        conn.close()
    if problem is not None:
        raise problem
    lines: list[str] = []

    def collect(update: Update) -> None:
        if isinstance(update, list):
            lines.extend(item for item in update if isinstance(item, str))
        sink(update)

    follow = attach or running
    if running and not attach:
        from tui.services.remote.provision import LinkState

        sink(
            LinkState(
                "connecting", "a benchmark is already running there: following it, not starting another"
            )
        )
    recipe = (
        None
        if follow
        else bench.bench_recipe(bench.new_run_id(target.instance.instance_id), quick=target.quick)
    )
    outcome, _ = await follow_run(
        link.connect,
        collect,
        recipe=recipe,
        mode="reattach" if follow else "fresh",
        remote_dir=bench.BENCH_DIR,
    )
    if outcome.not_started:
        return BenchOutcome(
            None,
            sentence=f"No benchmark has run on {link.label} yet. Start one with `{PROG} bench {link.label}`.",
        )
    raw = bench.parse_result(lines)
    if raw is None:
        return BenchOutcome(None, sentence=failure_sentence(link.label, outcome.rc, lines), rc=outcome.rc)
    record = record_from(raw, target, now())
    return BenchOutcome(record, recorded=append_result(record, results_path), rc=outcome.rc)


def failure_sentence(label: str, rc: int | None, lines: list[str]) -> str:
    from tui.services.remote import bench

    said = next(
        (line.removeprefix("d2l-bench: ") for line in reversed(lines) if line.startswith("d2l-bench: ")), ""
    )
    if rc == bench.EXIT_NO_GPU:
        return f"{said or 'no GPU visible.'} Benchmark a GPU instance, or check `nvidia-smi` on {label}."
    if rc == bench.EXIT_NO_SETUP:
        return (
            f"{said or 'The book environment is missing.'} Run the setup first: `{PROG} provision {label}`."
        )
    if rc == bench.EXIT_CANCELLED:
        return f"The benchmark was cancelled on {label}; nothing is left running on its GPUs. Run it again to measure."
    if rc == 124:
        return f"The benchmark ran out of time on {label}. Try `{PROG} bench {label} --quick`."
    return f"The benchmark stopped without figures (exit code {rc}); its lines above say why. Run it again."


def record_from(raw: dict[str, Any], target: BenchTarget, when: datetime) -> BenchRecord:
    """The script's figures with the instance's facts, its price, and each GPU's datasheet peaks."""
    from tui.services.bench_peaks import peaks_for

    instance = target.instance
    record = BenchRecord.from_json(
        {
            **raw,
            "when": when.isoformat(),
            "instance_type": instance.instance_type,
            "instance_id": instance.instance_id,
            "instance_name": instance.name,
            "region": instance.region,
            "purchase": target.purchase,
            "price_per_hour": target.price_per_hour,
        }
    )
    if record.backend == "numpy":  # the CPU check: no GPU datasheet applies
        return record
    devices = []
    for device in record.devices:
        peaks = peaks_for(device.name) or peaks_for(target.gpu_name)
        matmul = tuple(
            replace(m, peak_tflops=peaks.tflops.get(m.precision)) if peaks and m.peak_tflops is None else m
            for m in device.matmul
        )
        devices.append(replace(device, matmul=matmul))
    return replace(record, devices=tuple(devices))


async def stop_bench(link: InstanceLink) -> bool:
    """Cancel the benchmark running on the instance (its script frees the GPU and exits)."""
    from tui.services.remote import bench

    conn = await link.connect()
    try:
        return await bench.stop(conn)
    finally:
        conn.close()


def _money(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"${value:.{digits}f}"


def summary_lines(record: BenchRecord) -> list[str]:
    """What was measured, in a few lines: TFLOPS beside the peak, GB/s, images/s with speed-up and
    efficiency per GPU count, $ per epoch and per PFLOP."""
    price = (
        f"{record.purchase} ${record.price_per_hour:.3f}/h"
        if record.price_per_hour is not None
        else "no price"
    )
    gpus = (
        f"{record.gpu_count} × {record.gpu_name}"
        if record.gpu_count
        else f"CPU only, {record.backend} backend"
    )
    stack = ", ".join(
        x
        for x in (
            f"{record.framework} {record.framework_version}".strip(),
            f"CUDA {record.cuda}" if record.cuda else "",
            f"driver {record.driver}" if record.driver else "",
        )
        if x
    )
    head = "SIMULATED (not measured): " if record.source == "simulated" else ""
    lines = [
        f"{head}Benchmark of {record.instance_name or record.instance_id} ({record.instance_type}, {gpus}, {price})"
        f"{'; ' + stack if stack else ''}{'; quick' if record.quick else ''}"
    ]
    for device in record.devices:
        parts = []
        for m in device.matmul:
            of = f" of {m.peak_tflops:g} ({m.tflops / m.peak_tflops:.0%})" if m.peak_tflops else ""
            parts.append(f"{m.precision} {m.tflops:.3g} TFLOPS{of}")
        if device.memory_gbs is not None:
            parts.append(f"memory {device.memory_gbs:.0f} GB/s")
        if device.host_to_device_gbs is not None:
            parts.append(f"host→device {device.host_to_device_gbs:.1f} GB/s")
        lines.append(
            f"  {'GPU' if record.gpu_count else 'CPU'} {device.index} {device.name}: " + ", ".join(parts)
        )
    if record.scaling:
        data = {"fashion-mnist": "Fashion-MNIST", "generated": "generated images of its shape"}.get(
            record.data, record.data
        )
        lines.append(f"  The book's ResNet-18, batch 256 per GPU, on {data}:")
        lines.append("    GPUs  images/s  speed-up  efficiency  epoch     $/epoch")
        for point in record.scaling:
            speedup, efficiency = record.speedup(point), record.efficiency(point)
            lines.append(
                f"    {point.gpus:<4}  {point.images_per_s:<8.0f}  "
                f"{'—' if speedup is None else f'{speedup:.2f}×':<8}  "
                f"{'—' if efficiency is None else f'{efficiency:.0%}':<10}  "
                f"{f'{point.epoch_s:.1f} s':<8}  {_money(record.dollars_per_epoch(point), 4)}"
            )
    per_pflop = [
        f"{p} {_money(v, 4)}"
        for p in ("fp32", "tf32", "fp16", "bf16", "fp64")
        if (v := record.dollars_per_pflop(p)) is not None
    ]
    if per_pflop:
        lines.append("  $ per PFLOP of matmul (the whole instance busy): " + ", ".join(per_pflop))
    per_epoch = record.dollars_per_epoch()
    if per_epoch is not None:
        lines.append(
            f"  The book's training at this rate: about {_money(per_epoch * BOOK_EPOCHS, 2)} "
            f"(taken as {BOOK_EPOCHS} epochs of its ResNet-18 on Fashion-MNIST, on every GPU)"
        )
    lines.extend(f"  Note: {note}" for note in record.notes)
    return lines


__all__ = [
    "summary_lines",
    "target_from",
    "BenchOutcome",
    "BenchRefused",
    "BenchTarget",
    "run_bench",
    "stop_bench",
    "target_for",
]
