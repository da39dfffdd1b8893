"""The app's ssh config include, read back by asyncssh's config reader and by OpenSSH's `ssh -G`."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asyncssh.config import SSHClientConfig

from tui.models import Instance
from tui.services import sshconfig

BOX = Instance(
    instance_id="i-0abc",
    name="my box",
    region="us-east-1",
    instance_type="g4dn.xlarge",
    state="running",
    public_dns="ec2-3-4-5-6.compute-1.amazonaws.com",
    public_ip="3.4.5.6",
    key_name="d2l-tui",
)


def parsed(config: Path, alias: str) -> Any:
    # (last_config, paths, reload, canonical, final, local_user, user, host, port)
    return SSHClientConfig.load(None, [config], False, False, False, "me", (), alias, ())


def test_alias_names() -> None:
    assert sshconfig.host_alias("my box") == "d2l-my-box"
    assert sshconfig.host_alias("d2l-g4dn-xlarge-3f9a") == "d2l-g4dn-xlarge-3f9a"  # not d2l-d2l-…


def test_include_parsed_by_asyncssh(tmp_path: Path) -> None:
    include = tmp_path / "ssh" / "d2l-tui" / "config"
    key = tmp_path / "key dir" / "d2l-tui.pem"  # a space: quoted in the file
    assert sshconfig.sync(include, [BOX], {"d2l-tui": key}) is True
    assert include.stat().st_mode & 0o777 == 0o600

    config = parsed(include, "d2l-my-box")
    assert config.get("Hostname") == BOX.public_dns
    assert config.get("User") == "ubuntu"
    assert [str(p) for p in config.get("IdentityFile")] == [str(key)]
    assert config.get("IdentitiesOnly") is True
    assert [str(p) for p in config.get("UserKnownHostsFile")] == [str(sshconfig.known_hosts_path())]
    assert config.get("HostKeyAlias") == BOX.instance_id
    assert sshconfig.sync(include, [BOX], {"d2l-tui": key}) is False  # unchanged: not rewritten


def test_new_address_after_start_rewrites_and_stop_or_terminate_removes(tmp_path: Path) -> None:
    include = tmp_path / "config"
    other = replace(BOX, instance_id="i-0def", name="other")
    sshconfig.sync(include, [BOX, other], {})
    moved = replace(BOX, public_dns="ec2-9-9-9-9.compute-1.amazonaws.com")
    assert sshconfig.sync(include, [moved, other], {}) is True
    assert parsed(include, "d2l-my-box").get("Hostname") == moved.public_dns

    sshconfig.sync(include, [replace(moved, state="stopped", public_dns="", public_ip=""), other], {})
    assert set(sshconfig.read_blocks(include)) == {"d2l-other"}
    assert sshconfig.remove(include, "other") is True
    assert sshconfig.read_blocks(include) == {}
    # A partial listing (a region failed) adds but never drops what it did not see.
    sshconfig.sync(include, [BOX], {})
    sshconfig.sync(include, [other], {}, complete=False)
    assert set(sshconfig.read_blocks(include)) == {"d2l-my-box", "d2l-other"}


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client not installed")
def test_openssh_reads_it_through_the_include_line(tmp_path: Path) -> None:
    include = tmp_path / "d2l-tui" / "config"
    user_config = tmp_path / "dot-ssh" / "config"
    user_config.parent.mkdir()
    user_config.write_text("Host *\n    ServerAliveInterval 60\n")
    sshconfig.sync(include, [BOX], {"d2l-tui": tmp_path / "k.pem"})
    assert sshconfig.install_include(include, user_config) is True
    assert sshconfig.install_include(include, user_config) is False  # once
    text = user_config.read_text()
    assert text.index("Include") < text.index("Host *") and "ServerAliveInterval 60" in text

    out = subprocess.run(
        ["ssh", "-G", "-F", str(user_config), "d2l-my-box"], capture_output=True, text=True, check=True
    ).stdout
    options = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert options["hostname"] == BOX.public_dns and options["user"] == "ubuntu"
    assert options["identityfile"] == str(tmp_path / "k.pem")
    assert options["stricthostkeychecking"] == "true"  # `yes`: only the keys the app pinned
    assert options["hostkeyalias"] == BOX.instance_id
    assert options["userknownhostsfile"] == str(sshconfig.known_hosts_path())
    assert options["serveraliveinterval"] == "60"


def test_ssh_command_uses_the_key_and_the_apps_known_hosts(tmp_path: Path) -> None:
    argv = sshconfig.ssh_argv(BOX, tmp_path / "k.pem")
    assert argv[:3] == ["ssh", "-i", str(tmp_path / "k.pem")]
    assert (
        f"UserKnownHostsFile={sshconfig.known_hosts_path()}" in argv
        and f"HostKeyAlias={BOX.instance_id}" in argv
        and argv[-1] == f"ubuntu@{BOX.public_dns}"
    )
