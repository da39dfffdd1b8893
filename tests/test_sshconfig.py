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
from tui.services.remote import sshconfig

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
    assert sshconfig.remove(include, "i-0def") is True
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


def _ssh_g(config: Path, alias: str) -> dict[str, str]:
    out = subprocess.run(
        ["ssh", "-G", "-F", str(config), alias], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client not installed")
def test_every_instance_gets_its_own_alias_that_openssh_resolves(tmp_path: Path) -> None:
    include = tmp_path / "config"
    twin_a = replace(BOX, instance_id="i-0aaa", name="book", public_dns="ec2-1.example")
    twin_b = replace(BOX, instance_id="i-0bbb", name="book", public_dns="ec2-2.example")
    unicode = replace(BOX, instance_id="i-0ccc", name="ünïcødé 名前", public_dns="ec2-3.example")
    punctuation = replace(BOX, instance_id="i-0ddd", name="!!! ###", public_dns="ec2-4.example")
    lookalike = replace(BOX, instance_id="i-0eee", name="ünïcødé-名前", public_dns="ec2-5.example")
    everyone = [twin_a, twin_b, unicode, punctuation, lookalike]
    sshconfig.sync(include, everyone, {})

    hosts = set(sshconfig.read_blocks(include))
    assert len(hosts) == len(everyone)  # one reachable alias each, never one block for two machines
    expected = {
        "d2l-book-i-0aaa": twin_a,
        "d2l-book-i-0bbb": twin_b,
        "d2l-ünïcødé-名前-i-0ccc": unicode,  # readable: OpenSSH matches Host patterns byte for byte
        "d2l-i-0ddd": punctuation,  # nothing of the name left: the instance id
        "d2l-ünïcødé-名前-i-0eee": lookalike,
    }
    assert hosts == set(expected)
    for alias, instance in expected.items():
        options = _ssh_g(include, alias)
        assert (options["hostname"], options["hostkeyalias"]) == (instance.public_dns, instance.instance_id)

    # One twin terminated: the other gets the plain alias back; the rest keep theirs.
    sshconfig.remove(include, "i-0aaa")
    assert "d2l-book" in sshconfig.read_blocks(include) and "d2l-book-i-0bbb" not in sshconfig.read_blocks(
        include
    )
    assert _ssh_g(include, "d2l-book")["hostkeyalias"] == "i-0bbb"
    # A partial listing that sees a new namesake renames the one it did not see, keeping its address.
    sshconfig.sync(include, [replace(twin_a, instance_id="i-0fff")], {}, complete=False)
    assert _ssh_g(include, "d2l-book-i-0bbb")["hostname"] == twin_b.public_dns
    assert _ssh_g(include, "d2l-book-i-0fff")["hostkeyalias"] == "i-0fff"


def test_a_garbled_include_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    include = tmp_path / "config"
    include.write_bytes(b"Host d2l-x\n    HostName \xff\xfe\n")
    notices: list[str] = []
    assert sshconfig.sync(include, [BOX], {}, on_notice=notices.append) is True
    [aside] = tmp_path.glob("config.corrupt-*")
    assert aside.read_bytes() == b"Host d2l-x\n    HostName \xff\xfe\n"
    assert notices == [
        f"The ssh config include {include} could not be read (not UTF-8 at line 2); it was moved to"
        f" {aside.name} and is made anew."
    ]
    assert set(sshconfig.read_blocks(include)) == {"d2l-my-box"}


def test_the_users_config_in_another_encoding_is_kept_byte_for_byte(tmp_path: Path) -> None:
    include = tmp_path / "d2l-tui" / "config"
    user_config = tmp_path / "dot-ssh" / "config"
    user_config.parent.mkdir()
    latin1 = "Host caf\xe9\n    User jos\xe9\n".encode("latin-1")
    user_config.write_bytes(latin1)
    assert sshconfig.include_installed(include, user_config) is False
    assert sshconfig.install_include(include, user_config) is True
    assert user_config.read_bytes().endswith(latin1)
    assert sshconfig.include_installed(include, user_config) is True
