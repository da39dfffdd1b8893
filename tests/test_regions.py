"""Regions on moto (in-process and as a server), latency probes against real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from tui.services.cloud import regions
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError


def _denied(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    """The error shape EC2 answers with, as botocore parses it."""
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 403, "HTTPHeaders": {}},
    }
    return AWSResponse("https://ec2.amazonaws.com/", 403, HTTPHeaders(), None), parsed


def _raw_gpu_types(aws: Aws, region: str) -> set[str]:
    """The test's own reading: every offered type whose family is a GPU family."""
    answer = aws.client("ec2", region).describe_instance_type_offerings(LocationType="region")
    types = {o["InstanceType"] for o in answer["InstanceTypeOfferings"]}
    return {t for t in types if t.split(".", 1)[0] in regions.GPU_FAMILIES}


def test_enabled_regions_leave_out_those_not_opted_in(aws: Aws) -> None:
    listed = aws.client("ec2").describe_regions()["Regions"]
    opted_out = {r["RegionName"] for r in listed if r.get("OptInStatus") == "not-opted-in"}
    assert opted_out, "moto lists opt-in regions (ap-east-1 …) as not-opted-in"

    names = regions.list_region_names(aws)

    assert names == sorted(names)
    assert "us-east-1" in names
    assert not opted_out & set(names)
    commercial = {r["RegionName"] for r in listed if regions.partition(r["RegionName"]) == "aws"}
    assert set(names) == commercial - opted_out


def test_regions_of_other_partitions_are_left_out(aws: Aws) -> None:
    listed = {r["RegionName"] for r in aws.client("ec2").describe_regions()["Regions"]}
    assert {"cn-north-1", "us-gov-west-1"} <= listed, "moto lists every partition's regions"

    names = regions.list_region_names(aws)

    assert not [n for n in names if n.startswith(("cn-", "us-gov-"))]
    china = regions.list_region_names(Aws(region="cn-north-1"))
    assert china and all(n.startswith("cn-") for n in china)


def test_region_listing_denied_says_which_permission(aws: Aws) -> None:
    def customize(session: Any) -> None:
        session.events.register(
            "before-call.ec2.DescribeRegions",
            lambda **_: _denied("UnauthorizedOperation", "You are not authorized to perform this operation."),
        )

    with pytest.raises(D2lError) as caught:
        regions.list_region_names(Aws(region="us-east-1", customize=customize))
    assert "ec2:DescribeRegions" in caught.value.what
    assert caught.value.next_step


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it's closed: connect is refused


async def test_probe_measures_open_ports_and_gives_none_for_refused(listener: socket.socket) -> None:
    open_port = listener.getsockname()[1]
    closed = _closed_port()
    where = {"near-1": ("127.0.0.1", open_port), "gone-1": ("127.0.0.1", closed)}

    result = await regions.probe_latencies(["near-1", "gone-1"], timeout=2.0, host_for=where.__getitem__)

    assert list(result) == ["near-1", "gone-1"]
    near = result["near-1"]
    assert isinstance(near, float) and 0.0 <= near < 2000.0
    assert result["gone-1"] is None
    # The probe hangs up after connecting: the server sees the connection, then end-of-file.
    listener.settimeout(2.0)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(2.0)
        assert conn.recv(1) == b""


async def test_probe_gives_up_on_a_silent_endpoint() -> None:
    # A listener whose accept queue is full: Linux drops further SYNs, so connect never completes.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        await asyncio.sleep(0.05)
        with socket.socket() as check:
            check.settimeout(0.2)
            try:
                check.connect(("127.0.0.1", port))
            except (TimeoutError, OSError):
                pass
            else:
                pytest.skip("this kernel completes connects beyond the accept queue")

        start = time.perf_counter()
        result = await regions.probe_latencies(
            ["silent-1"], timeout=0.2, host_for=lambda _name: ("127.0.0.1", port)
        )
        elapsed = time.perf_counter() - start
    finally:
        for filler in fillers:
            filler.close()
        server.close()

    assert result == {"silent-1": None}
    assert elapsed < 1.5, "the timeout bounds the probe"


def test_gpu_offerings_differ_between_regions(aws: Aws) -> None:
    sent: list[dict[str, Any]] = []

    def customize(session: Any) -> None:
        session.events.register(
            "before-parameter-build.ec2.DescribeInstanceTypeOfferings",
            lambda params, **_: sent.append(dict(params)),
        )

    hooked = Aws(region="us-east-1", customize=customize)
    big = regions.count_gpu_offerings(hooked, "us-east-1")
    small = regions.count_gpu_offerings(hooked, "af-south-1")

    # EC2 is first asked with family wildcards, so real AWS answers with GPU types only.
    assert "g4dn.*" in sent[0]["Filters"][0]["Values"]
    assert sent[0]["LocationType"] == "region"
    assert big == len(_raw_gpu_types(aws, "us-east-1"))
    assert small == len(_raw_gpu_types(aws, "af-south-1"))
    assert big is not None and small is not None and big > small > 0
    offered_big = regions.gpu_offerings(aws, "us-east-1")
    offered_small = regions.gpu_offerings(aws, "af-south-1")
    assert any(t.startswith("p5.") for t in offered_big)
    assert any(t.startswith("g6e.") for t in offered_big)
    assert not any(t.startswith(("p5.", "g6e.")) for t in offered_small)
    assert len(offered_big) == len(set(offered_big))


def test_unreadable_offerings_count_as_unknown(aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    def customize(session: Any) -> None:
        session.events.register(
            "before-call.ec2.DescribeInstanceTypeOfferings",
            lambda **_: _denied("UnauthorizedOperation", "You are not authorized to perform this operation."),
        )

    with caplog.at_level(logging.WARNING, logger="tui.services.cloud.regions"):
        count = regions.count_gpu_offerings(Aws(region="us-east-1", customize=customize), "eu-west-1")
    assert count is None
    assert "eu-west-1" in caplog.text and "DescribeInstanceTypeOfferings" in caplog.text


def test_load_regions_sorts_nearest_first_and_counts_gpus(aws: Aws) -> None:
    latencies: dict[str, float | None] = {"eu-west-1": 3.5, "us-east-1": 12.0, "af-south-1": None}

    found = regions.load_regions(aws, latencies)

    names = [r.name for r in found]
    assert names[:2] == ["eu-west-1", "us-east-1"]
    assert set(names) == set(regions.list_region_names(aws))
    unmeasured = [r.name for r in found[2:]]
    assert unmeasured == sorted(unmeasured)
    assert all(r.latency_ms is None for r in found[2:])
    by_name = {r.name: r for r in found}
    assert by_name["us-east-1"].gpu_type_count == len(_raw_gpu_types(aws, "us-east-1"))
    assert by_name["af-south-1"].offers_gpus
    assert by_name["eu-west-1"].latency_ms == 3.5


def test_through_a_moto_server_endpoint(moto_endpoint: str) -> None:
    aws = Aws(region="us-east-1")  # reaches moto only through AWS_ENDPOINT_URL, as a user's emulator would

    names = regions.list_region_names(aws)
    big = regions.count_gpu_offerings(aws, "us-east-1")
    small = regions.count_gpu_offerings(aws, "af-south-1")

    assert aws.endpoint_url == moto_endpoint
    assert "us-east-1" in names and "af-south-1" in names
    assert big is not None and small is not None and big > small > 0
