"""`d2l-tui ls --leftovers` and `d2l-tui cleanup [--yes]` as real subprocesses against a moto server."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import subprocess_env
from tests.test_cli import assert_one_line_failure, d2l, ec2
from tests.test_leftovers import launch
from tui.models import TAG_MANAGED
from tui.services.cloud.aws import Aws


def groups() -> set[str]:
    return {g["GroupId"] for g in ec2().describe_security_groups()["SecurityGroups"]}


def test_ls_leftovers_then_cleanup_needs_yes(moto_endpoint: str, tmp_path: Path) -> None:
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    aws = Aws(region="us-east-1")
    gone, group = launch(aws, "us-east-1", "old", tmp_path / "keys", cidr="198.51.100.9/32")
    _, live_group = launch(aws, "us-east-1", "live", tmp_path / "keys")
    ec2().terminate_instances(InstanceIds=[gone])

    listed = d2l(env, "ls", "--leftovers", "--region", "us-east-1")
    assert listed.returncode == 0, listed.stderr
    assert "live" in listed.stdout and group in listed.stdout and "key-old" in listed.stdout
    assert live_group not in listed.stdout.split("Leftovers", 1)[1]  # in use: not a leftover

    refused = d2l(env, "cleanup", "--region", "us-east-1")
    assert_one_line_failure(refused, 2, "--yes")
    assert group in refused.stdout and group in groups()  # listed, not deleted

    done = d2l(env, "cleanup", "--yes")  # every region
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 of 2" in done.stderr
    assert group not in groups() and live_group in groups()
    assert "key-old" not in str(ec2().describe_key_pairs()["KeyPairs"])

    again = d2l(env, "cleanup", "--yes", "--region", "us-east-1")
    assert again.returncode == 0 and "Nothing to clean up" in again.stdout


def test_ls_leftovers_prices_a_volume_at_its_regions_cached_price(moto_endpoint: str, tmp_path: Path) -> None:
    from tests.test_ebs_prices import pricing_hooks
    from tui import paths
    from tui.services.cloud.catalog import PriceBook

    env = subprocess_env(moto_endpoint, tmp_path / "home")
    # What an earlier run read from the Pricing API (moto has none): the command uses the cached copy.
    PriceBook(pricing_hooks().aws(), paths.cache_dir()).ebs("eu-west-1")
    ec2("eu-west-1").create_volume(
        AvailabilityZone="eu-west-1a",
        Size=100,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": TAG_MANAGED, "Value": "true"}]}],
    )

    listed = d2l(env, "ls", "--leftovers", "--region", "eu-west-1")

    assert listed.returncode == 0, listed.stderr
    leftover = listed.stdout.split("Leftovers", 1)[1]
    assert "$8.80" in leftover and "100 GiB gp3" in leftover  # 0.088/GB-month, not us-east-1's 0.08
    assert "Total: $8.80/month" in leftover
