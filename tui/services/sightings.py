"""What this session saw of each instance, and the reminder the app prints when the person leaves.

Quitting the app stops nothing on AWS: an instance left running is billed by the hour. The app
can't ask AWS on the way out (leaving never waits for the network, tui/leaving.py), so it says
what it last saw: each instance as the screens last reported it (the cockpit's polls, a launch, a
region's listing), the billed ones named with the command that stops them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from tui.logs import PROG
from tui.models import TAG_AUTOSTOP, Instance, InstanceListing

BILLED = frozenset({"pending", "running"})


class Sightings:
    """Told from the UI thread and from listing threads alike: one lock keeps the table whole."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[Instance, datetime]] = {}
        self._lock = threading.Lock()

    def saw(self, instance: Instance, at: datetime) -> None:
        with self._lock:
            self._latest[instance.instance_id] = (instance, at)

    def gone(self, instance_id: str) -> None:
        with self._lock:
            self._latest.pop(instance_id, None)

    def listed(self, listing: InstanceListing, at: datetime, asked: Iterable[str] | None = None) -> None:
        """A listing's answer (``asked``: its regions; None, every region): an instance it no longer
        lists in a region that answered is terminated or gone, so not running."""
        failed = set(listing.failed_regions)
        asked_set = set(asked) if asked is not None else None
        listed = {i.instance_id for i in listing.instances}
        with self._lock:
            for iid, (instance, _) in list(self._latest.items()):
                answered = instance.region not in failed and (
                    asked_set is None or instance.region in asked_set
                )
                if answered and iid not in listed:
                    del self._latest[iid]
            for instance in listing.instances:
                self._latest[instance.instance_id] = (instance, at)

    def billed(self) -> list[tuple[Instance, datetime]]:
        with self._lock:
            seen = [(i, at) for i, at in self._latest.values() if i.state in BILLED]
        return sorted(seen, key=lambda pair: (pair[0].region, pair[0].name, pair[0].instance_id))


def farewell(billed: list[tuple[Instance, datetime]]) -> list[str]:
    """The lines printed after the app's screen is gone; none when nothing was seen running."""
    if not billed:
        return []
    lines = [f"{PROG}: still running when you left, and billed by the hour (as last seen):"]
    for instance, at in billed:
        name = instance.name or instance.instance_id
        launched = instance.tags.get(TAG_AUTOSTOP)
        autostop = f"auto-stop {launched}" if launched and launched != "off" else "no auto-stop"
        lines.append(
            f"  {name}  {instance.instance_type} in {instance.region}, {instance.state} at "
            f"{at.astimezone():%H:%M}, {autostop}"
        )
    first = billed[0][0]
    lines.append(f"Stop one: {PROG} stop {first.name or first.instance_id}   See them all: {PROG} ls")
    return lines
