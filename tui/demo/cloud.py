"""Start the simulated cloud: moto in-process with realistic images and the bundled prices.

Everything the app sends goes to moto's in-memory backends; credentials are dummies set only in
this process. What moto cannot answer (AMI root sizes, which it always reports as 15 GiB) is filled
in with botocore event hooks that return the real API's shapes.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any

from tui.services.cloud.aws import Aws

DEMO_REGION = "us-east-1"
# The documentation range (RFC 5737): the simulated user's "public IP".
DEMO_PUBLIC_IP = "203.0.113.7"


def _demo_file(name: str) -> str:
    return str(resources.files("tui.demo").joinpath(name))


def configure_moto_environment() -> None:
    """Set moto's switches; must run before moto is imported (MOTO_AMIS_PATH is read at import)."""
    os.environ["MOTO_AMIS_PATH"] = _demo_file("amis.json")
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
    os.environ.setdefault("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")


@cache
def ami_root_sizes() -> dict[str, int]:
    """ami id -> root snapshot GiB, from the provenance sidecar of the bundled images."""
    with open(_demo_file("amis-meta.json"), encoding="utf-8") as f:
        return {row["ami_id"]: int(row["root_volume_gib"]) for row in json.load(f)}


def _fill_root_sizes(parsed: dict[str, Any], **_: Any) -> None:
    sizes = ami_root_sizes()
    for image in parsed.get("Images", []):
        size = sizes.get(image.get("ImageId", ""))
        for mapping in image.get("BlockDeviceMappings", []):
            if size and mapping.get("DeviceName") == image.get("RootDeviceName") and "Ebs" in mapping:
                mapping["Ebs"]["VolumeSize"] = size


def add_realistic_image_sizes(session: Any) -> None:
    """botocore hook: DescribeImages answers carry the real root sizes of the bundled images."""
    session.events.register("after-call.ec2.DescribeImages", _fill_root_sizes)


def simulated_answers(session: Any) -> None:
    """Every hook the simulated cloud adds on top of moto."""
    from tui.demo.answers import add_simulated_quotas
    from tui.demo.ec2_rules import add_ec2_rules

    add_realistic_image_sizes(session)
    add_simulated_quotas(session)
    add_ec2_rules(session)


class SimulatedCloud:
    """moto started in-process for the life of the app."""

    def __init__(self) -> None:
        self._mock: Any = None
        from tui.demo.hosts import DemoHosts

        # Each simulated instance's SSH server on loopback; its auto-stop agent counts minutes as
        # seconds, so an idle demo instance stops itself while the person watches.
        self.hosts = DemoHosts(agent_minute_s=1.0)

    def start(self) -> Aws:
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            os.environ.pop(var, None)
        os.environ["AWS_ACCESS_KEY_ID"] = "simulated"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "simulated"
        os.environ.setdefault("AWS_DEFAULT_REGION", DEMO_REGION)
        configure_moto_environment()
        from tui.demo.moto_memory import lighter_offerings, share_service_descriptions
        from tui.demo.moto_speed import remember_response_methods

        share_service_descriptions()
        lighter_offerings()
        remember_response_methods()
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        from tui.demo.ssh_host import console_hook

        show_host_keys = console_hook(self.hosts.host_for_instance)

        def customize(session: Any) -> None:
            simulated_answers(session)
            show_host_keys(session)

        return Aws(region=DEMO_REGION, simulated=True, customize=customize)

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
