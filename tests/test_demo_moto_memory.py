"""--demo's lighter moto (tui/demo/moto_memory.py) answers as moto does: the app's EC2 model stays
botocore's own while moto's has its extras, and zone offerings read on demand are moto's file.

The simulated cloud patches botocore and moto for its whole process, so it runs in a child process
here, as `d2l-tui --demo` does; the test compares with moto's data files read directly."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

from tui.demo.moto_memory import _merged

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tui.demo.cloud import SimulatedCloud
cloud = SimulatedCloud()
aws = cloud.start()
ec2 = aws.client("ec2", "us-east-1")
from moto.core.utils import get_service_model
from moto.ec2.models import instance_types
zones = instance_types.INSTANCE_TYPE_OFFERINGS["availability-zone"]
read_before = sorted(r for r in zones if dict.__getitem__(zones, r) is not None)
def offered(region, where):
    answer = aws.client("ec2", region).describe_instance_type_offerings(
        LocationType=where, Filters=[{"Name": "instance-type", "Values": ["g4dn.xlarge"]}])
    return sorted(o["Location"] for o in answer["InstanceTypeOfferings"])
by_zone = {r: offered(r, "availability-zone") for r in ("us-east-1", "eu-west-1")}
by_region = offered("us-west-2", "region")
try:
    ec2.describe_instances(InstanceIds=["i-0000000000000dead"])
    code = ""
except Exception as exc:
    code = exc.response["Error"]["Code"]
app_shapes = ec2.meta.service_model._service_description["shapes"]
moto_shapes = get_service_model("ec2")._service_description["shapes"]
print(json.dumps({
    "read_before": read_before,
    "read_after": sorted(r for r in zones if dict.__getitem__(zones, r) is not None),
    "by_zone": by_zone,
    "by_region": by_region,
    "error": code,
    "app_extras": "AuthFailure" in app_shapes,
    "moto_extras": "AuthFailure" in moto_shapes,
    "shared": app_shapes["Instance"] is moto_shapes["Instance"],
}))
cloud.stop()
"""


def _moto_file(path: str) -> Any:
    return json.loads(gzip.decompress((resources.files("moto") / path).read_bytes()))


def _zones_with_g4dn(region: str) -> list[str]:
    offers = _moto_file(f"ec2/resources/instance_type_offerings/availability-zone/{region}.json.gz")
    return sorted(o["Location"] for o in offers if o["InstanceType"] == "g4dn.xlarge")


def test_the_simulated_cloud_answers_from_moto_own_data_with_one_model_parsed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Zone offerings: none read at start; the two regions asked, and only those, read as moto has them.
    assert seen["read_before"] == []
    assert seen["read_after"] == ["eu-west-1", "us-east-1"]
    assert seen["by_zone"] == {r: _zones_with_g4dn(r) for r in ("us-east-1", "eu-west-1")}
    assert seen["by_zone"]["us-east-1"]  # the comparison above compared something
    assert seen["by_region"] == ["us-west-2"]
    # One EC2 description in memory: moto's extras are moto's only, and errors parse as before.
    assert seen["shared"] is True
    assert (seen["app_extras"], seen["moto_extras"]) == (False, True)
    assert seen["error"] == "InvalidInstanceID.NotFound"


def test_a_merge_makes_new_dicts_along_its_path_and_leaves_the_shared_parts_alone() -> None:
    shared_shape = OrderedDict(type="structure", members={"A": {"shape": "String"}})
    base = OrderedDict(shapes=OrderedDict(Thing=shared_shape), version="1")
    extra = {"shapes": {"Thing": {"members": {"B": {"shape": "Integer"}}}, "New": {"type": "string"}}}

    merged = _merged(base, extra)

    assert merged["shapes"]["Thing"]["members"] == {"A": {"shape": "String"}, "B": {"shape": "Integer"}}
    assert merged["shapes"]["New"] == {"type": "string"} and merged["version"] == "1"
    assert shared_shape["members"] == {"A": {"shape": "String"}}  # the parsed original as it was
    assert list(base["shapes"]) == ["Thing"]
    assert isinstance(merged["shapes"], OrderedDict)


def test_moto_lists_a_responses_class_once_and_answers_as_before() -> None:
    """tui/demo/moto_speed.py: the second request of a class reuses its method list."""
    import moto.core.responses as responses
    from moto import mock_aws

    from tui.demo.moto_speed import remember_response_methods
    from tui.services.cloud.aws import Aws

    remember_response_methods()
    listing = responses.method_names_from_class
    with mock_aws():
        ec2 = Aws(region="us-east-1").client("ec2", "us-east-1")
        hits = listing.cache_info().hits  # type: ignore[attr-defined]
        first = ec2.describe_instances()["Reservations"]
        second = ec2.describe_instances()["Reservations"]
        assert first == second == []
        assert listing.cache_info().hits > hits  # type: ignore[attr-defined]
    from moto.ec2.responses import EC2Response

    assert "describe_instances" in listing(EC2Response)  # what moto looks the action up in
