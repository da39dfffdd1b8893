"""What moto holds in `--demo`'s process, made smaller without changing one answer.

moto runs in the app's process there, and both parse botocore's JSON: the app's botocore session
for its clients, moto for its serializer (its own loader, with moto's extras merged in). EC2's service
description is ~28 MiB of parsed dicts, so the process held it twice. And moto loads every region's
instance-type offerings for three location types when its EC2 models are imported, another ~45 MiB
of JSON dicts, most of them for zones of regions the demo never launches in.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_LOCK = threading.Lock()


def share_service_descriptions() -> None:
    """Each service description (service-2.json) parsed once for every botocore loader in the
    process. Each loader gets its own top-level dict whose parts are shared, and extras (moto's
    added error shapes, botocore's own) are merged copy-on-write: a merge makes new dicts along its
    path and leaves the shared parts as parsed, so no loader sees another's extras."""
    import botocore.loaders as loaders

    if getattr(loaders.JSONFileLoader.load_file, "shared", False):
        return
    load_file = loaders.JSONFileLoader.load_file
    parsed: dict[str, Any] = {}

    def load(self: Any, file_path: str) -> Any:
        if not file_path.endswith("/service-2"):
            return load_file(self, file_path)
        with _LOCK:  # a second caller waits for the first parse instead of parsing it again
            if file_path not in parsed:
                parsed[file_path] = load_file(self, file_path)
            data = parsed[file_path]
        return type(data)(data) if isinstance(data, dict) else data

    def process(self: Any, model: dict[str, Any], extra_model: dict[str, Any]) -> None:
        for key, value in extra_model.get("merge", {}).items():
            model[key] = _merged(model.get(key), value)

    load.shared = True  # type: ignore[attr-defined]
    loaders.JSONFileLoader.load_file = load  # type: ignore[method-assign]
    loaders.ExtrasProcessor._process = process  # type: ignore[method-assign]


def _merged(base: Any, extra: Any) -> Any:
    """botocore's deep_merge of ``extra`` into ``base``, as a new dict: ``base`` is left as it was."""
    if not (isinstance(base, dict) and isinstance(extra, dict)):
        return extra
    out = type(base)(base)
    for key, value in extra.items():
        out[key] = _merged(base.get(key), value)
    return out


class _ZonesOnDemand(dict[str, Any]):
    """Region -> the instance types offered in each of its zones, read from moto's file the first
    time a region is asked (moto reads it with ``[region]`` and ``.get(region, [])``)."""

    def __init__(self, regions: list[str], read: Any) -> None:
        super().__init__(dict.fromkeys(regions))
        self._read = read

    def __getitem__(self, region: str) -> Any:
        value = super().__getitem__(region)
        if value is None:
            with _LOCK:
                value = super().__getitem__(region)
                if value is None:
                    value = self._read(region)
                    super().__setitem__(region, value)
        return value

    def get(self, region: str, default: Any = None) -> Any:
        return self[region] if region in self else default


def lighter_offerings() -> None:
    """Must run before moto's EC2 models are imported. By region: every region's file is read as
    moto does (the region step asks them all), its strings shared. By zone: each region's file is
    read when that region is first asked (a launch asks one). By zone id: the app never asks, so
    nothing is read."""
    import moto.utilities.utils as moto_utils

    if getattr(moto_utils.load_resource, "lighter", False):
        return
    load_resource = moto_utils.load_resource

    def interned(resource: str) -> list[dict[str, Any]]:
        return [
            {sys.intern(k): sys.intern(v) if isinstance(v, str) else v for k, v in o.items()}
            for o in load_resource(resource)
        ]

    def load(resource: str) -> Any:
        if "instance_type_offerings" not in resource:
            return load_resource(resource)
        if "/availability-zone" in resource:  # zones later (below); zone ids never
            return []
        return interned(resource)

    load.lighter = True  # type: ignore[attr-defined]
    moto_utils.load_resource = load
    from moto.ec2.models import instance_types

    zones = instance_types.INSTANCE_TYPE_OFFERINGS["availability-zone"]
    folder = f"ec2/{instance_types.offerings_path}/availability-zone"
    # {region}.json or {region}.json.gz, as moto's loop names them
    files = {p.name.split(".")[0]: p.name for p in (instance_types.root / folder[4:]).iterdir()}

    def read(region: str) -> list[dict[str, Any]]:
        offers = interned(f"{folder}/{files[region]}")
        for offer in offers:
            offer["LocationType"] = "availability-zone"  # as moto's own loop marks them
        return offers

    instance_types.INSTANCE_TYPE_OFFERINGS["availability-zone"] = _ZonesOnDemand(sorted(zones), read)
