"""Fuzz: any mix of regions failing in any way gives a listing that names exactly those regions,
with a one-line reason each, or (all of them failing) one sentence raised; never a silent gap.

moto in-process holds the instances; each failure is injected before the call with botocore's
own exception (or the real API's error shape), the one thing moto can't do. Fixed seed.
"""

from __future__ import annotations

import random
from typing import Any

import botocore.exceptions as bex
import pytest
from botocore.awsrequest import AWSResponse

from tests.test_lifecycle import run
from tui.models import RegionFailure, unanswered_words
from tui.services.cloud import leftovers
from tui.services.cloud.aws import Aws
from tui.services.cloud.lifecycle import list_managed
from tui.services.cloud.unanswered import reason
from tui.services.errors import D2lError, from_client_error

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1", "sa-east-1"]
NASTY = ["[bold]red[/]", "[link=x]", "\x00nul", "\ufeffbom", "é\udcff", "x" * 5000, "", "line\nbreak"]


def _client_error(code: str, message: str) -> Any:
    def answer(**_: Any) -> Any:
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": "req-fuzz", "HTTPStatusCode": 400},
        }
        return AWSResponse("https://ec2.amazonaws.com/", 400, {}, None), parsed

    return answer


def _raise(exc: BaseException) -> Any:
    def answer(**_: Any) -> Any:
        raise exc

    return answer


def _boto_error(code: str, message: str) -> bex.ClientError:
    return bex.ClientError({"Error": {"Code": code, "Message": message}}, "DescribeInstances")


def faults(rng: random.Random) -> list[Any]:
    url = "https://ec2.eu-west-1.amazonaws.com/"
    return [
        _raise(bex.ConnectionClosedError(endpoint_url=url)),
        _raise(bex.ReadTimeoutError(endpoint_url=url)),
        _raise(bex.ConnectTimeoutError(endpoint_url=url)),
        _raise(bex.EndpointConnectionError(endpoint_url=url)),
        _raise(ConnectionResetError(104, "Connection reset by peer")),
        _raise(OSError(rng.choice(NASTY))),
        _raise(RuntimeError(rng.choice(NASTY))),
        _client_error("AuthFailure", rng.choice(NASTY)),
        _client_error("OptInRequired", rng.choice(NASTY)),
        _client_error("UnauthorizedOperation", rng.choice(NASTY)),
        _client_error("RequestLimitExceeded", rng.choice(NASTY)),
        _client_error(rng.choice(NASTY) or "Weird", rng.choice(NASTY)),
    ]


def hooked(event: str, broken: dict[str, Any]) -> Aws:
    """An Aws whose calls to ``event`` fail in the regions ``broken`` holds at the time."""

    def hook(context: dict[str, Any], **kwargs: Any) -> Any:
        fault = broken.get(context.get("client_region", ""))
        return fault(**kwargs) if fault is not None else None

    return Aws(region="us-east-1", customize=lambda s: s.events.register(event, hook))


def assert_named(failed: tuple[RegionFailure, ...], broken: dict[str, Any]) -> None:
    assert {f.region for f in failed} == set(broken)
    for failure in failed:
        # Something to say, even for an empty AWS message; one short printable line for a huge one.
        assert failure.reason and failure.reason.isprintable() and len(failure.reason) <= 120
    words = unanswered_words(failed)
    assert all(region in words for region in broken)
    assert ("did not answer" in words) == bool(broken)


CASES = 40


def test_any_mix_of_failing_regions_is_named(aws: Aws) -> None:
    rng = random.Random(13)
    where = {run(aws, region, f"{region}-box"): region for region in REGIONS}
    broken: dict[str, Any] = {}
    faulty = hooked("before-call.ec2.DescribeInstances", broken)  # one session: models parse once
    for _ in range(CASES):
        broken.clear()
        broken.update({r: rng.choice(faults(rng)) for r in rng.sample(REGIONS, rng.randint(0, len(REGIONS)))})
        if len(broken) == len(REGIONS):
            with pytest.raises(D2lError) as raised:
                list_managed(faulty, REGIONS)
            assert str(raised.value)
            continue
        listing = list_managed(faulty, REGIONS)
        assert listing.complete == (not broken)
        assert_named(listing.failed, broken)
        assert {where[i.instance_id] for i in listing.instances} == set(REGIONS) - set(broken)

        found = leftovers.find_leftovers(faulty, REGIONS)
        assert_named(found.failed, broken)


def test_a_reason_is_one_short_printable_line_whatever_aws_said() -> None:
    for text in NASTY:
        said = reason(from_client_error(_boto_error("Weird", text), "DescribeInstances"))
        assert said and said.isprintable() and len(said) <= 120, repr(said)


def test_unanswered_words_stay_one_readable_line_for_many_regions() -> None:
    failed = tuple(RegionFailure(f"r{n:02d}", "connection dropped") for n in range(40))
    words = unanswered_words(failed)
    assert words == "r00, r01, r02, r03, r04, r05 and 34 more did not answer (connection dropped)"
    mixed = unanswered_words((RegionFailure("b", "access denied"), RegionFailure("a", "no answer in time")))
    assert mixed == "a did not answer (no answer in time); b did not answer (access denied)"
