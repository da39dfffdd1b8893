"""The bench flow (tui/flows/bench.py) without any UI, on --demo's simulated instance: the loopback
SSH host of tui/demo/hosts.py, whose benchmark step runs the real script in --replay mode.

What the demo shows must never pass for a measurement: the record comes back "simulated", its
progress lines say so, and it is recorded once like any other run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.instances import make_instance
from tests.support.screen_app import demo_cloud
from tui.flows.bench import BenchRefused, BenchTarget, run_bench
from tui.models import Recipe, RecipeStep
from tui.services.remote.instance_link import InstanceLink, known_hosts
from tui.services.remote.provision import follow_run


async def test_the_demo_instance_replays_a_record_labelled_simulated(
    tmp_path: Path, client_key: tuple[Path, str]
) -> None:
    with demo_cloud(tmp_path) as (aws, hosts):
        instance = make_instance(aws, "demo-box", "g5.12xlarge")  # 4 × A10G in the catalog
        link = InstanceLink(aws, instance, client_key[0], known_hosts(), endpoint_for=hosts.endpoint)
        target = BenchTarget(link, instance, "A10G", 4, "on-demand", 5.672, quick=False)
        results = tmp_path / "results.jsonl"
        try:
            with pytest.raises(BenchRefused, match="setup hasn't been run on demo-box"):
                await run_bench(target, lambda _: None, results_path=results)

            setup = Recipe(
                steps=(RecipeStep(name="ready", title="Ready", script="echo ready\n"),), framework="pytorch"
            )
            outcome, _ = await follow_run(link.connect, lambda _: None, recipe=setup, mode="fresh")
            assert outcome.ok

            lines: list[str] = []
            result = await run_bench(
                target,
                lambda update: (
                    lines.extend(i for i in update if isinstance(i, str))
                    if isinstance(update, list)
                    else None
                ),
                results_path=results,
            )
        finally:
            await hosts.stop()
    record = result.record
    assert record is not None and result.recorded
    assert record.source == "simulated" and record.gpu_count == 4
    assert any("SIMULATED" in line for line in lines)
    assert [p.gpus for p in record.scaling] == [1, 2, 3, 4]
    efficiency = record.efficiency(record.scaling[-1])
    assert efficiency is not None and 0 < efficiency < 1
    fp16 = record.devices[0].at("fp16")
    assert fp16 is not None and fp16.peak_tflops == 70  # the A10G's datasheet figure, looked up
    per_epoch = record.dollars_per_epoch()
    assert per_epoch is not None
    from tui.flows.bench import summary_lines

    book = [line for line in summary_lines(record) if "The book's training" in line]
    assert book == [
        f"  The book's training at this rate: about ${per_epoch * 100:.2f} "
        "(taken as 100 epochs of its ResNet-18 on Fashion-MNIST, on every GPU)"
    ]
    assert any("not measured" in note for note in record.notes)
    (line,) = results.read_text().splitlines()
    assert json.loads(line)["source"] == "simulated"


def test_each_setup_state_is_its_own_sentence() -> None:
    from tui.flows.bench import setup_problem
    from tui.services.remote.provision import RemoteState

    def state(status: str, running: bool = False) -> RemoteState:
        return RemoteState(True, running, status, 0, 0, "boot")

    assert setup_problem("box", state("done")) is None
    running = setup_problem("box", state("running", running=True))
    assert running is not None and "still running" in running.what and "--attach" in running.next_step
    rebooting = setup_problem("box", state("rebooting b-1"))
    assert rebooting is not None and "still running" in rebooting.what
    failed = setup_problem("box", state("failed nvidia-driver"))
    assert failed is not None and "step 'nvidia-driver' failed" in failed.what
    assert "finished steps are skipped" in failed.next_step
    never = setup_problem("box", RemoteState(False, False, "", 0, 0, "boot"))
    assert never is not None and "hasn't been run on box" in never.what


def test_a_run_without_figures_says_why_by_its_exit_status() -> None:
    from tui.flows.bench import failure_sentence
    from tui.services.remote import bench

    said = ["bench: backend torch", "d2l-bench: no GPU visible: PyTorch sees no CUDA device."]
    assert failure_sentence("box", bench.EXIT_NO_GPU, said).startswith("no GPU visible: PyTorch sees no CUDA")
    assert "cancelled" in failure_sentence("box", bench.EXIT_CANCELLED, [])
    assert "--quick" in failure_sentence("box", 124, [])  # the runner's timeout
    assert "exit code 9" in failure_sentence("box", 9, [])
