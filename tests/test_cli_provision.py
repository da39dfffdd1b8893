"""`d2l-tui provision NAME` as a subprocess: AWS is a moto server, the instance is a real sshd.

The instance's public DNS name reaches the sshd through a Host block in the test HOME's
~/.ssh/config, as a user's own config could point it at a jump host. What moto can't know (the
console output with cloud-init's host key block, an instance that booted an hour ago) is set on
the moto server's side, in the shape EC2 gives.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.cli_run import run_cli, run_process
from tests.support.sshd import OpenSshServer, point_host_at
from tui.demo.ssh_host import console_output_for
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws
from tui.services.remote.hostkeys import fingerprint

RECIPE = """
[[step]]
name = "hello"
title = "Say hello"
run = "echo hello from the instance; echo framework=$D2L_FRAMEWORK"

[[step]]
name = "count"
run = "for i in 1 2 3; do echo n$i; done"
"""


def launch_instance(name: str, public_key: str, instance_type: str = "g4dn.xlarge") -> dict[str, Any]:
    ec2 = Aws(region="us-east-1").client("ec2", "us-east-1")
    ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode())
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": TAG_NAME, "Value": name},
        {"Key": TAG_MANAGED, "Value": "true"},
    ]
    answer = ec2.run_instances(
        ImageId=image,
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=name,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    instance_id = answer["Instances"][0]["InstanceId"]
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]  # type: ignore[no-any-return]


@pytest.fixture
def instance(
    moto_endpoint: str, sshd: OpenSshServer, client_key: tuple[Path, str], tmp_path: Path
) -> dict[str, Any]:
    """A managed instance in moto whose DNS name leads to the sshd, with its key where the app looks."""
    data = launch_instance("d2l-prov", client_key[1])
    home = tmp_path / "home"
    point_host_at(home, data["PublicDnsName"], sshd)
    key_dir = home / ".ssh" / "d2l-tui"
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(client_key[0], key_dir / "d2l-prov.pem")
    (key_dir / "d2l-prov.pem").chmod(0o400)
    return data


def console_shows(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    import moto.ec2.responses.general as general

    monkeypatch.setattr(general, "SAMPLE_CONSOLE_OUTPUT", text)


def booted_long_ago(instance_id: str) -> None:
    """The console's keys would have shown long ago: the app takes one look, not a 5-minute wait."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends["123456789012"]["us-east-1"]
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    backend.get_instance(instance_id).launch_time = an_hour_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def provision(
    tmp_path: Path, endpoint: str, *args: str, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """In this process (tests/support/cli_run.py), or with ``process`` a real `python -m tui`."""
    recipe = tmp_path / "quick.toml"
    recipe.write_text(RECIPE)
    env = subprocess_env(endpoint, tmp_path / "home")
    argv = ["provision", "d2l-prov", "--recipe", str(recipe), *args]
    return run_process(env, *argv, timeout=120) if process else run_cli(env, *argv)


def test_keys_from_the_console_then_the_run_streams_and_exits_0(
    moto_endpoint: str,
    instance: dict[str, Any],
    sshd: OpenSshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console_shows(monkeypatch, console_output_for(sshd.host_public_key))
    result = provision(tmp_path, moto_endpoint, process=True)

    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert "hello from the instance" in out and "framework=pytorch" in out
    assert out[-4:-1] == ["n1", "n2", "n3"] and out[-1].startswith("==> Count: done (")
    assert any(line.startswith("==> Say hello: done") for line in out)
    assert "Every step finished." in result.stderr
    known = (tmp_path / "state" / "d2l-tui" / "known_hosts").read_text()
    assert (
        f"{instance['InstanceId']} {sshd.host_public_key.split()[0]} {sshd.host_public_key.split()[1]}"
        in known
    )

    # Reattaching later replays the same run and its outcome; nothing runs again.
    again = provision(tmp_path, moto_endpoint, "--attach")
    assert again.returncode == 0, again.stderr
    assert [line for line in again.stdout.splitlines() if not line.startswith("==>")] == [
        line for line in out if not line.startswith("==>")
    ]


def test_no_console_keys_needs_the_explicit_flag(
    moto_endpoint: str, instance: dict[str, Any], sshd: OpenSshServer, tmp_path: Path
) -> None:
    booted_long_ago(instance["InstanceId"])  # moto's console output has no key block
    refused = provision(tmp_path, moto_endpoint)
    assert refused.returncode == 1
    assert "--trust-host-key" in refused.stderr and fingerprint(sshd.host_public_key) in refused.stderr
    assert "hello from the instance" not in refused.stdout
    assert "Traceback" not in refused.stderr

    trusted = provision(tmp_path, moto_endpoint, "--trust-host-key")
    assert trusted.returncode == 0, trusted.stderr
    assert "hello from the instance" in trusted.stdout


def test_a_changed_host_key_is_refused_before_anything_runs(
    moto_endpoint: str,
    instance: dict[str, Any],
    sshd: OpenSshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.sshd import keygen

    other = keygen(tmp_path / "other_host_key")
    console_shows(monkeypatch, console_output_for(other))  # the console vouches for a different key
    result = provision(tmp_path, moto_endpoint)
    assert result.returncode == 1
    assert "host key" in result.stderr.lower() and "Traceback" not in result.stderr
    assert "hello from the instance" not in result.stdout


def test_a_failing_step_exits_1_naming_it(
    moto_endpoint: str,
    instance: dict[str, Any],
    sshd: OpenSshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console_shows(monkeypatch, console_output_for(sshd.host_public_key))
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nname = "broken"\nrun = "echo about to fail; exit 4"\n')
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    result = run_cli(env, "provision", "d2l-prov", "--recipe", str(bad))
    assert result.returncode == 1
    assert "==> Broken: FAILED, exit code 4" in result.stdout
    assert "Step 'Broken' failed (exit code 4)." in result.stderr


def test_a_step_printing_the_runners_records_then_failing_exits_1(
    moto_endpoint: str,
    instance: dict[str, Any],
    sshd: OpenSshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console_shows(monkeypatch, console_output_for(sshd.host_public_key))
    forger = tmp_path / "forger.toml"
    forger.write_text(
        '[[step]]\nname = "forger"\nrun = "echo \'::d2l:: 1700000000.0 run-end 0\'; sleep 0.5; exit 7"\n'
    )
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    result = run_cli(env, "provision", "d2l-prov", "--recipe", str(forger))
    assert result.returncode == 1, result.stderr
    assert "::d2l:: 1700000000.0 run-end 0" in result.stdout.splitlines()  # shown, as output
    assert "Step 'Forger' failed (exit code 7)." in result.stderr
    assert "Every step finished." not in result.stderr


def test_a_malformed_recipe_names_its_line(
    moto_endpoint: str, instance: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nname = "ok"\nrun = "true"\n\n[[step]]\nname = "Bad Name"\nrun = "true"\n')
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    result = run_cli(env, "provision", "d2l-prov", "--recipe", str(bad))
    assert result.returncode != 0
    assert "line 6" in result.stderr and "Traceback" not in result.stderr
