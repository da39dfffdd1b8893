"""A moto server on loopback holding N managed instances across 3 regions, and the environment
that points a real-mode d2l-tui (or the aws CLI) at it with credentials, as a user's would be."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui.demo.cloud import configure_moto_environment  # noqa: E402

configure_moto_environment()  # before moto is imported: it reads MOTO_AMIS_PATH then

REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
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
        return self

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
