"""`d2l-tui stop|start|terminate|image NAME`, `ssh NAME` and `ssh-config` as real subprocesses
against a moto server on loopback, checked in moto after each."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.test_cli import assert_one_line_failure, d2l, d2l_process, ec2
from tests.test_lifecycle import run
from tui.services.cloud.aws import Aws


def state(instance_id: str) -> str:
    answer = ec2().describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_stop_start_image_terminate(moto_endpoint: str, tmp_path: Path) -> None:
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    iid = run(Aws(region="us-east-1"), "us-east-1", "cli-box")

    result = d2l(env, "stop", "cli-box", "--region", "us-east-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == iid and "still billed" in result.stderr
    assert state(iid) == "stopped"

    assert d2l(env, "start", "cli-box").returncode == 0  # every region searched
    assert state(iid) == "running"

    result = d2l(env, "image", "cli-box", "--image-name", "cli-box-saved", "--region", "us-east-1")
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.splitlines()[0]
    [image] = ec2().describe_images(ImageIds=[image_id])["Images"]
    assert image["Name"] == "cli-box-saved" and image["State"] == "available"

    refused = d2l(env, "terminate", "cli-box")
    assert_one_line_failure(refused, 2, "--yes")
    assert state(iid) == "running"

    assert d2l(env, "terminate", "cli-box", "--yes").returncode == 0
    assert state(iid) == "terminated"
    gone = d2l(env, "stop", "cli-box")
    assert_one_line_failure(gone, 1, "No instance named 'cli-box'", "d2l-tui ls")


def test_ssh_prints_and_execs_with_the_apps_known_hosts(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = subprocess_env(moto_endpoint, home)
    run(Aws(region="us-east-1"), "us-east-1", "shell-box")

    printed = d2l(env, "ssh", "shell-box", "--print")
    assert printed.returncode == 0, printed.stderr
    line = printed.stdout.strip()
    # Nothing pinned yet: ssh would ask the person (with the fingerprint), never accept silently.
    assert line.startswith("ssh -o UserKnownHostsFile=") and "StrictHostKeyChecking=ask" in line
    assert "ubuntu@ec2-" in line

    # A stand-in `ssh` first on PATH shows what the real one would be run with (exec, not a child).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text('#!/bin/sh\necho "ssh $*"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # Before exec, the host key is read from the console output and pinned: then ssh checks strictly.
    import moto.ec2.responses.general as general

    from tests.support.sshd import keygen
    from tui.demo.ssh_host import console_output_for

    host_key = keygen(tmp_path / "host_key")
    monkeypatch.setattr(general, "SAMPLE_CONSOLE_OUTPUT", console_output_for(host_key))
    result = d2l_process(env, "ssh", "shell-box", "--", "nvidia-smi")  # it execs ssh
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == line.replace("StrictHostKeyChecking=ask", "StrictHostKeyChecking=yes") + " nvidia-smi"
    )
    known = (tmp_path / "state" / "d2l-tui" / "known_hosts").read_text()
    assert host_key.split()[1] in known


def test_ssh_config_only_installs_when_asked(moto_endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = subprocess_env(moto_endpoint, home)
    run(Aws(region="us-east-1"), "us-east-1", "cfg-box")

    result = d2l(env, "ssh-config", "--region", "us-east-1")
    assert result.returncode == 0, result.stderr
    include = Path(result.stdout.strip())
    assert "Host d2l-cfg-box" in include.read_text() and "--install" in result.stderr
    assert not (home / ".ssh" / "config").exists()

    assert d2l(env, "ssh-config", "--install").returncode == 0
    assert f"Include {include}" in (home / ".ssh" / "config").read_text().splitlines()


def test_stop_refuses_a_one_time_spot_instance_with_a_sentence(moto_endpoint: str, tmp_path: Path) -> None:
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    iid = run(Aws(region="us-east-1"), "us-east-1", "spot-box", spot=True)

    refused = d2l(env, "stop", "spot-box", "--region", "us-east-1")
    line = assert_one_line_failure(refused, 1, "one-time spot instance", "terminate")
    assert "spot-box" in line
    assert state(iid) == "running"
