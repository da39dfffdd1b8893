"""The simulated instance's SSH server: asyncssh on loopback, embedded in the app (--demo and fast tests).

``LoopbackHost`` behaves like a tiny Linux host for the app's SSH client. Exec requests run
``bash -c CMD`` as a local subprocess in a sandbox HOME, stdin/stdout/stderr are relayed byte for byte
and the exit status (or the signal that ended the command) goes back, as sshd sends them. When the
client closes the channel or the connection drops, the command's process group gets SIGHUP (then
SIGKILL if it lingers); what the command started with ``setsid nohup ... &`` is in a session of its
own and keeps running, which is how the app's detached runner outlives a connection on a real host.
Direct TCP/IP forwarding to loopback is allowed (the app forwards a Jupyter port through it).

``console_output_for`` and ``console_hook`` make the simulated cloud's GetConsoleOutput show the
host key block cloud-init prints on a real instance, so the app pins this server's key the way it
pins a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh

DEFAULT_HOSTNAME = "ip-172-31-0-10"
DEFAULT_USER = "ubuntu"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Seconds a hung-up command has to exit before its process group is killed.
HANGUP_GRACE_S = 2.0
_CHUNK = 64 * 1024


class LoopbackHost:
    """An SSH server on 127.0.0.1 (ephemeral port) that runs commands with the local bash.

    Only ``authorized_key`` (an OpenSSH public key line) may log in, under any user name; with None
    any key is accepted. The host key is made here, so ``host_public_key`` (and the console output
    built from it) is known before ``start``. ``stop`` then ``start`` again is a reboot: the same
    port, host key and HOME.
    """

    def __init__(
        self,
        authorized_key: str | None = None,
        home: Path | None = None,
        extra_path: Path | None = None,
        *,
        hostname: str = DEFAULT_HOSTNAME,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.hostname = hostname
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._authorized = asyncssh.import_public_key(authorized_key) if authorized_key else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if home is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="d2l-loopback-")
            home = Path(self._tmp.name) / DEFAULT_USER
        home.mkdir(parents=True, exist_ok=True)
        self._home = home
        self._extra_path = extra_path
        self._environment = dict(environment or {})
        self._port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._sessions: set[asyncio.Task[Any]] = set()
        self._children: set[asyncio.subprocess.Process] = set()
        self._reapers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def home(self) -> Path:
        return self._home

    @property
    def host_public_key(self) -> str:
        """The host key as an OpenSSH line: ``ssh-ed25519 AAAA...``."""
        return self._host_key.export_public_key("openssh").decode().strip()

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    async def start(self) -> None:
        if self._acceptor is not None:
            return
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            self._port,
            server_host_keys=[self._host_key],
            process_factory=self._session,
            encoding=None,
            allow_pty=True,  # only `ssh` without a command gets one: an interactive shell
            agent_forwarding=False,
            x11_forwarding=False,
            line_editor=False,
            reuse_address=True,
        )
        self._port = self._acceptor.get_port()

    async def stop(self) -> None:
        """Close the listener and every connection; end every command still running (not the
        ``setsid`` ones, as a shutdown of sshd would leave them too)."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
        for conn in list(self._connections):
            conn.close()
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.wait_closed()
        for proc in list(self._children):
            self._hang_up(proc)
        pending = [*self._sessions, *self._reapers]
        if pending:
            await asyncio.wait(pending, timeout=HANGUP_GRACE_S + 3)
        if acceptor is not None:
            with contextlib.suppress(Exception):
                await acceptor.wait_closed()

    # -- sessions ---------------------------------------------------------------------------------

    def _env(self, username: str, process: asyncssh.SSHServerProcess[bytes]) -> dict[str, str]:
        path = os.environ.get("PATH", os.defpath)
        if self._extra_path is not None:
            path = f"{self._extra_path}{os.pathsep}{path}"
        peer = process.get_extra_info("peername") or ("127.0.0.1", 0)
        env = {
            "HOME": str(self._home),
            "PATH": path,
            "USER": username,
            "LOGNAME": username,
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "SSH_CLIENT": f"{peer[0]} {peer[1]} {self._port}",
            "SSH_CONNECTION": f"{peer[0]} {peer[1]} 127.0.0.1 {self._port}",
        }
        env.update(self._environment)
        return env

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        try:
            await self._run(process)
        except Exception as exc:  # a broken session must not take the connection down with it
            with contextlib.suppress(Exception):
                process.stderr.write(f"loopback host: {exc}\n".encode())
                process.exit(255)
        finally:
            if task is not None:
                self._sessions.discard(task)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.subsystem:
            process.stderr.write(f"subsystem request failed: {process.subsystem}\n".encode())
            process.exit(1)
            return
        username = process.get_extra_info("username") or DEFAULT_USER
        if process.command is None and process.get_terminal_type() is not None:
            await self._login_shell(process, username)
            return
        # No command and no PTY (`ssh -T`): a shell reading its commands from stdin.
        argv = ["bash", "-c", process.command] if process.command is not None else ["bash", "-s"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._home,
                env=self._env(username, process),
                start_new_session=True,  # its own process group: the hang-up reaches all of it
            )
        except OSError as exc:
            process.stderr.write(f"bash: {exc}\n".encode())
            process.exit(127)
            return
        self._children.add(proc)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        feed = asyncio.ensure_future(_feed_stdin(process, proc.stdin, proc.pid))
        finished: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(
                _relay_output(proc.stdout, process.stdout),
                _relay_output(proc.stderr, process.stderr),
                proc.wait(),
            )
        )
        finished.add_done_callback(_retrieve)
        closed: asyncio.Future[Any] = asyncio.ensure_future(process.wait_closed())
        closed.add_done_callback(_retrieve)
        completed = False
        try:
            await asyncio.wait({finished, closed}, return_when=asyncio.FIRST_COMPLETED)
            completed = finished.done() and not process.is_closing()
            if completed:
                await _flush(process)
                _send_exit(process, proc.returncode)
        finally:
            for task in (feed, closed):
                task.cancel()
            if not completed:
                finished.cancel()
                self._hang_up(proc)
            else:
                self._children.discard(proc)
                _close_pipes(proc)

    async def _login_shell(self, process: asyncssh.SSHServerProcess[bytes], username: str) -> None:
        """`ssh` with a terminal and no command: an interactive bash on a local pty."""
        from tui.demo.pty_shell import run_login_shell

        env = self._env(username, process)
        env["PS1"] = rf"{username}@{self.hostname} (simulated):\w\$ "
        banner = (
            f"Simulated instance {self.hostname}: a bash on this machine in a sandbox HOME ({self._home}).\r\n"
            "Nothing here is an EC2 instance; exit (or Ctrl-D) goes back to d2l-tui.\r\n"
        )
        shells: list[asyncio.subprocess.Process] = []

        def started(proc: asyncio.subprocess.Process) -> None:
            shells.append(proc)
            self._children.add(proc)

        returncode = await run_login_shell(process, env, self._home, banner, started)
        for proc in shells:
            if returncode is None:
                self._hang_up(proc)  # the client went away: as sshd would, hang the shell up
            else:
                self._children.discard(proc)
        if returncode is not None:
            await _flush(process)
            _send_exit(process, returncode)

    def _hang_up(self, proc: asyncio.subprocess.Process) -> None:
        """What sshd's hang-up amounts to: SIGHUP to the command's process group, SIGKILL after a
        grace period; the process is reaped in the background (``stop`` waits for it)."""
        if not _signal_group(proc.pid, signal.SIGHUP) and proc.returncode is not None:
            self._children.discard(proc)
            _close_pipes(proc)
            return
        reaper = asyncio.ensure_future(self._reap(proc))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        try:
            try:
                await asyncio.wait_for(proc.wait(), HANGUP_GRACE_S)
            except asyncio.TimeoutError:
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        finally:
            self._children.discard(proc)
            _close_pipes(proc)


class _Server(asyncssh.SSHServer):
    def __init__(self, host: LoopbackHost) -> None:
        self._host = host
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._host._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._host._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is required

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self._host._authorized
        return allowed is None or key.public_data == allowed.public_data

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return dest_host in LOOPBACK_HOSTS


async def _feed_stdin(
    process: asyncssh.SSHServerProcess[bytes], stdin: asyncio.StreamWriter, pid: int
) -> None:
    """The client's stdin to the command; a signal the client sends goes to the command's group."""
    try:
        while True:
            try:
                data = await process.stdin.read(_CHUNK)
            except asyncssh.SignalReceived as exc:
                signum = getattr(signal, f"SIG{exc.signal}", None)
                if signum is not None:
                    _signal_group(pid, signum)
                continue
            except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                continue
            if not data:
                break
            stdin.write(data)
            await stdin.drain()
    except (OSError, asyncssh.Error):
        pass  # the command closed its stdin, or the client went away
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


async def _relay_output(source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes]) -> None:
    while data := await source.read(_CHUNK):
        try:
            sink.write(data)
            await sink.drain()
        except (OSError, asyncssh.Error):
            return  # the channel is gone; the hang-up follows


async def _flush(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Wait until the output has gone out: asyncssh sends exit-status ahead of buffered data."""
    while process.channel.get_write_buffer_size() and not process.is_closing():
        await asyncio.sleep(0.005)


def _send_exit(process: asyncssh.SSHServerProcess[bytes], returncode: int | None) -> None:
    if process.is_closing():
        return
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name.removeprefix("SIG")
        except ValueError:
            name = "KILL"
        process.exit_with_signal(name)
    else:
        process.exit(returncode or 0)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a cancelled or failed helper's outcome as seen (no "exception was never retrieved")."""
    if not future.cancelled():
        future.exception()


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _close_pipes(proc: asyncio.subprocess.Process) -> None:
    """Let go of our ends of the pipes (a ``nohup cmd &`` left behind may still hold the others)."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


# -- the console output cloud-init prints -------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CLOUD_INIT_VERSION = "24.4.1-0ubuntu0~22.04.1"
KERNEL = "6.8.0-1029-aws"


def _rfc2822(when: datetime) -> str:
    return f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when:%Y %H:%M:%S} +0000"


def _syslog(when: datetime) -> str:
    return f"{_MONTHS[when.month - 1]} {when.day:>2} {when:%H:%M:%S}"


def host_key_fingerprint(host_public_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as ssh-keygen -l prints it."""
    return str(asyncssh.import_public_key(host_public_key).get_fingerprint("sha256"))


def console_output_for(
    host_public_key: str,
    hostname: str = DEFAULT_HOSTNAME,
    *,
    when: datetime | None = None,
    tag: str = "cloud-init",
) -> str:
    """An Ubuntu EC2 instance's console after cloud-init ran, as GetConsoleOutput returns it (decoded).

    The key blocks follow cloud-init's write-ssh-key-fingerprints: syslog-tagged FINGERPRINTS lines,
    then the untagged KEYS block. The tag is ``cloud-init`` on current images (``ec2`` before
    cloud-init 21.2). ``when`` is the end of the boot (default: now).
    """
    finished = (when or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    boot = finished - timedelta(seconds=15)

    def at(seconds: float) -> datetime:
        return boot + timedelta(seconds=seconds)

    key_type = host_public_key.split()[0]
    kind = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}.get(key_type, "ECDSA")
    bits = {"ssh-rsa": 3072}.get(key_type, 256)
    fingerprint = host_key_fingerprint(host_public_key)
    key = " ".join(host_public_key.split()[:2])
    short = key_type.removeprefix("ssh-").split("-")[0]
    log = f"<14>{_syslog(at(14.5))} {tag}:"
    ci = f"Cloud-init v. {CLOUD_INIT_VERSION}"
    lines = [
        f"[    0.000000] Linux version {KERNEL} (buildd@lcy02-amd64-012) (x86_64-linux-gnu-gcc-12 "
        "(Ubuntu 12.3.0-1ubuntu1~22.04) 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) "
        "#31~22.04.1-Ubuntu SMP Thu Apr 24 21:16:18 UTC 2025 (Ubuntu 6.8.0-1029.31~22.04.1-aws 6.8.12)",
        f"[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-{KERNEL} root=PARTUUID=3c1b4f8e-01 ro "
        "console=tty1 console=ttyS0 nvme_core.io_timeout=4294967295 panic=-1",
        "[    0.000000] DMI: Amazon EC2 g4dn.xlarge/, BIOS 1.0 10/16/2017",
        "[    1.912374] nvme nvme0: 2/0/0 default/read/poll queues",
        "[    2.104388] EXT4-fs (nvme0n1p1): mounted filesystem with ordered data mode. Quota mode: none.",
        f"[    4.481022] cloud-init[498]: {ci} running 'init-local' at {_rfc2822(at(4.4))}. Up 4.45 seconds.",
        f"[    6.130547] cloud-init[601]: {ci} running 'init' at {_rfc2822(at(6.1))}. Up 6.11 seconds.",
        "[    6.212840] cloud-init[601]: ci-info: ++++++++++++++++++++++++++++++++++++++Net device info"
        "++++++++++++++++++++++++++++++++++++++",
        "[    6.213021] cloud-init[601]: ci-info: | ens5 | True | 172.31.0.10 | 255.255.240.0 | global |"
        " 0e:3f:a1:5c:72:9b |",
        f"[    6.804915] cloud-init[601]: Generating public/private {short} key pair.",
        f"[    6.805102] cloud-init[601]: Your identification has been saved in /etc/ssh/ssh_host_{short}_key",
        f"[    6.805233] cloud-init[601]: Your public key has been saved in /etc/ssh/ssh_host_{short}_key.pub",
        "[    6.805361] cloud-init[601]: The key fingerprint is:",
        f"[    6.805488] cloud-init[601]: {fingerprint} root@{hostname}",
        f"[   10.022617] cloud-init[1012]: {ci} running 'modules:config' at {_rfc2822(at(10.0))}. Up 10.01 seconds.",
        f"[   14.390184] cloud-init[1104]: {ci} running 'modules:final' at {_rfc2822(at(14.4))}. Up 14.38 seconds.",
        f"{log} " + "#" * 61,
        f"{log} -----BEGIN SSH HOST KEY FINGERPRINTS-----",
        f"{log} {bits} {fingerprint} root@{hostname} ({kind})",
        f"{log} -----END SSH HOST KEY FINGERPRINTS-----",
        f"{log} " + "#" * 61,
        "-----BEGIN SSH HOST KEY KEYS-----",
        f"{key} root@{hostname}",
        "-----END SSH HOST KEY KEYS-----",
        f"[   14.925733] cloud-init[1104]: {ci} finished at {_rfc2822(finished)}. "
        "Datasource DataSourceEc2Local.  Up 14.91 seconds",
    ]
    return "\n".join(lines) + "\n"


def _replace_console_output(
    host_for_instance: Callable[[str], LoopbackHost | None], parsed: dict[str, Any], **_: Any
) -> None:
    host = host_for_instance(parsed.get("InstanceId", ""))
    if host is not None:
        parsed["Output"] = console_output_for(host.host_public_key, host.hostname)


def install_console_hook(
    session_or_client_events: Any, host_for_instance: Callable[[str], LoopbackHost | None]
) -> None:
    """Register the GetConsoleOutput hook on a boto3 Session, a client, or an event emitter.

    botocore's own after-call handler base64-decodes ``Output``, so boto3 hands out text: the hook
    runs after it (registered last) and puts text there too, keeping InstanceId and Timestamp.
    """
    target = session_or_client_events
    if hasattr(target, "meta"):  # a client
        target = target.meta.events
    elif hasattr(target, "events"):  # a boto3 Session
        target = target.events
    target.register_last(
        "after-call.ec2.GetConsoleOutput", partial(_replace_console_output, host_for_instance)
    )


def console_hook(host_for_instance: Callable[[str], LoopbackHost | None]) -> Callable[[Any], None]:
    """``customize(session)`` for Aws: GetConsoleOutput shows the loopback host's key for its instance."""

    def customize(session: Any) -> None:
        install_console_hook(session, host_for_instance)

    return customize
