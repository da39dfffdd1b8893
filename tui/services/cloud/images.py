"""Images: Deep Learning AMI, Ubuntu 24.04 / 22.04 (SSM public parameters, DescribeImages fallback),
and the images the app saved ("My AMIs").

AWS and Canonical publish the id of their newest image under an SSM public parameter, which is the
cheapest and most exact way to find it. Some identities may not call ssm:GetParameter, a region may
not carry a parameter yet, and emulators don't have them at all, so every kind falls back to
DescribeImages by owner and name pattern, newest by CreationDate. ``ImageChoice.resolved_via`` says
which path answered ("ssm:<parameter>" or "describe-images") so the review step can show it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from tui.aws_response import error_code
from tui.models import TAG_MANAGED, ImageChoice, ImageKind
from tui.services.cloud.aws import Aws
from tui.services.errors import D2lError, InputError, from_client_error

log = logging.getLogger(__name__)

# Image owners (account ids), checked against several public sources (see tui/demo/AMI-SOURCES.md).
DLAMI_OWNER = "898082745236"
CANONICAL_OWNER = "099720109477"

ARCHES = ("x86_64", "arm64")

KIND_LABELS = {
    ImageKind.DLAMI: "Deep Learning AMI (NVIDIA driver and CUDA preinstalled)",
    ImageKind.UBUNTU_2404: "Ubuntu 24.04",
    ImageKind.UBUNTU_2204: "Ubuntu 22.04",
    ImageKind.MY_AMI: "My AMI",
    ImageKind.CUSTOM: "AMI",
}

# SSM errors after which no other parameter will answer either: go straight to DescribeImages.
_SSM_UNUSABLE = (
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
)

_AMI_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


@dataclass(frozen=True)
class _Source:
    """One way to find an image: an SSM public parameter and the equivalent DescribeImages search."""

    ssm_parameter: str
    owner: str
    name_pattern: str


def _ubuntu_arch(arch: str) -> str:
    # Canonical names architectures the Debian way.
    return "amd64" if arch == "x86_64" else "arm64"


def _sources(kind: ImageKind, arch: str) -> list[_Source]:
    """Candidates in order of preference: the first that resolves wins."""
    if kind == ImageKind.DLAMI:
        # The arm64 (g5g) images carry "ARM64" in their names; the parameter tree is per arch.
        label = "Deep Learning ARM64 Base OSS" if arch == "arm64" else "Deep Learning Base OSS"
        return [
            _Source(
                f"/aws/service/deeplearning/ami/{arch}/base-oss-nvidia-driver-gpu-ubuntu-{version}/latest/ami-id",
                DLAMI_OWNER,
                f"{label} Nvidia Driver GPU AMI (Ubuntu {version}) *",
            )
            for version in ("24.04", "22.04")
        ]
    ub = _ubuntu_arch(arch)
    if kind == ImageKind.UBUNTU_2404:
        # Noble images are published on gp3 only ("hvm-ssd-gp3").
        return [
            _Source(
                f"/aws/service/canonical/ubuntu/server/24.04/stable/current/{ub}/hvm/ebs-gp3/ami-id",
                CANONICAL_OWNER,
                f"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{ub}-server-*",
            )
        ]
    if kind == ImageKind.UBUNTU_2204:
        return [
            _Source(
                f"/aws/service/canonical/ubuntu/server/22.04/stable/current/{ub}/hvm/ebs-gp2/ami-id",
                CANONICAL_OWNER,
                f"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{ub}-server-*",
            )
        ]
    raise InputError(
        f"{KIND_LABELS.get(kind, kind.value)} images are not looked up by kind.",
        "Choose the Deep Learning AMI or Ubuntu, or give an ami-… id.",
    )


def _root_gib(image: dict[str, Any]) -> int:
    """The root volume's snapshot size: a launch can't ask for a smaller disk."""
    mappings = [m for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
    root = image.get("RootDeviceName")
    for mapping in mappings:
        if mapping.get("DeviceName") == root and mapping["Ebs"].get("VolumeSize"):
            return int(mapping["Ebs"]["VolumeSize"])
    # Some images name the root by a partition alias (/dev/xvda vs /dev/xvda1): the first EBS
    # mapping is the root there. 0 means unknown (an instance-store root has no EBS size).
    for mapping in mappings:
        if mapping["Ebs"].get("VolumeSize"):
            return int(mapping["Ebs"]["VolumeSize"])
    return 0


def _choice(image: dict[str, Any], kind: ImageKind, resolved_via: str) -> ImageChoice:
    return ImageChoice(
        kind=kind,
        image_id=str(image["ImageId"]),
        name=str(image.get("Name", "")),
        arch=str(image.get("Architecture", "")),
        root_gib=_root_gib(image),
        root_device_name=str(image.get("RootDeviceName") or "/dev/sda1"),
        description=str(image.get("Description") or ""),
        creation_date=str(image.get("CreationDate", "")),
        resolved_via=resolved_via,
    )


def _newest(images: list[dict[str, Any]]) -> dict[str, Any] | None:
    # CreationDate is ISO 8601 in UTC with a fixed width, so string order is time order.
    return max(images, key=lambda i: str(i.get("CreationDate", "")), default=None)


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise InputError(f"Unknown architecture {arch!r}.", "Use x86_64 or arm64.")


def _ssm_lookup(aws: Aws, region: str, parameter: str) -> tuple[str | None, bool]:
    """(ami id or None, whether SSM is worth asking again)."""
    import botocore.exceptions as bex

    try:
        response = aws.client("ssm", region).get_parameter(Name=parameter)
    except bex.ClientError as exc:
        code = error_code(exc)
        log.info("SSM %s in %s: %s", parameter, region, code)
        return None, code not in _SSM_UNUSABLE
    except bex.BotoCoreError as exc:  # unreachable endpoint, timeouts: don't wait on it again
        log.info("SSM unreachable in %s: %s", region, exc)
        return None, False
    value = str(response.get("Parameter", {}).get("Value", "")).strip()
    if not _AMI_ID.match(value):
        log.warning("SSM %s in %s gave %r, not an AMI id", parameter, region, value)
        return None, True
    return value, True


def _describe(aws: Aws, region: str, **kwargs: Any) -> list[dict[str, Any]]:
    import botocore.exceptions as bex

    try:
        return list(aws.client("ec2", region).describe_images(**kwargs).get("Images", []))
    except bex.ClientError as exc:
        raise from_client_error(exc, "DescribeImages") from exc
    except bex.BotoCoreError as exc:
        raise D2lError(
            f"Could not reach EC2 in {region} to look up images.",
            "Check your network (or AWS_ENDPOINT_URL), then try again.",
        ) from exc


def _search(aws: Aws, region: str, source: _Source, arch: str) -> dict[str, Any] | None:
    images = _describe(
        aws,
        region,
        Owners=[source.owner],
        Filters=[
            {"Name": "name", "Values": [source.name_pattern]},
            {"Name": "architecture", "Values": [arch]},
            {"Name": "state", "Values": ["available"]},
        ],
    )
    return _newest(images)


def resolve_image(aws: Aws, region: str, kind: ImageKind, arch: str) -> ImageChoice:
    """Newest image of that kind for the architecture; raises D2lError when there is none.

    Each candidate (DLAMI on Ubuntu 24.04, then 22.04) is tried through SSM and then through
    DescribeImages before the next one, so a missing ssm:GetParameter permission never demotes
    the user to an older Ubuntu. Once SSM is denied or unreachable it isn't asked again.
    """
    _check_arch(arch)
    ssm_usable = True
    for source in _sources(kind, arch):
        if ssm_usable:
            image_id, ssm_usable = _ssm_lookup(aws, region, source.ssm_parameter)
            if image_id:
                found = _describe(aws, region, ImageIds=[image_id])
                if found:
                    return _choice(found[0], kind, f"ssm:{source.ssm_parameter}")
                log.warning(
                    "SSM %s points at %s, which DescribeImages doesn't show", source.ssm_parameter, image_id
                )
        image = _search(aws, region, source, arch)
        if image is not None:
            return _choice(image, kind, "describe-images")
    label = KIND_LABELS[kind]
    if kind == ImageKind.DLAMI:
        raise D2lError(
            f"There is no {label} for {arch} in {region}.",
            "Choose Ubuntu 24.04 instead; the setup step will install the NVIDIA driver.",
        )
    raise D2lError(
        f"No {label} image for {arch} was found in {region}.",
        "Choose another image, or another region.",
    )


def describe_image(aws: Aws, region: str, image_id: str, kind: ImageKind = ImageKind.CUSTOM) -> ImageChoice:
    """One image by id (an ami-… the user typed, or one remembered from an earlier launch)."""
    image_id = image_id.strip()
    if not _AMI_ID.match(image_id):
        raise InputError(
            f"{image_id!r} is not an AMI id.",
            "AMI ids look like ami-0123456789abcdef0 (8 or 17 hex digits after 'ami-').",
        )
    found = _describe(aws, region, ImageIds=[image_id])
    if not found:
        raise D2lError(
            f"The image {image_id} was not found in {region}.",
            "AMIs belong to one region: copy it here, or choose the Deep Learning AMI or Ubuntu.",
        )
    return _choice(found[0], kind, "describe-images")


def my_amis(aws: Aws, region: str) -> list[ImageChoice]:
    """Images owned by this account that carry the app's managed tag, newest first.

    Only available images are listed: a pending one can't be launched yet.
    """
    images = _describe(
        aws,
        region,
        Owners=["self"],
        Filters=[
            {"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]},
            {"Name": "state", "Values": ["available"]},
        ],
    )
    images.sort(key=lambda i: str(i.get("CreationDate", "")), reverse=True)
    return [_choice(image, ImageKind.MY_AMI, "describe-images") for image in images]


def image_options(aws: Aws, region: str, arch: str) -> tuple[list[ImageChoice], list[str]]:
    """What the Image step offers: DLAMI first, then Ubuntu 24.04, 22.04, then My AMIs.
    Second item: sentences for kinds that couldn't be resolved."""
    _check_arch(arch)
    options: list[ImageChoice] = []
    problems: list[str] = []
    for kind in (ImageKind.DLAMI, ImageKind.UBUNTU_2404, ImageKind.UBUNTU_2204):
        try:
            options.append(resolve_image(aws, region, kind, arch))
        except D2lError as err:
            problems.append(str(err))
    try:
        options.extend(image for image in my_amis(aws, region) if image.arch == arch)
    except D2lError as err:
        problems.append(f"My AMIs could not be listed: {err}")
    return options, problems
