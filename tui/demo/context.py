"""What only the simulated cloud needs from a context: made-up latencies, the demo's public IP, its
own key folder and the loopback SSH endpoint of each simulated instance."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tui import paths

# Round trips as seen from the US east coast (typical published figures), for the simulated cloud.
_SIMULATED_RTT_MS = {
    "us-east-1": 9.0, "us-east-2": 18.0, "ca-central-1": 24.0, "us-west-1": 66.0, "us-west-2": 71.0,
    "eu-west-1": 76.0, "eu-west-2": 79.0, "eu-west-3": 84.0, "eu-central-1": 92.0, "eu-north-1": 104.0,
    "eu-south-1": 106.0, "sa-east-1": 118.0, "af-south-1": 228.0, "ap-northeast-1": 152.0,
    "ap-northeast-2": 180.0, "ap-northeast-3": 155.0, "ap-south-1": 190.0, "ap-southeast-1": 215.0,
    "ap-southeast-2": 198.0, "ap-southeast-3": 225.0, "ap-east-1": 200.0, "me-south-1": 170.0,
}  # fmt: skip


async def simulated_latencies(regions: Iterable[str]) -> dict[str, float | None]:
    """The simulated cloud measures nothing over the network: stable made-up figures, shown as such."""
    await asyncio.sleep(0)
    result: dict[str, float | None] = {}
    for name in regions:
        # Regions missing from the table get a stable figure behind the known ones.
        result[name] = _SIMULATED_RTT_MS.get(name, 230.0 + hashlib.sha256(name.encode()).digest()[0] % 60)
    return result


def simulated_key_dir() -> Path:
    """Simulated key pairs are real files, but they belong to no real account: keep them out of ~/.ssh."""
    return paths.state_dir() / "simulated-ssh"


def simulated_parts() -> dict[str, Any]:
    """A fresh simulated cloud (moto in-process) and what a context needs around it, as AppContext's
    fields: tui/context.py builds the context (so the demo never imports it: no circle), which owns it."""
    from tui.demo.cloud import DEMO_PUBLIC_IP, SimulatedCloud

    cloud = SimulatedCloud()
    return dict(
        aws=cloud.start(),
        simulated=True,
        key_dir=simulated_key_dir(),
        probe_latencies=simulated_latencies,
        detect_public_ip=lambda: DEMO_PUBLIC_IP,
        ssh_endpoint=cloud.hosts.endpoint,
        cloud=cloud,
    )
