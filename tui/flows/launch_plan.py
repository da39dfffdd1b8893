"""What a launch may ask for, decided once for the wizard and for `d2l-tui launch`: the defaults (disk,
name) and the checks on what a person typed (region, instance type, disk size, image, name)."""

from __future__ import annotations

import re
from collections.abc import Collection

from tui.models import ImageKind

# The chapter's figure: 64 GiB leaves room for CUDA, conda, a framework and the book's data sets.
DEFAULT_DISK_GIB = 64
MAX_DISK_GIB = 16384  # gp3's limit
MAX_NAME_CHARS = 128  # the Name tag's value limit at its shortest (EC2 allows 256; other tags 128)

# What `--image` accepts besides an ami-… id, and the image each word means.
IMAGE_KINDS = {
    "dlami": ImageKind.DLAMI,
    "ubuntu": ImageKind.UBUNTU_2404,
    "ubuntu-24.04": ImageKind.UBUNTU_2404,
    "ubuntu-22.04": ImageKind.UBUNTU_2204,
}

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")


# The smallest disk the book's setup fits on, on an image that doesn't have it (plain Ubuntu or any
# other AMI; a Deep Learning AMI's own snapshot is larger already). Measured on 2026-12-03: the
# PyTorch environment's wheels (torch 2.0.0 with its 11 CUDA wheels, torchvision 0.15.1, d2l 1.0.3,
# jupyter 1.0.0 and their dependencies) are 2.3 GB to download and 4.85 GiB installed (`pip
# download`, then `pip install --target`, `du -sm`: 4,964 MiB). Beside them, estimated: Ubuntu itself
# ~2.5 GiB, the NVIDIA driver's packages ~1 GiB, uv's cache of the downloads ~2.3 GB, the notebooks
# and the first data sets ~1 GiB: about 12 GiB before the later chapters' data sets; 30 GiB leaves
# room to work.
BOOK_SETUP_DISK_GIB = 30
# Images that come with the book's environment already (an image saved from a set-up instance).
_SET_UP_KINDS = frozenset({ImageKind.MY_AMI})
# The setup choice "only my own steps": after the launch the app runs the user's recipe.toml and not
# the book's, so the book's disk floor does not apply (the image's snapshot size still does).
OWN_SETUP = "own"


def default_disk(image_root_gib: int) -> int:
    """The chapter's 64 GiB, or the image's own root snapshot when that is larger."""
    return max(DEFAULT_DISK_GIB, image_root_gib)


def minimum_disk(kind: ImageKind, image_root_gib: int, *, book_setup: bool = True) -> tuple[int, str]:
    """(the smallest disk a launch on this image may ask for, why, as the end of a sentence).
    ``book_setup`` False: only the user's own setup will run, so only the snapshot size counts."""
    if not book_setup or kind in _SET_UP_KINDS or image_root_gib >= BOOK_SETUP_DISK_GIB:
        return image_root_gib, "its snapshot size"
    return BOOK_SETUP_DISK_GIB, (
        "what the book's setup needs on this image: the NVIDIA driver, then PyTorch's CUDA wheels "
        "(2.3 GB to download, 4.9 GiB installed) and the book's data"
    )


def disk_problem(size: int, kind: ImageKind, image_root_gib: int, *, book_setup: bool = True) -> str | None:
    """The sentence refusing ``size`` GiB on this image, or None when it fits."""
    minimum, why = minimum_disk(kind, image_root_gib, book_setup=book_setup)
    if size < minimum:
        return f"A disk on this image needs at least {minimum} GiB, {why}."
    return None


def default_name(instance_type: str, in_use: Collection[str] = ()) -> str:
    """d2l-g4dn-xlarge: the type says what it is; d2l-g4dn-xlarge-2, -3, … when an instance in the
    region has the name already (two of one name make `d2l-tui ssh NAME` ask for the id). Both doors
    use it: the wizard shows it, editable, on the review; `launch` without --name takes it."""
    base = "d2l-" + instance_type.replace(".", "-")
    name, count = base, 1
    while name in in_use:
        count += 1
        name = f"{base}-{count}"
    return name


def region_problem(text: str) -> str | None:
    return None if _REGION.match(text) else f"{text!r} is not a region name like us-east-1"


def instance_type_problem(text: str) -> str | None:
    return None if _INSTANCE_TYPE.match(text) else f"{text!r} is not an instance type like g4dn.xlarge"


def parse_disk(text: str) -> int:
    """A disk size in GiB from what was typed; ValueError with the sentence to show."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of GiB") from None
    if not 1 <= value <= MAX_DISK_GIB:
        raise ValueError(f"the disk must be 1 to {MAX_DISK_GIB} GiB")
    return value


def parse_image(text: str) -> str:
    """One of IMAGE_KINDS or an ami-… id, lower-cased; ValueError with the sentence to show."""
    if text.lower() in IMAGE_KINDS or _AMI.match(text):
        return text.lower()
    raise ValueError(f"choose {', '.join(IMAGE_KINDS)} or an ami-… id, not {text!r}")


def name_problem(name: str) -> str | None:
    if not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return f"The name must be 1 to {MAX_NAME_CHARS} printable characters."
    return None
