"""Regions: which are enabled, how near each is, and how many GPU types each offers.

The region step shows every enabled region with a TCP-connect latency to its EC2 endpoint (a fair
proxy for "nearest") and the number of GPU instance types on offer there, so a user can see at a
glance that a nearby region may offer no GPUs at all. Blocking boto3 calls are fine here: screens
run them in thread workers.
"""

from __future__ import annotations

import fnmatch
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from tui.aws_response import error_code
from tui.models import Region
from tui.services.cloud.aws import Aws
from tui.services.cloud.bundled_catalog import bundled_type_names
from tui.services.cloud.fanout import fanout
from tui.services.errors import CredentialsError, D2lError, from_client_error

log = logging.getLogger(__name__)

# Instance families the app offers (current and previous GPU generations).
GPU_FAMILIES: tuple[str, ...] = (
    "g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en",
)  # fmt: skip

# Up to 16 of the ~30 regions are counted at once: more threads would mostly wait on the network.
MAX_THREADS = 16
_GPU_PATTERNS = tuple(f"{family}.*" for family in GPU_FAMILIES)


def describe_error(exc: BaseException, operation: str, region: str) -> D2lError:
    """A botocore failure of ``operation`` in ``region`` as a sentence and a next step."""
    import botocore.exceptions as bex

    if isinstance(exc, D2lError):
        return exc
    if isinstance(exc, bex.ClientError):
        return from_client_error(exc, operation)
    if isinstance(exc, bex.NoCredentialsError):
        return CredentialsError(
            "No AWS credentials were found.",
            "Run `aws configure` (access key) or `aws configure sso`, or try the simulated cloud with --demo.",
        )
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError)):
        return D2lError(
            f"Could not reach AWS in {region} for {operation}.",
            "Check your network (or AWS_ENDPOINT_URL), then try again.",
        )
    return D2lError(f"{operation} failed in {region}: {exc}", "See the log file for details.")


def failure_reason(exc: BaseException, service: str, permission: str, region: str) -> str:
    """Why a reading failed, short enough to finish a sentence that starts "unknown, because"."""
    import botocore.exceptions as bex

    code = error_code(exc) or getattr(exc, "code", "")
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return f"your AWS identity may not call {permission} (ask your admin to grant it)"
    if isinstance(exc, (bex.NoCredentialsError, CredentialsError)):
        return "no AWS credentials were found"
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError)):
        return f"{service} could not be reached in {region}"
    if isinstance(exc, NotImplementedError):  # moto in-process raises this for actions it lacks
        return f"this endpoint does not implement {service}"
    if isinstance(exc, bex.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # Emulators and proxies answer 5xx with an HTML page as the "message": keep it out of the UI.
        if not code or code.isdigit() or status >= 500:
            return f"{service} answered with an error (HTTP {status or code})"
        return f"{service} refused the request ({code})"
    if isinstance(exc, D2lError):
        return exc.what[:1].lower() + exc.what[1:].rstrip(".")
    return f"{service} failed ({type(exc).__name__})"


def list_region_names(aws: Aws) -> list[str]:
    """Enabled regions from DescribeRegions (opted-out ones are left out), sorted by name."""
    import botocore.exceptions as bex

    try:
        answer = aws.client("ec2", aws.home_region).describe_regions()
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise describe_error(exc, "DescribeRegions", aws.home_region) from exc
    # Without AllRegions AWS lists only enabled regions; the status check also covers endpoints
    # (emulators included) that list every region and mark the ones the account hasn't opted into.
    # One set of credentials works in one partition (aws, aws-cn, aws-us-gov): an emulator lists
    # all of them, and regions of another partition could never be used with these credentials.
    home = partition(aws.home_region)
    return sorted(
        r["RegionName"]
        for r in answer.get("Regions", [])
        if r.get("OptInStatus") != "not-opted-in" and partition(r["RegionName"]) == home
    )


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso"):
        return "aws-iso"
    return "aws"


def _ec2_host(region: str) -> tuple[str, int]:
    return f"ec2.{region}.amazonaws.com", 443


async def _probe(host: str, port: int, timeout: float) -> float | None:
    import asyncio  # here: `ls` and the instances list use this module but never probe

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        # Resolve first and leave DNS out of the figure: a cold resolver would rank regions by lookup time.
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        address = str(infos[0][4][0])
        start = time.perf_counter()
        connect = asyncio.open_connection(address, port)
        _reader, writer = await asyncio.wait_for(connect, max(0.0, deadline - loop.time()))
    except (asyncio.TimeoutError, OSError, IndexError):
        return None
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:  # the far end may reset a connection we never used; the figure stands
        pass
    return elapsed_ms


async def probe_latencies(
    region_names: Iterable[str],
    *,
    timeout: float = 1.5,
    host_for: Callable[[str], tuple[str, int]] | None = None,
) -> dict[str, float | None]:
    """TCP-connect to each region's EC2 endpoint concurrently; ms, or None on timeout/failure.

    ``host_for(region) -> (host, port)`` defaults to ("ec2.<region>.amazonaws.com", 443).
    """
    import asyncio

    where = host_for or _ec2_host
    names = list(region_names)
    # One connect per region, all at once: the whole probe takes about one timeout at worst.
    results = await asyncio.gather(*(_probe(*where(name), timeout) for name in names))
    return dict(zip(names, results, strict=True))


def gpu_offerings(aws: Aws, region: str) -> list[str]:
    """Names of the GPU_FAMILIES instance types offered in the region, sorted; raises D2lError."""
    import botocore.exceptions as bex

    ec2 = aws.client("ec2", region)
    # The known names ride along with the wildcards: EC2 matches both (same answer), and an emulator
    # that compares values literally still answers the known types without listing all ~1,000.
    values = [*_GPU_PATTERNS, *bundled_type_names()]
    try:
        found = _offered_types(ec2, [{"Name": "instance-type", "Values": values}])
        if not found:
            # EC2 expands the wildcards; an emulator (moto 5.2) matches filter values literally and
            # answers nothing. An unfiltered listing (one page of ~1,000 types) matched here is the same.
            found = _offered_types(ec2, [])
    except (bex.ClientError, bex.BotoCoreError) as exc:
        raise describe_error(exc, "DescribeInstanceTypeOfferings", region) from exc
    return sorted(t for t in found if any(fnmatch.fnmatchcase(t, p) for p in _GPU_PATTERNS))


def _offered_types(ec2: Any, filters: list[dict[str, Any]]) -> set[str]:
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="region", Filters=filters
    )
    return {o["InstanceType"] for page in pages for o in page.get("InstanceTypeOfferings", [])}


def count_gpu_offerings(aws: Aws, region: str) -> int | None:
    """How many instance types of GPU_FAMILIES the region offers (DescribeInstanceTypeOfferings);
    None when it can't be read."""
    try:
        return len(gpu_offerings(aws, region))
    except D2lError as exc:
        log.warning("GPU offerings in %s unknown: %s", region, exc)
        return None


def _nearest_first(region: Region) -> tuple[bool, float, str]:
    return (region.latency_ms is None, region.latency_ms or 0.0, region.name)


def load_regions(aws: Aws, latencies: dict[str, float | None]) -> list[Region]:
    """Regions with their latency and GPU type count (counted concurrently), nearest first;
    unmeasured latencies last."""
    names = list_region_names(aws)
    if not names:
        return []
    with fanout(min(MAX_THREADS, len(names)), "regions") as pool:
        counts = list(pool.map(lambda name: count_gpu_offerings(aws, name), names))
    regions = [
        Region(name=name, latency_ms=latencies.get(name), gpu_type_count=count, simulated=aws.simulated)
        for name, count in zip(names, counts, strict=True)
    ]
    return sorted(regions, key=_nearest_first)
