"""The Jupyter tunnel over a real OpenSSH sshd on loopback (the instance).

The "instance" gets ~/d2l/bin/jupyter as the setup makes it: a link to this venv's real Jupyter
(Notebook 7) for the end-to-end test, or to the demo's stand-in (tui/demo/bin/jupyter, which starts
in a fraction of a second) where the test is about the tunnel rather than Jupyter. Every Jupyter
started here is stopped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.support.sshd import OpenSshServer
from tui.models import TunnelStatus
from tui.services.remote.jupyter_remote import JupyterMissing, JupyterRemote, stop_jupyter
from tui.services.remote.tunnel import Tunnel
from tui.services.secrets import SecretStore, token_name

STAND_IN = Path(__file__).resolve().parents[1] / "tui" / "demo" / "bin" / "jupyter"
REAL_JUPYTER = Path(sys.executable).parent / "jupyter"


class Instance:
    """Connections to the sshd as the tunnel makes them; can cut them like a network drop."""

    def __init__(self, server: OpenSshServer, key: Path) -> None:
        self.server = server
        self.key = key
        self.conns: list[asyncssh.SSHClientConnection] = []

    @property
    def home(self) -> Path:
        return self.server.home

    async def connect(self, on_wait: Any = None) -> asyncssh.SSHClientConnection:
        conn = await asyncssh.connect(
            "127.0.0.1",
            self.server.port,
            username=self.server.user,
            client_keys=[str(self.key)],
            known_hosts=([asyncssh.import_public_key(self.server.host_public_key)], [], []),
            config=[],
        )
        self.conns.append(conn)
        return conn

    def give_jupyter(self, program: Path) -> None:
        """~/d2l/bin/jupyter, as the setup's Jupyter step leaves it."""
        bin_dir = self.home / "d2l" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        link = bin_dir / "jupyter"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(program)
        (self.home / "d2l-en" / "pytorch").mkdir(parents=True, exist_ok=True)
        (self.home / "d2l-en" / "pytorch" / "chapter_introduction.ipynb").write_text("{}")

    def runtime_files(self) -> list[dict[str, Any]]:
        runtime = self.home / ".local" / "share" / "jupyter" / "runtime"
        return [json.loads(p.read_text()) for p in sorted(runtime.glob("jpserver-*.json"))]

    def kill_servers(self) -> None:
        for info in self.runtime_files():
            try:
                os.kill(int(info["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def instance(sshd: OpenSshServer, client_key: tuple[Path, str]) -> Iterator[Instance]:
    inst = Instance(sshd, client_key[0])
    yield inst
    for conn in inst.conns:
        conn.close()
    inst.kill_servers()


async def fast_sleep(_: float) -> None:
    await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET through the forward (127.0.0.1: the same listener the browser reaches as localhost)."""
    url = url.replace("//localhost:", "//127.0.0.1:")
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for init to reap it counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


class Running:
    """A Tunnel running as a task, with every status it reported."""

    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.seen: list[TunnelStatus] = []
        tunnel.on_status = self.seen.append
        self.task = asyncio.ensure_future(tunnel.run())

    async def until(self, state: str, after: int = 0, timeout: float = 60) -> TunnelStatus:
        async def wait() -> TunnelStatus:
            while True:
                for status in self.seen[after:]:
                    if status.state == state:
                        return status
                if self.task.done():
                    raise AssertionError(f"the tunnel ended: {self.tunnel.status.detail}")
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(wait(), timeout)

    async def stop(self) -> TunnelStatus:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        return self.tunnel.status


def tunnel_for(instance: Instance, **options: Any) -> Tunnel:
    options.setdefault("store", SecretStore())
    options.setdefault("local_port", free_port())
    return Tunnel(instance.connect, "i-0123456789abcdef0", label="d2l-test", sleep=fast_sleep, **options)


async def test_real_jupyter_end_to_end(instance: Instance) -> None:
    """Notebook 7 started through the app's own start command, its API reached through the forward
    with the token and refused without it; a second tunnel reuses it; stopping closes the port."""
    instance.give_jupyter(REAL_JUPYTER)
    run = Running(tunnel_for(instance))
    up = await run.until("up", timeout=90)
    assert up.url.startswith(f"http://localhost:{up.local_port}/?token=")
    assert not up.reused and up.root_dir == str(instance.home / "d2l-en" / "pytorch")
    token = up.url.split("token=", 1)[1]

    code, body = await asyncio.to_thread(get, f"http://localhost:{up.local_port}/api/status", token)
    assert code == 200 and "last_activity" in json.loads(body)
    code, _ = await asyncio.to_thread(get, f"http://localhost:{up.local_port}/api/status")
    assert code == 403
    code, _ = await asyncio.to_thread(get, f"http://localhost:{up.local_port}/api/status", "not-the-token")
    assert code == 403
    code, page = await asyncio.to_thread(get, up.url)  # what the browser opens (redirects to /tree)
    assert code == 200 and b"<html" in page.lower()

    # Bound to loopback on the instance, the token on no command line, the log private.
    (server,) = instance.runtime_files()
    assert server["url"].startswith("http://127.0.0.1:") and server["token"] == token
    cmdline = Path(f"/proc/{server['pid']}/cmdline").read_bytes()
    assert b"notebook" in cmdline and token.encode() not in cmdline
    assert (instance.home / ".d2l-tui" / "jupyter.log").stat().st_mode & 0o077 == 0

    again = Running(tunnel_for(instance))
    reused = await again.until("up")
    assert reused.reused and reused.url.split("token=")[1] == token
    assert reused.remote_port == up.remote_port
    await again.stop()

    down = await run.stop()
    assert down.state == "down" and "keeps running" in down.detail and not down.failed
    assert refused(up.local_port)

    conn = await instance.connect()
    assert await stop_jupyter(conn, port=up.remote_port) == 1
    assert await JupyterRemote(conn).servers() == []
    conn.close()
    assert gone(int(server["pid"]))


async def test_busy_port_takes_the_next_one(instance: Instance) -> None:
    instance.give_jupyter(STAND_IN)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        run = Running(tunnel_for(instance, local_port=taken))
        up = await run.until("up")
        assert up.local_port is not None and taken < up.local_port <= taken + 20
        token = up.url.split("token=")[1]
        code, _ = await asyncio.to_thread(get, f"http://localhost:{up.local_port}/api/status", token)
        assert code == 200
        await run.stop()


async def test_ssh_drop_reconnects_on_the_same_port(instance: Instance) -> None:
    instance.give_jupyter(STAND_IN)
    run = Running(tunnel_for(instance))
    up = await run.until("up")
    token = up.url.split("token=")[1]
    pid = instance.runtime_files()[0]["pid"]

    await asyncio.to_thread(instance.server.stop)  # every SSH session is cut, as when the network goes
    mark = len(run.seen)
    lost = await run.until("reconnecting", after=mark)
    assert lost.local_port == up.local_port and "stays reserved" in lost.detail
    # A request made while the link is down waits for it rather than failing.
    waiting = asyncio.ensure_future(
        asyncio.to_thread(get, f"http://localhost:{up.local_port}/api/status", token)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await asyncio.to_thread(instance.server.start)
    back = await run.until("up", after=mark)
    assert back.local_port == up.local_port and back.url == up.url
    assert (await waiting)[0] == 200
    assert instance.runtime_files()[0]["pid"] == pid  # the same Jupyter: it outlived the connection
    await run.stop()


async def test_a_jupyter_already_running_is_reused_with_its_own_token(instance: Instance) -> None:
    instance.give_jupyter(STAND_IN)
    port = free_port()
    conn = await instance.connect()
    # Started by hand (as the book does, over ssh), with a token the app never saw.
    await conn.run(
        f"JUPYTER_TOKEN=started-by-hand-0123456789 setsid nohup ~/d2l/bin/jupyter notebook --ip=127.0.0.1 "
        f"--port={port} --ServerApp.root_dir=$HOME/d2l-en/pytorch >/dev/null 2>&1 </dev/null & "
        "for i in $(seq 100); do ls ~/.local/share/jupyter/runtime/jpserver-*.json >/dev/null 2>&1 && break; "
        "sleep 0.05; done",
        check=True,
    )
    conn.close()
    store = SecretStore()
    run = Running(tunnel_for(instance, store=store))
    up = await run.until("up")
    assert up.reused and up.remote_port == port
    assert up.url.endswith("?token=started-by-hand-0123456789")
    assert len(instance.runtime_files()) == 1  # nothing else was started
    assert store.get(token_name("i-0123456789abcdef0")) == "started-by-hand-0123456789"
    await run.stop()


async def test_no_jupyter_on_the_instance_says_to_set_it_up(instance: Instance) -> None:
    run = Running(tunnel_for(instance))
    down = await run.until("down")
    assert isinstance(run.tunnel.error, JupyterMissing) and down.failed
    assert "Jupyter isn't installed on d2l-test yet" in down.detail and "provision" in down.detail
    assert down.local_port is None  # the port was given back


async def test_keyring_unavailable_keeps_the_token_in_memory_with_a_notice(instance: Instance) -> None:
    # tests/conftest.py sets PYTHON_KEYRING_BACKEND to keyring's null backend: no keyring.
    instance.give_jupyter(STAND_IN)
    store = SecretStore()
    run = Running(tunnel_for(instance, store=store))
    up = await run.until("up")
    assert "kept in memory only" in up.notice
    assert store.get(token_name("i-0123456789abcdef0")) == up.url.split("token=")[1]
    await run.stop()


async def test_the_keyring_keeps_the_token_for_the_next_start(
    instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a keyring (keyrings.alt's file backend here), Jupyter started again after a stop gets the
    same token: a URL the person bookmarked keeps working."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    instance.give_jupyter(STAND_IN)
    run = Running(tunnel_for(instance, store=SecretStore(backend=backend)))
    up = await run.until("up")
    token = up.url.split("token=")[1]
    assert up.notice == "" and backend.get_password("d2l-tui", token_name("i-0123456789abcdef0")) == token
    await run.stop()
    conn = await instance.connect()
    assert await stop_jupyter(conn) == 1
    conn.close()

    # A later session of the app: a new store on the same keyring, Jupyter not running.
    later = Running(tunnel_for(instance, store=SecretStore(backend=backend)))
    again = await later.until("up")
    assert not again.reused and again.url.split("token=")[1] == token
    await later.stop()


@pytest.fixture
def log_file(tmp_path: Path, restore_logging: None) -> Path | None:
    from tui.logs import setup_logging

    return setup_logging(tmp_path / "logs" / "d2l-tui.log", level=logging.DEBUG)


async def test_the_token_never_reaches_the_log_file(instance: Instance, log_file: Path) -> None:
    instance.give_jupyter(STAND_IN)
    run = Running(tunnel_for(instance))
    up = await run.until("up")
    token = up.url.split("token=")[1]
    server = run.tunnel.server
    assert server is not None
    # Whatever a careless line would print: the URL, the bare token, the server's runtime info.
    log = logging.getLogger("tui.test")
    log.info("tunnel up at %s", up.url)
    log.info("the token is %s", token)
    log.info("status %r server %r", up, server)
    log.debug("runtime %s", json.dumps(instance.runtime_files()[0]))
    await run.stop()
    text = log_file.read_text()
    assert "tunnel up at http://localhost:" in text and "the token is ***" in text
    assert token not in text


async def test_the_start_failing_is_a_sentence_with_the_log(instance: Instance) -> None:
    fake = instance.home / "broken-jupyter"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in --runtime-dir) echo "$HOME/rt";; '
        'notebook) echo "ERROR: No module named notebook (token=$JUPYTER_TOKEN)" >&2; exit 1;; esac\n'
    )
    fake.chmod(0o755)
    instance.give_jupyter(fake)
    run = Running(tunnel_for(instance))
    down = await run.until("down")
    assert "Jupyter stopped right after it started on d2l-test" in down.detail
    assert "No module named notebook" in down.detail and "token=***" in down.detail
    assert "~/.d2l-tui/jupyter.log" in down.detail


async def test_the_registry_tracks_and_stops_tunnels(instance: Instance) -> None:
    from tui.services.remote.tunnel_registry import TunnelRegistry, short_state

    instance.give_jupyter(STAND_IN)
    registry = TunnelRegistry(SecretStore())
    changes: list[TunnelStatus] = []
    unsubscribe = registry.subscribe(changes.append)
    tasks: list[asyncio.Future[Any]] = []

    def spawn(coro: Any) -> Any:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1].cancel

    tunnel = registry.start(tunnel_for(instance), spawn)
    assert registry.start(tunnel_for(instance), spawn) is tunnel  # one tunnel per instance
    while registry.status(tunnel.instance_id).state != "up":  # type: ignore[union-attr]
        await asyncio.sleep(0.02)
    status = registry.status(tunnel.instance_id)
    assert registry.is_active(tunnel.instance_id)
    assert short_state(status) == f"up :{status.local_port}"  # type: ignore[union-attr]
    await registry.close_all()
    assert registry.status(tunnel.instance_id).state == "down"  # type: ignore[union-attr]
    assert short_state(registry.status(tunnel.instance_id)) == "" and changes[-1].state == "down"
    unsubscribe()
    assert refused(status.local_port)  # type: ignore[arg-type, union-attr]


RACING = r"""#!/bin/sh
# The first `notebook` finds its port taken by another program just before it binds.
if [ "$1" = notebook ] && [ ! -e "$HOME/raced" ]; then
    touch "$HOME/raced"
    for a in "$@"; do case "$a" in --port=*) p="${a#--port=}";; esac; done
    python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[2], "w").close(); time.sleep(20)' "$p" "$HOME/blocked" &
    echo $! > "$HOME/blocker.pid"
    while [ ! -e "$HOME/blocked" ]; do sleep 0.05; done
fi
exec STAND_IN "$@"
"""


async def test_a_remote_port_taken_meanwhile_moves_jupyter_to_the_next(instance: Instance) -> None:
    racing = instance.home / "racing-jupyter"
    racing.write_text(RACING.replace("STAND_IN", str(STAND_IN)))
    racing.chmod(0o755)
    instance.give_jupyter(racing)
    run = Running(tunnel_for(instance))
    blocker = instance.home / "blocker.pid"
    try:
        up = await run.until("up")
        assert blocker.exists()  # the first try lost its port
        (server,) = instance.runtime_files()
        assert up.remote_port == server["port"] and up.state == "up"
    finally:
        await run.stop()
        if blocker.exists():
            os.kill(int(blocker.read_text()), signal.SIGKILL)


async def test_unreachable_after_a_drop_is_waited_out_but_not_at_the_start(instance: Instance) -> None:
    """After the tunnel was up, SSH or AWS being unreachable (the network is gone) is retried; the
    first connection failing that way ends the tunnel with the sentence (the link waited already)."""
    import botocore.exceptions as bex

    from tui.services.remote.ssh import SshUnreachable

    instance.give_jupyter(STAND_IN)
    failures: list[BaseException] = []

    async def connect(on_wait: Any) -> asyncssh.SSHClientConnection:
        if failures:
            raise failures.pop(0)
        return await instance.connect(on_wait)

    failures.append(SshUnreachable("Could not reach the instance over SSH (timed out).", reason="timed out"))
    first = Running(Tunnel(connect, "i-1", label="d2l-test", store=SecretStore(), local_port=free_port()))
    down = await first.until("down")
    assert down.failed and "Could not reach the instance" in down.detail

    run = Running(Tunnel(connect, "i-1", label="d2l-test", store=SecretStore(), local_port=free_port()))
    up = await run.until("up")
    failures.extend(
        [
            bex.EndpointConnectionError(endpoint_url="https://ec2.us-east-1.amazonaws.com"),
            SshUnreachable("Could not reach the instance over SSH (timed out).", reason="timed out"),
        ]
    )
    run.tunnel.sleep = fast_sleep
    mark = len(run.seen)
    instance.conns[-1].abort()  # the network drops
    back = await run.until("up", after=mark)
    reconnecting = [s for s in run.seen[mark:] if s.state == "reconnecting"]
    assert len(reconnecting) >= 3 and "Could not connect to the endpoint URL" in reconnecting[1].detail
    assert back.local_port == up.local_port and failures == []
    await run.stop()
