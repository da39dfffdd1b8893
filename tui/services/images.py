"""Images: Deep Learning AMI, Ubuntu 24.04 / 22.04 (SSM public parameters, DescribeImages fallback),
and the images the app saved ("My AMIs").

CONTRACT (implemented by the images/keys/network work):
"""

from __future__ import annotations

from tui.models import ImageChoice, ImageKind
from tui.services.aws import Aws


def resolve_image(aws: Aws, region: str, kind: ImageKind, arch: str) -> ImageChoice:
    """Newest image of that kind for the architecture; raises D2lError when there is none."""
    raise NotImplementedError


def describe_image(aws: Aws, region: str, image_id: str, kind: ImageKind = ImageKind.CUSTOM) -> ImageChoice:
    raise NotImplementedError


def my_amis(aws: Aws, region: str) -> list[ImageChoice]:
    """Images owned by this account that carry the app's managed tag, newest first."""
    raise NotImplementedError


def image_options(aws: Aws, region: str, arch: str) -> tuple[list[ImageChoice], list[str]]:
    """What the Image step offers: DLAMI first, then Ubuntu 24.04, 22.04, then My AMIs.
    Second item: sentences for kinds that couldn't be resolved."""
    raise NotImplementedError
