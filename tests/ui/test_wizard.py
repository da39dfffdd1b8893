"""The launch wizard driven with keys only, ending with an instance in moto checked through boto3."""

from __future__ import annotations

from pathlib import Path

from tests.ui.driving import build_context, loaded, wait_for_screen, wait_until
from tui.app import make_app
from tui.services.cloud.aws import Aws


async def test_wizard_keys_only_launches_ubuntu_g4dn_with_secure_defaults(aws: Aws, tmp_path: Path) -> None:
    ctx = build_context(aws, tmp_path)
    app = make_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, "RegionStep")
        await wait_until(pilot, loaded(pilot, "#regions"))
        await pilot.press("enter")  # nearest region offering GPUs: us-east-1

        await wait_for_screen(pilot, "LimitsStep")
        await wait_until(pilot, loaded(pilot, "#quotas"))
        await pilot.press("enter")

        await wait_for_screen(pilot, "GpuTypeStep")
        await wait_until(pilot, loaded(pilot, "#gpu-types"))
        await pilot.press("slash", *"g4dn.xlarge", "enter", "enter")

        await wait_for_screen(pilot, "ImageStep")
        await wait_until(pilot, loaded(pilot, "#images"))
        await pilot.press("down", "enter")  # Ubuntu 24.04, below the Deep Learning AMI

        await wait_for_screen(pilot, "StorageStep")
        await pilot.press("enter")  # 64 GiB, the chapter's figure

        await wait_for_screen(pilot, "KeyPairStep")
        await wait_until(pilot, loaded(pilot, "#keys"))
        await pilot.press("enter", "enter")  # "create a new key pair", then accept the name

        await wait_for_screen(pilot, "ReviewStep")
        await wait_until(pilot, lambda: app.screen.query_one("#cidr").value != "")  # type: ignore[attr-defined]
        await pilot.press("enter", "enter")  # name, then the CIDR: Launch

        await wait_for_screen(pilot, "LaunchScreen")
        await wait_until(pilot, lambda: getattr(app.screen, "finished", False) or app.screen.failed, 30)  # type: ignore[attr-defined]
        assert app.screen.finished, app.screen.query_one("#step-error").render()  # type: ignore[attr-defined]

        await pilot.press("c")
        assert app.clipboard.startswith("ssh -i "), (app.clipboard, app.screen.instance)  # type: ignore[attr-defined]
        assert "ubuntu@" in app.clipboard and "HostKeyAlias=i-" in app.clipboard  # host key checked

    ec2 = aws.client("ec2", "us-east-1")
    reservations = ec2.describe_instances()["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1
    inst = instances[0]
    assert inst["InstanceType"] == "g4dn.xlarge"
    assert inst["KeyName"] == "d2l-tui"
    assert inst["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["d2l-tui:managed"] == "true"
    assert tags["d2l-tui:name"] == "d2l-g4dn-xlarge"

    image = ec2.describe_images(ImageIds=[inst["ImageId"]])["Images"][0]
    assert "noble-24.04" in image["Name"]

    volume_id = inst["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["Size"] == 64
    assert volume["VolumeType"] == "gp3"

    groups = ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in inst["SecurityGroups"]])
    rules = [p for g in groups["SecurityGroups"] for p in g["IpPermissions"]]
    assert len(rules) == 1
    assert (rules[0]["FromPort"], rules[0]["ToPort"], rules[0]["IpProtocol"]) == (22, 22, "tcp")
    assert [r["CidrIp"] for r in rules[0]["IpRanges"]] == ["198.51.100.23/32"]

    key_file = tmp_path / "ssh" / "d2l-tui" / "d2l-tui.pem"
    assert key_file.stat().st_mode & 0o777 == 0o400
