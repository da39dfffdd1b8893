"""When a launch finds no capacity, try the other zones that offer the type: never a silent loop.

Capacity is per zone, so another zone may have it; a vCPU or instance-count limit is per region, so
no zone will help and the loop stops at once (QuotaError, the limits step is the next step). A zone
that doesn't offer the type (Unsupported) is skipped. Each zone's attempt is one progress line.

Exactly once across zones: each attempt sends its own ClientToken (AWS refuses a token reused with
other parameters, and the zone is one), derived from the launch's token and the zone so a retry of
the same launch derives the same ones. Every attempt tags the instance with the launch's own token,
and each attempt first looks for an instance with that tag: whichever zone got it, it is adopted.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from tui.models import TAG_CLIENT_TOKEN, Instance, LaunchProgress, LaunchSpec
from tui.services.cloud.aws import Aws
from tui.services.errors import CapacityError, D2lError, QuotaError, from_client_error

log = logging.getLogger(__name__)

# AWS names the zone it tried: "... capacity in the Availability Zone you requested (us-east-1a)."
_ZONE_IN_MESSAGE = re.compile(r"\(([a-z]{2}(?:-[a-z]+)+-\d+[a-z])\)")


def zone_token(base: str, zone: str) -> str:
    """The ClientToken of the attempt in ``zone``: stable for one launch, at most 64 characters."""
    return hashlib.sha256(f"{base}:{zone}".encode()).hexdigest()[:40]


def tag_token(params: dict[str, Any]) -> str:
    """The launch's own token, from the instance's tag: zone attempts send a derived ClientToken but
    keep this tag, so an instance from any attempt of the launch is found and adopted."""
    for spec in params.get("TagSpecifications", []):
        if spec.get("ResourceType") == "instance":
            for tag in spec.get("Tags", []):
                if tag.get("Key") == TAG_CLIENT_TOKEN:
                    return str(tag["Value"])
    return str(params["ClientToken"])


def offered_zones(aws: Aws, region: str, instance_type: str) -> list[str]:
    """The region's zones that offer the type, in name order (DescribeInstanceTypeOfferings)."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    try:
        pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
        )
        zones = {o["Location"] for page in pages for o in page.get("InstanceTypeOfferings", [])}
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstanceTypeOfferings") from exc
    return sorted(zones)


def zone_named(exc: BaseException) -> str:
    """The zone an AWS error message names, or ""."""
    cause = exc.__cause__
    message = str(getattr(cause, "response", {}).get("Error", {}).get("Message", "")) if cause else ""
    found = _ZONE_IN_MESSAGE.search(message)
    return found.group(1) if found else ""


def siblings(instance_type: str) -> list[str]:
    """Other sizes of the same family the bundled catalog knows, nearest first."""
    from tui.services.cloud.bundled_catalog import bundled_specs

    specs = bundled_specs()
    family = instance_type.split(".", 1)[0]
    names = [n for n in specs if n.split(".", 1)[0] == family and n != instance_type]
    here = specs.get(instance_type)
    if here is not None:
        # Nearest in vCPUs first (smaller before larger at equal distance): the quota is in vCPUs.
        names.sort(key=lambda n: (abs(specs[n].vcpus - here.vcpus), specs[n].vcpus))
    return names[:2]


def _all_failed(spec: LaunchSpec, tried: list[str], last: D2lError) -> CapacityError:
    options = []
    near = siblings(spec.instance_type)
    if near:
        options.append(f"a sibling size ({' or '.join(near)})")
    options.append("on-demand instead of spot" if spec.spot else "spot instead of on-demand")
    options.append("launch again in a few minutes")
    where = f"tried {', '.join(tried)}" if tried else "no zone offers it"
    return CapacityError(
        f"AWS has no {spec.instance_type} capacity in any zone of {spec.region} right now ({where}).",
        f"Try {', '.join(options[:-1])}, or {options[-1]}.",
        code=last.code,
        request_id=last.request_id,
    )


def across_zones(
    aws: Aws,
    spec: LaunchSpec,
    params: dict[str, Any],
    first_failure: CapacityError,
    progress: Callable[[LaunchProgress], None],
    run: Callable[[dict[str, Any]], Instance],
    cancelled: Callable[[], bool],
) -> Instance:
    """After ``first_failure`` (the attempt without a zone), try every other zone that offers the type.

    ``run(params)`` is one exactly-once RunInstances attempt. Raises QuotaError at once on a limit,
    CapacityError when every zone failed, LaunchCancelled-like D2lError from ``run``."""
    failed_zone = zone_named(first_failure)
    what = "is not offered" if first_failure.code == "Unsupported" else "has no capacity"
    where = f" in {failed_zone}" if failed_zone else " in the zone AWS chose"
    zones = [z for z in offered_zones(aws, spec.region, spec.instance_type) if z != failed_zone]
    tried = [failed_zone] if failed_zone else []
    last: D2lError = first_failure
    if not zones:
        progress(LaunchProgress(f"{spec.instance_type} {what}{where}; no other zone offers it."))
        raise _all_failed(spec, tried, last)
    progress(LaunchProgress(f"{spec.instance_type} {what}{where}; trying {', '.join(zones)} …"))
    base = str(params["ClientToken"])
    for zone in zones:
        if cancelled():
            raise D2lError(
                "The launch was cancelled while trying other zones.",
                "Look for the instance in the instances list before launching again.",
            )
        attempt = {**params, "ClientToken": zone_token(base, zone), "Placement": {"AvailabilityZone": zone}}
        progress(LaunchProgress(f"Trying {zone} …"))
        try:
            return run(attempt)
        except QuotaError:
            # Limits are per region: another zone gets the same answer.
            progress(LaunchProgress(f"{zone}: a vCPU limit stops the launch; other zones won't help."))
            raise
        except CapacityError as exc:
            tried.append(zone)
            last = exc
            if exc.code == "Unsupported":
                progress(LaunchProgress(f"{zone} does not offer {spec.instance_type}; skipping it."))
            else:
                progress(LaunchProgress(f"{zone} has no {spec.instance_type} capacity right now."))
            log.info("launch in %s failed: %s", zone, exc.code)
    raise _all_failed(spec, tried, last)
