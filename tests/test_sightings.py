"""What the app says on quitting: each instance as last seen, the billed ones named with the command
that stops them; a listing forgets what it no longer lists, but only in the regions that answered."""

from __future__ import annotations

from datetime import datetime, timezone

from tui.models import TAG_AUTOSTOP, Instance, InstanceListing, RegionFailure
from tui.services.sightings import Sightings, farewell

AT = datetime(2026, 12, 3, 14, 2, tzinfo=timezone.utc)


def box(iid: str, region: str = "us-east-1", state: str = "running", **tags: str) -> Instance:
    return Instance(iid, f"box-{iid}", region, "g4dn.xlarge", state, tags=dict(tags))


def test_the_last_sighting_counts_and_only_running_or_pending_is_billed() -> None:
    seen = Sightings()
    seen.saw(box("a"), AT)
    seen.saw(box("b", state="pending"), AT)
    seen.saw(box("c"), AT)
    seen.saw(box("c", state="stopping"), AT)  # stopped in the cockpit afterwards
    seen.saw(box("d"), AT)
    seen.gone("d")  # terminated: the cockpit's poll no longer finds it
    assert [i.instance_id for i, _ in seen.billed()] == ["a", "b"]


def test_a_listing_forgets_only_in_regions_that_answered_and_were_asked() -> None:
    seen = Sightings()
    for iid, region in (("a", "us-east-1"), ("b", "eu-west-1"), ("c", "ap-south-1")):
        seen.saw(box(iid, region), AT)
    silent = (RegionFailure("eu-west-1", "connection dropped"),)
    seen.listed(InstanceListing([], silent), AT, asked=["us-east-1", "eu-west-1"])
    # a: its region answered without it (terminated elsewhere); b: its region was silent; c: not asked.
    assert [i.instance_id for i, _ in seen.billed()] == ["c", "b"]
    seen.listed(InstanceListing([box("e", "us-west-2")]), AT)  # every region answered
    assert [i.instance_id for i, _ in seen.billed()] == ["e"]


def test_the_farewell_names_each_billed_instance_and_the_command_to_stop_it() -> None:
    assert farewell([]) == []
    lines = farewell([(box("a", **{TAG_AUTOSTOP: "30m"}), AT), (box("b", **{TAG_AUTOSTOP: "off"}), AT)])
    assert lines[0] == "d2l-tui: still running when you left, and billed by the hour (as last seen):"
    local = AT.astimezone().strftime("%H:%M")
    assert lines[1] == f"  box-a  g4dn.xlarge in us-east-1, running at {local}, auto-stop 30m"
    assert lines[2] == f"  box-b  g4dn.xlarge in us-east-1, running at {local}, no auto-stop"
    assert lines[3] == "Stop one: d2l-tui stop box-a   See them all: d2l-tui ls"
