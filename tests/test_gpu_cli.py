"""`d2l-tui gpu NAME` headless: AWS is a moto server, the instance a real sshd with the replaying
nvidia-smi on its PATH. The first test runs a real process with Textual blocked (the command never
needs it); the others run the command in the test's process (tests/support/cli_run.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.cli_run import run_cli
from tests.support.instances import (
    control,
    gpu_sshd_fixture,  # noqa: F401  (the gpu_sshd fixture)
    install_nvidia_smi,
)
from tests.support.sshd import OpenSshServer, point_host_at
from tests.test_cli_provision import console_shows, launch_instance
from tui.demo.ssh_host import console_output_for

NAME = "d2l-gpu"
# `d2l-tui …` with Textual blocked: the command must never import it.
DRIVER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == 'textual' or name.startswith('textual.'):
            raise ImportError('textual is blocked')
sys.meta_path.insert(0, Block())
from tui.__main__ import main
rc = main(sys.argv[1:])
assert not [m for m in sys.modules if m.split('.')[0] == 'textual']
sys.exit(rc)
"""


@pytest.fixture
def instance(
    moto_endpoint: str,
    gpu_sshd: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    data = launch_instance(NAME, client_key[1])
    home = tmp_path / "home"
    point_host_at(home, data["PublicDnsName"], gpu_sshd)
    key_dir = home / ".ssh" / "d2l-tui"
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(client_key[0], key_dir / f"{NAME}.pem")
    (key_dir / f"{NAME}.pem").chmod(0o400)
    console_shows(monkeypatch, console_output_for(gpu_sshd.host_public_key))
    install_nvidia_smi(gpu_sshd.home / "bin")
    return data


def gpu(tmp_path: Path, endpoint: str, *args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """In this process (tests/support/cli_run.py); with ``process``, a real one with Textual blocked."""
    env = subprocess_env(endpoint, tmp_path / "home")
    if not process:
        return run_cli(env, "gpu", NAME, *args)
    return subprocess.run(
        [sys.executable, "-c", DRIVER, "gpu", NAME, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_once_prints_a_line_per_gpu(
    moto_endpoint: str, instance: dict[str, Any], gpu_sshd: OpenSshServer, tmp_path: Path
) -> None:
    control(gpu_sshd.home, gpus=2, profile="l40s")
    result = gpu(tmp_path, moto_endpoint, "--once", process=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for index, line in enumerate(lines):
        assert f"  gpu {index}  NVIDIA L40S  util 9%  mem 1235/46068 MiB  temp 54 C" in line
        assert line.endswith("power 110.2/350 W  sm 2520 MHz")
    assert "Traceback" not in result.stderr


def test_json_with_mig_has_nulls_not_zeros(
    moto_endpoint: str, instance: dict[str, Any], gpu_sshd: OpenSshServer, tmp_path: Path
) -> None:
    control(gpu_sshd.home, mode="mig")
    result = gpu(tmp_path, moto_endpoint, "--once", "--json", "--interval", "500")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    sample = json.loads(line)
    assert sample["mig"] is True and sample["utilization_pct"] is None
    assert sample["memory_used_mib"] == 11125.0 and sample["name"] == "NVIDIA H100 80GB HBM3"
    assert sample["index"] == 0 and sample["time"]


def test_once_says_why_there_are_no_numbers(
    moto_endpoint: str, instance: dict[str, Any], gpu_sshd: OpenSshServer, tmp_path: Path
) -> None:
    control(gpu_sshd.home, mode="driver-missing")
    result = gpu(tmp_path, moto_endpoint, "--once")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "couldn't communicate with the NVIDIA driver" in result.stderr and "reboot" in result.stderr
    assert "Trying again" not in result.stderr and "Traceback" not in result.stderr


def test_an_interval_below_the_floor_is_refused(tmp_path: Path, moto_endpoint: str) -> None:
    result = gpu(tmp_path, moto_endpoint, "--interval", "100")
    assert result.returncode == 2 and "500 ms is the shortest interval" in result.stderr
