"""The last list of the app's instances, so the instances screen paints at once on the next start.

Asking AWS takes a second or more (boto3 import, the EC2 model, one DescribeInstances per region);
the person opening the app mostly wants to see "what is running and costing me". The screen paints
the list remembered from last time at once, marked as remembered with its time and with the action
keys off, and replaces it row by row when AWS answers. The regions in it are the ones asked first.

One small JSON file per account scope (profile, endpoint, access key id: hashed, so the file name
says nothing about them), 0600 in the cache dir. Nothing in it is a secret, but it is the user's.
Losing or breaking the file only costs that instant first paint. The simulated cloud is new on
every start, so it remembers nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui.models import Instance
from tui.services.costs import InstanceRow, cost_so_far

log = logging.getLogger(__name__)

VERSION = 1
PREFIX = "instances-"


@dataclass(frozen=True)
class Remembered:
    rows: list[InstanceRow]
    saved_at: datetime

    @property
    def regions(self) -> list[str]:
        """Where the instances were: the regions to ask first."""
        return sorted({r.instance.region for r in self.rows})


def scope_of(profile: str | None, endpoint_url: str, access_key_id: str | None = None) -> str:
    """A file-name-safe key for "this account, as configured here"."""
    if access_key_id is None:
        access_key_id = os.environ.get("AWS_ACCESS_KEY_ID", "")
    text = "\0".join((profile or "", endpoint_url or "", access_key_id or ""))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(cache_dir: Path, scope: str) -> Path:
    return cache_dir / f"{PREFIX}{scope}.json"


def _instance_data(instance: Instance) -> dict[str, Any]:
    data = asdict(instance)
    data["launch_time"] = instance.launch_time.isoformat() if instance.launch_time else None
    return data


def _instance(data: dict[str, Any]) -> Instance:
    data = dict(data)
    launched = data.get("launch_time")
    data["launch_time"] = datetime.fromisoformat(launched) if launched else None
    data["tags"] = dict(data.get("tags") or {})
    return Instance(**data)


def remember(cache_dir: Path, scope: str, rows: list[InstanceRow], now: datetime | None = None) -> None:
    """Store a complete listing (every region answered); atomic, 0600."""
    saved_at = now or datetime.now(timezone.utc)
    payload = {
        "version": VERSION,
        "saved_at": saved_at.isoformat(),
        "rows": [
            {
                "instance": _instance_data(r.instance),
                "gpu": r.gpu,
                "usd_per_hour": r.usd_per_hour,
                "disk_gib": r.disk_gib,
                "disk_usd_per_month": r.disk_usd_per_month,
            }
            for r in rows
        ],
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".instances-")  # mkstemp: 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f)
            os.replace(tmp, _path(cache_dir, scope))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (OSError, TypeError, ValueError) as exc:  # a cache: never worth failing for
        log.warning("could not remember the instances: %s", exc)


def recall(cache_dir: Path, scope: str, now: datetime | None = None) -> Remembered | None:
    """The last complete listing, its "so far" costs moved on to now; None when there is none
    (or it can't be read: a broken file is treated as no memory)."""
    try:
        payload = json.loads(_path(cache_dir, scope).read_text("utf-8"))
        if payload.get("version") != VERSION:
            return None
        rows = []
        for item in payload["rows"]:
            instance = _instance(item["instance"])
            per_hour = item.get("usd_per_hour")
            rows.append(
                InstanceRow(
                    instance=instance,
                    gpu=str(item.get("gpu") or ""),
                    usd_per_hour=per_hour,
                    usd_so_far=cost_so_far(instance, per_hour, now),
                    disk_gib=int(item.get("disk_gib") or 0),
                    disk_usd_per_month=float(item.get("disk_usd_per_month") or 0.0),
                )
            )
        saved_at = datetime.fromisoformat(payload["saved_at"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("remembered instances not readable, ignored: %s", exc)
        return None
    return Remembered(rows=rows, saved_at=saved_at)


def age_words(saved_at: datetime, now: datetime) -> str:
    """'just now', '4 min ago', '3 h ago', '2 days ago'."""
    seconds = max(0.0, (now - saved_at).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
