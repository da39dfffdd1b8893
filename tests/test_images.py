"""Images on moto with the bundled real AMIs: SSM first, DescribeImages fallback, My AMIs.

moto's SSM has no /aws/service/canonical or /aws/service/deeplearning parameters (it answers
ParameterNotFound, which drives the fallback for real); the SSM success path and permission errors
are injected with botocore before-call hooks returning the real API's shapes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from tui.demo.cloud import add_realistic_image_sizes
from tui.models import TAG_MANAGED, ImageKind
from tui.services.cloud.aws import Aws
from tui.services.cloud.images import describe_image, image_options, my_amis, resolve_image
from tui.services.errors import D2lError, InputError

REGION = "us-east-1"
DLAMI_2404_SSM = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"

# From tui/demo/amis.json: the newest image of each kind and architecture.
NEWEST_DLAMI_2404 = "ami-01901bc01d5d9bb55"
NEWEST = {
    (ImageKind.UBUNTU_2404, "x86_64"): "ami-086a43496cb46286c",
    (ImageKind.UBUNTU_2404, "arm64"): "ami-09ed9bca6a01cd74a",
    (ImageKind.UBUNTU_2204, "x86_64"): "ami-08943a151bd468f4e",
    (ImageKind.UBUNTU_2204, "arm64"): "ami-081f3c5131ba55215",
}


def _answer(parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://example.invalid/", status, {}, None), parsed


def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return _answer(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"RequestId": "r-1"}}, 400
    )


def _aws_with(event: str, hook: Callable[..., Any]) -> Aws:
    def customize(session: Any) -> None:
        add_realistic_image_sizes(session)
        session.events.register(event, hook)

    return Aws(region=REGION, customize=customize)


def _ssm_names(calls: list[str]) -> Callable[..., None]:
    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(params["body"])["Name"])  # pass through to moto

    return record


def test_fallback_finds_newest_dlami_when_moto_ssm_has_no_parameter(aws: Aws) -> None:
    image = resolve_image(aws, REGION, ImageKind.DLAMI, "x86_64")
    assert image.image_id == NEWEST_DLAMI_2404
    assert image.name == "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20260724"
    assert image.root_gib == 75
    assert image.root_device_name == "/dev/sda1"
    assert image.arch == "x86_64"
    assert image.creation_date.startswith("2026-07-24")
    assert image.resolved_via == "describe-images"
    assert image.cuda_preinstalled


@pytest.mark.parametrize(("kind", "arch"), list(NEWEST))
def test_fallback_finds_newest_ubuntu(aws: Aws, kind: ImageKind, arch: str) -> None:
    image = resolve_image(aws, REGION, kind, arch)
    assert image.image_id == NEWEST[(kind, arch)]
    assert image.arch == arch
    assert image.root_gib == 8
    assert image.kind == kind
    assert not image.cuda_preinstalled


def test_ssm_answer_is_used_and_recorded() -> None:
    asked: list[str] = []

    def get_parameter(params: dict[str, Any], **_: Any) -> Any:
        name = json.loads(params["body"])["Name"]
        asked.append(name)
        # An older 24.04 build than the newest in DescribeImages, so the test can tell SSM won.
        parameter = {"Name": name, "Type": "String", "Value": "ami-0deadbeef00000002", "Version": 7}
        return _answer({"Parameter": parameter})

    from moto import mock_aws

    with mock_aws():
        image = resolve_image(
            _aws_with("before-call.ssm.GetParameter", get_parameter), REGION, ImageKind.DLAMI, "x86_64"
        )
    assert asked == [DLAMI_2404_SSM]
    assert image.image_id == "ami-0deadbeef00000002"
    assert image.resolved_via == f"ssm:{DLAMI_2404_SSM}"
    assert image.root_gib == 75
    assert "20250620" in image.name


def test_ssm_parameter_names_asked_for_ubuntu_arm64() -> None:
    asked: list[str] = []
    from moto import mock_aws

    with mock_aws():
        resolve_image(
            _aws_with("before-call.ssm.GetParameter", _ssm_names(asked)),
            REGION,
            ImageKind.UBUNTU_2404,
            "arm64",
        )
    assert asked == ["/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"]


def test_missing_arm64_dlami_says_so_and_suggests_ubuntu(aws: Aws) -> None:
    with pytest.raises(D2lError) as info:
        resolve_image(aws, REGION, ImageKind.DLAMI, "arm64")
    assert "arm64" in info.value.what
    assert "Ubuntu" in info.value.next_step


def test_ssm_asked_for_each_version_when_parameters_are_missing() -> None:
    asked: list[str] = []
    from moto import mock_aws

    with mock_aws(), pytest.raises(D2lError):
        resolve_image(
            _aws_with("before-call.ssm.GetParameter", _ssm_names(asked)), REGION, ImageKind.DLAMI, "arm64"
        )
    assert [name.split("/")[-3] for name in asked] == [
        "base-oss-nvidia-driver-gpu-ubuntu-24.04",
        "base-oss-nvidia-driver-gpu-ubuntu-22.04",
    ]
    assert all(name.startswith("/aws/service/deeplearning/ami/arm64/") for name in asked)


def test_ssm_denied_is_not_asked_again_and_describe_images_answers() -> None:
    asked: list[str] = []

    def denied(params: dict[str, Any], **_: Any) -> Any:
        asked.append(json.loads(params["body"])["Name"])
        return _error("AccessDeniedException", "User is not authorized to perform: ssm:GetParameter")

    from moto import mock_aws

    with mock_aws():
        aws = _aws_with("before-call.ssm.GetParameter", denied)
        image = resolve_image(aws, REGION, ImageKind.UBUNTU_2204, "x86_64")
        with pytest.raises(D2lError):
            resolve_image(aws, REGION, ImageKind.DLAMI, "arm64")
    assert image.image_id == NEWEST[(ImageKind.UBUNTU_2204, "x86_64")]
    assert image.resolved_via == "describe-images"
    assert len(asked) == 2  # one per resolve: the 22.04 DLAMI parameter was never asked for


def test_describe_images_denied_becomes_d2l_error_and_options_collect_sentences() -> None:
    def denied(**_: Any) -> Any:
        return _error("UnauthorizedOperation", "You are not authorized to perform this operation.")

    from moto import mock_aws

    with mock_aws():
        aws = _aws_with("before-call.ec2.DescribeImages", denied)
        with pytest.raises(D2lError) as info:
            resolve_image(aws, REGION, ImageKind.UBUNTU_2404, "x86_64")
        options, problems = image_options(aws, REGION, "x86_64")
    assert "DescribeImages" in info.value.what
    assert info.value.code == "UnauthorizedOperation"
    assert options == []
    assert len(problems) == 4
    assert problems[-1].startswith("My AMIs could not be listed")


def _make_image(
    aws: Aws, name: str, managed: bool, image_id: str = NEWEST[(ImageKind.UBUNTU_2404, "x86_64")]
) -> str:
    ec2 = aws.client("ec2", REGION)
    instance = ec2.run_instances(ImageId=image_id, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1)
    tags = [{"Key": TAG_MANAGED, "Value": "true"}] if managed else [{"Key": "other", "Value": "x"}]
    response = ec2.create_image(
        InstanceId=instance["Instances"][0]["InstanceId"],
        Name=name,
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
    )
    return str(response["ImageId"])


def test_my_amis_lists_managed_images_newest_first(aws: Aws) -> None:
    older = _make_image(aws, "d2l-older", managed=True)
    _make_image(aws, "not-ours", managed=False)
    time.sleep(1.1)  # moto stamps CreationDate to the second
    newer = _make_image(aws, "d2l-newer", managed=True)

    images = my_amis(aws, REGION)
    assert [i.image_id for i in images] == [newer, older]
    assert {i.kind for i in images} == {ImageKind.MY_AMI}
    assert images[0].name == "d2l-newer"
    assert images[0].arch == "x86_64"
    assert images[0].root_gib > 0


def test_image_options_x86_64_in_order_with_my_amis(aws: Aws) -> None:
    mine = _make_image(aws, "d2l-mine", managed=True)
    options, problems = image_options(aws, REGION, "x86_64")
    assert problems == []
    assert [o.kind for o in options] == [
        ImageKind.DLAMI,
        ImageKind.UBUNTU_2404,
        ImageKind.UBUNTU_2204,
        ImageKind.MY_AMI,
    ]
    assert options[0].image_id == NEWEST_DLAMI_2404
    assert options[-1].image_id == mine


def test_image_options_arm64_reports_missing_dlami_and_hides_x86_amis(aws: Aws) -> None:
    _make_image(aws, "d2l-x86", managed=True)
    options, problems = image_options(aws, REGION, "arm64")
    assert [o.image_id for o in options] == [
        NEWEST[(ImageKind.UBUNTU_2404, "arm64")],
        NEWEST[(ImageKind.UBUNTU_2204, "arm64")],
    ]
    assert len(problems) == 1
    assert "Deep Learning AMI" in problems[0] and "arm64" in problems[0]


def test_describe_image_by_id(aws: Aws) -> None:
    image = describe_image(aws, REGION, " ami-0bbdd5918468148eb ")
    assert image.kind == ImageKind.CUSTOM
    assert image.name.endswith("(Ubuntu 22.04) 20250505")
    assert image.root_gib == 75


def test_describe_image_refuses_bad_and_unknown_ids(aws: Aws) -> None:
    with pytest.raises(InputError):
        describe_image(aws, REGION, "ubuntu-24.04")
    with pytest.raises(D2lError) as info:
        describe_image(aws, REGION, "ami-0123456789abcdef0")
    assert "not found" in info.value.what
    assert not isinstance(info.value, InputError)


def test_unknown_arch_is_input_error(aws: Aws) -> None:
    with pytest.raises(InputError):
        resolve_image(aws, REGION, ImageKind.UBUNTU_2404, "amd64")


def test_resolve_through_moto_server(moto_endpoint: str) -> None:
    aws = Aws(region=REGION, customize=add_realistic_image_sizes)
    image = resolve_image(aws, REGION, ImageKind.DLAMI, "x86_64")
    assert image.image_id == NEWEST_DLAMI_2404
    assert image.root_gib == 75
    # The same answer a user's own boto3 would get from that endpoint.
    raw = boto3.client("ec2", region_name=REGION).describe_images(ImageIds=[image.image_id])["Images"][0]
    assert raw["Name"] == image.name
