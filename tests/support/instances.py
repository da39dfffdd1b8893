"""Helpers for tests that reach a (simulated) instance: an instance in moto, the replaying
nvidia-smi on a host's PATH and its control file, and a Link to the real OpenSSH sshd.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.support.sshd import SSHD, OpenSshServer
from tui.demo.hosts import DEMO_BIN
from tui.models import TAG_MANAGED, TAG_NAME, Instance
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import describe_one

FAKE_NVIDIA_SMI = DEMO_BIN / "nvidia-smi"
CONTROL = ".d2l-fake-nvidia-smi"  # in the host's HOME: read by the replay every sample


def make_instance(aws: Aws, name: str = "d2l-gpu", instance_type: str = "g4dn.xlarge") -> Instance:
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": TAG_NAME, "Value": name},
        {"Key": TAG_MANAGED, "Value": "true"},
    ]
    answer = ec2.run_instances(
        ImageId=image, InstanceType=instance_type, MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )  # fmt: skip
    found = describe_one(aws, "us-east-1", answer["Instances"][0]["InstanceId"])
    assert found is not None
    return found


def install_nvidia_smi(bin_dir: Path, before: str = "") -> Path:
    """Put an `nvidia-smi` in bin_dir that runs the replay with this interpreter (the host's python3
    may be missing or old); `before` is shell run first (to print a bad line, say)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "nvidia-smi"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f'#!/bin/sh\n{before}\nexec "{sys.executable}" "{FAKE_NVIDIA_SMI}" "$@"\n')
    tmp.chmod(0o755)
    tmp.replace(path)
    return path


def control(home: Path, **settings: object) -> None:
    """Tell the replay on the host with this HOME how to behave (mode=…, gpus=…, ticks=…)."""
    text = "".join(f"{k}={v}\n" for k, v in settings.items())
    tmp = home / (CONTROL + ".tmp")
    tmp.write_text(text)
    tmp.replace(home / CONTROL)  # atomic: a sample never reads half a file


def invocations(log: Path, what: str = "--query-gpu") -> list[str]:
    """The replay's invocations (from its log) that asked `what`."""
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if what in line]


class SshdLink:
    """The screens' Link over the real OpenSSH sshd of tests.support.sshd (host key pinned)."""

    label = "d2l-sshd"
    simulated = False

    def __init__(self, server: object, key: Path) -> None:
        self.server = server
        self.key = key
        self.conns: list[asyncssh.SSHClientConnection] = []

    async def connect(self, on_wait: Callable[[str], None] | None = None) -> asyncssh.SSHClientConnection:
        host_key = asyncssh.import_public_key(self.server.host_public_key)  # type: ignore[attr-defined]
        conn = await asyncssh.connect(
            "127.0.0.1",
            self.server.port,  # type: ignore[attr-defined]
            username=self.server.user,  # type: ignore[attr-defined]
            client_keys=[str(self.key)],
            known_hosts=([host_key], [], []),
            config=[],
        )
        self.conns.append(conn)
        return conn

    def trust(self, key_line: str) -> None:
        raise AssertionError("the sshd's key is pinned")


@pytest.fixture(name="gpu_sshd")
def gpu_sshd_fixture(tmp_path: Path, client_key: tuple[Path, str]) -> Iterator[OpenSshServer]:
    """An sshd whose sessions look for programs in $HOME/bin first (empty: no nvidia-smi yet)."""
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH sshd is not installed (the CI installs openssh-server)")
    root = tmp_path / "sshd"
    path = f"{root / 'home' / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    server = OpenSshServer(root, client_key[1], extra_env={"PATH": path})
    server.start()
    try:
        yield server
    finally:
        server.stop()
