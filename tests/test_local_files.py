"""The files the app keeps, broken every way a disk, an editor or a sync tool breaks them: each reader
ends with a sentence naming the file (or the file's data), never a traceback, never a hang.

A fuzz pass over enumerated nasty inputs plus seeded random bytes, for known_hosts (refused: it holds
trust), the ssh config include and the remembered instances list (both set aside and rebuilt).
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tui.services import instance_memory, local_files
from tui.services.instance_memory import Remembered
from tui.services.remote import sshconfig
from tui.services.remote.hostkeys import KnownHosts, KnownHostsUnreadable

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
GOOD_INSTANCE = {
    "instance_id": "i-0abc",
    "name": "box",
    "region": "us-east-1",
    "instance_type": "g4dn.xlarge",
    "state": "running",
    "launch_time": "2026-05-01T10:00:00+00:00",
    "tags": {"Name": "box"},
}


def cache(instance: dict[str, Any] | None = None, **top: Any) -> bytes:
    row = {"instance": instance or GOOD_INSTANCE, "gpu": "T4", "usd_per_hour": 0.526, "disk_gib": 125}
    payload = {"version": 1, "saved_at": "2026-05-01T11:56:00+00:00", "rows": [row]} | top
    return json.dumps(payload).encode()


def with_field(**changes: Any) -> bytes:
    return cache(GOOD_INSTANCE | changes)


# Each case makes the file at the given path (some are not files at all).
Maker = Callable[[Path], None]


def write(data: bytes) -> Maker:
    return lambda path: path.write_bytes(data)


def fifo(path: Path) -> None:
    os.mkfifo(path)  # open() would block until a writer came


def directory(path: Path) -> None:
    path.mkdir()


def huge(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(local_files.MAX_BYTES + 1)  # sparse: no 8 MB written


def symlink_loop(path: Path) -> None:
    path.symlink_to(path)


def symlink_to_garbage(path: Path) -> None:
    target = path.with_name("elsewhere")
    target.write_bytes(b"\xff\xfe\x00garbage")
    path.symlink_to(target)


NASTY: dict[str, Maker] = {
    "empty": write(b""),
    "non-utf8": write(b"caf\xe9\n"),
    "utf16 bom": write("Host x\n".encode("utf-16")),
    "utf8 bom": write(b"\xef\xbb\xbfHost d2l-x\n"),
    "nul bytes": write(b"\x00" * 64),
    "truncated utf8": write(b"ok\n\xe5\x90"),
    "markup": write(b"[bold red]x[/] [link=file:///etc]y[/link] [@click=app.quit]z[/]\n"),
    "deep nesting": write(b"[" * 200_000 + b"]" * 200_000),
    "huge": huge,
    "fifo": fifo,
    "directory": directory,
    "symlink loop": symlink_loop,
    "symlink to garbage": symlink_to_garbage,
}
CACHE_ONLY: dict[str, Maker] = {
    "truncated json": write(cache()[:-9]),
    "a list": write(b"[1, 2]"),
    "naive launch time": write(with_field(launch_time="2026-05-01T10:00:00")),
    "naive saved_at": write(cache(saved_at="2026-05-01T11:56:00")),
    "name not text": write(with_field(name=12)),
    "tags not a dict": write(with_field(tags=["a"])),
    "tag value not text": write(with_field(tags={"a": {"b": 1}})),
    "spot not bool": write(with_field(spot="yes")),
    "unknown field": write(with_field(owner="x")),
    "missing id": write(cache({k: v for k, v in GOOD_INSTANCE.items() if k != "instance_id"})),
    "launch time a number": write(with_field(launch_time=1714557600)),
    "price a string": write(cache(rows=[{"instance": GOOD_INSTANCE, "usd_per_hour": "cheap"}])),
    "price NaN": write(cache().replace(b"0.526", b"NaN")),
    "price true": write(cache(rows=[{"instance": GOOD_INSTANCE, "usd_per_hour": True}])),
    "rows a dict": write(cache(rows={"a": 1})),
    "row a string": write(cache(rows=["x"])),
    "year 99999": write(with_field(launch_time="99999-01-01T00:00:00+00:00")),
}


def random_cases(count: int, seed: int = 13) -> dict[str, Maker]:
    """Seeded random bytes and random corruptions of a good file (flipped, cut, spliced)."""
    rng = random.Random(seed)
    good = cache()
    cases: dict[str, Maker] = {}
    for n in range(count):
        kind = n % 3
        if kind == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif kind == 1:
            data = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        else:
            cut = rng.randrange(len(good))
            data = good[:cut] + good[rng.randrange(len(good)) :]
        cases[f"random {n}"] = write(data)
    return cases


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """call(), failing the test (instead of hanging it) when it takes longer."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # handed to the test thread below
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    if "error" in result:
        raise result["error"]
    return result.get("value")


ALL = NASTY | CACHE_ONLY | random_cases(60)


@pytest.mark.parametrize("case", list(ALL))
def test_known_hosts_reads_or_refuses_with_a_sentence(case: str, tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    ALL[case](path)
    try:
        keys = within(5, lambda: KnownHosts(path).keys_for("i-0abc"))
    except KnownHostsUnreadable as exc:
        assert str(path) in exc.what and exc.what.endswith("then retry.")
        assert os.path.lexists(path)  # never set aside: it holds trust
        return
    assert isinstance(keys, list)


@pytest.mark.parametrize("case", list(ALL))
def test_ssh_config_include_reads_or_is_set_aside(case: str, tmp_path: Path) -> None:
    path = tmp_path / "config"
    ALL[case](path)
    notices: list[str] = []
    blocks = within(5, lambda: sshconfig.read_blocks(path, notices.append))
    assert isinstance(blocks, dict)
    if notices:
        [notice] = notices
        assert str(path) in notice and "could not be read" in notice
        assert not os.path.lexists(path)  # moved aside: the next sync writes a good one
        assert within(5, lambda: sshconfig.sync(path, [], {})) is True


@pytest.mark.parametrize("case", list(ALL))
def test_remembered_instances_load_whole_or_are_set_aside(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{instance_memory.PREFIX}scope.json"
    ALL[case](path)
    notices: list[str] = []
    memory = within(5, lambda: instance_memory.recall(tmp_path, "scope", NOW, on_notice=notices.append))
    if memory is None:  # every case here is broken (none is merely another version's file)
        [notice] = notices
        assert str(path) in notice and "could not be read" in notice and not os.path.lexists(path)
        return
    # Whatever loads is what the screen can paint: aware times, text where text goes.
    assert isinstance(memory, Remembered) and notices == []
    assert instance_memory.age_words(memory.saved_at, NOW)
    for row in memory.rows:
        assert all(
            isinstance(getattr(row.instance, f), str) for f in ("instance_id", "name", "region", "state")
        )
        assert row.instance.launch_time is None or row.instance.launch_time.tzinfo is not None


def test_a_markup_name_is_remembered_as_plain_text(tmp_path: Path) -> None:
    path = tmp_path / f"{instance_memory.PREFIX}scope.json"
    path.write_bytes(with_field(name="[bold red]box[/] [@click=app.quit]x[/]"))
    memory = instance_memory.recall(tmp_path, "scope", NOW)
    assert memory is not None and memory.rows[0].instance.name == "[bold red]box[/] [@click=app.quit]x[/]"


def test_set_aside_names_both_files_and_never_overwrites_an_earlier_one(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"\xff one")
    first = local_files.set_aside(path, "The ssh config include", "not UTF-8 at line 1")
    path.write_bytes(b"\xff two")
    second = local_files.set_aside(path, "The ssh config include", "not UTF-8 at line 1")
    aside = sorted(p.read_bytes() for p in tmp_path.glob("config.corrupt-*"))
    assert aside == [b"\xff one", b"\xff two"]
    assert str(path) in first and str(path) in second and first != second
