"""The user's public IP (a real HTTP server on loopback) and the SSH security group on moto."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws
from tui.services.cloud.network import (
    WHOLE_INTERNET_WARNING,
    detect_public_ip,
    ensure_ssh_security_group,
    security_group_name,
    validate_cidr,
)
from tui.services.errors import D2lError, InputError

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; the loopback servers here must be reached directly.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _serve(body: bytes, status: int = 200) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def checkip() -> Iterator[str]:
    yield from _serve(b"198.51.100.23\n")


@pytest.fixture
def garbage() -> Iterator[str]:
    yield from _serve(b"<html>Please log in to the hotel wifi</html>")


@pytest.fixture
def failing() -> Iterator[str]:
    yield from _serve(b"198.51.100.23\n", status=503)


def test_detect_public_ip(checkip: str) -> None:
    assert detect_public_ip(timeout=2, url=checkip) == "198.51.100.23"


def test_detect_public_ip_garbage_is_none(garbage: str) -> None:
    assert detect_public_ip(timeout=2, url=garbage) is None


def test_detect_public_ip_http_error_is_none(failing: str) -> None:
    assert detect_public_ip(timeout=2, url=failing) is None


def test_detect_public_ip_unreachable_is_none() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more: connection refused.
    assert detect_public_ip(timeout=2, url=f"http://127.0.0.1:{port}/") is None


@pytest.mark.parametrize(
    ("text", "cidr"),
    [
        ("1.2.3.4", "1.2.3.4/32"),
        (" 203.0.113.7 ", "203.0.113.7/32"),
        ("10.1.2.0/24", "10.1.2.0/24"),
        (" 203.0.113.7 / 32 ", "203.0.113.7/32"),
        ("203.0.113.0/255.255.255.0", "203.0.113.0/24"),
        ("::ffff:203.0.113.7", "203.0.113.7/32"),  # IPv4-mapped: EC2 matches IPv4 rules only
        ("2001:db8:1::/48", "2001:db8:1::/48"),
        ("198.51.100.23/32", "198.51.100.23/32"),
        ("2001:DB8::1", "2001:db8::1/128"),
        ("2001:db8::/64", "2001:db8::/64"),
    ],
)
def test_validate_cidr_accepts_and_normalises(text: str, cidr: str) -> None:
    assert validate_cidr(text) == (cidr, None)


@pytest.mark.parametrize(
    ("text", "cidr"),
    [
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("::/0", "::/0"),
        ("0.0.0.0/0.0.0.0", "0.0.0.0/0"),  # netmask form
        ("0::0/0", "::/0"),
        ("0:0:0:0:0:0:0:0/0", "::/0"),
        (" 0.0.0.0/00\t", "0.0.0.0/0"),
        ("::ffff:0.0.0.0/96", "0.0.0.0/0"),  # every IPv4 address, written as IPv6
        ("::FFFF:0:0/96", "0.0.0.0/0"),
    ],
)
def test_validate_cidr_warns_for_the_whole_internet_however_written(text: str, cidr: str) -> None:
    assert validate_cidr(text) == (cidr, WHOLE_INTERNET_WARNING)
    assert "whole internet" in WHOLE_INTERNET_WARNING


@pytest.mark.parametrize(
    ("text", "cidr", "size"),
    [
        ("0.0.0.0/1", "0.0.0.0/1", "2,147,483,648 addresses"),
        ("128.0.0.0/1", "128.0.0.0/1", "2,147,483,648 addresses"),
        ("10.0.0.0/8", "10.0.0.0/8", "16,777,216 addresses"),
        ("10.1.2.0/23", "10.1.2.0/23", "512 addresses"),
        ("10.0.0.0/255.0.0.0", "10.0.0.0/8", "16,777,216 addresses"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8", "16,777,216 addresses"),
        ("2001:db8::/47", "2001:db8::/47", "2 sites' /48 networks"),
        ("2000::/3", "2000::/3", "/48 networks"),
    ],
)
def test_validate_cidr_warns_for_any_source_wider_than_one_network(text: str, cidr: str, size: str) -> None:
    got, warning = validate_cidr(text)
    assert got == cidr
    assert warning is not None and cidr in warning and size in warning and "/32" in warning


def test_validate_cidr_refuses_host_bits_and_suggests_both_forms() -> None:
    with pytest.raises(InputError) as info:
        validate_cidr("203.0.113.7/24")
    assert "203.0.113.0/24" in info.value.what
    assert "203.0.113.0/24" in info.value.next_step and "203.0.113.7/32" in info.value.next_step


@pytest.mark.parametrize("text", ["", "my laptop", "300.1.2.3", "1.2.3.4/33", "1.2.3"])
def test_validate_cidr_refuses_garbage_with_an_example(text: str) -> None:
    with pytest.raises(InputError) as info:
        validate_cidr(text)
    assert "203.0.113.7" in info.value.next_step


def _groups(aws: Aws, name: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "group-name", "Values": [name]}] if name else []
    groups = aws.client("ec2", REGION).describe_security_groups(Filters=filters)["SecurityGroups"]
    return [g for g in groups if g["GroupName"] != "default"]


def test_group_allows_only_ssh_from_one_address(aws: Aws) -> None:
    group_id = ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    (group,) = _groups(aws)
    assert group["GroupId"] == group_id
    assert group["GroupName"] == "d2l-tui-ssh-198-51-100-23-32" == security_group_name("198.51.100.23/32")
    (rule,) = group["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 22, 22)
    assert rule["IpRanges"] == [{"CidrIp": "198.51.100.23/32", "Description": "SSH from d2l-tui user"}]
    assert rule["Ipv6Ranges"] == [] and rule["UserIdGroupPairs"] == []
    assert "0.0.0.0/0" not in str(group["IpPermissions"])
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags == {TAG_MANAGED: "true", TAG_NAME: group["GroupName"]}
    default_vpc = aws.client("ec2", REGION).describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])
    assert group["VpcId"] == default_vpc["Vpcs"][0]["VpcId"]


def test_second_call_reuses_the_group(aws: Aws) -> None:
    first = ensure_ssh_security_group(aws, REGION, "198.51.100.23/32")
    second = ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    assert first == second
    assert len(_groups(aws)) == 1
    assert len(_groups(aws)[0]["IpPermissions"]) == 1
    # Another address gets its own group.
    third = ensure_ssh_security_group(aws, REGION, "203.0.113.7")
    assert third != first
    assert len(_groups(aws)) == 2


def test_ipv6_source_goes_into_ipv6_ranges(aws: Aws) -> None:
    ensure_ssh_security_group(aws, REGION, "2001:db8::1")
    (group,) = _groups(aws)
    (rule,) = group["IpPermissions"]
    assert rule["IpRanges"] == []
    assert [r["CidrIpv6"] for r in rule["Ipv6Ranges"]] == ["2001:db8::1/128"]


def test_removed_rule_is_restored(aws: Aws) -> None:
    group_id = ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    ec2 = aws.client("ec2", REGION)
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "198.51.100.23/32"}],
    }
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    assert _groups(aws)[0]["IpPermissions"] == []
    assert ensure_ssh_security_group(aws, REGION, "198.51.100.23") == group_id
    assert len(_groups(aws)[0]["IpPermissions"]) == 1


def test_group_opened_wider_by_hand_is_not_reused(aws: Aws) -> None:
    group_id = ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    aws.client("ec2", REGION).authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8888, "ToPort": 8888, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    with pytest.raises(D2lError) as info:
        ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    assert "8888" in info.value.what and "0.0.0.0/0" in info.value.what


def test_unmanaged_group_with_our_name_is_left_alone(aws: Aws) -> None:
    ec2 = aws.client("ec2", REGION)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="d2l-tui-ssh-198-51-100-23-32", Description="by hand", VpcId=vpc)
    with pytest.raises(D2lError) as info:
        ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    assert "didn't make it" in info.value.what
    assert _groups(aws)[0]["IpPermissions"] == []


def test_region_without_default_vpc(aws: Aws) -> None:
    ec2 = aws.client("ec2", "eu-west-1")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for igw in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])[
        "InternetGateways"
    ]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc)
    with pytest.raises(D2lError) as info:
        ensure_ssh_security_group(aws, "eu-west-1", "198.51.100.23")
    assert "no default VPC" in info.value.what
    assert "create-default-vpc --region eu-west-1" in info.value.next_step


def test_create_denied_names_the_permission() -> None:
    def denied(**_: Any) -> Any:
        parsed = {
            "Error": {
                "Code": "UnauthorizedOperation",
                "Message": "You are not authorized to perform this operation.",
            },
            "ResponseMetadata": {"RequestId": "req-7"},
        }
        return AWSResponse("https://example.invalid/", 403, {}, None), parsed

    def customize(session: Any) -> None:
        session.events.register("before-call.ec2.CreateSecurityGroup", denied)

    from moto import mock_aws

    with mock_aws():
        aws = Aws(region=REGION, customize=customize)
        with pytest.raises(D2lError) as info:
            ensure_ssh_security_group(aws, REGION, "198.51.100.23")
        assert _groups(aws) == []
    assert "ec2:CreateSecurityGroup" in info.value.what
    assert info.value.code == "UnauthorizedOperation"
    assert info.value.request_id == "req-7"


def test_bad_cidr_is_refused_before_anything_is_sent(aws: Aws) -> None:
    with pytest.raises(InputError):
        ensure_ssh_security_group(aws, REGION, "everyone")
    assert _groups(aws) == []


def test_security_group_through_moto_server(moto_endpoint: str) -> None:
    aws = Aws(region=REGION, customize=add_realistic_image_sizes)
    group_id = ensure_ssh_security_group(aws, REGION, "198.51.100.23")
    assert ensure_ssh_security_group(aws, REGION, "198.51.100.23/32") == group_id
    (group,) = _groups(aws)
    assert [r["CidrIp"] for p in group["IpPermissions"] for r in p["IpRanges"]] == ["198.51.100.23/32"]


def nasty_sources(seed: int = 5, count: int = 3000) -> list[str]:
    """Typed SSH sources: spellings of the whole internet, edges of /24 and /48, and seeded junk."""
    import random

    cases = [
        "",
        " ",
        "\x00",
        "0",
        "0/0",
        "::",
        "::/",
        "/0",
        "0.0.0.0/-1",
        "0.0.0.0/33",
        "::/129",
        "[/x]",
        "[b]1.2.3.4[/b]",
        "1.2.3.4\n/8",
        "\u00a00.0.0.0/0",
        "０.０.０.０/０",
        "1" * 10000,
        "0.0.0.0/0/0",
        "0.0.0.0//0",
        "::ffff:0.0.0.0/95",
        "::ffff:0.0.0.0/97",
        "fe80::1%eth0",
        "0.0.0.0/0.0.0.1",
        "0.0.0.0/255.0.0.255",
        "255.255.255.255/0",
        "::1/0",
        "2001:db8::/0x30",
    ]
    rng = random.Random(seed)
    for _ in range(count):
        version = rng.choice((4, 6))
        bits = 32 if version == 4 else 128
        address = ipaddress.ip_address(rng.getrandbits(bits) if version == 4 else rng.getrandbits(128))
        prefix = rng.choice((0, 1, 8, 16, 23, 24, 25, 32, 47, 48, 49, 64, 96, 127, 128, rng.randint(0, bits)))
        network = ipaddress.ip_network(f"{address}/{min(prefix, bits)}", strict=False)
        text = rng.choice(
            (
                str(network),
                network.with_netmask,
                network.with_hostmask,
                f"{address}/{prefix}",
                f"::ffff:{network.network_address}/{96 + network.prefixlen}"
                if version == 4
                else str(network),
                f"  {network.exploded}\t",
            )
        )
        if rng.random() < 0.1:  # a stray character somewhere
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice("[]/:.% x0\x00") + text[at:]
        cases.append(text)
    return cases


def test_fuzzed_ssh_sources_are_refused_or_warned_exactly_when_wide() -> None:
    warned = quiet = refused = 0
    for text in nasty_sources():
        try:
            cidr, warning = validate_cidr(text)
        except InputError as exc:
            assert exc.what and exc.next_step
            refused += 1
            continue
        network = ipaddress.ip_network(cidr)
        assert not (network.version == 6 and network.subnet_of(ipaddress.ip_network("::ffff:0:0/96")))
        wide = network.prefixlen < (24 if network.version == 4 else 48)
        assert (warning is not None) == wide, (text, cidr, warning)
        assert validate_cidr(cidr) == (cidr, warning)  # normalised: the same on a second look
        warned += wide
        quiet += not wide
    assert warned and quiet and refused
