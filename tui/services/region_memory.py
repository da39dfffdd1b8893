"""Which regions held the app's instances last time, so the instances screen asks those first.

Listing every enabled region costs one DescribeRegions and ~20 concurrent DescribeInstances; the
regions a person actually uses are one or two. The instances screen paints those first, then
completes the sweep of every region (which also finds instances launched elsewhere, e.g. by the CLI
on another machine) and remembers the answer for next time. A plain file in the cache dir: losing
it only makes the next start do the full sweep first.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)
FILE = "instance-regions.json"


def known_regions(cache_dir: Path) -> list[str]:
    try:
        data = json.loads((cache_dir / FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    regions = data.get("regions") if isinstance(data, dict) else None
    return [r for r in regions if isinstance(r, str) and r] if isinstance(regions, list) else []


def remember_regions(cache_dir: Path, regions: Iterable[str], *, add: bool = False) -> None:
    """Store the regions (sorted, unique); with add, keep the ones already known too."""
    wanted = set(regions) | (set(known_regions(cache_dir)) if add else set())
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".regions-")
        with os.fdopen(fd, "w") as f:
            json.dump({"regions": sorted(wanted)}, f)
        os.replace(tmp, cache_dir / FILE)
    except OSError as exc:  # a cache: never worth failing for
        log.warning("could not remember instance regions: %s", exc)
