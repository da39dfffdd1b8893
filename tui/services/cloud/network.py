"""The security group: SSH (TCP 22) open only to the user's own /32.

The chapter opens port 22 to 0.0.0.0/0; here the default is the user's public address as AWS sees
it (checkip.amazonaws.com), and anything wider than a /24 (IPv4) or a /48 (IPv6) is the user's
explicit choice (the wizard's tick, the CLI's --allow-wide-ssh), however the block is written. One managed group per source CIDR per VPC, named after the CIDR, so a second launch
from the same place reuses it instead of piling up groups.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from tui.aws_response import error_code
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, InputError, from_client_error

log = logging.getLogger(__name__)

CHECKIP_URL = "https://checkip.amazonaws.com"
SSH_PORT = 22
RULE_DESCRIPTION = "SSH from d2l-tui user"
WHOLE_INTERNET_WARNING = (
    "This opens SSH to the whole internet: anyone can try to log in, and bots will. "
    "Prefer your own address (/32)."
)
# The widest source that needs no explicit consent: one office or home network, not a provider's.
NARROWEST_WIDE_PREFIX = {4: 24, 6: 48}
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def detect_public_ip(timeout: float = 3.0, url: str = CHECKIP_URL) -> str | None:
    """The user's public IPv4 address, or None when it can't be looked up."""
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "d2l-tui"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(64)  # an address is short: don't read a captive portal's page
        return str(ipaddress.IPv4Address(body.decode("ascii").strip()))
    except Exception as exc:  # network, HTTP, decoding or parsing: the user can still type it
        log.info("Public IP lookup at %s failed: %s", url, exc)
        return None


def validate_cidr(text: str) -> tuple[str, str | None]:
    """(normalized CIDR, warning or None). A bare IP becomes /32. A block wider than a /24 (IPv6: a
    /48) gives a warning, which callers must not pass without the user's explicit consent; netmask
    forms (0.0.0.0/0.0.0.0) and IPv4-mapped IPv6 are normalised first. Raises InputError with a
    sentence for anything else.

    IPv6 is accepted too (a bare address becomes /128; ::/0 is the whole internet as 0.0.0.0/0 is).
    """
    text = "".join(text.split())  # " 203.0.113.7 / 32" as pasted
    example = "Enter an address like 203.0.113.7, or a block like 203.0.113.0/24."
    if not text:
        raise InputError("Enter the address SSH connections will come from.", example)
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=True)
        else:
            network = ipaddress.ip_network(ipaddress.ip_address(text))
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InputError(f"{text!r} is not an IP address or CIDR block.", example) from exc
        # Refused rather than silently widened: the user may have meant the single address.
        single = f"{ipaddress.ip_address(text.split('/', 1)[0])}/{loose.max_prefixlen}"
        raise InputError(
            f"{text} has bits set after the /{loose.prefixlen}; that block is {loose}.",
            f"Use {loose} for the block, or {single} for just that address.",
        ) from exc
    network = _as_ipv4_if_mapped(network)
    return str(network), wide_warning(network)


def _as_ipv4_if_mapped(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N-96): EC2 matches IPv4 traffic only against IPv4
    rules, so that is what the user means (and ::ffff:0:0/96 is the whole IPv4 internet)."""
    if network.version == 6 and network.subnet_of(_IPV4_MAPPED):  # type: ignore[arg-type]
        address = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((address, network.prefixlen - 96))
    return network


def wide_warning(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why a source needs the user's explicit consent (wider than a /24 or a /48), or None."""
    if network.prefixlen == 0:
        return WHOLE_INTERNET_WARNING
    if network.prefixlen >= NARROWEST_WIDE_PREFIX[network.version]:
        return None
    if network.version == 4:
        size = f"{network.num_addresses:,} addresses"
    else:
        size = f"{2 ** (48 - network.prefixlen):,} sites' /48 networks"
    return (
        f"This opens SSH to {network}, {size}: any of them can try to log in. Prefer your own address (/32)."
    )


def security_group_name(cidr: str) -> str:
    """The managed group's name for a CIDR: d2l-tui-ssh-203-0-113-7-32."""
    return "d2l-tui-ssh-" + cidr.replace(".", "-").replace("/", "-").replace(":", "-")


def _ip_permission(cidr: str) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": SSH_PORT, "ToPort": SSH_PORT}
    if ipaddress.ip_network(cidr).version == 6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": RULE_DESCRIPTION}]
    else:
        permission["IpRanges"] = [{"CidrIp": cidr, "Description": RULE_DESCRIPTION}]
    return permission


def _ingress_sources(group: dict[str, Any]) -> list[tuple[str, int | None, int | None, str]]:
    """Every ingress rule as (protocol, from, to, source), one per source."""
    rules: list[tuple[str, int | None, int | None, str]] = []
    for perm in group.get("IpPermissions", []):
        proto, low, high = str(perm.get("IpProtocol")), perm.get("FromPort"), perm.get("ToPort")
        sources = [r["CidrIp"] for r in perm.get("IpRanges", [])]
        sources += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
        sources += [p.get("GroupId", "") for p in perm.get("UserIdGroupPairs", [])]
        sources += [p.get("PrefixListId", "") for p in perm.get("PrefixListIds", [])]
        rules.extend((proto, low, high, source) for source in sources)
    return rules


def _default_vpc(ec2: Any, region: str) -> str:
    import botocore.exceptions as bex

    try:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}]).get("Vpcs", [])
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeVpcs") from exc
    if not vpcs:
        raise D2lError(
            f"The region {region} has no default VPC, so there is no network to put the instance in.",
            f"Create one with `aws ec2 create-default-vpc --region {region}` (or in the VPC console), "
            "or choose another region.",
        )
    return str(vpcs[0]["VpcId"])


def _find_group(ec2: Any, vpc_id: str, name: str, managed_only: bool) -> dict[str, Any] | None:
    import botocore.exceptions as bex

    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}]
    if managed_only:
        filters.append({"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]})
    try:
        groups = ec2.describe_security_groups(Filters=filters).get("SecurityGroups", [])
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeSecurityGroups") from exc
    return groups[0] if groups else None


def _authorize(ec2: Any, group_id: str, cidr: str) -> None:
    import botocore.exceptions as bex

    try:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[_ip_permission(cidr)])
    except bex.ClientError as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":  # already there: what we wanted
            raise from_client_error(exc, "AuthorizeSecurityGroupIngress") from exc


def _create_group(ec2: Any, vpc_id: str, name: str, cidr: str) -> str:
    import botocore.exceptions as bex

    tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": name}]
    try:
        response = ec2.create_security_group(
            GroupName=name,
            Description=f"SSH (TCP 22) from {cidr} only, made by d2l-tui",
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )
    except bex.ClientError as exc:
        if error_code(exc) != "InvalidGroup.Duplicate":
            raise from_client_error(exc, "CreateSecurityGroup") from exc
        # Someone made it between our look-up and now: another worker's (tagged) group is fine to
        # share; an untagged one of the same name isn't ours to change.
        group = _find_group(ec2, vpc_id, name, managed_only=True)
        if group is None:
            raise D2lError(
                f"A security group named {name} already exists in {vpc_id}, but d2l-tui didn't make it.",
                "Delete or rename that group, then try again.",
            ) from exc
        return str(group["GroupId"])
    return str(response["GroupId"])


def ensure_ssh_security_group(aws: Aws, region: str, cidr: str) -> str:
    """A managed security group in the default VPC allowing TCP 22 from ``cidr`` only; reused when one
    with exactly that rule exists. Returns its id.

    A managed group whose rule was removed gets it back. One that was opened wider than its name
    says (someone added rules by hand) is not reused and not silently trimmed: D2lError says so.
    """
    cidr, _ = validate_cidr(cidr)
    ec2 = aws.client("ec2", region)
    vpc_id = _default_vpc(ec2, region)
    name = security_group_name(cidr)

    group = _find_group(ec2, vpc_id, name, managed_only=True)
    if group is None:
        group_id = _create_group(ec2, vpc_id, name, cidr)
        log.info("Created security group %s (%s) in %s", name, group_id, region)
        group = _find_group(ec2, vpc_id, name, managed_only=True) or {"GroupId": group_id}
    group_id = str(group["GroupId"])

    ours = ("tcp", SSH_PORT, SSH_PORT, cidr)
    rules = _ingress_sources(group)
    extra = [rule for rule in rules if rule != ours]
    if extra:
        shown = ", ".join(f"{p} {lo}-{hi} from {src}" for p, lo, hi, src in extra)
        raise D2lError(
            f"The security group {name} ({group_id}) has rules besides SSH from {cidr}: {shown}.",
            "Remove those rules in the EC2 console (or delete the group), so it opens only what it says.",
        )
    if ours not in rules:
        # Authorize only after creating: if this fails, the empty group stays (tagged) and is
        # reused next time, when the rule is added again.
        _authorize(ec2, group_id, cidr)
    return group_id
