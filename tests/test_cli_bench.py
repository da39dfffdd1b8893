"""`d2l-tui bench NAME` as a subprocess: AWS is a moto server, the instance is a real OpenSSH sshd.

The instance's "book environment" is ~/d2l/bin/python in the sshd's HOME: a wrapper around this
test's Python (which has numpy, not PyTorch), and D2L_BENCH_BACKEND=numpy in the login session picks
the script's CPU backend, as D2L_AUTOSTOP_* do for the auto-stop agent. The setup is a real run of
`d2l-tui provision --recipe` (the benchmark checks that it finished). Everything else is real: the
runner detached on the "instance", the log followed, the result line parsed and recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.cli_run import run_cli
from tests.support.sshd import SSHD, OpenSshServer, point_host_at
from tests.test_cli_provision import console_shows, launch_instance
from tui.demo.ssh_host import console_output_for

NAME = "d2l-prov"


def make_server(tmp_path: Path, client_key: tuple[Path, str], **env: str) -> OpenSshServer:
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH sshd is not installed (the CI installs openssh-server)")
    server = OpenSshServer(tmp_path / "sshd", client_key[1], extra_env={"D2L_BENCH_BACKEND": "numpy", **env})
    server.start()
    return server


@pytest.fixture
def server(tmp_path: Path, client_key: tuple[Path, str]) -> Iterator[OpenSshServer]:
    server = make_server(tmp_path, client_key)
    yield server
    server.stop()


def instance_behind(
    server: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    instance_type: str = "g4dn.xlarge",
) -> dict[str, Any]:
    data = launch_instance(NAME, client_key[1], instance_type)
    home = tmp_path / "home"
    point_host_at(home, data["PublicDnsName"], server)
    key_dir = home / ".ssh" / "d2l-tui"
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(client_key[0], key_dir / f"{NAME}.pem")
    (key_dir / f"{NAME}.pem").chmod(0o400)
    console_shows(monkeypatch, console_output_for(server.host_public_key))
    return data


def book_environment(server: OpenSshServer, slow_s: float = 0) -> None:
    """~/d2l/bin/python on the instance: this Python, after a pause (a bigger machine's longer run)."""
    python = server.home / "d2l" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/usr/bin/env bash\nsleep {slow_s}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


def d2l(tmp_path: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """In this process, as `python -m tui` runs it (tests/support/cli_run.py); the Ctrl+C tests
    below run real processes."""
    return run_cli(subprocess_env(endpoint, tmp_path / "home"), *args)


def set_up(tmp_path: Path, endpoint: str) -> None:
    recipe = tmp_path / "setup.toml"
    recipe.write_text('[[step]]\nname = "book"\nrun = "echo the book environment is ready"\n')
    done = d2l(tmp_path, endpoint, "provision", NAME, "--recipe", str(recipe))
    assert done.returncode == 0, done.stderr


def results(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "state" / "d2l-tui" / "bench-results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_quick_bench_cancelled_mid_run_then_reattached_is_recorded_once(
    moto_endpoint: str,
    server: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = instance_behind(server, client_key, tmp_path, monkeypatch)
    set_up(tmp_path, moto_endpoint)
    book_environment(server, slow_s=4)
    nothing = d2l(tmp_path, moto_endpoint, "bench", NAME, "--attach")
    assert nothing.returncode == 3 and f"No benchmark has run on {NAME} yet." in nothing.stderr

    follower = subprocess.Popen(
        [sys.executable, "-m", "tui", "bench", NAME, "--quick"],
        env=subprocess_env(moto_endpoint, tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    seen = []
    for line in follower.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith("==> Benchmark: running"):
            break
    follower.send_signal(signal.SIGINT)  # Ctrl+C: stop following, mid-run
    _, err = follower.communicate(timeout=60)
    assert follower.returncode == 130, err
    assert f"`d2l-tui bench {NAME} --attach`" in err
    assert results(tmp_path) == []  # nothing recorded by the follower that left

    attached = d2l(tmp_path, moto_endpoint, "bench", NAME, "--attach")
    assert attached.returncode == 0, attached.stderr
    out = attached.stdout
    assert "bench: matmul fp32" in out and "bench: figures received" in out  # the run's own lines, replayed
    assert f"Benchmark of {NAME} (g4dn.xlarge, CPU only, numpy backend, on-demand $" in out
    assert "Note: numpy backend" in out
    assert "Recorded in" in attached.stderr
    (record,) = results(tmp_path)
    assert record["instance_id"] == data["InstanceId"] and record["run_id"].startswith(data["InstanceId"])
    assert record["backend"] == "numpy" and record["quick"] is True and record["source"] == "measured"
    assert record["price_per_hour"] > 0 and record["devices"][0]["matmul"][0]["tflops"] > 0

    again = d2l(tmp_path, moto_endpoint, "bench", NAME, "--attach")
    assert again.returncode == 0, again.stderr
    assert "already in the results table" in again.stderr
    assert len(results(tmp_path)) == 1


def test_setup_not_run_then_no_environment_each_a_sentence(
    moto_endpoint: str,
    server: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance_behind(server, client_key, tmp_path, monkeypatch)
    refused = d2l(tmp_path, moto_endpoint, "bench", NAME, "--quick")
    assert refused.returncode == 1
    assert (
        f"The setup hasn't been run on {NAME}" in refused.stderr
        and f"d2l-tui provision {NAME}" in refused.stderr
    )
    assert "Traceback" not in refused.stderr

    set_up(tmp_path, moto_endpoint)  # finished, but this "setup" made no ~/d2l
    missing = d2l(tmp_path, moto_endpoint, "bench", NAME, "--quick")
    assert missing.returncode == 1
    assert "run the setup first" in missing.stderr and "Traceback" not in missing.stderr
    assert results(tmp_path) == []


def test_no_gpu_visible_is_a_sentence(
    moto_endpoint: str, client_key: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The torch backend with a stand-in PyTorch that sees no CUDA device (a GPU-less machine).
    stub = tmp_path / "stub"
    (stub / "torch").mkdir(parents=True)
    (stub / "torch" / "__init__.py").write_text(
        "__version__ = '2.0.0'\nclass cuda:\n    is_available = staticmethod(lambda: False)\n"
        "    device_count = staticmethod(lambda: 0)\n"
    )
    server = make_server(tmp_path, client_key, D2L_BENCH_BACKEND="torch", PYTHONPATH=str(stub))
    try:
        instance_behind(server, client_key, tmp_path, monkeypatch)
        set_up(tmp_path, moto_endpoint)
        book_environment(server)
        result = d2l(tmp_path, moto_endpoint, "bench", NAME)
    finally:
        server.stop()
    assert result.returncode == 1
    assert "no GPU visible" in result.stderr and "nvidia-smi" in result.stderr
    assert results(tmp_path) == []


def test_stop_cancels_the_run_and_leaves_no_process(
    moto_endpoint: str, client_key: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "published.json"
    published.write_text(
        json.dumps({"devices": [{"index": 0, "matmul": [{"precision": "fp32", "tflops": 1.0}]}] * 30})
    )
    server = make_server(tmp_path, client_key, D2L_BENCH_REPLAY=str(published), D2L_BENCH_REPLAY_DELAY="1")
    try:
        instance_behind(server, client_key, tmp_path, monkeypatch)
        set_up(tmp_path, moto_endpoint)
        book_environment(server)
        follower = subprocess.Popen(
            [sys.executable, "-m", "tui", "bench", NAME],
            env=subprocess_env(moto_endpoint, tmp_path / "home"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert follower.stdout is not None
        for line in follower.stdout:
            if "(simulated)" in line:
                break
        pgid = int((server.home / ".d2l-tui" / "bench" / "bench.pgid").read_text())
        stopped = d2l(tmp_path, moto_endpoint, "bench", NAME, "--stop")
        assert stopped.returncode == 0 and f"Cancelled the benchmark on {NAME}." in stopped.stderr
        _, err = follower.communicate(timeout=60)
    finally:
        server.stop()
    assert follower.returncode == 1
    assert "cancelled" in err and "nothing is left running" in err
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert results(tmp_path) == []


def test_unknown_and_stopped_instances_are_refused_with_a_sentence(
    moto_endpoint: str, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    unknown = d2l(tmp_path, moto_endpoint, "bench", "nosuch", "--region", "us-east-1")
    assert unknown.returncode == 1
    assert "No instance named 'nosuch'" in unknown.stderr and "d2l-tui ls" in unknown.stderr

    data = launch_instance(NAME, client_key[1])
    from tui.services.cloud.aws import Aws

    Aws(region="us-east-1").client("ec2", "us-east-1").stop_instances(InstanceIds=[data["InstanceId"]])
    stopped = d2l(tmp_path, moto_endpoint, "bench", NAME, "--region", "us-east-1")
    assert stopped.returncode == 1
    assert f"{NAME} is stopped: the benchmark runs on a running instance." in stopped.stderr
    assert f"d2l-tui start {NAME}" in stopped.stderr and "Traceback" not in stopped.stderr


def test_quick_on_eight_gpus_says_it_measures_one_and_eight(
    moto_endpoint: str,
    server: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance_behind(server, client_key, tmp_path, monkeypatch, instance_type="p4d.24xlarge")
    result = d2l(tmp_path, moto_endpoint, "bench", NAME, "--quick")
    assert "--quick trains on 1 and 8 GPUs only" in result.stderr and "1 to 8 GPUs" in result.stderr
    assert f"The setup hasn't been run on {NAME}" in result.stderr  # then the usual checks go on
