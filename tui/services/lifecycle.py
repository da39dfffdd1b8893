"""The instances the app manages, in every enabled region.

AWS is the source of truth: the app keeps no list of its own and finds its instances by the
``d2l-tui:managed`` tag every launch puts on them. Regions are asked concurrently (one client per
region, shared by the pool's threads, which botocore clients allow).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tui.logs import log_exception
from tui.models import TAG_MANAGED, Instance
from tui.services.aws import Aws, check_credentials
from tui.services.errors import D2lError, from_client_error
from tui.services.launch import instance_from_api

log = logging.getLogger(__name__)

MAX_WORKERS = 16


def _managed_in_region(aws: Aws, region: str) -> list[Instance]:
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    filters: list[dict[str, Any]] = [
        {"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]},
        # Terminated instances linger in DescribeInstances for about an hour; they are gone for the user.
        {
            "Name": "instance-state-name",
            "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
        },
    ]
    found: list[Instance] = []
    try:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                found.extend(instance_from_api(data, region) for data in reservation.get("Instances", []))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeInstances") from exc
    return found


def _as_d2l_error(exc: BaseException, profile: str | None) -> D2lError:
    """botocore's credential and connection errors as our sentences (check_credentials knows them all)."""
    if isinstance(exc, D2lError):
        return exc

    def reraise() -> Any:
        raise exc

    try:
        check_credentials(reraise, profile)
    except D2lError as err:
        return err
    except Exception:
        pass
    return D2lError(
        f"Listing instances failed ({type(exc).__name__}: {exc}).",
        "Check your network and credentials, then try again.",
    )


def list_managed(aws: Aws, regions: list[str] | None = None) -> list[Instance]:
    """Instances tagged d2l-tui:managed=true (not terminated), regions queried concurrently.

    A region that fails (not enabled, unreachable, denied) is logged and skipped; when every region
    fails, the first error is raised instead of an empty list.
    Sorted by region, then name.
    """
    if regions is None:
        from tui.services.regions import list_region_names

        regions = list_region_names(aws)
    if not regions:
        return []

    instances: list[Instance] = []
    failures: list[tuple[str, BaseException]] = []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(regions)), thread_name_prefix="ls") as pool:
        futures = {region: pool.submit(_managed_in_region, aws, region) for region in regions}
        for region, future in futures.items():
            try:
                instances.extend(future.result())
            except Exception as exc:  # one region's trouble must not hide the others' instances
                log_exception(log, exc, f"listing instances in {region}")
                failures.append((region, _as_d2l_error(exc, aws.profile)))

    # Every region failing is the credentials or the network, not the regions: say so instead of
    # showing an empty list. (A single region's AuthFailure is usually a region not enabled.)
    if failures and len(failures) == len(regions):
        raise failures[0][1]
    return sorted(instances, key=lambda i: (i.region, i.name, i.instance_id))
