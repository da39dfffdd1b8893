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
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.models import Instance
from tui.services import local_files
from tui.services.cloud.costs import InstanceRow, cost_so_far

if TYPE_CHECKING:
    from tui.services.cloud.aws import Aws

log = logging.getLogger(__name__)

VERSION = 1
PREFIX = "instances-"
OnNotice = Callable[[str], None]


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


def scope_for(aws: Aws) -> str | None:
    """The account scope of ``aws``'s remembered list; None for the simulated cloud (new each start)."""
    return None if aws.simulated else scope_of(aws.profile, aws.endpoint_url)


def _path(cache_dir: Path, scope: str) -> Path:
    return cache_dir / f"{PREFIX}{scope}.json"


def _instance_data(instance: Instance) -> dict[str, Any]:
    data = asdict(instance)
    data["launch_time"] = instance.launch_time.isoformat() if instance.launch_time else None
    return data


class _Broken(ValueError):
    """The file parses but does not hold what remember() writes; the message says what is off."""


_TEXT_FIELDS = {f.name for f in fields(Instance) if f.type in ("str", str)}


def _aware(value: Any, what: str) -> datetime:
    """A timestamp with its timezone: a naive one can't be compared with the clock (a TypeError at
    every paint), and remember() never writes one."""
    if not isinstance(value, str):
        raise _Broken(f"{what} is not a timestamp")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise _Broken(f"{what} has no timezone")
    return moment


def _instance(data: Any) -> Instance:
    if not isinstance(data, dict):
        raise _Broken("an instance is not an object")
    data = dict(data)
    unknown = set(data) - {f.name for f in fields(Instance)}
    if unknown:
        raise _Broken(f"unknown instance field {sorted(unknown)[0]!r}")
    for name in _TEXT_FIELDS:
        if name in data and not isinstance(data[name], str):
            raise _Broken(f"the instance's {name} is not text")
    launched = data.get("launch_time")
    data["launch_time"] = _aware(launched, "a launch time") if launched is not None else None
    tags = data.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in [*tags, *tags.values()]):
        raise _Broken("the instance's tags are not text")
    data["tags"] = dict(tags)
    if not isinstance(data.get("spot", False), bool):
        raise _Broken("the instance's spot flag is not true or false")
    return Instance(**data)


def _number(value: Any, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        raise _Broken(f"{what} is not a number")
    return value


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


# Gone for the user: a remembered row in one of these states is dropped, not updated.
_GONE = frozenset({"shutting-down", "terminated"})


def note_change(cache_dir: Path, scope: str, instance: Instance, on_notice: OnNotice | None = None) -> None:
    """An action AWS accepted changes one remembered row (its state, its address), or drops it when
    the instance is going: the next start then paints what is true. The file keeps its saved time
    (the other rows are as old as it says); no file, no change."""
    remembered = recall(cache_dir, scope, on_notice=on_notice)
    if remembered is None:
        return
    rows = [
        r if r.instance.instance_id != instance.instance_id else replace(r, instance=instance)
        for r in remembered.rows
        if r.instance.instance_id != instance.instance_id or instance.state not in _GONE
    ]
    if rows != remembered.rows:
        remember(cache_dir, scope, rows, remembered.saved_at)


def recall(
    cache_dir: Path, scope: str, now: datetime | None = None, on_notice: OnNotice | None = None
) -> Remembered | None:
    """The last complete listing, its "so far" costs moved on to now; None when there is none. A
    file that can't be read (corrupt, or not what remember() writes) is set aside, ``on_notice``
    gets a sentence naming it, and the screen starts with no memory: AWS answers soon anyway."""
    path = _path(cache_dir, scope)
    try:
        return _parse(local_files.read_text(path), now)
    except FileNotFoundError:
        return None
    except local_files.UnreadableFile as exc:
        reason = exc.reason
    except RecursionError:  # json nests one Python frame per bracket
        reason = "nested too deeply"
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        reason = str(exc) if isinstance(exc, _Broken) else f"not what the app writes: {type(exc).__name__}"
    notice = local_files.set_aside(path, "The remembered instances list", reason)
    if on_notice is not None:
        on_notice(notice)
    return None


def _parse(text: str, now: datetime | None) -> Remembered | None:
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise _Broken("not a JSON object")
    if payload.get("version") != VERSION:
        return None  # another version's file: not broken, just not ours to read
    items = payload["rows"]
    if not isinstance(items, list):
        raise _Broken("its rows are not a list")
    rows = []
    for item in items:
        if not isinstance(item, dict):
            raise _Broken("a row is not an object")
        instance = _instance(item["instance"])
        per_hour = _number(item.get("usd_per_hour"), "a price", optional=True)
        gpu = item.get("gpu") or ""
        if not isinstance(gpu, str):
            raise _Broken("a GPU name is not text")
        rows.append(
            InstanceRow(
                instance=instance,
                gpu=gpu,
                usd_per_hour=per_hour,
                usd_so_far=cost_so_far(instance, per_hour, now),
                disk_gib=int(_number(item.get("disk_gib") or 0, "a disk size")),
                disk_usd_per_month=float(_number(item.get("disk_usd_per_month") or 0.0, "a disk price")),
            )
        )
    return Remembered(rows=rows, saved_at=_aware(payload["saved_at"], "the saved time"))


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
