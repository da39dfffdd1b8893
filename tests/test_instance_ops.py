"""The instance operations flow (tui/flows/instance_ops) without any UI: the AWS call on moto, then
what follows it, checked in the files it keeps (the ssh config include, the remembered list) and in
a real tunnel registry. Both doors call exactly this."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import asyncssh
import pytest

from tests.test_lifecycle import run
from tests.test_lifecycle_actions import error, hooked, state
from tui.flows.instance_ops import InstanceOps
from tui.models import Instance
from tui.services import instance_memory
from tui.services.cloud import lifecycle
from tui.services.cloud.aws import Aws
from tui.services.cloud.costs import rows_without_costs
from tui.services.errors import D2lError
from tui.services.polling import wait_event
from tui.services.remote import sshconfig
from tui.services.remote.tunnel import Tunnel
from tui.services.remote.tunnel_registry import TunnelRegistry

SAVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def launched(aws: Aws, name: str) -> Instance:
    run(aws, "us-east-1", name)
    return lifecycle.find_instance(aws, name, "us-east-1")


def known_everywhere(aws: Aws, key_dir: Path, cache_dir: Path, *instances: Instance) -> None:
    """As after the instances screen's last listing: an alias each, and the list remembered."""
    sshconfig.sync(sshconfig.include_path(key_dir), instances, {})
    scope = instance_memory.scope_for(aws)
    assert scope is not None
    instance_memory.remember(cache_dir, scope, rows_without_costs(list(instances)), SAVED_AT)


def aliased(key_dir: Path) -> set[str]:
    return set(sshconfig.read_blocks(sshconfig.include_path(key_dir)))


def remembered(aws: Aws, cache_dir: Path) -> dict[str, str]:
    scope = instance_memory.scope_for(aws)
    assert scope is not None
    memory = instance_memory.recall(cache_dir, scope)
    assert memory is not None and memory.saved_at == SAVED_AT  # the other rows are as old as before
    return {r.instance.name: r.instance.state for r in memory.rows}


def test_stop_then_start_then_terminate_follow_up_once_each(aws: Aws, key_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    book, other = launched(aws, "book"), launched(aws, "other")
    known_everywhere(aws, key_dir, cache, book, other)
    assert aliased(key_dir) == {"d2l-book", "d2l-other"}
    ops = InstanceOps(aws, key_dir, TunnelRegistry(), cache_dir=cache)

    stopped = ops.stop(book)
    assert state(aws, book.instance_id) == "stopped"
    assert stopped.summary == "book is stopping." and stopped.instance.public_dns == ""
    assert aliased(key_dir) == {
        "d2l-other"
    }  # its address is released: `ssh d2l-book` must not reach a stranger
    assert remembered(aws, cache) == {"book": "stopping", "other": "running"}

    started = ops.start(lifecycle.find_instance(aws, "book", "us-east-1"))
    assert state(aws, book.instance_id) == "running" and started.instance.state in ("pending", "running")
    assert aliased(key_dir) == {"d2l-other"}  # its new address comes with the next listing
    assert remembered(aws, cache)["book"] == started.instance.state

    gone = ops.terminate(other)
    assert gone.summary == f"other is {gone.instance.state}." and gone.instance.state in (
        "shutting-down",
        "terminated",
    )
    assert state(aws, other.instance_id) == "terminated"
    assert aliased(key_dir) == set() and set(remembered(aws, cache)) == {"book"}


def test_a_refused_action_changes_nothing_here(aws: Aws, key_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    book = launched(aws, "book")
    known_everywhere(aws, key_dir, cache, book)
    denied = hooked(("before-call.ec2.StopInstances", error("UnauthorizedOperation", "not authorized", 403)))

    with pytest.raises(D2lError, match="missing ec2:StopInstances"):
        InstanceOps(denied, key_dir, cache_dir=cache).stop(book)
    assert state(aws, book.instance_id) == "running"
    assert aliased(key_dir) == {"d2l-book"} and remembered(aws, cache) == {"book": "running"}


def test_image_then_terminate_drops_what_pointed_at_it(aws: Aws, key_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    book = launched(aws, "book")
    known_everywhere(aws, key_dir, cache, book)
    said: list[str] = []

    outcome = InstanceOps(aws, key_dir, cache_dir=cache).create_image(
        book, "book-saved", terminate_after=True, progress=said.append, poll_interval=0.01
    )
    [image] = aws.client("ec2", "us-east-1").describe_images(ImageIds=[outcome.image_id])["Images"]
    assert image["Name"] == "book-saved" and image["State"] == "available"
    assert outcome.summary == (
        f"Image {outcome.image_id} (book-saved) is available under My AMIs. book is being terminated."
    )
    assert said[-1] == "book is being terminated." and state(aws, book.instance_id) == "terminated"
    assert aliased(key_dir) == set() and remembered(aws, cache) == {}


def test_image_alone_keeps_the_instance_and_names_it_by_default(aws: Aws, key_dir: Path) -> None:
    book = launched(aws, "book")
    sshconfig.sync(sshconfig.include_path(key_dir), [book], {})

    outcome = InstanceOps(aws, key_dir).create_image(book, poll_interval=0.01)
    [image] = aws.client("ec2", "us-east-1").describe_images(ImageIds=[outcome.image_id])["Images"]
    assert image["Name"] == lifecycle.default_image_name(book, now=datetime.now(timezone.utc))
    assert outcome.instance == book and state(aws, book.instance_id) == "running"
    assert aliased(key_dir) == {"d2l-book"}


def test_a_garbled_include_is_a_notice_not_the_outcome(aws: Aws, key_dir: Path) -> None:
    book = launched(aws, "book")
    include = sshconfig.include_path(key_dir)
    include.parent.mkdir(parents=True)
    include.write_bytes(b"Host d2l-book\n\xff\xfe\n")
    notices: list[str] = []

    outcome = InstanceOps(aws, key_dir, on_notice=notices.append).terminate(book)
    assert outcome.instance.state in ("shutting-down", "terminated")
    assert state(aws, book.instance_id) == "terminated"
    [notice] = notices
    assert f"{include} could not be read" in notice
    assert list(include.parent.glob("config.corrupt-*"))  # set aside, kept for a look


@pytest.fixture
async def silent_host() -> AsyncIterator[int]:
    """A loopback port that accepts and never speaks: an instance whose SSH is not up (yet)."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_stopping_closes_the_instances_tunnel_on_the_registrys_loop(
    aws: Aws, key_dir: Path, silent_host: int
) -> None:
    book, other = launched(aws, "book"), launched(aws, "other")
    registry = TunnelRegistry()
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[object]] = []

    def spawn(coro: object) -> object:
        tasks.append(loop.create_task(coro))  # type: ignore[arg-type]
        return tasks[-1].cancel

    async def connect(on_wait: object = None) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect("127.0.0.1", silent_host, known_hosts=None, config=[])

    for inst in (book, other):
        registry.start(Tunnel(connect, inst.instance_id, label=inst.name), spawn)  # type: ignore[arg-type]
    assert registry.is_active(book.instance_id) and registry.is_active(other.instance_id)
    on_loop_calls: list[object] = []

    def on_loop(call: object) -> None:  # as the app's call_from_thread: the call runs on the loop
        on_loop_calls.append(call)
        loop.call_soon_threadsafe(call)  # type: ignore[arg-type]

    ops = InstanceOps(aws, key_dir, registry, on_loop=on_loop)
    await asyncio.to_thread(ops.stop, book)  # the app runs it in a thread worker

    tunnel = registry.tunnel(book.instance_id)
    assert tunnel is not None and await wait_event(tunnel.finished, 5)
    assert len(on_loop_calls) == 1 and not registry.is_active(book.instance_id)
    assert registry.is_active(other.instance_id)  # only that instance's tunnel
    await asyncio.to_thread(ops.start, lifecycle.find_instance(aws, "book", "us-east-1"))
    assert len(on_loop_calls) == 1  # starting leaves tunnels alone
    await registry.close_all()
