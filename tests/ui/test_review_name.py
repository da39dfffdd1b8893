"""The review offers the type's name, numbered when the region has an instance of that name already:
the same rule as `d2l-tui launch` without --name (tui/flows/launch_plan.default_name). On moto."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.ui.driving import build_context, wait_until
from tests.ui.test_wizard_inputs import drive_to
from tui.app import make_app
from tui.models import TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws


async def test_a_name_the_region_has_already_is_numbered(aws: Aws, tmp_path: Path) -> None:
    ec2 = aws.client("ec2", "us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": "d2l-g4dn-xlarge"}]
    ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": tags}]
    )
    app = make_app(build_context(aws, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await drive_to(pilot, "ReviewStep")
        name = app.screen.query_one("#name", Input)
        await wait_until(pilot, lambda: name.value == "d2l-g4dn-xlarge-2")
