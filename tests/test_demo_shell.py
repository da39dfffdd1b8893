"""A shell on the simulated instance: the real OpenSSH client, with the command line the app runs
for `o` (ssh_argv with the loopback endpoint and the key pinned under the instance id), gets an
interactive bash on a pty from the loopback host; a wrong pin is refused."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.test_demo_ssh_host import _alive
from tui.demo.ssh_host import LoopbackHost
from tui.models import Instance
from tui.services.remote import sshconfig
from tui.services.remote.hostkeys import KnownHosts

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")

INSTANCE = Instance(
    "i-0aaaabbbbccccdddd",
    "book",
    "us-east-1",
    "g4dn.xlarge",
    "running",
    "ec2-198-51-100-7.compute-1.amazonaws.com",
)


@pytest.fixture
async def host(tmp_path: Path, client_key: tuple[Path, str]) -> AsyncIterator[LoopbackHost]:
    server = LoopbackHost(authorized_key=client_key[1], home=tmp_path / "ubuntu")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def with_terminal(argv: list[str]) -> list[str]:
    # -tt: ask for a pty although this test's stdin is a pipe, as a person's terminal would.
    return [argv[0], "-tt", "-o", "BatchMode=yes", *argv[1:]]


async def run_ssh(argv: list[str], typed: bytes) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(typed), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_the_shell_command_gets_an_interactive_bash_on_a_pty(
    host: LoopbackHost, client_key: tuple[Path, str]
) -> None:
    KnownHosts(sshconfig.known_hosts_path()).pin(
        INSTANCE.instance_id, [host.host_public_key], source="console"
    )
    argv = sshconfig.ssh_argv(INSTANCE, client_key[0], endpoint=("127.0.0.1", host.port))
    assert "StrictHostKeyChecking=yes" in argv and f"HostKeyAlias={INSTANCE.instance_id}" in argv
    assert argv[-1] == "ubuntu@127.0.0.1" and argv[argv.index("-p") + 1] == str(host.port)

    code, out = await run_ssh(with_terminal(argv), b"echo $((6*7)); tty; echo $HOME; exit 3\n")
    assert code == 3, out  # the shell's exit status comes back as ssh's
    assert "Simulated instance" in out  # the banner says what this is
    assert "42" in out and "/dev/pts/" in out  # a real pty, not a pipe
    assert str(host.home) in out
    assert "(simulated)" in out  # in the prompt


async def test_a_shell_that_the_client_leaves_is_hung_up(
    host: LoopbackHost, client_key: tuple[Path, str]
) -> None:
    KnownHosts(sshconfig.known_hosts_path()).pin(
        INSTANCE.instance_id, [host.host_public_key], source="console"
    )
    argv = with_terminal(sshconfig.ssh_argv(INSTANCE, client_key[0], endpoint=("127.0.0.1", host.port)))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"echo pid=$$\n")
    seen = b""
    while b"pid=" not in seen.replace(b"pid=$$", b""):
        seen += await asyncio.wait_for(proc.stdout.read(4096), 15)
    shell_pid = int(seen.replace(b"pid=$$", b"").split(b"pid=")[1].split()[0])
    proc.kill()  # the terminal closed
    await proc.wait()
    for _ in range(200):
        if not _alive(shell_pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(shell_pid)


async def test_a_pin_that_does_not_match_is_refused(host: LoopbackHost, client_key: tuple[Path, str]) -> None:
    other = LoopbackHost(home=host.home.parent / "other")
    KnownHosts(sshconfig.known_hosts_path()).pin(
        INSTANCE.instance_id, [other.host_public_key], source="console"
    )
    argv = sshconfig.ssh_argv(INSTANCE, client_key[0], endpoint=("127.0.0.1", host.port))
    code, out = await run_ssh(with_terminal(argv), b"echo should-not-run\n")
    assert code == 255
    assert "should-not-run" not in out.replace("echo should-not-run", "")
    assert "IDENTIFICATION HAS CHANGED" in out or "Host key verification failed" in out


def test_no_endpoint_means_the_public_address(client_key: tuple[Path, str]) -> None:
    argv = sshconfig.ssh_argv(INSTANCE, client_key[0])
    assert "-p" not in argv and argv[-1] == f"ubuntu@{INSTANCE.public_dns}"
    assert os.fspath(client_key[0]) in argv
