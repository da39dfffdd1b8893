"""The app's own SSH connections to an instance (asyncssh, on the app's event loop).

A connection trusts only the host keys pinned for the instance id in the app's known_hosts (read
from the console output, or accepted by the user): never the user's known_hosts, never a key on first
use. Everything else follows the user's ``~/.ssh/config`` for the instance's address (HostName, Port,
User, ProxyJump …), like ``ssh`` would; the login is the image's user unless that config names one.
Only the instance's key file is offered: no agent, no other identities.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from tui.models import HostKeyCheck, Instance
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError
from tui.services.remote import hostkeys
from tui.services.remote.hostkeys import KnownHosts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshTarget:
    instance_id: str
    host: str  # the instance's current public DNS name or IP (or what ~/.ssh/config maps it to)
    key_path: Path | None  # the private key of the instance's key pair; None: ~/.ssh/config's / defaults
    user: str = "ubuntu"  # used unless ~/.ssh/config sets User for host
    port: int | None = None  # an explicit port (the --demo server on loopback); None: config, else 22
    key_name: str = ""  # the EC2 key pair's name, for error messages


class HostKeyChanged(D2lError):
    """The server's host key is not one pinned for the instance: possibly a man-in-the-middle."""

    def __init__(self, what: str, next_step: str = "", *, presented: str = "", fingerprint: str = "") -> None:
        super().__init__(what, next_step)
        self.presented = presented
        self.fingerprint = fingerprint


class HostKeyUnknown(D2lError):
    """Nothing is pinned for the instance: the UI shows ``fingerprint`` and asks the user to trust it."""

    def __init__(self, what: str, next_step: str = "", *, presented: str = "", fingerprint: str = "") -> None:
        super().__init__(what, next_step)
        self.presented = presented
        self.fingerprint = fingerprint


class SshUnreachable(D2lError):
    """No SSH answer (refused, timed out, reset, no such name); ``reason`` says which."""

    def __init__(self, what: str, next_step: str = "", *, reason: str = "") -> None:
        super().__init__(what, next_step)
        self.reason = reason


class SshAuthFailed(D2lError):
    """The instance refused the key (or it could not be read)."""


# --- Connecting ----------------------------------------------------------------------------------


def _where(target: SshTarget) -> str:
    return f"{target.host}:{target.port}" if target.port else target.host


def _login_user(target: SshTarget) -> str | tuple[()]:
    """() (asyncssh's "from the config") when ~/.ssh/config sets User for the host, else target.user.

    asyncssh already falls back to the config's User, but past that to the *local* login name; the
    config is loaded here the way asyncssh.connect loads it (``~/.ssh/config`` under $HOME, matched
    against the same host and port) only to see whether it names a user."""
    probe = asyncssh.SSHClientConnectionOptions(
        config=(),  # () = the default ~/.ssh/config, as connect() passes it (the constructor's default is None)
        host=target.host,
        port=target.port if target.port is not None else (),
        client_keys=None,
        agent_path=None,
        known_hosts=None,
        x509_trusted_certs=None,
        x509_trusted_cert_paths=None,
    )
    return () if probe.config.get("User") is not None else target.user


def _client_keys(target: SshTarget) -> list[asyncssh.SSHKey] | tuple[()]:
    if target.key_path is None:
        return ()  # the config's IdentityFile / the default identities
    try:
        return [asyncssh.read_private_key(str(target.key_path))]
    except FileNotFoundError as exc:
        raise SshAuthFailed(
            f"The private key {target.key_path} is not on this computer.",
            f"Copy the key of the EC2 key pair {target.key_name or '(the one the instance uses)'} there.",
        ) from exc
    except (OSError, asyncssh.KeyImportError) as exc:
        raise SshAuthFailed(
            f"The private key {target.key_path} could not be read ({exc}).",
            "It must be an unencrypted OpenSSH or PEM private key readable by you.",
        ) from exc


def _unreachable(target: SshTarget, exc: BaseException) -> SshUnreachable:
    if isinstance(exc, ConnectionRefusedError):
        reason = "connection refused"
    elif isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        reason = "timed out"
    elif isinstance(exc, ConnectionResetError) or isinstance(exc, asyncssh.ConnectionLost):
        reason = "connection reset"
    elif isinstance(exc, socket.gaierror):
        reason = "name not resolved yet"
    elif isinstance(exc, asyncssh.ChannelOpenError):
        reason = f"the jump host could not connect: {exc.reason}"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror.lower()
    else:
        reason = str(exc) or type(exc).__name__
    return SshUnreachable(
        f"Could not reach {_where(target)} over SSH ({reason}).",
        "A new instance needs a minute or two to start SSH; check that it is running and that its "
        "security group allows port 22 from your address.",
        reason=reason,
    )


def _changed(target: SshTarget, pinned: list[str], presented: str = "") -> HostKeyChanged:
    from tui.services.remote.sshconfig import known_hosts_path

    expected = ", ".join(hostkeys.fingerprint(k) for k in pinned)
    got = f" It presented {hostkeys.fingerprint(presented)}; pinned: {expected}." if presented else ""
    return HostKeyChanged(
        f"WARNING: {_where(target)} did not present the SSH host key pinned for {target.instance_id}."
        f"{got} Someone may be intercepting the connection (a man-in-the-middle), or the instance was "
        "replaced. Nothing was sent to it.",
        f"Compare with the host keys in the instance's console output (its details in d2l-tui, or "
        f"`aws ec2 get-console-output --latest --instance-id {target.instance_id}`); only if you are sure "
        f"it is yours, delete the lines starting with {target.instance_id} from {known_hosts_path()} "
        "and connect again.",
        presented=presented,
        fingerprint=hostkeys.fingerprint(presented) if presented else "",
    )


# Which host key the server shows is the client's choice (its first algorithm the server has):
# ed25519 first, as the console keys are ordered. asyncssh's own default order starts with RSA.
_PREFERRED_HOST_KEY_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)


def _host_key_algs(pinned: list[asyncssh.SSHKey]) -> list[str]:
    """The pinned keys' algorithms first, then every other one.

    asyncssh on its own offers only the pinned keys' algorithms; an OpenSSH server that has none of
    them then just resets the connection, which reads like "not up yet". Offering the rest too makes
    such a server present some other key, which fails verification as a changed key should."""
    from asyncssh.public_key import get_default_public_key_algs

    algs = [alg.decode("ascii") for key in pinned for alg in key.sig_algorithms]
    algs += _PREFERRED_HOST_KEY_ALGS
    algs += [alg.decode("ascii") for alg in get_default_public_key_algs()]
    return list(dict.fromkeys(algs))


async def presented_host_key(target: SshTarget, *, timeout_s: float = 10) -> str:
    """The host key line the server presents (``ssh-ed25519 AAAA…``), honouring ~/.ssh/config."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                target.host,
                target.port if target.port is not None else (),
                server_host_key_algs=_host_key_algs([]),
            ),
            timeout=timeout_s,
        )
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        if isinstance(exc, asyncssh.DisconnectError) and not isinstance(exc, asyncssh.ConnectionLost):
            raise D2lError(f"SSH to {_where(target)} failed: {exc}", "See the log file for details.") from exc
        raise _unreachable(target, exc) from exc
    if key is None:
        raise D2lError(f"{_where(target)} presented no SSH host key.", "See the log file for details.")
    return hostkeys.key_line(key)


async def connect(
    target: SshTarget,
    known: KnownHosts,
    *,
    keepalive_s: float = 15,
    connect_timeout_s: float = 10,
) -> asyncssh.SSHClientConnection:
    """An authenticated connection, or HostKeyUnknown / HostKeyChanged / SshAuthFailed / SshUnreachable."""
    pinned = known.keys_for(target.instance_id)
    if not pinned:
        presented = await presented_host_key(target, timeout_s=connect_timeout_s)
        fp = hostkeys.fingerprint(presented)
        raise HostKeyUnknown(
            f"No host key is pinned for {target.instance_id}, and its console output had none. "
            f"The server at {_where(target)} presents {fp}.",
            "Trust it only if it matches what the instance shows (its console output, once cloud-init "
            "prints it).",
            presented=presented,
            fingerprint=fp,
        )
    client_keys = _client_keys(target)
    trusted = [asyncssh.import_public_key(line) for line in pinned]
    kwargs: dict[str, Any] = {
        "username": _login_user(target),
        "client_keys": client_keys,
        "agent_path": None,
        "known_hosts": (trusted, [], []),
        "server_host_key_algs": _host_key_algs(trusted),
        "x509_trusted_certs": None,
        "gss_host": None,
        "password_auth": False,
        "kbdint_auth": False,
        "keepalive_interval": keepalive_s,
        "connect_timeout": connect_timeout_s,
    }
    port = target.port if target.port is not None else ()
    try:
        conn = await asyncssh.connect(target.host, port, **kwargs)
    except asyncssh.HostKeyNotVerifiable as exc:
        log.warning("host key mismatch for %s at %s: %s", target.instance_id, _where(target), exc)
        raise _changed(target, pinned, await _presented_or_empty(target)) from exc
    except asyncssh.KeyExchangeFailed as exc:
        raise D2lError(f"SSH to {_where(target)} failed: {exc}", "See the log file for details.") from exc
    except asyncssh.PermissionDenied as exc:
        key = f"the SSH key {target.key_path}" if target.key_path else "your default SSH keys"
        pair = f"the EC2 key pair {target.key_name}" if target.key_name else "the instance's EC2 key pair"
        raise SshAuthFailed(
            f"{_where(target)} refused {key}.",
            f"Use the private key of {pair} the instance was launched with (check its Key pair in the "
            "instance details), and the image's login user.",
        ) from exc
    except (OSError, asyncio.TimeoutError, asyncssh.ConnectionLost, asyncssh.ChannelOpenError) as exc:
        raise _unreachable(target, exc) from exc
    except asyncssh.DisconnectError as exc:
        # e.g. sshd closing connections while it starts (MaxStartups): try again later.
        raise _unreachable(target, exc) from exc
    log.info("SSH connected to %s (%s)", target.instance_id, _where(target))
    return conn


async def _presented_or_empty(target: SshTarget) -> str:
    try:
        return await presented_host_key(target, timeout_s=5)
    except D2lError:
        return ""


def _clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"


async def wait_for_ssh(
    target: SshTarget,
    known: KnownHosts,
    *,
    timeout_s: float = 600,
    on_wait: Callable[[str], None] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    connect_timeout_s: float = 10,
) -> asyncssh.SSHClientConnection:
    """connect(), retried while the instance is not answering yet (1 s, doubling to 10 s between
    tries); host key and authentication errors are raised at once. SshUnreachable after timeout_s."""
    start = time.monotonic()
    waited = 0.0  # what was asked of `sleep` (an instant test sleep still reaches the deadline)
    delay = 1.0
    while True:
        try:
            return await connect(target, known, connect_timeout_s=connect_timeout_s)
        except SshUnreachable as exc:
            elapsed = max(time.monotonic() - start, waited)
            remaining = timeout_s - elapsed
            if remaining <= 0:
                raise SshUnreachable(
                    f"{_where(target)} did not answer SSH within {_clock(elapsed)} ({exc.reason}).",
                    exc.next_step,
                    reason=exc.reason,
                ) from exc
            step = min(delay, remaining)
            if on_wait is not None:
                on_wait(f"SSH not up yet ({exc.reason}), retrying in {step:.0f} s… {_clock(elapsed)} elapsed")
            await sleep(step)
            waited += step
            delay = min(delay * 2, 10.0)


# --- Pinning -------------------------------------------------------------------------------------


def ensure_pinned(
    aws: Aws,
    instance: Instance,
    known: KnownHosts,
    *,
    timeout_s: float = 300,
    on_wait: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HostKeyCheck:
    """The instance's pinned keys; when there are none, read them from its console output and pin
    them (source "console"). An empty ``pinned`` means the console had none by the deadline: the
    caller shows presented_host_key()'s fingerprint and pins it (source "user") only if the user
    accepts. Sync: run it in a worker thread."""
    check = known.check(instance.instance_id)
    if check.pinned:
        return check
    keys = hostkeys.fetch_console_keys(
        aws, instance.region, instance.instance_id, timeout_s=timeout_s, sleep=sleep, on_wait=on_wait
    )
    if not keys:
        return HostKeyCheck(instance_id=instance.instance_id)
    return known.pin(instance.instance_id, keys, source="console")
