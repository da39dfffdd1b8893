"""Jupyter tunnels, the use case: start one in the context's registry, stop Jupyter on an instance.

Textual-free like services: the caller hands in how to run the tunnel's coroutine (the app runs it
as an app-level worker, so the tunnel outlives the screen that opened it) and presents the result.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.services.remote.instance_link import Link
    from tui.services.remote.tunnel import Tunnel
    from tui.services.remote.tunnel_registry import TunnelRegistry

# Runs the tunnel's coroutine somewhere that outlives screens; returns what cancels it.
Spawn = Callable[[Coroutine[Any, Any, Any]], Callable[[], None]]


def start_tunnel(
    registry: TunnelRegistry,
    link: Link,
    instance_id: str,
    spawn: Spawn,
    *,
    framework: str = "pytorch",
    local_port: int | None = None,
) -> Tunnel:
    """Start the instance's tunnel (the running one is kept: one tunnel per instance)."""
    from tui.services.remote.jupyter_remote import DEFAULT_JUPYTER, DEMO_JUPYTER
    from tui.services.remote.local_forward import DEFAULT_LOCAL_PORT
    from tui.services.remote.tunnel import Tunnel

    tunnel = Tunnel(
        link.connect,
        instance_id,
        label=link.label,
        local_port=local_port or DEFAULT_LOCAL_PORT,
        jupyter=DEMO_JUPYTER if link.simulated else DEFAULT_JUPYTER,
        framework=framework,
    )
    return registry.start(tunnel, spawn)


async def stop_jupyter(registry: TunnelRegistry, link: Link, instance_id: str) -> int:
    """Close the instance's tunnel (if any), then stop Jupyter there: the one the tunnel used, else
    all. Returns how many servers were stopped."""
    from tui.services.remote.jupyter_remote import DEFAULT_JUPYTER, DEMO_JUPYTER
    from tui.services.remote.jupyter_remote import stop_jupyter as stop_servers

    status = registry.status(instance_id)
    port = status.remote_port if status is not None and status.active else None
    await registry.stop_and_wait(instance_id)
    conn = await link.connect(None)
    try:
        return await stop_servers(
            conn, label=link.label, jupyter=DEMO_JUPYTER if link.simulated else DEFAULT_JUPYTER, port=port
        )
    finally:
        conn.close()


def stopped_words(stopped: int, label: str) -> str:
    return f"Jupyter stopped on {label}." if stopped else f"Jupyter wasn't running on {label}."
