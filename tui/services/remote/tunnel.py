"""The Jupyter tunnel: Jupyter running on the instance, reachable at http://localhost:PORT/?token=….

``Tunnel.run`` is the loop: connect, find or start Jupyter (``JupyterRemote``, in
tui.services.remote.jupyter_remote), forward the local port to it (``LocalForward``, in
tui.services.remote.local_forward), and when the connection drops (a keepalive timeout, a reset, the
instance rebooting) reconnect with backoff and forward again, starting Jupyter again with the same
token if it is gone. It reports ``TunnelStatus`` (starting, up, reconnecting, down) through a
callback; cancelling it closes the port in ``finally``. Jupyter itself keeps running on the instance
until ``stop_jupyter``.

The token is kept per instance in the ``SecretStore`` (the keyring, else memory), so Jupyter started
again later gets the same one. The app's tunnels are held by tui.services.remote.tunnel_registry.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.logs import remember_secret
from tui.models import JupyterServer, TunnelState, TunnelStatus
from tui.services.errors import D2lError
from tui.services.remote.jupyter_remote import DEFAULT_JUPYTER, START_TIMEOUT_S, JupyterRemote, pick
from tui.services.remote.local_forward import DEFAULT_LOCAL_PORT, LocalForward
from tui.services.secrets import SecretStore, token_name

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

# Seconds between reconnect attempts after a drop (InstanceLink.connect waits for SSH itself).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)

Connect = Callable[[Callable[[str], None]], Awaitable["asyncssh.SSHClientConnection"]]
OnStatus = Callable[[TunnelStatus], None]


class Tunnel:
    """One instance's tunnel; ``run()`` until cancelled (or until something needs a person)."""

    def __init__(
        self,
        connect: Connect,
        instance_id: str,
        *,
        label: str = "",
        store: SecretStore | None = None,
        local_port: int = DEFAULT_LOCAL_PORT,
        jupyter: str = DEFAULT_JUPYTER,
        framework: str = "pytorch",
        on_status: OnStatus | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.connect = connect
        self.instance_id = instance_id
        self.label = label or instance_id
        self.store = store if store is not None else SecretStore()
        self.forward = LocalForward(local_port)
        self.jupyter = jupyter
        self.framework = framework
        self.on_status = on_status
        self.sleep = sleep
        self.start_timeout_s = start_timeout_s
        self.status = TunnelStatus(instance_id, "starting", detail=f"Connecting to {self.label}…")
        self.server: JupyterServer | None = None
        self.error: BaseException | None = None  # why it went down, when something needs a person
        self.finished = asyncio.Event()
        self._token = ""  # the server's token, once known
        self._stored = ""  # what the keyring (or memory) holds for this instance

    def _set(self, state: TunnelState, detail: str = "", **changes: Any) -> None:
        self.status = replace(self.status, state=state, detail=detail, **changes)
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:  # a listener's bug must not stop the tunnel
                log.exception("tunnel status listener failed")

    def url(self) -> str:
        if self.forward.port is None or self.server is None:
            return ""
        base = "/"
        if self.server.url.count("/") >= 3:
            base = "/" + self.server.url.split("/", 3)[3]
        query = f"?token={self._token}" if self._token else ""
        return f"http://localhost:{self.forward.port}{base}{query}"

    async def run(self) -> TunnelStatus:
        """Forward until cancelled; returns the final (down) status. Errors that need a person (host
        key, login, no Jupyter, every port taken) end it with the sentence in ``status.detail``."""
        import asyncssh

        failures = 0
        was_up = False
        try:
            port = await self.forward.open()
            self._set("starting", f"Connecting to {self.label}…", local_port=port, failed=False)
            while True:
                waiting = self.status.state

                def on_wait(line: str, state: TunnelState = waiting) -> None:
                    self._set(state, line)

                try:
                    conn = await self.connect(on_wait)
                except Exception as exc:
                    # Once it has been up, a network outage (SSH or AWS unreachable) is waited out;
                    # what needs a person (host key, login, a stopped instance) ends the tunnel.
                    retry = isinstance(exc, (OSError, asyncssh.Error)) and not isinstance(exc, D2lError)
                    if not (retry or (was_up and _transient(exc))):
                        raise
                    failures = await self._backoff(failures, exc)
                    continue
                try:
                    await self._forward_over(conn)
                    failures = 0
                    was_up = True
                    await conn.wait_closed()
                    raise ConnectionResetError("the SSH connection closed")
                except (OSError, asyncssh.Error) as exc:
                    self.forward.detach()
                    failures = await self._backoff(failures, exc)
                finally:
                    self.forward.detach()
                    conn.close()
        except D2lError as exc:
            self.error = exc
            log.warning("tunnel to %s stopped: %s", self.label, exc)
            self.status = replace(self.status, detail=str(exc), failed=True)
        except asyncio.CancelledError:
            self.status = replace(self.status, detail=self._stopped_text())
            raise
        except Exception as exc:
            self.error = exc
            log.error("tunnel to %s failed", self.label, exc_info=exc)
            self.status = replace(
                self.status,
                detail="The tunnel failed unexpectedly; details are in the log file.",
                failed=True,
            )
        finally:
            await self.forward.close()
            self._set("down", self.status.detail or self._stopped_text(), url="", local_port=None)
            self.finished.set()
        return self.status

    def _stopped_text(self) -> str:
        return f"Tunnel stopped. Jupyter keeps running on {self.label} (J stops it)."

    async def _backoff(self, failures: int, exc: BaseException) -> int:
        delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
        log.info("tunnel to %s dropped (%s); reconnecting in %.0f s", self.label, exc, delay)
        keeps = f" localhost:{self.forward.port} stays reserved." if self.forward.port else ""
        self._set("reconnecting", f"Connection lost ({exc}); reconnecting in {delay:.0f} s.{keeps}")
        await self.sleep(delay)
        return failures + 1

    async def _forward_over(self, conn: asyncssh.SSHClientConnection) -> None:
        remote = JupyterRemote(conn, label=self.label, jupyter=self.jupyter, framework=self.framework)
        state = self.status.state
        server = pick(await remote.servers(), self.framework)
        reused = server is not None
        if server is None:
            token = self._token or await self._stored_token() or secrets.token_hex(24)
            remember_secret(token)
            self._set(state, f"Starting Jupyter on {self.label} (this takes a few seconds)…")
            server = await remote.start(token, timeout_s=self.start_timeout_s)
        self.server = server
        self._token = server.token
        notice = await self._keep_token(server.token)
        self.forward.attach(conn, server.port)
        how = "already running there" if reused else "started by d2l-tui"
        self._set(
            "up",
            f"Forwarding localhost:{self.forward.port} to Jupyter on {self.label} "
            f"(port {server.port}, {how}).",
            url=self.url(),
            remote_port=server.port,
            root_dir=server.root_dir,
            reused=reused,
            notice=notice,
        )

    async def _stored_token(self) -> str:
        value = await asyncio.to_thread(self.store.get, token_name(self.instance_id))
        self._stored = value or ""
        return self._stored

    async def _keep_token(self, token: str) -> str:
        if token and token != self._stored:
            await asyncio.to_thread(self.store.set, token_name(self.instance_id), token)
            self._stored = token
        return self.store.notice


def _transient(exc: BaseException) -> bool:
    """An error that a working network would not have raised: retry it."""
    import asyncssh

    from tui.services.remote.ssh import SshUnreachable

    if isinstance(exc, SshUnreachable):
        return True
    if isinstance(exc, D2lError):
        return False
    if isinstance(exc, (OSError, asyncssh.Error)):
        return True
    try:
        import botocore.exceptions as bex
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    return isinstance(exc, (bex.ConnectionError, bex.HTTPClientError))
