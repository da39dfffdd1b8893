"""The app's tunnels (``TunnelRegistry``), by instance id: they keep running while the person moves
between screens, and listeners hear when one changes. ``short_state`` is one in a table cell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from tui.models import TunnelStatus
from tui.services.polling import wait_event
from tui.services.secrets import SecretStore

if TYPE_CHECKING:  # the tunnel itself (asyncio, asyncssh's callers) loads with the first tunnel
    from tui.services.remote.tunnel import Tunnel

log = logging.getLogger(__name__)

Listener = Callable[[TunnelStatus], None]


class TunnelRegistry:
    """The app's tunnels by instance id: they run as app-level workers and outlive any screen.

    ``status(id)`` is what to show for an instance (None: never had a tunnel in this session; a
    "down" status says why it ended). ``subscribe(callback)`` calls back on the app's loop with each
    new TunnelStatus and returns the function that unsubscribes.
    """

    def __init__(self, store: SecretStore | None = None) -> None:
        self.store = store if store is not None else SecretStore()
        self._tunnels: dict[str, Tunnel] = {}
        self._cancels: dict[str, Callable[[], None]] = {}
        self._statuses: dict[str, TunnelStatus] = {}
        self._listeners: list[Listener] = []

    def status(self, instance_id: str) -> TunnelStatus | None:
        return self._statuses.get(instance_id)

    def statuses(self) -> dict[str, TunnelStatus]:
        return dict(self._statuses)

    def is_active(self, instance_id: str) -> bool:
        status = self._statuses.get(instance_id)
        return status is not None and status.active

    def tunnel(self, instance_id: str) -> Tunnel | None:
        return self._tunnels.get(instance_id)

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def update(self, status: TunnelStatus) -> None:
        """Record an instance's new status and tell the listeners (each tunnel reports through this)."""
        self._statuses[status.instance_id] = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("tunnel listener failed")

    def start(
        self,
        tunnel: Tunnel,
        spawn: Callable[[Coroutine[Any, Any, TunnelStatus]], Callable[[], None]],
    ) -> Tunnel:
        """Run ``tunnel`` through ``spawn`` (which starts the coroutine, e.g. as an app worker, and
        returns how to cancel it). A tunnel already active for the instance is kept and returned."""
        current = self._tunnels.get(tunnel.instance_id)
        if current is not None and self.is_active(tunnel.instance_id):
            return current
        tunnel.store = self.store
        tunnel.on_status = self.update
        self._tunnels[tunnel.instance_id] = tunnel
        self.update(tunnel.status)
        self._cancels[tunnel.instance_id] = spawn(tunnel.run())
        return tunnel

    def stop(self, instance_id: str) -> bool:
        """Cancel the instance's tunnel (its port closes as the worker unwinds); False if none ran."""
        cancel = self._cancels.pop(instance_id, None)
        if cancel is None:
            return False
        cancel()
        return True

    async def stop_and_wait(self, instance_id: str, timeout_s: float = 10) -> None:
        tunnel = self._tunnels.get(instance_id)
        if self.stop(instance_id) and tunnel is not None:
            if not await wait_event(tunnel.finished, timeout_s):
                log.warning("the tunnel to %s took long to close", tunnel.label)

    async def close_all(self, timeout_s: float = 10) -> None:
        """Stop every tunnel and wait until their ports are closed (the app is exiting)."""
        for instance_id in list(self._cancels):
            await self.stop_and_wait(instance_id, timeout_s)


def short_state(status: TunnelStatus | None) -> str:
    """For a table cell: "up :8889", "reconnecting :8889", "starting", or "" (no tunnel)."""
    if status is None or not status.active:
        return ""
    port = f" :{status.local_port}" if status.local_port else ""
    return f"{status.state}{port}"
