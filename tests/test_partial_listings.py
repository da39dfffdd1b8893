"""Listings that some regions did not answer: never "nothing is running", always which regions and why.

`d2l-tui ls`, `ls --json`, `ls --leftovers` and `cleanup` run (in the test's process, as `python -m
tui` runs them: tests/support/cli_run.py) against the moto server behind a real TCP proxy
(tests/support/fault_proxy.py) that drops, resets or stalls every request signed for the chosen
regions. The commands' retries and read timeout are shortened through the app's own constants (as
tests/test_silent_aws.py does), so each fault costs one try.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.support.cli_run import run_cli
from tests.support.fault_proxy import FaultProxy
from tests.test_cli import ec2
from tests.test_lifecycle import run
from tui.cli.output import INCOMPLETE
from tui.models import TAG_MANAGED
from tui.services.cloud import aws
from tui.services.cloud.aws import Aws
from tui.services.cloud.regions import list_region_names

DOWN = frozenset({"eu-west-1", "ap-south-1"})


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    # The command as a person runs it, with one EC2 attempt and a 2 s read timeout instead of 6 × 30 s.
    monkeypatch.setitem(aws._ATTEMPTS, "ec2", 1)
    monkeypatch.setitem(aws._READ_TIMEOUT_S, "ec2", 2)
    with FaultProxy(moto_endpoint, regions=DOWN) as faulty:
        yield faulty


def d2l(proxy: FaultProxy, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(subprocess_env(proxy.url, home), *args)


def eight_instances() -> dict[str, list[str]]:
    """Two in us-east-1, three in each region that will not answer."""
    aws = Aws(region="us-east-1")  # straight to moto: AWS_ENDPOINT_URL is the server
    counts = {"us-east-1": 2, "eu-west-1": 3, "ap-south-1": 3}
    return {r: [run(aws, r, f"{r}-{n}") for n in range(count)] for r, count in counts.items()}


def assert_names_the_silent_regions(stderr: str, reason: str = "connection dropped") -> None:
    assert f"ap-south-1, eu-west-1 did not answer ({reason}): the list may be incomplete" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("fault", ["close", "reset"])
def test_ls_lists_what_answered_names_what_did_not_and_exits_incomplete(
    proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    proxy.fault = fault  # type: ignore[assignment]
    ids = eight_instances()
    result = d2l(proxy, tmp_path / "home", "ls")
    assert result.returncode == INCOMPLETE, result.stderr
    listed = [line.split()[-1] for line in result.stdout.splitlines()[1:]]
    assert sorted(listed) == sorted(ids["us-east-1"])
    assert_names_the_silent_regions(result.stderr)
    assert set(proxy.faulted) == DOWN  # the proxy, not moto, hid them


def test_ls_never_says_none_while_a_region_holding_instances_is_silent(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    aws = Aws(region="us-east-1")
    for n in range(8):
        run(aws, "eu-west-1", f"hidden-{n}")
    result = d2l(proxy, tmp_path / "home", "ls")
    assert result.returncode == INCOMPLETE, result.stderr
    assert result.stdout == "No instances launched by d2l-tui in the regions that answered.\n"
    assert "any enabled region" not in result.stdout
    assert_names_the_silent_regions(result.stderr)


def test_ls_json_carries_the_regions_that_did_not_answer(proxy: FaultProxy, tmp_path: Path) -> None:
    ids = eight_instances()
    result = d2l(proxy, tmp_path / "home", "ls", "--json")
    assert result.returncode == INCOMPLETE, result.stderr
    answer = json.loads(result.stdout)
    assert answer["complete"] is False
    assert answer["failed_regions"] == [
        {"region": "ap-south-1", "reason": "connection dropped"},
        {"region": "eu-west-1", "reason": "connection dropped"},
    ]
    assert sorted(i["id"] for i in answer["instances"]) == sorted(ids["us-east-1"])


def test_a_stalled_region_is_named_as_not_answering_in_time(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.fault = "stall"
    eight_instances()
    result = d2l(proxy, tmp_path / "home", "ls")
    assert result.returncode == INCOMPLETE, result.stderr
    assert_names_the_silent_regions(result.stderr, "no answer in time")


def test_a_connection_that_dies_after_a_few_requests_is_never_a_complete_list(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """The issue's proxy: everything past the first requests is dropped, whichever region."""
    eight_instances()
    regions = list_region_names(Aws(region="us-east-1"))  # what ls asks
    with FaultProxy(moto_endpoint, after=6) as proxy:  # DescribeRegions, then 5 regions
        result = d2l(proxy, tmp_path / "home", "ls", "--json")
    answer = json.loads(result.stdout)
    assert result.returncode == INCOMPLETE, result.stderr
    failed = {f["region"] for f in answer["failed_regions"]}
    assert failed == set(proxy.faulted) and len(failed) == len(regions) - 5
    listed = {i["region"] for i in answer["instances"]}
    assert not listed & failed


def test_ls_leftovers_names_the_regions_it_could_not_search(proxy: FaultProxy, tmp_path: Path) -> None:
    tags = [{"ResourceType": "volume", "Tags": [{"Key": TAG_MANAGED, "Value": "true"}]}]
    hidden = ec2("eu-west-1").create_volume(AvailabilityZone="eu-west-1a", Size=100, TagSpecifications=tags)
    result = d2l(proxy, tmp_path / "home", "ls", "--leftovers")
    assert result.returncode == INCOMPLETE, result.stderr
    assert "Leftovers and saved images:\nnone in the regions that answered" in result.stdout
    assert hidden["VolumeId"] not in result.stdout
    assert "d2l-tui: leftovers: ap-south-1, eu-west-1 did not answer (connection dropped)" in result.stderr


def test_cleanup_deletes_where_regions_answered_and_names_the_others(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    tags = [{"ResourceType": "volume", "Tags": [{"Key": TAG_MANAGED, "Value": "true"}]}]
    here = ec2().create_volume(AvailabilityZone="us-east-1a", Size=10, TagSpecifications=tags)["VolumeId"]
    hidden = ec2("eu-west-1").create_volume(AvailabilityZone="eu-west-1a", Size=10, TagSpecifications=tags)
    home = tmp_path / "home"

    done = d2l(proxy, home, "cleanup", "--yes")
    assert done.returncode == INCOMPLETE, done.stderr
    assert "Deleted 1 of 1" in done.stderr and "Traceback" not in done.stderr
    assert (
        "ap-south-1, eu-west-1 did not answer (connection dropped): its leftovers are not listed"
        in done.stderr
    )
    assert here not in [v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]]
    assert [v["VolumeId"] for v in ec2("eu-west-1").describe_volumes()["Volumes"]] == [hidden["VolumeId"]]

    again = d2l(proxy, home, "cleanup", "--yes")
    assert again.returncode == INCOMPLETE, again.stderr
    assert again.stdout == "Nothing to clean up in the regions that answered.\n"


def test_an_instance_in_a_silent_region_is_not_called_missing(proxy: FaultProxy, tmp_path: Path) -> None:
    run(Aws(region="us-east-1"), "eu-west-1", "book")
    result = d2l(proxy, tmp_path / "home", "stop", "book")
    assert result.returncode == 1, result.stderr
    assert "No instance named 'book' in the regions that answered; ap-south-1, eu-west-1 did not answer" in (
        result.stderr
    )
    assert "launched by d2l-tui in any enabled region" not in result.stderr


def test_help_documents_the_incomplete_exit_status() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "ls", "--help"], capture_output=True, text=True, timeout=60
    )
    assert f"{INCOMPLETE} incomplete" in " ".join(result.stdout.split())
