"""What the app and the headless commands need from the world, bundled so tests and --demo can hand
in their own parts.

``make_context`` builds one for both front doors (tui/app.py, tui/cli/); ``make_app`` takes one;
there are no globals to patch. Whatever a context started, ``aclose`` (or ``close``) ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui import paths

if TYPE_CHECKING:
    from tui.demo.cloud import SimulatedCloud
    from tui.models import Instance
    from tui.services.cloud.aws import Aws
    from tui.services.cloud.catalog import PriceBook
    from tui.services.cloud.ebs_prices import EbsPrices
    from tui.services.remote.instance_link import InstanceLink
    from tui.services.remote.tunnel_registry import TunnelRegistry
    from tui.services.sightings import Sightings

LatencyProbe = Callable[[Iterable[str]], Awaitable[dict[str, float | None]]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _tunnel_registry() -> TunnelRegistry:
    from tui.services.remote.tunnel_registry import TunnelRegistry

    return TunnelRegistry()


def _sightings() -> Sightings:
    from tui.services.sightings import Sightings

    return Sightings()


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
    # --demo: the in-process moto and loopback SSH hosts this context started (ended by aclose).
    cloud: SimulatedCloud | None = None
    # Each instance as the screens last saw it: what the app reminds of on quitting (services/sightings).
    sightings: Sightings = field(default_factory=_sightings)
    _pricebook: PriceBook | None = None

    @property
    def pricebook(self) -> PriceBook:
        # Built on first use: importing the catalog (and boto3) waits until after the first paint.
        if self._pricebook is None:
            from tui.services.cloud.catalog import PriceBook

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
        from tui.services.cloud.regions import probe_latencies

        return await probe_latencies(regions)

    def instance_link(self, instance: Instance, key_path: Path | None) -> InstanceLink:
        """How the screens reach an instance over SSH: the app's known_hosts, and --demo's loopback
        endpoint when there is one."""
        from tui.services.remote.instance_link import InstanceLink, known_hosts

        return InstanceLink(self.aws, instance, key_path, known_hosts(), endpoint_for=self.ssh_endpoint)

    def public_ip(self) -> str | None:
        if self.detect_public_ip is not None:
            return self.detect_public_ip()
        from tui.services.cloud.network import detect_public_ip

        return detect_public_ip()

    def close(self) -> None:
        """Stop the simulated cloud's moto, if this context started one (the headless commands: no
        loopback host is ever started there, each command's cloud begins empty)."""
        if self.cloud is not None:
            self.cloud.stop()

    async def aclose(self) -> None:
        """Close what this context opened: the tunnels' local ports (Jupyter on the instance stays),
        the simulated instances' SSH servers, then moto."""
        await self.tunnels.close_all()
        if self.cloud is not None:
            await self.cloud.hosts.stop()
        self.close()


def make_context(profile: str | None, region: str | None, demo: bool) -> AppContext:
    """The context both front doors use: AWS through the usual credential chain, or (demo) a fresh
    simulated cloud started in this process. Blocking with demo (imports and starts moto)."""
    if demo:
        from tui.demo.context import simulated_parts

        return AppContext(**simulated_parts())
    from tui.services.cloud.aws import Aws

    return AppContext(aws=Aws(profile, region))
