"""A moto server on loopback holding N managed instances across 3 regions, and the environment
that points a real-mode d2l-tui (or the aws CLI) at it with credentials, as a user's would be.

Its regions are a default account's unless told otherwise: on AWS, regions launched before 20 March
2019 are enabled by default and later ones are opt-in ("not-opted-in" until the account enables
them; AWS Account Management guide, "Enable or disable AWS Regions in your account"). moto 5.2
reports three opt-in regions as enabled (af-south-1, 2020; eu-south-1, 2020; ap-southeast-3, 2021),
so a real-mode app on stock moto asks 20 regions where a new account has 17. ``stock_regions()``
restores moto's own answer.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui.demo.cloud import configure_moto_environment  # noqa: E402

configure_moto_environment()  # before moto is imported: it reads MOTO_AMIS_PATH then

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
# The 17 regions of the aws partition enabled by default in a new account (launched before 20 March 2019).
DEFAULT_ENABLED = frozenset(
    {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
     "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
     "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2"}
)  # fmt: skip
UBUNTU = "ami-0286d0aea4d6c7a34"  # in every region of the bundled images
BIN = Path(sys.executable).with_name("d2l-tui")
ROOT = Path(__file__).resolve().parents[1]


def base_env(home: str) -> dict[str, str]:
    """What a terminal would give the program: nothing of this process's own environment leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "tmux-256color",
        "LANG": "C.UTF-8",
        "HOME": home,
        "XDG_STATE_HOME": f"{home}/state",
        "XDG_CACHE_HOME": f"{home}/cache",
        "XDG_CONFIG_HOME": f"{home}/config",
        # This checkout's code, whichever checkout the virtual environment was installed from.
        "PYTHONPATH": str(ROOT),
    }


def real_aws_cli() -> str | None:
    """The aws CLI's own executable, not a pyenv/asdf shim (a shim adds a Python start of its own)."""
    found = shutil.which("aws")
    if not found:
        return None
    if "/shims/" in found and shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return os.path.realpath(found)


class MotoWorld:
    """``with MotoWorld() as world: world.fill(20); env = world.env(home)``."""

    def __enter__(self) -> MotoWorld:
        from moto.server import ThreadedMotoServer

        # A line per request, and a traceback per action moto lacks (the app expects those and
        # falls back), would bury the figures: this process's logging is off.
        logging.disable(logging.CRITICAL)
        # And moto prints a line for every call it cannot route (the Pricing API): bench/all.py
        # writes its figures to sys.__stdout__.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.count = 0
        self._stock = {r.name: r.opt_in_status for r in self._moto_regions()}
        self.default_account()
        self._idle_threads = threading.active_count()  # the server's own; one more per request
        return self

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the server has answered every request in flight (a program killed mid-call leaves
        them), so the next run does not share the machine with them."""
        deadline = time.monotonic() + timeout
        while threading.active_count() > self._idle_threads and time.monotonic() < deadline:
            time.sleep(0.02)

    @staticmethod
    def _moto_regions() -> list[Any]:
        # The server runs in this process: its DescribeRegions answers from this class's list.
        from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

        return list(RegionsAndZonesBackend.regions)

    def default_account(self) -> None:
        """DescribeRegions answers as for a new account: opt-in regions not opted in."""
        for region in self._moto_regions():
            stock = self._stock[region.name]
            enabled_here = stock != "opt-in-not-required" or region.name in DEFAULT_ENABLED
            in_aws = not region.name.startswith(("cn-", "us-gov-"))
            region.opt_in_status = stock if enabled_here or not in_aws else "not-opted-in"

    def stock_regions(self) -> None:
        """DescribeRegions answers as moto does."""
        for region in self._moto_regions():
            region.opt_in_status = self._stock[region.name]

    def enabled_regions(self, *, stock: bool = False) -> int:
        """How many aws-partition regions DescribeRegions lists as enabled (what the app asks): now,
        or as stock moto lists them."""
        return sum(
            1
            for r in self._moto_regions()
            if (self._stock[r.name] if stock else r.opt_in_status) != "not-opted-in"
            and not r.name.startswith(("cn-", "us-gov-"))
        )

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        sys.stdout = sys.__stdout__

    def env(self, home: str | None = None) -> dict[str, str]:
        home = home or tempfile.mkdtemp(prefix="d2l-bench-")
        return base_env(home) | {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_SHARED_CREDENTIALS_FILE": f"{home}/none",
            "AWS_CONFIG_FILE": f"{home}/none",
        }

    def _client(self, region: str) -> Any:
        import boto3

        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def fill(self, per_region: int) -> int:
        """Exactly ``per_region`` managed instances in each of REGIONS (moto reset first)."""
        from tui.models import TAG_MANAGED, TAG_NAME

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request).read()
        for region in REGIONS:
            if not per_region:
                continue
            tags = [
                {"Key": TAG_MANAGED, "Value": "true"},
                {"Key": TAG_NAME, "Value": f"bench-{region}"},
                {"Key": "Name", "Value": f"bench-{region}"},
            ]
            self._client(region).run_instances(
                ImageId=UBUNTU,
                InstanceType="g4dn.xlarge",
                MinCount=per_region,
                MaxCount=per_region,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )
        self.count = per_region * len(REGIONS)
        return self.count
