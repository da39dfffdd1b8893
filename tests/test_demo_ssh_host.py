"""The simulated instance's SSH server (tui/demo/ssh_host.py), driven by asyncssh's client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncssh
import pytest

from tui.demo.ssh_host import LoopbackHost, console_hook, console_output_for, host_key_fingerprint
from tui.services.cloud.aws import Aws


@pytest.fixture
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
async def host(tmp_path: Path, client_key: asyncssh.SSHKey) -> AsyncIterator[LoopbackHost]:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "nvidia-smi").write_text("#!/bin/sh\necho 'Tesla T4 (simulated)'\n")
    (tools / "nvidia-smi").chmod(0o755)
    server = LoopbackHost(
        authorized_key=client_key.export_public_key().decode(), home=tmp_path / "ubuntu", extra_path=tools
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _known_hosts(host: LoopbackHost) -> asyncssh.SSHKnownHosts:
    return asyncssh.import_known_hosts(f"[127.0.0.1]:{host.port} {host.host_public_key}\n")


async def _connect(host: LoopbackHost, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "127.0.0.1",
        host.port,
        username="ubuntu",
        client_keys=[key],
        known_hosts=_known_hosts(host),
        config=[],
        agent_path=None,
    )


@pytest.fixture
async def conn(
    host: LoopbackHost, client_key: asyncssh.SSHKey
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    connection = await _connect(host, client_key)
    try:
        yield connection
    finally:
        connection.close()
        await connection.wait_closed()


def _alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 in a container may never reap what it inherits)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _session_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[3])


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def test_exec_relays_stdout_and_exit_status(conn: asyncssh.SSHClientConnection) -> None:
    result = await conn.run("echo hello", encoding=None)
    assert result.stdout == b"hello\n"
    assert result.exit_status == 0

    result = await conn.run("echo out; echo oops >&2; exit 7")
    assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "oops\n", 7)


async def test_a_command_killed_by_a_signal_reports_it(conn: asyncssh.SSHClientConnection) -> None:
    result = await conn.run("kill -TERM $$")
    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"


async def test_stdin_is_piped_byte_exact(conn: asyncssh.SSHClientConnection) -> None:
    data = os.urandom(1 << 20)
    result = await conn.run("cat", input=data, encoding=None)
    assert result.exit_status == 0
    assert result.stdout == data

    result = await conn.run("sha256sum", input=data, encoding=None)
    assert result.stdout == f"{hashlib.sha256(data).hexdigest()}  -\n".encode()


async def test_the_sandbox_is_home_and_extra_path_comes_first(
    conn: asyncssh.SSHClientConnection, host: LoopbackHost
) -> None:
    result = await conn.run('echo "$HOME"; pwd; echo "$USER $LANG"; nvidia-smi', check=True)
    assert result.stdout == f"{host.home}\n{host.home}\nubuntu C.UTF-8\nTesla T4 (simulated)\n"
    await conn.run("echo kept > note.txt", check=True)
    assert (host.home / "note.txt").read_text() == "kept\n"


async def test_only_the_authorized_key_logs_in(host: LoopbackHost) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(host, stranger)


async def test_the_client_must_pin_the_right_host_key(
    host: LoopbackHost, client_key: asyncssh.SSHKey
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            "127.0.0.1",
            host.port,
            username="ubuntu",
            client_keys=[client_key],
            known_hosts=asyncssh.import_known_hosts(f"[127.0.0.1]:{host.port} {other}\n"),
            config=[],
            agent_path=None,
        )


async def test_a_disconnect_hangs_up_the_command_but_not_what_setsid_detached(
    host: LoopbackHost, client_key: asyncssh.SSHKey
) -> None:
    conn = await _connect(host, client_key)
    bg_pid = 0
    try:
        process = await conn.create_process(
            "setsid nohup sleep 5 >/dev/null 2>&1 </dev/null & echo $! > bg.pid; "
            "echo $$ > fg.pid; echo started; sleep 30"
        )
        assert await asyncio.wait_for(process.stdout.readline(), 5) == "started\n"
        bg_pid = int((host.home / "bg.pid").read_text())
        fg_pid = int((host.home / "fg.pid").read_text())
        assert _alive(bg_pid) and _alive(fg_pid)
        # `setsid` runs a moment after the shell forked it: hang up only once it is detached.
        assert await _until(lambda: _session_of(bg_pid) == bg_pid)

        conn.close()
        await conn.wait_closed()

        assert await _until(lambda: not _alive(fg_pid)), "the foreground command outlived the connection"
        assert _alive(bg_pid), "the setsid'd process died with the connection"
    finally:
        conn.close()
        if bg_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bg_pid, signal.SIGKILL)


async def test_closing_the_channel_hangs_up_the_command(
    conn: asyncssh.SSHClientConnection, host: LoopbackHost
) -> None:
    process = await conn.create_process("echo $$ > fg.pid; echo started; sleep 30")
    assert await asyncio.wait_for(process.stdout.readline(), 5) == "started\n"
    fg_pid = int((host.home / "fg.pid").read_text())
    process.close()
    assert await _until(lambda: not _alive(fg_pid))
    # The connection is still good for the next command.
    assert (await conn.run("echo again")).stdout == "again\n"


async def test_stop_ends_running_commands(host: LoopbackHost, client_key: asyncssh.SSHKey) -> None:
    conn = await _connect(host, client_key)
    process = await conn.create_process("echo $$ > fg.pid; echo started; sleep 30")
    assert await asyncio.wait_for(process.stdout.readline(), 5) == "started\n"
    fg_pid = int((host.home / "fg.pid").read_text())
    await host.stop()
    assert not _alive(fg_pid)
    await asyncio.wait_for(conn.wait_closed(), 5)

    # A restart is a reboot: same port and host key, so the pinned key still verifies.
    await host.start()
    again = await _connect(host, client_key)
    try:
        assert (await again.run("echo up")).stdout == "up\n"
    finally:
        again.close()
        await again.wait_closed()


async def test_local_port_forwarding_reaches_a_loopback_service(conn: asyncssh.SSHClientConnection) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    service = await asyncio.start_server(echo, "127.0.0.1", 0)
    service_port = service.sockets[0].getsockname()[1]
    listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", service_port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b"ping"
        writer.close()
        await writer.wait_closed()

        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("192.0.2.1", 80)  # only loopback is reachable
    finally:
        listener.close()
        await listener.wait_closed()
        service.close()
        await service.wait_closed()


def test_console_output_carries_the_key_and_its_fingerprint() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    text = console_output_for(key, "ip-172-31-7-7")
    fingerprint = host_key_fingerprint(key)
    blob = base64.b64decode(key.split()[1])
    assert fingerprint == "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    lines = text.splitlines()
    begin = lines.index("-----BEGIN SSH HOST KEY KEYS-----")
    assert lines[begin + 1] == f"{key} root@ip-172-31-7-7"
    assert lines[begin + 2] == "-----END SSH HOST KEY KEYS-----"
    assert any(
        line.startswith("<14>")
        and line.endswith(f"cloud-init: 256 {fingerprint} root@ip-172-31-7-7 (ED25519)")
        for line in lines
    )
    assert "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----" in console_output_for(key, tag="ec2")


def test_console_hook_shows_the_loopback_host_key(aws: Aws, tmp_path: Path) -> None:
    loopback = LoopbackHost(home=tmp_path / "ubuntu")
    hosts: dict[str, LoopbackHost] = {}
    cloud = Aws(region="us-east-1", customize=console_hook(hosts.get))
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    ours, other = (
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0][
            "InstanceId"
        ]
        for _ in range(2)
    )
    hosts[ours] = loopback

    answer = ec2.get_console_output(InstanceId=ours, Latest=True)
    assert set(answer) - {"ResponseMetadata"} == {"InstanceId", "Timestamp", "Output"}
    assert answer["InstanceId"] == ours
    keys = answer["Output"].split("-----BEGIN SSH HOST KEY KEYS-----\n", 1)[1].split("-----END", 1)[0]
    assert keys == f"{loopback.host_public_key} root@ip-172-31-0-10\n"

    untouched = ec2.get_console_output(InstanceId=other)["Output"]
    assert "SSH HOST KEY" not in untouched


async def test_a_command_that_ignores_the_hangup_is_killed(
    conn: asyncssh.SSHClientConnection, host: LoopbackHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.demo.ssh_host.HANGUP_GRACE_S", 0.2)
    process = await conn.create_process("trap '' HUP; echo $$ > fg.pid; echo started; sleep 30")
    assert await asyncio.wait_for(process.stdout.readline(), 5) == "started\n"
    fg_pid = int((host.home / "fg.pid").read_text())
    process.close()
    assert await _until(lambda: not _alive(fg_pid))


async def test_signals_from_the_client_reach_the_command(conn: asyncssh.SSHClientConnection) -> None:
    process = await conn.create_process("echo started; sleep 30")
    assert await asyncio.wait_for(process.stdout.readline(), 5) == "started\n"
    process.send_signal("INT")
    result = await asyncio.wait_for(process.wait(), 5)
    assert result.exit_signal is not None and result.exit_signal[0] == "INT"


async def test_a_session_without_a_command_reads_its_commands_from_stdin(
    conn: asyncssh.SSHClientConnection,
) -> None:
    result = await conn.run(input="echo from-stdin\nexit 3\n")
    assert (result.stdout, result.exit_status) == ("from-stdin\n", 3)


async def test_the_demo_machine_says_it_is_ubuntu_as_its_prompt_does(
    tmp_path: Path, client_key: asyncssh.SSHKey
) -> None:
    from tui.demo.hosts import DEMO_BIN

    server = LoopbackHost(
        authorized_key=client_key.export_public_key().decode(), home=tmp_path / "ubuntu", extra_path=DEMO_BIN
    )
    await server.start()
    try:
        async with await _connect(server, client_key) as connection:
            result = await connection.run("whoami", check=True)
        assert result.stdout == "ubuntu\n"  # not the local account the demo's processes run as
    finally:
        await server.stop()
