"""What the wizard has chosen so far. Steps read and write it; Back keeps every choice."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from tui.flows import autostop, launch_plan
from tui.flows.launch_plan import default_name
from tui.models import AutostopSetting, GpuType, ImageChoice, KeyChoice, LaunchSpec, Purchase, Quota, Region


@dataclass
class WizardState:
    region: Region | None = None
    quotas: list[Quota] = field(default_factory=list)
    purchase: Purchase = Purchase.ON_DEMAND
    gpu_type: GpuType | None = None
    image: ImageChoice | None = None
    disk_gib: int | None = None  # None: not chosen yet (defaults from the image)
    key: KeyChoice | None = None
    ssh_cidr: str = ""
    name: str = ""
    framework: str = "pytorch"  # what the setup after the launch installs (not part of the launch)
    autostop: AutostopSetting = autostop.DEFAULT_AUTOSTOP  # on by default for a new launch
    # Launching the same choices again (Back after a failure, then Launch) reuses the ClientToken,
    # so an instance whose RunInstances answer was lost is adopted, never launched twice; changed
    # choices get a new token (AWS refuses a token reused with other parameters).
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    def client_token(self) -> str:
        return hashlib.sha256(f"{self.nonce}:{self.spec()!r}".encode()).hexdigest()[:40]

    def default_disk(self) -> int:
        return launch_plan.default_disk(self.image.root_gib if self.image else 0)

    def spec(self) -> LaunchSpec:
        assert self.region and self.gpu_type and self.image and self.key, "wizard incomplete"
        plain = LaunchSpec(
            region=self.region.name,
            instance_type=self.gpu_type.instance_type,
            image=self.image,
            disk_gib=self.disk_gib or self.default_disk(),
            key=self.key,
            ssh_cidr=self.ssh_cidr,
            name=self.name or default_name(self.gpu_type.instance_type),
            spot=self.purchase == Purchase.SPOT,
        )
        return autostop.with_autostop(plain, self.autostop)
