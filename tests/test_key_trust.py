"""Key files and their folder are checked as OpenSSH's StrictModes would, never repaired through a link,
and every refusal names the exact command that fixes it. Real files, real modes, moto for the imports."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import subprocess_env
from tests.test_cli import assert_one_line_failure, d2l, ec2
from tui.models import KeyChoice
from tui.services.cloud.aws import Aws
from tui.services.cloud.keys import (
    KeyFileProblem,
    ensure_key,
    fix,
    fix_permissions,
    generate_key,
    key_dir_problem,
    key_file_problem,
)

AS_ROOT = os.getuid() == 0


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _write_key(path: Path, mode: int = 0o400) -> str:
    """A real ed25519 private key at ``path`` with ``mode``; returns its public OpenSSH line."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    os.chmod(path, mode)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode()


def _pairs(aws: Aws) -> list[str]:
    return [p["KeyName"] for p in aws.client("ec2", "us-east-1").describe_key_pairs()["KeyPairs"]]


@pytest.mark.parametrize("folder_mode", [0o777, 0o770, 0o722])
def test_a_key_planted_in_a_writable_key_folder_is_not_imported(
    aws: Aws, key_dir: Path, folder_mode: int
) -> None:
    _write_key(key_dir / "d2l-tui.pem")
    os.chmod(key_dir, folder_mode)
    with pytest.raises(KeyFileProblem) as info:
        ensure_key(aws, "us-east-1", KeyChoice("d2l-tui", None, create=True), key_dir)
    assert f"Others can add or replace files in the key folder {key_dir}" in info.value.what
    assert info.value.next_step == f"Fix it with `chmod 700 {key_dir}`, then try again."
    assert _pairs(aws) == []  # nothing imported
    assert _mode(key_dir) == folder_mode  # and nothing repaired behind the user's back


def test_a_symlinked_key_folder_is_refused_and_its_target_keeps_its_mode(
    aws: Aws, key_dir: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "like-tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # what the audit's link pointed at: /tmp
    key_dir.parent.mkdir(parents=True)
    key_dir.symlink_to(shared)
    for attempt in (
        lambda: generate_key("k", key_dir),
        lambda: ensure_key(aws, "us-east-1", KeyChoice("k", None, create=True), key_dir),
    ):
        with pytest.raises(KeyFileProblem) as info:
            attempt()
        assert info.value.what == (
            f"The key folder {key_dir} is a link to {shared}; d2l-tui keeps keys only in a real folder."
        )
        assert f"`rm {key_dir} && mkdir -m 700 {key_dir}`" in info.value.next_step
    assert _mode(shared) == 0o1777 and list(shared.iterdir()) == []
    assert _pairs(aws) == []


@pytest.mark.parametrize("pair_exists", [False, True])
def test_a_key_others_can_read_is_refused_before_it_is_used(
    aws: Aws, key_dir: Path, pair_exists: bool
) -> None:
    public = _write_key(key_dir / "k.pem", 0o644)
    os.chmod(key_dir, 0o700)
    if pair_exists:
        aws.client("ec2", "us-east-1").import_key_pair(KeyName="k", PublicKeyMaterial=public.encode())
    with pytest.raises(KeyFileProblem) as info:
        ensure_key(aws, "us-east-1", KeyChoice("k", None), key_dir)
    path = key_dir / "k.pem"
    assert info.value.what == f"ssh refuses key files other users can read: {path} is mode 0644."
    assert info.value.next_step == f"Fix it with `chmod 400 {path}`, then try again."
    assert info.value.app_can_fix
    assert _pairs(aws) == (["k"] if pair_exists else [])
    fix(info.value)  # what the key step's f does
    assert _mode(path) == 0o400
    assert ensure_key(aws, "us-east-1", KeyChoice("k", None), key_dir).private_key_path == str(path)


@pytest.mark.parametrize("mode", [0o400, 0o600])
def test_private_modes_pass(key_dir: Path, mode: int) -> None:
    _write_key(key_dir / "k.pem", mode)
    os.chmod(key_dir, 0o700)
    assert key_file_problem(key_dir / "k.pem") is None and key_dir_problem(key_dir) is None


def test_fix_never_changes_a_mode_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.pem"
    _write_key(target, 0o644)
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    problem = key_file_problem(link)
    assert problem is not None and not problem.app_can_fix
    assert problem.fix_command == f"chmod 400 {target}"  # the real file, for the person to run
    with pytest.raises(KeyFileProblem):
        fix_permissions(link)
    assert _mode(target) == 0o644


def test_a_key_folder_inside_a_folder_others_can_write(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    problem = key_dir_problem(open_dir / "d2l-tui")
    assert problem is not None and f"inside {open_dir}, which others can write to (mode 0777)" in problem.what
    assert problem.fix_command == f"chmod go-w {open_dir}" and not problem.app_can_fix
    # A sticky folder owned by root (like /tmp): others can't replace what is ours in it.
    if AS_ROOT:
        os.chmod(open_dir, 0o1777)
        assert key_dir_problem(open_dir / "d2l-tui") is None


@pytest.mark.skipif(not AS_ROOT, reason="giving a file to another user needs root")
def test_files_of_another_user_are_not_trusted(key_dir: Path) -> None:
    _write_key(key_dir / "k.pem", 0o400)
    os.chmod(key_dir, 0o700)
    os.chown(key_dir / "k.pem", 12345, 12345)
    problem = key_file_problem(key_dir / "k.pem")
    assert problem is not None and "belongs to another user (uid 12345)" in problem.what
    os.chown(key_dir, 12345, 12345)
    problem = key_dir_problem(key_dir)
    assert problem is not None and "belongs to another user (uid 12345)" in problem.what


def _instance_with_key(key_name: str) -> str:
    from tests.test_lifecycle import UBUNTU
    from tui.models import TAG_MANAGED, TAG_NAME

    tags = [
        {"Key": "Name", "Value": "keyed"},
        {"Key": TAG_MANAGED, "Value": "true"},
        {"Key": TAG_NAME, "Value": "keyed"},
    ]
    client = ec2()
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    material = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    client.import_key_pair(KeyName=key_name, PublicKeyMaterial=material)
    answer = client.run_instances(
        ImageId=UBUNTU,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        KeyName=key_name,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(answer["Instances"][0]["InstanceId"])


def test_cli_ssh_refuses_a_readable_key_with_the_command(moto_endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = subprocess_env(moto_endpoint, home)
    _instance_with_key("d2l-tui")
    key = home / ".ssh" / "d2l-tui" / "d2l-tui.pem"
    _write_key(key, 0o644)
    os.chmod(key.parent, 0o700)
    line = assert_one_line_failure(d2l(env, "ssh", "keyed", "--print"), 1, f"`chmod 400 {key}`")
    assert "is mode 0644" in line
    assert _mode(key) == 0o644  # told, not changed
    os.chmod(key, 0o400)
    printed = d2l(env, "ssh", "keyed", "--print")
    assert printed.returncode == 0 and f"-i {key}" in printed.stdout, printed.stderr


def test_cli_launch_refuses_a_writable_key_folder(moto_endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = subprocess_env(moto_endpoint, home)
    folder = home / ".ssh" / "d2l-tui"
    _write_key(folder / "d2l-tui.pem")
    os.chmod(folder, 0o777)
    result = d2l(
        env,
        "launch",
        "--region",
        "us-east-1",
        "--type",
        "g4dn.xlarge",
        "--ssh-cidr",
        "198.51.100.23/32",
        "--yes",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    *progress, last = result.stderr.splitlines()
    assert progress[-1] == "Importing key pair d2l-tui into us-east-1 …"  # after the auto-stop plan line
    assert progress[0].startswith("Auto-stop:")
    assert last.startswith("d2l-tui: Others can add or replace files") and f"`chmod 700 {folder}`" in last
    assert ec2().describe_key_pairs()["KeyPairs"] == []
    assert ec2().describe_instances()["Reservations"] == []
    assert _mode(folder) == 0o777
