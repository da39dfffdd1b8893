"""What the app needs from the world, bundled so tests and --demo can hand in their own parts.

``make_app`` (tui/app.py) takes one of these; there are no globals to patch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui import paths

if TYPE_CHECKING:
    from tui.models import Instance
    from tui.services.aws import Aws
    from tui.services.catalog import PriceBook
    from tui.services.ebs_prices import EbsPrices
    from tui.services.instance_link import InstanceLink
    from tui.services.tunnel_registry import TunnelRegistry

LatencyProbe = Callable[[Iterable[str]], Awaitable[dict[str, float | None]]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _tunnel_registry() -> TunnelRegistry:
    from tui.services.tunnel_registry import TunnelRegistry

    return TunnelRegistry()


@dataclass
class AppContext:
    aws: Aws
    simulated: bool = False
    key_dir: Path = field(default_factory=lambda: Path("~/.ssh/d2l-tui").expanduser())
    cache_dir: Path = field(default_factory=paths.cache_dir)
    probe_latencies: LatencyProbe | None = None
    detect_public_ip: Callable[[], str | None] | None = None
    # What "now" is for uptimes and costs so far: tests fix it so snapshots don't drift.
    clock: Callable[[], datetime] = utc_now
    # Jupyter tunnels that outlive the screens that opened them (one registry, closed on exit).
    tunnels: TunnelRegistry = field(default_factory=_tunnel_registry)
    # After a launch, open the provisioning screen and set the instance up for the book.
    provision_after_launch: bool = True
    # --demo: (host, port) of the simulated instance's SSH server; None: the instance's public DNS.
    ssh_endpoint: Callable[[Any, Path | None], Awaitable[tuple[str, int]]] | None = None
    _pricebook: PriceBook | None = None

    @property
    def pricebook(self) -> PriceBook:
        # Built on first use: importing the catalog (and boto3) waits until after the first paint.
        if self._pricebook is None:
            from tui.services.catalog import PriceBook

            self._pricebook = PriceBook(self.aws, self.cache_dir, offline=self.simulated)
        return self._pricebook

    def hourly_prices(self, region: str) -> dict[str, tuple[float | None, float | None]]:
        """instance type -> (on-demand, spot) $/h in the region, wherever the price book got them."""
        return self.pricebook.prices(region)[0]

    def ebs_prices(self, region: str) -> EbsPrices:
        """gp3 and snapshot $/GB-month in the region, wherever the price book got them (never raises)."""
        return self.pricebook.ebs(region)

    async def latencies(self, regions: Iterable[str]) -> dict[str, float | None]:
        if self.probe_latencies is not None:
            return await self.probe_latencies(regions)
        from tui.services.regions import probe_latencies

        return await probe_latencies(regions)

    def instance_link(self, instance: Instance, key_path: Path | None) -> InstanceLink:
        """How the screens reach an instance over SSH: the app's known_hosts, and --demo's loopback
        endpoint when there is one."""
        from tui.services.instance_link import InstanceLink, known_hosts

        return InstanceLink(self.aws, instance, key_path, known_hosts(), endpoint_for=self.ssh_endpoint)

    def public_ip(self) -> str | None:
        if self.detect_public_ip is not None:
            return self.detect_public_ip()
        from tui.services.network import detect_public_ip

        return detect_public_ip()


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


def simulated_context(
    aws: Aws,
    key_dir: Path | None = None,
    ssh_endpoint: Callable[[Any, Path | None], Awaitable[tuple[str, int]]] | None = None,
) -> AppContext:
    from tui.demo.cloud import DEMO_PUBLIC_IP

    ctx = AppContext(
        aws=aws,
        simulated=True,
        probe_latencies=simulated_latencies,
        detect_public_ip=lambda: DEMO_PUBLIC_IP,
        ssh_endpoint=ssh_endpoint,
    )
    # Simulated key pairs are real files, but they belong to no real account: keep them out of ~/.ssh.
    ctx.key_dir = key_dir or paths.state_dir() / "simulated-ssh"
    return ctx
