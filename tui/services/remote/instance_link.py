"""How the app reaches one instance over SSH, every time it (re)connects.

Each connect asks AWS for the instance's current address (it changes after a stop/start), makes
sure its host key is pinned (read once from the console output), then waits for SSH with backoff.
The provisioning screen, the CLI, and later the GPU panel and the tunnel all go through this.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tui.models import Instance
from tui.services.errors import D2lError

if TYPE_CHECKING:
    import asyncssh

    from tui.services.cloud.aws import Aws
    from tui.services.remote.hostkeys import KnownHosts

# --demo: where the simulated instance's SSH server listens, given the instance and its key.
EndpointFor = Callable[[Instance, "Path | None"], Awaitable[tuple[str, int]]]
OnWait = Callable[[str], None]
PENDING_POLL_S = 5.0


class Link(Protocol):
    """What the screens and flows need of an instance link (InstanceLink; tests hand in stand-ins)."""

    @property
    def label(self) -> str: ...  # the instance's name

    @property
    def simulated(self) -> bool: ...  # --demo's loopback instance

    async def connect(self, on_wait: OnWait | None = None) -> asyncssh.SSHClientConnection: ...

    def trust(self, key_line: str) -> None: ...


class InstanceLink:
    def __init__(
        self,
        aws: Aws,
        instance: Instance,
        key_path: Path | None,
        known: KnownHosts,
        *,
        endpoint_for: EndpointFor | None = None,
        user: str = "ubuntu",
        console_timeout_s: float = 300,
        ssh_timeout_s: float = 600,
    ) -> None:
        self.aws = aws
        self.instance = instance
        self.key_path = key_path
        self.known = known
        self.endpoint_for = endpoint_for
        self.user = user
        self.console_timeout_s = console_timeout_s
        self.ssh_timeout_s = ssh_timeout_s

    @property
    def label(self) -> str:
        return self.instance.name or self.instance.instance_id

    @property
    def simulated(self) -> bool:
        return self.endpoint_for is not None

    def trust(self, key_line: str) -> None:
        """The person chose to trust the key the server presented (no console keys): pin it."""
        self.known.pin(self.instance.instance_id, [key_line], source="user")

    async def current(self, on_wait: OnWait | None = None) -> Instance:
        """The instance as AWS sees it now, once it is running (waits while it is pending)."""
        from tui.services.cloud.lifecycle import describe_one

        while True:
            now = await asyncio.to_thread(
                describe_one, self.aws, self.instance.region, self.instance.instance_id
            )
            if now is None:
                raise D2lError(f"{self.label} no longer exists.", "It was terminated outside the app.")
            self.instance = now
            if now.state == "running":
                return now
            if now.state != "pending":
                raise D2lError(
                    f"{self.label} is {now.state}, so SSH can't reach it.",
                    "Start it first (S in its cockpit or on the instances screen, or `d2l-tui start NAME`).",
                )
            if on_wait is not None:
                on_wait(f"{self.label} is still starting (pending)…")
            await asyncio.sleep(PENDING_POLL_S)

    async def prepare(self, on_wait: OnWait | None = None) -> tuple[Instance, str, int | None]:
        """Everything before the SSH handshake: the instance running, where to connect (its current
        address, or the simulated instance's server), its host keys pinned from the console when it
        shows them. For a connection of ours (connect) or the ssh command's (a shell)."""
        instance = await self.current(on_wait)
        host, port = instance.public_dns or instance.public_ip, None
        if self.endpoint_for is not None:
            host, port = await self.endpoint_for(instance, self.key_path)
        if not host:
            raise D2lError(f"{self.label} has no public address.", "It needs one to be reached over SSH.")
        if not self.known.keys_for(instance.instance_id):
            await self._pin_from_console(instance, on_wait)
        return instance, host, port

    async def connect(self, on_wait: OnWait | None = None) -> asyncssh.SSHClientConnection:
        from tui.services.remote.ssh import SshTarget, wait_for_ssh

        instance, host, port = await self.prepare(on_wait)
        target = SshTarget(
            instance_id=instance.instance_id,
            host=host,
            key_path=self.key_path,
            user=self.user,
            port=port,
            key_name=instance.key_name,
        )
        return await wait_for_ssh(target, self.known, timeout_s=self.ssh_timeout_s, on_wait=on_wait)

    async def _pin_from_console(self, instance: Instance, on_wait: OnWait | None) -> None:
        """Read the host keys from the console output (polled in a thread) and pin them. Leaving the
        screen cancels the wait: the thread's sleep wakes up and gives up."""
        from tui.services.remote.hostkeys import fetch_console_keys

        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def sleep(seconds: float) -> None:
            if cancelled.wait(seconds):
                raise _GaveUp

        def report(line: str) -> None:
            if on_wait is not None:
                loop.call_soon_threadsafe(on_wait, line)

        try:
            keys = await asyncio.to_thread(
                fetch_console_keys,
                self.aws,
                instance.region,
                instance.instance_id,
                timeout_s=console_wait_s(instance, self.console_timeout_s),
                sleep=sleep,
                on_wait=report,
            )
        except asyncio.CancelledError:
            cancelled.set()
            raise
        if keys:
            self.known.pin(instance.instance_id, keys, source="console")
        # None found: connect() shows the presented key's fingerprint and the person decides.


def console_wait_s(instance: Instance, longest_s: float = 300) -> float:
    """How long to wait for the host keys in the console output. cloud-init prints them 1-3 minutes
    after boot: for an instance up longer than the wait, one look is enough (they are there, or
    scrolled out of the last 64 KB for good)."""
    if instance.launch_time is None:
        return longest_s
    age = (datetime.now(timezone.utc) - instance.launch_time).total_seconds()
    return max(0.0, longest_s - age)


class _GaveUp(Exception):
    """The console wait was cancelled (the screen was left)."""


def known_hosts() -> KnownHosts:
    from tui.services.remote.hostkeys import KnownHosts
    from tui.services.remote.sshconfig import known_hosts_path

    return KnownHosts(known_hosts_path())
