"""The app's SSH connections against a real OpenSSH sshd on loopback (and an in-process asyncssh server).

The instance's public DNS name is made up; the test HOME's ``~/.ssh/config`` points it at the
server, so every connection here also proves the user's ssh config is honoured.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.support.sshd import SSHD, OpenSshServer, free_port, keygen, point_host_at
from tests.test_hostkeys import cloud_init_console, console_hook
from tests.test_lifecycle import run
from tui.models import Instance
from tui.services.cloud.aws import Aws
from tui.services.remote import hostkeys, sshconfig
from tui.services.remote.hostkeys import KnownHosts
from tui.services.remote.ssh import (
    HostKeyChanged,
    HostKeyUnknown,
    SshAuthFailed,
    SshTarget,
    SshUnreachable,
    connect,
    ensure_pinned,
    presented_host_key,
    wait_for_ssh,
)

DNS = "ec2-3-80-1-2.compute-1.amazonaws.com"
INSTANCE_ID = "i-0123456789abcdef0"


def home() -> Path:
    return Path(os.environ["HOME"])  # tmp_path/"home" (the autouse isolated_env fixture)


def target(key: Path | None, user: str = "ubuntu") -> SshTarget:
    return SshTarget(instance_id=INSTANCE_ID, host=DNS, key_path=key, user=user, key_name="d2l-test")


@pytest.fixture
def known(tmp_path: Path) -> KnownHosts:
    return KnownHosts(tmp_path / "state" / "known_hosts")


@pytest.fixture
def instance_host(sshd: OpenSshServer) -> OpenSshServer:
    """The sshd, reachable as the instance's public DNS name through ~/.ssh/config (User root there)."""
    point_host_at(home(), DNS, sshd)
    return sshd


def accepted_logins(server: OpenSshServer) -> int:
    return server.log.read_text(errors="replace").count("Accepted publickey")


async def fast_sleep(seconds: float) -> None:
    await asyncio.sleep(0.02)


# --- Host keys -----------------------------------------------------------------------------------


async def test_pinned_key_connects_as_the_configs_user(
    instance_host: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts
) -> None:
    known.pin(INSTANCE_ID, [instance_host.host_public_key], source="console")
    async with await connect(target(client_key[0]), known) as conn:
        result = await conn.run("echo ok; id -un", check=True)
    # The target says "ubuntu" (no such user here): ~/.ssh/config's `User root` won.
    assert result.stdout == f"ok\n{instance_host.user}\n"


async def test_a_different_key_is_an_alarm_and_nothing_runs(
    instance_host: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts, tmp_path: Path
) -> None:
    impostor = keygen(tmp_path / "impostor")
    known.pin(INSTANCE_ID, [impostor], source="console")
    with pytest.raises(HostKeyChanged) as caught:
        await connect(target(client_key[0]), known)
    err = caught.value
    assert err.presented == instance_host.host_public_key
    assert err.fingerprint == hostkeys.fingerprint(instance_host.host_public_key)
    assert "man-in-the-middle" in err.what and "replaced" in err.what
    assert "console output" in err.next_step and INSTANCE_ID in err.next_step
    assert accepted_logins(instance_host) == 0  # never authenticated, so no command could run

    # A pinned key of a type the server does not even have: the same alarm.
    known.pin(INSTANCE_ID, [keygen(tmp_path / "impostor-ecdsa", "ecdsa")], source="console")
    with pytest.raises(HostKeyChanged):
        await connect(target(client_key[0]), known)
    assert accepted_logins(instance_host) == 0


async def test_nothing_pinned_shows_the_fingerprint_then_trusting_it_works(
    instance_host: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts
) -> None:
    with pytest.raises(HostKeyUnknown) as caught:
        await connect(target(client_key[0]), known)
    assert caught.value.presented == instance_host.host_public_key
    assert caught.value.fingerprint == hostkeys.fingerprint(instance_host.host_public_key)
    assert caught.value.fingerprint in caught.value.what
    assert await presented_host_key(target(None)) == instance_host.host_public_key

    known.pin(INSTANCE_ID, [caught.value.presented], source="user")  # the user said yes
    assert known.check(INSTANCE_ID).source == "user"
    async with await connect(target(client_key[0]), known) as conn:
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"


# --- Authentication, reachability ----------------------------------------------------------------


async def test_a_refused_key_names_the_file_and_the_key_pair(
    instance_host: OpenSshServer, known: KnownHosts, tmp_path: Path
) -> None:
    known.pin(INSTANCE_ID, [instance_host.host_public_key])
    wrong = tmp_path / "wrong.pem"
    keygen(wrong)
    with pytest.raises(SshAuthFailed) as caught:
        await wait_for_ssh(target(wrong), known, sleep=fast_sleep)  # not retried
    assert str(wrong) in caught.value.what and "d2l-test" in caught.value.next_step

    with pytest.raises(SshAuthFailed) as missing:
        await connect(target(tmp_path / "gone.pem"), known)
    assert "gone.pem" in missing.value.what


@pytest.fixture
def later_sshd(tmp_path: Path, client_key: tuple[Path, str]) -> Iterator[OpenSshServer]:
    """An sshd that is configured (host key made, ~/.ssh/config pointing at it) but not started."""
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH sshd is not installed (the CI installs openssh-server)")
    server = OpenSshServer(tmp_path / "later-sshd", client_key[1])
    point_host_at(home(), DNS, server)
    try:
        yield server
    finally:
        server.stop()


async def test_wait_for_ssh_retries_until_sshd_starts(
    later_sshd: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts
) -> None:
    known.pin(INSTANCE_ID, [later_sshd.host_public_key], source="console")
    starter = threading.Timer(1.0, later_sshd.start)
    starter.start()
    lines: list[str] = []
    try:
        conn = await wait_for_ssh(target(client_key[0]), known, on_wait=lines.append, sleep=fast_sleep)
    finally:
        starter.join()
    async with conn:
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"
    assert lines and lines[0] == "SSH not up yet (connection refused), retrying in 1 s… 0:00 elapsed"
    assert any("retrying in 10 s" in line for line in lines)  # 1, 2, 4, 8, then capped at 10


async def test_wait_for_ssh_gives_up_at_the_deadline(client_key: tuple[Path, str], known: KnownHosts) -> None:
    known.pin(INSTANCE_ID, [client_key[1]])
    slept: list[float] = []

    async def instant(seconds: float) -> None:
        slept.append(seconds)

    nobody = SshTarget(INSTANCE_ID, "127.0.0.1", client_key[0], port=free_port())
    with pytest.raises(SshUnreachable) as caught:
        await wait_for_ssh(nobody, known, timeout_s=30, sleep=instant)
    assert caught.value.reason == "connection refused" and "0:30" in caught.value.what
    assert slept == [1, 2, 4, 8, 10, 5]


async def test_a_server_with_several_host_keys(client_key: tuple[Path, str], known: KnownHosts) -> None:
    """As on EC2 (ed25519, ecdsa, rsa): ed25519 is shown first, any pinned one is verified, and a
    server without the pinned type is an alarm, not "unreachable"."""
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    ed = asyncssh.generate_private_key("ssh-ed25519")
    users: list[str] = []
    server = await asyncssh.create_server(
        lambda: _Recorder(users, client_key[1]),
        "127.0.0.1",
        0,
        server_host_keys=[rsa, ed],
        process_factory=lambda process: process.exit(0),
    )
    demo = SshTarget(INSTANCE_ID, "127.0.0.1", client_key[0], port=server.sockets[0].getsockname()[1])
    try:
        assert await presented_host_key(demo) == hostkeys.key_line(ed)
        known.pin(INSTANCE_ID, [hostkeys.key_line(rsa)])
        async with await connect(demo, known):
            pass
        known.pin(INSTANCE_ID, [hostkeys.key_line(asyncssh.generate_private_key("ecdsa-sha2-nistp256"))])
        with pytest.raises(HostKeyChanged) as caught:
            await wait_for_ssh(demo, known, sleep=fast_sleep)  # not retried
        assert caught.value.presented == hostkeys.key_line(ed)
    finally:
        server.close()
        await server.wait_closed()
    assert len(users) == 1


# --- ~/.ssh/config: the image's user unless it names one, ProxyJump ------------------------------


class _Recorder(asyncssh.SSHServer):
    def __init__(self, users: list[str], allowed: str) -> None:
        self.users = users
        self.allowed = allowed

    def begin_auth(self, username: str) -> bool:
        self.users.append(username)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return hostkeys.key_line(key) == self.allowed


async def test_target_user_unless_the_config_names_one(
    client_key: tuple[Path, str], known: KnownHosts
) -> None:
    users: list[str] = []
    server_key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        lambda: _Recorder(users, client_key[1]),
        "127.0.0.1",
        0,
        server_host_keys=[server_key],
        process_factory=lambda process: process.exit(0),
    )
    port = server.sockets[0].getsockname()[1]
    known.pin(INSTANCE_ID, [hostkeys.key_line(server_key)])
    try:
        # The --demo path: an explicit address and port, no config for it.
        demo = SshTarget(INSTANCE_ID, "127.0.0.1", client_key[0], port=port)
        async with await connect(demo, known):
            pass
        # A config block for the DNS name without User: still the image's user, not the local login.
        (home() / ".ssh").mkdir(parents=True)
        (home() / ".ssh" / "config").write_text(f"Host {DNS}\n    HostName 127.0.0.1\n    Port {port}\n")
        async with await connect(target(client_key[0], user="ec2-user"), known):
            pass
        # With `User` in the config, that one.
        (home() / ".ssh" / "config").write_text(
            f"Host {DNS}\n    HostName 127.0.0.1\n    Port {port}\n    User admin\n"
        )
        async with await connect(target(client_key[0]), known):
            pass
    finally:
        server.close()
        await server.wait_closed()
    assert users == ["ubuntu", "ec2-user", "admin"]


async def test_proxyjump_from_the_users_config(
    sshd: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts
) -> None:
    ssh_dir = home() / ".ssh"
    ssh_dir.mkdir(parents=True)
    # The jump host is the user's own: its key in their known_hosts, their IdentityFile.
    (ssh_dir / "known_hosts").write_text(
        f"[jump]:{sshd.port},[127.0.0.1]:{sshd.port} {sshd.host_public_key}\n"
    )
    (ssh_dir / "config").write_text(
        f"Host jump\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User {sshd.user}\n"
        f"    IdentityFile {client_key[0]}\n"
        f"Host {DNS}\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User {sshd.user}\n    ProxyJump jump\n"
    )
    known.pin(INSTANCE_ID, [sshd.host_public_key])
    async with await connect(target(client_key[0]), known) as conn:
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"
    assert accepted_logins(sshd) == 2  # the jump host, then the instance through it


# --- Pinning from the console output, and OpenSSH using the pins ---------------------------------


async def test_ensure_pinned_reads_the_console_then_connects(
    aws: Aws, instance_host: OpenSshServer, client_key: tuple[Path, str], known: KnownHosts
) -> None:
    instance_id = run(aws, "us-east-1", "box")
    calls = console_hook(aws, lambda n: cloud_init_console([instance_host.host_public_key]))
    instance = Instance(instance_id, "box", "us-east-1", "t3.micro", "running", public_dns=DNS)

    check = await asyncio.to_thread(ensure_pinned, aws, instance, known, sleep=lambda s: None)
    assert check.pinned == (instance_host.host_public_key,) and check.source == "console"
    assert known.check(instance_id) == check
    assert len(calls) == 1
    assert ensure_pinned(aws, instance, known) == check and len(calls) == 1  # pinned: not read again

    async with await connect(SshTarget(instance_id, DNS, client_key[0]), known) as conn:
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"


def test_ensure_pinned_without_keys_in_the_console_pins_nothing(aws: Aws, known: KnownHosts) -> None:
    instance_id = run(aws, "us-east-1", "box")
    instance = Instance(instance_id, "box", "us-east-1", "t3.micro", "running", public_dns=DNS)
    lines: list[str] = []
    check = ensure_pinned(aws, instance, known, timeout_s=20, sleep=lambda s: None, on_wait=lines.append)
    assert check.pinned == () and check.instance_id == instance_id
    assert known.keys_for(instance_id) == [] and len(lines) == 3  # 0, 5, 15 s; 20 s is the deadline


@pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client not installed")
def test_openssh_checks_the_pins_through_the_host_block(
    sshd: OpenSshServer, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    box = Instance(INSTANCE_ID, "box", "us-east-1", "t3.micro", "running", public_dns="127.0.0.1")
    include = tmp_path / "include"
    include.write_text(sshconfig.host_block(box, client_key[0]))
    known = KnownHosts(sshconfig.known_hosts_path())

    def ssh() -> subprocess.CompletedProcess[str]:
        argv = ["ssh", "-F", str(include), "-p", str(sshd.port), "-l", sshd.user, "-o", "BatchMode=yes"]
        return subprocess.run(argv + ["d2l-box", "echo", "ok"], capture_output=True, text=True, timeout=20)

    refused = ssh()  # nothing pinned yet: StrictHostKeyChecking yes refuses
    assert refused.returncode == 255 and "verification failed" in refused.stderr
    known.pin(INSTANCE_ID, [sshd.host_public_key], source="console")
    ok = ssh()
    assert ok.returncode == 0 and ok.stdout == "ok\n", ok.stderr
    known.pin(INSTANCE_ID, [keygen(tmp_path / "impostor")], source="console")
    changed = ssh()
    assert changed.returncode == 255 and "verification failed" in changed.stderr
