"""The nouns of d2l-tui: plain frozen dataclasses shared by services and screens.

Nothing here imports Textual or boto3, so both sides (and the tests) can use them freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

# Every resource the app creates carries these tags so it can find its own things
# in any region and after a restart (AWS is the source of truth).
TAG_MANAGED = "d2l-tui:managed"
TAG_NAME = "d2l-tui:name"
# RunInstances' ClientToken is not honoured by every implementation (moto 5.2 launches a second
# instance for a repeated token), so the launch also tags the instance with it: before a retry
# the app looks for that tag and never launches twice.
TAG_CLIENT_TOKEN = "d2l-tui:client-token"
# What auto-stop the instance was launched with ("30m", "off", "30m max 8h"): `d2l-tui autostop NAME
# status` and the lists can say it without reaching the instance.
TAG_AUTOSTOP = "d2l-tui:autostop"


@dataclass(frozen=True)
class Region:
    name: str
    latency_ms: float | None = None  # None: not measured (unreachable or timed out)
    gpu_type_count: int | None = None  # None: could not be read
    simulated: bool = False

    @property
    def offers_gpus(self) -> bool:
        return bool(self.gpu_type_count)


class Purchase(str, Enum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"


@dataclass(frozen=True)
class Quota:
    """A vCPU quota that gates GPU launches in one region."""

    code: str  # e.g. L-DB2E81BA
    name: str  # e.g. "Running On-Demand G and VT instances"
    bucket: str  # "G" (G and VT), "P", "Standard"
    purchase: Purchase
    value: float | None  # None: unknown (see reason)
    usage: float | None  # vCPUs in use; None: unknown
    reason: str = ""  # why value or usage is unknown

    @property
    def headroom(self) -> float | None:
        if self.value is None:
            return None
        return self.value - (self.usage or 0.0)


@dataclass(frozen=True)
class GpuType:
    instance_type: str  # g4dn.xlarge
    family: str  # g4dn
    gpu_name: str  # T4
    gpu_count: int
    gpu_memory_mib: int  # per GPU
    vcpus: int
    memory_gib: float
    arch: str  # x86_64 | arm64
    ondemand_usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None
    note: str = ""  # "current: T4, good first choice", "previous generation"
    current_generation: bool = True

    @property
    def bucket(self) -> str:
        """Which vCPU quota bucket this type counts against."""
        return quota_bucket(self.instance_type)

    @property
    def total_gpu_memory_gib(self) -> float:
        return self.gpu_count * self.gpu_memory_mib / 1024


def quota_bucket(instance_type: str) -> str:
    family = instance_type.split(".", 1)[0].lower()
    if family.startswith(("g", "vt")):
        return "G"
    if family.startswith("p"):
        return "P"
    return "Standard"


@dataclass(frozen=True)
class PriceSource:
    """Where the prices shown come from, always shown next to them."""

    kind: str  # "pricing-api" | "cache" | "bundled"
    as_of: str  # ISO date or timestamp of the data
    detail: str = ""

    @property
    def label(self) -> str:
        if self.kind == "pricing-api":
            return f"AWS Pricing API, fetched {self.as_of}"
        if self.kind == "cache":
            return f"AWS Pricing API (cached {self.as_of})"
        return f"bundled catalog dated {self.as_of} (offline fallback)"


@dataclass(frozen=True)
class GpuCatalog:
    region: str
    types: tuple[GpuType, ...]
    prices: PriceSource


class ImageKind(str, Enum):
    DLAMI = "dlami"
    UBUNTU_2404 = "ubuntu-24.04"
    UBUNTU_2204 = "ubuntu-22.04"
    MY_AMI = "my-ami"
    CUSTOM = "ami"  # an explicit ami-… id


@dataclass(frozen=True)
class ImageChoice:
    kind: ImageKind
    image_id: str
    name: str
    arch: str
    root_gib: int  # the image's root snapshot size: the disk can't be smaller
    root_device_name: str = "/dev/sda1"
    description: str = ""
    creation_date: str = ""
    resolved_via: str = ""  # "ssm:/aws/service/..." or "describe-images"

    @property
    def username(self) -> str:
        return "ubuntu"

    @property
    def cuda_preinstalled(self) -> bool:
        return self.kind == ImageKind.DLAMI


@dataclass(frozen=True)
class KeyChoice:
    name: str  # the EC2 key pair name
    private_key_path: str | None  # local file; None when not found locally
    create: bool = False  # generate locally and import before launch


@dataclass(frozen=True)
class AutostopSetting:
    """When the instance stops itself: after ``idle_minutes`` with nothing going on (None: never for
    idleness) and/or ``max_hours`` after its start whatever it is doing (None: no cap)."""

    idle_minutes: int | None = None
    max_hours: float | None = None

    @property
    def on(self) -> bool:
        return self.idle_minutes is not None or self.max_hours is not None

    @property
    def tag_value(self) -> str:
        """ "30m", "off", "30m max 8h", "off max 8h": short, and what `--autostop` accepts."""
        idle = f"{self.idle_minutes}m" if self.idle_minutes is not None else "off"
        return idle if self.max_hours is None else f"{idle} max {self.max_hours:g}h"


@dataclass(frozen=True)
class LaunchSpec:
    """Everything RunInstances will be sent, as the review step shows it."""

    region: str
    instance_type: str
    image: ImageChoice
    disk_gib: int
    key: KeyChoice
    ssh_cidr: str
    name: str
    spot: bool = False
    volume_type: str = "gp3"
    autostop: AutostopSetting = AutostopSetting()  # off unless the launch plan turns it on
    # What RunInstances sends as UserData (the auto-stop agent's installer): built from ``autostop``
    # by tui/flows/autostop.py; out of repr (it is long, and ``autostop`` already says what it does).
    user_data: str = field(default="", repr=False)


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    region: str
    instance_type: str
    state: str  # pending | running | stopping | stopped | shutting-down | terminated
    public_dns: str = ""
    public_ip: str = ""
    key_name: str = ""
    image_id: str = ""
    launch_time: datetime | None = None
    availability_zone: str = ""
    spot: bool = False
    status_checks: str = ""  # "initializing", "ok", "impaired", "" when unknown
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegionFailure:
    """A region that did not answer a listing, and why in a few words ("connection dropped")."""

    region: str
    reason: str


def unanswered_words(failed: Sequence[RegionFailure], most: int = 6) -> str:
    """'eu-west-1, ap-south-1 did not answer (connection dropped)'; regions grouped by reason."""
    by_reason: dict[str, list[str]] = {}
    for failure in sorted(failed, key=lambda f: f.region):
        by_reason.setdefault(failure.reason, []).append(failure.region)
    parts = []
    for reason, regions in by_reason.items():
        named = ", ".join(regions[:most]) + (
            f" and {len(regions) - most} more" if len(regions) > most else ""
        )
        parts.append(f"{named} did not answer ({reason})")
    return "; ".join(parts)


@dataclass(frozen=True)
class InstanceListing:
    """The app's instances as the regions that answered know them. ``failed``: the regions that
    did not answer; while there are any, the list may be missing instances that are running."""

    instances: list[Instance]
    failed: tuple[RegionFailure, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed

    @property
    def failed_regions(self) -> list[str]:
        return sorted(f.region for f in self.failed)


@dataclass(frozen=True)
class LaunchProgress:
    """One step of a launch, as the launch view shows it."""

    message: str
    instance: Instance | None = None
    done: bool = False


# --- Provisioning (SSH + the detached recipe runner) -------------------------------------------


class StepState(str, Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"  # its check said it was already done (a DLAMI's driver, a second run)
    FAILED = "failed"


@dataclass(frozen=True)
class RecipeStep:
    """One step of a recipe: data, so the runner can skip, time out, retry and resume it."""

    name: str  # slug, [a-z0-9-]+, unique in a recipe: the runner's state files are named after it
    title: str  # what the checklist shows
    script: str  # bash, run with `set -euo pipefail` by the runner on the instance
    check: str = ""  # bash; exit 0 means "already done" and the step is skipped
    timeout_s: int = 1800
    retries: int = 0  # automatic retries (after a short pause) before the step counts as failed
    reboot: bool = False  # the step may reboot the machine; the run continues after it
    hint: str = ""  # the next step a person should take when it fails


@dataclass(frozen=True)
class Recipe:
    steps: tuple[RecipeStep, ...]
    framework: str = "pytorch"
    simulated: bool = False  # --demo: scripts print what they would run instead of running it
    # Exported to every step (D2L_FRAMEWORK, D2L_ENV_DIR, ...): scripts stay generic files.
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StepEvent:
    """A state change of one step, read from the marker lines the runner writes to its log."""

    step: str  # RecipeStep.name; "" for run-level events
    state: StepState
    at: float  # epoch seconds on the instance
    rc: int | None = None
    note: str = ""  # "reboot" (the machine restarts now), "retry 1", "already" (done in an earlier run)


@dataclass(frozen=True)
class HostKeyCheck:
    """What the app knows about an instance's SSH host key before it logs in."""

    instance_id: str
    pinned: tuple[str, ...] = ()  # OpenSSH public key lines pinned for it ("ssh-ed25519 AAAA...")
    source: str = ""  # "console" (read from GetConsoleOutput) | "user" (accepted by the user) | ""


# --- The GPU panel (nvidia-smi streamed over SSH) ----------------------------------------------


class GpuStatus(str, Enum):
    """Where the GPU stream stands: every state but STREAMING says why there are no numbers."""

    CONNECTING = "connecting"  # waiting for SSH (first time)
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # the connection dropped; the history is kept
    NOT_INSTALLED = "not-installed"  # no nvidia-smi on the PATH yet (exit 127)
    NO_DRIVER = "no-driver"  # "couldn't communicate with the NVIDIA driver"
    MISMATCH = "mismatch"  # "Driver/library version mismatch"
    NO_DEVICES = "no-devices"  # "No devices were found"
    FAILED = "failed"  # anything else nvidia-smi said before it exited


@dataclass(frozen=True)
class GpuState:
    status: GpuStatus
    what: str = ""  # a sentence for the screen
    next_step: str = ""
    retry_in_s: float | None = None  # the panel tries again by itself after this long
    exit_status: int | None = None

    @property
    def problem(self) -> bool:
        """nvidia-smi answered, but not with numbers (a person may have to act)."""
        return self.status not in (GpuStatus.CONNECTING, GpuStatus.STREAMING, GpuStatus.RECONNECTING)


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment. None means nvidia-smi didn't give the value ([N/A], [Not Supported],
    [Insufficient Permissions], or not queried on this driver): shown blank, never as 0."""

    index: int
    name: str = ""
    uuid: str = ""
    bus_id: str = ""
    util_pct: float | None = None  # None under MIG: utilization is per MIG instance, not per GPU
    mem_util_pct: float | None = None  # memory controller busy %
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    mig: bool = False
    count: int | None = None  # how many GPUs nvidia-smi says the machine has

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used_mib is None or not self.mem_total_mib:
            return None
        return 100.0 * self.mem_used_mib / self.mem_total_mib


@dataclass(frozen=True)
class GpuTick:
    """Every GPU's sample from one nvidia-smi interval."""

    samples: tuple[GpuSample, ...]
    at: float  # epoch seconds, when the tick was complete here
    bad_lines: int = 0  # lines skipped so far (wrong column count, unreadable index)


@dataclass(frozen=True)
class GpuProcess:
    """A compute process on a GPU (`--query-compute-apps`), with its user from `ps`."""

    gpu_index: int | None  # None: its GPU is not (yet) among the samples
    pid: int
    used_mib: float | None
    command: str
    user: str = ""  # "" when ps can't see it (another PID namespace, or it just ended)


@dataclass(frozen=True)
class GpuProcesses:
    processes: tuple[GpuProcess, ...]
    at: float


# --- The Jupyter tunnel ----------------------------------------------------------------------------

from typing import Literal  # noqa: E402  (this section was added at the end of the file)


@dataclass(frozen=True)
class JupyterServer:
    """A Jupyter server running on the instance, as its runtime file (`jupyter server list --json`)
    describes it. The token is a secret: it is left out of repr, and masked in the log."""

    port: int
    pid: int
    root_dir: str = ""
    url: str = ""  # the server's own, e.g. http://127.0.0.1:8888/ (without the token)
    token: str = field(default="", repr=False)


TunnelState = Literal["starting", "up", "reconnecting", "down"]


@dataclass(frozen=True)
class TunnelStatus:
    """Where one instance's tunnel stands: what the instances table and the tunnel screen show."""

    instance_id: str
    state: TunnelState
    local_port: int | None = None  # held from the start until the tunnel stops, across reconnects
    url: str = field(default="", repr=False)  # http://localhost:PORT/?token=… once the server is known
    detail: str = ""  # a sentence: what is happening now, or why the tunnel is down
    remote_port: int | None = None
    root_dir: str = ""  # the notebooks folder Jupyter serves
    reused: bool = False  # Jupyter was already running (the app did not start it)
    notice: str = ""  # said once: the token is kept in memory only (no keyring)
    failed: bool = False  # down because of an error (detail says which and what to do)

    @property
    def active(self) -> bool:
        return self.state != "down"


AutostopState = Literal["idle", "busy", "capped", "warning", "stopping", "off"]


@dataclass(frozen=True)
class AutostopConfig:
    """The instance's auto-stop setting, as its agent reads it (/etc/d2l-autostop/config.json);
    tui/data/autostop/agent.py explains the defaults."""

    idle_minutes: int = 30  # stop after this long idle; 0: no idle stop
    max_hours: float = 0  # stop this long after a boot, busy or not; 0: no cap
    warn_minutes: int = 5
    gpu_percent: int = 10  # a GPU busier than this is not idle
    cpu_cores: float = 0.5  # more cores than this busy is not idle
    on_shutdown: Literal["stop", "terminate"] = "stop"  # terminate: a one-time spot instance

    @property
    def off(self) -> bool:
        return not self.idle_minutes and not self.max_hours


@dataclass(frozen=True)
class AutostopStatus:
    """What the instance's auto-stop agent last wrote (its status.json), read with the instance's clock."""

    state: AutostopState
    idle_minutes: int | None  # idle so far (None with the idle stop off)
    idle_of_minutes: int
    reason: str  # why it is not idle ("kernel busy, GPU 87%"), "" when idle
    stop_at: float | None  # epoch seconds: when it stops if nothing changes (None: no stop ahead)
    stop_why: str  # "idle 30 min" | "cap 8 h"
    checked_at: float  # the agent's last check (epoch, the instance's clock)
    instance_now: float  # the instance's clock when this was read
    minute_s: float = 60  # seconds in the agent's "minute" (the demo makes minutes seconds)
    max_hours: float = 0
    on_shutdown: str = "stop"
    last_stop_at: float | None = None  # when the agent last stopped this instance
    last_stop_why: str = ""

    @property
    def stale(self) -> bool:
        """The agent has not checked for three of its minutes: its timer is not running."""
        return self.instance_now - self.checked_at > 3 * self.minute_s
