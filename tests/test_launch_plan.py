"""The launch rules both front doors share (tui/flows/launch_plan.py), without the UI or AWS."""

from __future__ import annotations

import pytest

from tui.flows import launch_plan


def test_default_disk_is_the_chapters_64_or_the_images_root() -> None:
    assert launch_plan.default_disk(8) == 64
    assert launch_plan.default_disk(75) == 75


def test_the_wizard_and_the_cli_name_from_the_same_rule() -> None:
    assert launch_plan.default_name("g4dn.xlarge") == "d2l-g4dn-xlarge"
    assert launch_plan.default_name("g4dn.xlarge", {"d2l-g5-xlarge"}) == "d2l-g4dn-xlarge"
    taken = {"d2l-g4dn-xlarge", "d2l-g4dn-xlarge-2", "d2l-g4dn-xlarge-4"}
    assert launch_plan.default_name("g4dn.xlarge", taken) == "d2l-g4dn-xlarge-3"


@pytest.mark.parametrize(("text", "ok"), [("us-east-1", True), ("eu-central-2", True), ("US-EAST-1", False)])
def test_region_names(text: str, ok: bool) -> None:
    assert (launch_plan.region_problem(text) is None) is ok


@pytest.mark.parametrize(("text", "ok"), [("g4dn.xlarge", True), ("p5.48xlarge", True), ("g4dn", False)])
def test_instance_types(text: str, ok: bool) -> None:
    assert (launch_plan.instance_type_problem(text) is None) is ok


def test_disk_sizes() -> None:
    assert launch_plan.parse_disk("100") == 100
    for bad, words in (("ten", "whole number"), ("0", "1 to 16384"), ("16385", "1 to 16384")):
        with pytest.raises(ValueError, match=words):
            launch_plan.parse_disk(bad)


def test_images() -> None:
    assert launch_plan.parse_image("Ubuntu") == "ubuntu"
    assert launch_plan.parse_image("ami-0123456789abcdef0") == "ami-0123456789abcdef0"
    with pytest.raises(ValueError, match="dlami, ubuntu"):
        launch_plan.parse_image("debian")


def test_names() -> None:
    assert launch_plan.name_problem("book") is None
    for bad in ("", "  ", "x" * 129, "tab\there"):
        assert launch_plan.name_problem(bad) == "The name must be 1 to 128 printable characters."


def test_a_disk_on_plain_ubuntu_must_fit_the_books_setup() -> None:
    from tui.models import ImageKind

    for kind in (ImageKind.UBUNTU_2404, ImageKind.UBUNTU_2204, ImageKind.CUSTOM):
        minimum, why = launch_plan.minimum_disk(kind, 8)
        assert minimum == launch_plan.BOOK_SETUP_DISK_GIB == 30
        assert "PyTorch" in why and "2.3 GB to download, 4.9 GiB installed" in why
        problem = launch_plan.disk_problem(10, kind, 8)
        assert problem is not None and "at least 30 GiB" in problem and "driver" in problem
        assert launch_plan.disk_problem(30, kind, 8) is None
    # The Deep Learning AMI's snapshot is above the floor; an image of a set-up instance has the book.
    assert launch_plan.minimum_disk(ImageKind.DLAMI, 75) == (75, "its snapshot size")
    assert launch_plan.minimum_disk(ImageKind.MY_AMI, 12)[0] == 12
    assert launch_plan.disk_problem(60, ImageKind.DLAMI, 75) == (
        "A disk on this image needs at least 75 GiB, its snapshot size."
    )


def test_own_setup_only_keeps_the_snapshot_floor() -> None:
    from tui.models import ImageKind

    assert launch_plan.minimum_disk(ImageKind.UBUNTU_2404, 8, book_setup=False) == (8, "its snapshot size")
    assert launch_plan.disk_problem(10, ImageKind.UBUNTU_2404, 8, book_setup=False) is None
    assert launch_plan.disk_problem(6, ImageKind.UBUNTU_2404, 8, book_setup=False) is not None
