"""The provisioning run: install a recipe on the instance, start the detached runner, follow its log.

The runner (tui/data/runner.sh) lives on the instance and keeps going when the SSH connection drops,
the app exits or the machine reboots; it writes every step's output and its record lines to one
append-only log. Each record carries the run's secret key (listed in the runs file, never given to
the steps), so a step's output can't forge how a step or the run ended. The app only ever *reads* that log from a byte offset, so a reconnect resumes
exactly where the last complete line ended: no line lost, none shown twice.

``Provisioner`` is one connection's worth of remote operations; ``follow_run`` is the loop the
screen and ``d2l-tui provision`` share: connect, start or reattach, stream, reconnect on drops,
resume after the reboot step, and return how the run ended.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from tui.models import Recipe, RecipeStep, StepEvent, StepState
from tui.services.errors import D2lError

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

# Where the runner and its files live on the instance: a shell word, expanded there.
DEFAULT_REMOTE_DIR = "$HOME/.d2l-tui/provision"
MARKER = "::d2l:: "
_MARKER_BYTES = MARKER.encode()
# Seconds between reconnect attempts after a drop (the ssh layer has its own backoff for boot).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
REBOOT_SETTLE_S = 5.0

LogItem = str | StepEvent
Mode = Literal["fresh", "reattach", "retry"]


@dataclass(frozen=True)
class RunKey:
    """One run of the runner: where its lines begin in the log, and the key its records carry."""

    start: int
    key: str


def parse_runs(text: str) -> tuple[RunKey, ...]:
    """The runs file ("OFFSET KEY" a line, oldest first); lines that aren't that shape are skipped."""
    runs = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isalnum():
            runs.append(RunKey(int(fields[0]), fields[1]))
    return tuple(runs)


@dataclass(frozen=True)
class RemoteState:
    installed: bool  # a recipe has been installed here
    running: bool  # a runner holds the lock now
    status: str  # running | done | failed NAME | rebooting BOOT_ID | "" (never ran)
    log_size: int
    run_offset: int  # where the latest run's lines begin in the log
    boot_id: str  # changes on every boot: tells "rebooted" from "still going down"
    runs: tuple[RunKey, ...] = ()  # every run's start in the log and record key (the runs file)
    # False when the instance holds a runner.sh other than this app's (an older d2l-tui's): its records
    # carry no run key, so a run it makes could never be seen to end.
    runner_current: bool = True


@dataclass(frozen=True)
class LinkState:
    """How the app's connection to the run is doing (the screen shows it; nothing is lost meanwhile)."""

    state: Literal["connecting", "connected", "reconnecting", "rebooting"]
    detail: str = ""


@dataclass(frozen=True)
class RunOutcome:
    ok: bool
    failed_step: str = ""
    rc: int | None = None
    not_started: bool = False  # reattach found no run on the instance

    @property
    def summary(self) -> str:
        if self.not_started:
            return "Nothing has been set up on this instance yet."
        if self.ok:
            return "Every step finished."
        return f"Step '{self.failed_step}' failed (exit code {self.rc})."


@dataclass(frozen=True)
class PlannedStep:
    """A step as the instance's plan lists it: enough for the checklist when the app reattaches."""

    name: str
    title: str
    hint: str = ""


@dataclass(frozen=True)
class RunPlan:
    steps: tuple[PlannedStep, ...]


Update = list[LogItem] | LinkState | RunPlan
Sink = Callable[[Update], None]


def recipe_for(
    instance_type: str, framework: str, *, simulated: bool = False, only: Path | None = None
) -> Recipe:
    """The book's steps for this GPU and framework, then the user's own (recipe.toml in the config
    dir); with `only`, just the steps of that file (`--recipe FILE`)."""
    from tui.services.remote.recipe import book_recipe, compose
    from tui.services.remote.user_recipe import load_recipe_file, user_recipe_path

    if only is not None:
        return compose(None, load_recipe_file(only), framework)
    book = book_recipe(framework, instance_type=instance_type, simulated=simulated)
    path = user_recipe_path()
    extra = load_recipe_file(path) if path.exists() else ()
    return compose(book, extra, framework)


# --- the files a recipe becomes on the instance ------------------------------------------------


def runner_script() -> str:
    return resources.files("tui.data").joinpath("runner.sh").read_text("utf-8")


def runner_digest() -> str:
    return hashlib.sha256(runner_script().encode()).hexdigest()


def state_key(step: RecipeStep) -> str:
    """The name of a finished step's state file: a changed script runs again, an unchanged one is kept."""
    digest = hashlib.sha256(f"{step.script}\0{step.check}".encode()).hexdigest()[:12]
    return f"{step.name}-{digest}"


def _cell(text: str) -> str:
    return " ".join(text.split())  # one line, no tabs: plan.tsv is read with `read`


def parse_plan(text: str) -> tuple[PlannedStep, ...]:
    steps = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and fields[0]:
            title = fields[5] if len(fields) > 5 and fields[5] else fields[0]
            steps.append(PlannedStep(fields[0], title, fields[6] if len(fields) > 6 else ""))
    return tuple(steps)


def remote_files(recipe: Recipe) -> dict[str, str]:
    """Relative path -> content of everything the runner needs for this recipe."""
    files = {"runner.sh": runner_script()}
    files["plan.tsv"] = "".join(
        f"{s.name}\t{state_key(s)}\t{s.timeout_s}\t{s.retries}\t{int(s.reboot)}\t{_cell(s.title)}\t{_cell(s.hint)}\n"
        for s in recipe.steps
    )
    files["env.sh"] = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in recipe.env)
    for step in recipe.steps:
        files[f"steps/{step.name}.sh"] = step.script
        if step.check:
            files[f"steps/{step.name}.check.sh"] = step.check
    return files


def install_script(remote_dir: str, files: dict[str, str]) -> str:
    """A bash script (sent on stdin) that replaces the plan and scripts but keeps log and state."""
    lines = [
        "set -eu",
        f'R="{remote_dir}"',
        'if [ -e "$R/lock" ] && ! flock -n "$R/lock" true; then echo busy; exit 75; fi',
        'mkdir -p "$R/state" && rm -rf "$R/steps" && mkdir -p "$R/steps"',
    ]
    for path, content in sorted(files.items()):
        encoded = base64.b64encode(content.encode()).decode()
        lines.append(f"printf '%s' '{encoded}' | base64 -d > \"$R/{path}\"")
    lines.append('chmod 700 "$R" "$R/runner.sh"')
    return "\n".join(lines) + "\n"


# --- reading the log -----------------------------------------------------------------------------

_EVENT_STATES = {
    "step-check": StepState.RUNNING,
    "step-start": StepState.RUNNING,
    "step-skip": StepState.SKIPPED,
    "step-retry": StepState.RUNNING,
}


def marker_key(line: str) -> str:
    """The key a record-shaped line carries ("" if none)."""
    parts = line[len(MARKER) :].split(maxsplit=1)
    return parts[0] if parts else ""


def parse_marker(line: str, key: str) -> StepEvent | None:
    """A record line of the run whose key is `key`, as a StepEvent; None for ordinary output, a
    malformed record, or one without that key (a step's output or a replayed old log)."""
    if not key or not line.startswith(MARKER):
        return None
    parts = line[len(MARKER) :].split()
    if len(parts) < 3 or not hmac.compare_digest(parts[0].encode(), key.encode()):
        return None
    parts = parts[1:]
    try:
        at = float(parts[0])
    except ValueError:
        return None
    event, args = parts[1], parts[2:]
    step = args[0] if args else ""
    if event in _EVENT_STATES and step:
        note = f"retry {args[1]}" if event == "step-retry" and len(args) > 1 else ""
        return StepEvent(step, _EVENT_STATES[event], at, note=note)
    if event == "step-already" and step:
        state = StepState.SKIPPED if args[1:] == ["skipped"] else StepState.DONE
        return StepEvent(step, state, at, note="already")
    if event == "step-end" and len(args) > 1 and args[1].lstrip("-").isdigit():
        rc = int(args[1])
        return StepEvent(step, StepState.DONE if rc == 0 else StepState.FAILED, at, rc=rc)
    if event == "reboot":
        return StepEvent(step, StepState.DONE, at, note="reboot")
    if event == "run-start":
        return StepEvent("", StepState.RUNNING, at)
    if event == "run-end" and step.lstrip("-").isdigit():
        rc = int(step)
        return StepEvent("", StepState.DONE if rc == 0 else StepState.FAILED, at, rc=rc)
    return None


class LogReader:
    """Turns the log's bytes into lines and events, counting the offset of complete lines only.

    A record counts only with the key of the run its line falls in (``runs``); any other
    record-shaped line is output. A run the reader doesn't know yet begins with its run-start
    record exactly at its start offset: there ``wants_runs`` is set and feeding pauses until
    ``learn`` brings the runs file again.
    """

    def __init__(self, offset: int = 0, runs: tuple[RunKey, ...] = ()) -> None:
        self.offset = offset
        self._partial = b""
        self.runs = runs
        self.wants_runs = False
        self._asked_at = -1  # the offset the runs file was last fetched for
        self.ended: StepEvent | None = None  # the run-end event, once seen
        self.rebooting = False
        self.failed_step = ""

    def learn(self, runs: tuple[RunKey, ...]) -> None:
        self.runs = runs
        self.wants_runs = False
        self._asked_at = self.offset

    def key_at(self, position: int) -> str:
        """The key of the run the log's byte `position` belongs to (the latest one listed starting there
        or before: a log that was removed and begun again starts its runs again from 0)."""
        key = ""
        for run in self.runs:
            if run.start <= position:
                key = run.key
        return key

    def feed(self, data: bytes) -> list[LogItem]:
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if not cut or self.wants_runs:
            self._partial = data
            return []
        complete = data[:cut]
        if _MARKER_BYTES not in complete:
            self.offset += cut
            # One decode and one split per chunk (a newline byte is never part of a multi-byte
            # sequence, so the lines are what decoding each would give); plain output needs no more.
            return cast("list[LogItem]", complete.decode("utf-8", "replace").split("\n")[:-1])
        items: list[LogItem] = []
        position = 0
        for raw in complete.split(b"\n")[:-1]:
            at = self.offset
            line = raw.decode("utf-8", "replace")
            if line.startswith(MARKER) and self._unknown_run_starts_at(at, line):
                self.wants_runs = True
                self._partial = data[position:]
                return items
            position += len(raw) + 1
            self.offset += len(raw) + 1
            if line.startswith(MARKER):
                event = parse_marker(line, self.key_at(at))
                if event is None:
                    items.append(line)
                    continue
                items.append(event)
                if event.step and event.state is StepState.FAILED:
                    self.failed_step = event.step
                elif event.note == "reboot":
                    self.rebooting = True
                elif not event.step and event.state is not StepState.RUNNING:
                    self.ended = event
            else:
                items.append(line)
        return items

    def _unknown_run_starts_at(self, at: int, line: str) -> bool:
        """A run-start record at an offset where no known run starts, not yet asked about: perhaps a
        run that began after the runs file was read (or a step's imitation of one)."""
        parts = line[len(MARKER) :].split()
        if parts[2:3] != ["run-start"] or at <= self._asked_at:
            return False
        return not any(run.start == at and run.key == parts[0] for run in self.runs)


# --- one connection's worth of remote operations -------------------------------------------------


class Provisioner:
    def __init__(self, conn: asyncssh.SSHClientConnection, remote_dir: str = DEFAULT_REMOTE_DIR) -> None:
        if any(c in remote_dir for c in '"`\\\n'):
            raise ValueError(f"unsafe remote dir: {remote_dir!r}")
        self.conn = conn
        self.remote_dir = remote_dir

    def _sh(self, body: str) -> str:
        return f'R="{self.remote_dir}"; {body}'

    async def state(self) -> RemoteState:
        script = self._sh(
            '[ -f "$R/env.sh" ] && . "$R/env.sh"; '
            'running=0; if [ -e "$R/lock" ] && ! flock -n "$R/lock" true; then running=1; fi; '
            'installed=0; [ -f "$R/plan.tsv" ] && installed=1; '
            'echo "installed=$installed"; echo "running=$running"; '
            'echo "status=$(cat "$R/status" 2>/dev/null)"; '
            'echo "size=$(stat -c %s "$R/log" 2>/dev/null || echo 0)"; '
            'echo "offset=$(cat "$R/run-offset" 2>/dev/null || echo 0)"; '
            'echo "boot=$(cat "${D2L_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}" 2>/dev/null)"; '
            'echo "runner=$(sha256sum < "$R/runner.sh" 2>/dev/null | cut -c1-64)"; '
            'sed "s/^/run=/" "$R/runs" 2>/dev/null'
        )
        result = await self.conn.run(script, check=False)
        lines = str(result.stdout or "").splitlines()
        fields = dict(line.split("=", 1) for line in lines if "=" in line)
        runs = parse_runs("\n".join(line[4:] for line in lines if line.startswith("run=")))
        return RemoteState(
            installed=fields.get("installed") == "1",
            running=fields.get("running") == "1",
            status=fields.get("status", "").strip(),
            log_size=int(fields.get("size") or 0),
            run_offset=int(fields.get("offset") or 0),
            boot_id=fields.get("boot", "").strip(),
            runs=runs,
            runner_current=fields.get("runner", "").strip() in ("", runner_digest()),
        )

    async def runs(self) -> tuple[RunKey, ...]:
        result = await self.conn.run(self._sh('cat "$R/runs" 2>/dev/null'), check=False)
        return parse_runs(str(result.stdout or ""))

    async def plan(self) -> tuple[PlannedStep, ...]:
        result = await self.conn.run(self._sh('cat "$R/plan.tsv" 2>/dev/null'), check=False)
        return parse_plan(str(result.stdout or ""))

    async def read_log(self) -> bytes:
        """The whole log, as it is now (for "save the log")."""
        result = await self.conn.run(self._sh('cat "$R/log" 2>/dev/null'), check=False, encoding=None)
        out = result.stdout or b""
        return out if isinstance(out, bytes) else out.encode()

    async def install(self, recipe: Recipe) -> None:
        result = await self.conn.run("bash -s", input=install_script(self.remote_dir, remote_files(recipe)))
        if result.exit_status == 75:
            raise D2lError("A setup run is already in progress on this instance.", "Follow it instead.")
        if result.exit_status != 0:
            log.warning("install failed: %s", result.stderr)
            raise D2lError(
                "Couldn't copy the setup steps to the instance.",
                f"It said: {str(result.stderr or '').strip()[:200]}",
            )

    async def replace_runner(self) -> None:
        """Put this app's runner.sh in place of an older one (plan, steps, log and state are kept)."""
        encoded = base64.b64encode(runner_script().encode()).decode()
        body = (
            'if [ -e "$R/lock" ] && ! flock -n "$R/lock" true; then exit 75; fi; '
            f"printf '%s' '{encoded}' | base64 -d > \"$R/runner.sh\" && chmod 700 \"$R/runner.sh\""
        )
        result = await self.conn.run(self._sh(body), check=False)
        if result.exit_status != 0:
            raise D2lError("Couldn't update the setup runner on the instance.", "Retry the setup.")

    async def start(self) -> None:
        """Start the runner detached from this connection (its own session, no terminal)."""
        await self.conn.run(
            self._sh('setsid nohup bash "$R/runner.sh" >>"$R/runner.err" 2>&1 </dev/null & sleep 0.3'),
            check=False,
        )

    async def stop(self) -> None:
        """Stop a running run (its whole process group); done steps stay done."""
        await self.conn.run(
            self._sh(
                'if [ -e "$R/lock" ] && ! flock -n "$R/lock" true; then '
                'kill -TERM -- "-$(cat "$R/runner.pid")"; fi; true'
            ),
            check=False,
        )

    async def stream(
        self, offset: int, runs: tuple[RunKey, ...] = ()
    ) -> AsyncIterator[tuple[list[LogItem], LogReader]]:
        """The log from `offset`, as it grows; ends after the run's end or the reboot marker.

        Ending any other way (the channel closed) means the connection dropped: the caller
        reconnects and calls again with the reader's offset.
        """
        reader = LogReader(offset, runs)
        process = await self.conn.create_process(
            self._sh(f'exec tail -c +{offset + 1} -F "$R/log" 2>/dev/null'), encoding=None
        )
        try:
            while True:
                chunk = await process.stdout.read(1 << 16)
                if not chunk:
                    return
                items = reader.feed(chunk)
                while reader.wants_runs:  # a run began since the runs file was read: read it again
                    reader.learn(await self.runs())
                    items += reader.feed(b"")
                if items:
                    yield items, reader
                if reader.ended is not None or reader.rebooting:
                    return
                # read() returns buffered data without suspending (up to the 2 MiB window, ~30k
                # lines): hand the loop back between chunks so the screen paints while they stream.
                await asyncio.sleep(0)
        finally:
            process.close()


# --- the loop the screen and the CLI share --------------------------------------------------------


async def follow_run(
    connect: Callable[[], Awaitable[asyncssh.SSHClientConnection]],
    sink: Sink,
    *,
    recipe: Recipe | None = None,
    mode: Mode = "reattach",
    remote_dir: str = DEFAULT_REMOTE_DIR,
    offset: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[RunOutcome, int]:
    """Run or follow the instance's setup until it ends; returns (outcome, log offset reached).

    mode "fresh" installs `recipe` and starts it unless a run is already going (then follows it);
    "retry" starts the installed recipe again (failed steps run, done ones are skipped);
    "reattach" only follows. Each mode resumes a run that a reboot or a crash interrupted.
    `connect` is called for every (re)connection, so it can look up the instance's current DNS name.
    D2lErrors from `connect` (host key, authentication, gave up waiting) end the loop: they need a person.
    """
    import asyncssh

    if mode == "fresh" and recipe is None:
        raise ValueError("a fresh run needs a recipe")
    started = False
    failures = 0
    reboot_from = ""
    while True:
        sink(LinkState("connecting" if failures == 0 else "reconnecting"))
        conn = await connect()
        try:
            prov = Provisioner(conn, remote_dir)
            st = await prov.state()
            if reboot_from and st.boot_id == reboot_from and not st.running:
                sink(LinkState("rebooting", "the instance is still going down for its reboot"))
                await sleep(REBOOT_SETTLE_S)
                continue
            if mode == "reattach" and not st.installed:
                return RunOutcome(ok=False, not_started=True), offset or 0
            if st.installed and not st.runner_current:
                # An older d2l-tui's runner writes records without a run key: following it would wait
                # for an end this version can't trust, forever. Replace it before a run, else say so.
                if st.running or mode == "reattach":
                    raise D2lError(
                        "The setup on this instance was started by an older d2l-tui, whose records this "
                        "version can't verify.",
                        "Run the setup again once it has stopped (finished steps are kept).",
                    )
                if mode == "retry":
                    await prov.replace_runner()
            resume = not st.running and (st.status == "running" or st.status.startswith("rebooting"))
            if not started and not st.running and mode in ("fresh", "retry"):
                if mode == "fresh" and recipe is not None:
                    await prov.install(recipe)
                offset = st.log_size
                await prov.start()
                started = True
            elif resume:
                detail = "after the reboot" if st.status.startswith("rebooting") else "where it stopped"
                sink(LinkState("connected", f"resuming the setup {detail}"))
                await prov.start()
            if offset is None:
                offset = st.run_offset
            sink(RunPlan(await prov.plan()))
            failures = 0
            reboot_from = ""
            sink(LinkState("connected"))
            reader: LogReader | None = None
            async for items, reader in prov.stream(offset, st.runs):
                sink(items)
                offset = reader.offset
            if reader is not None and reader.ended is not None:
                ok = reader.ended.state is StepState.DONE
                return RunOutcome(
                    ok=ok, failed_step="" if ok else reader.failed_step, rc=reader.ended.rc
                ), offset
            if reader is not None and reader.rebooting:
                reboot_from = st.boot_id
                sink(LinkState("rebooting", "the instance is rebooting; waiting for SSH to come back"))
                await sleep(REBOOT_SETTLE_S)
                continue
            raise ConnectionResetError("the log stream closed")
        except (OSError, asyncssh.Error) as exc:
            # A drop: the run goes on without us; come back and read on from `offset`.
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            log.info("provision link dropped (%s); reconnecting in %.0f s", exc, delay)
            sink(LinkState("reconnecting", f"connection lost ({exc}); reconnecting in {delay:.0f} s"))
            await sleep(delay)
        finally:
            conn.close()
