"""The Jupyter tunnel: Jupyter running on the instance, reachable at http://localhost:PORT/?token=….

On the instance (``JupyterRemote``, one SSH connection's worth of commands):
- a running server is found through its runtime file (``jpserver-PID.json`` in ``jupyter
  --runtime-dir``), which is what ``jupyter server list --json`` reads, without that command's
  seconds of imports; a file whose process is gone is ignored, as ``server list`` does;
- none running: Jupyter Notebook is started from the d2l environment (``~/d2l/bin/jupyter``), in the
  notebooks folder, bound to 127.0.0.1, detached (``setsid nohup``) so it outlives the connection and
  the app; the token is preset through ``JUPYTER_TOKEN``, which the start script reads from its stdin:
  it is never on a command line (``ps`` shows those to every user) and its log is written 0600;
- the token the app uses is the one the server's runtime file holds: read from the server itself.

On this computer (``LocalForward``): 127.0.0.1:8889 (the chapter's port; the next free one when it is
taken) is bound once and held for the tunnel's whole life. Each browser connection is relayed over the
SSH connection of the moment (a direct-tcpip channel, as ``ssh -L`` does), so when SSH drops and
comes back the port stays the same, and a request made meanwhile waits for the link instead of
failing.

``Tunnel.run`` is the loop: connect, find or start Jupyter, forward, and when the connection drops
(a keepalive timeout, a reset, the instance rebooting) reconnect with backoff and forward again,
starting Jupyter again with the same token if it is gone. It reports ``TunnelStatus`` (starting, up,
reconnecting, down) through a callback; cancelling it closes the port in ``finally``. Jupyter itself
keeps running on the instance until ``stop_jupyter``.

``TunnelRegistry`` holds the app's tunnels by instance id, so they keep running while the person
moves between screens, and tells listeners when one changes.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.logs import mask_secrets, remember_secret
from tui.models import JupyterServer, TunnelState, TunnelStatus
from tui.services.errors import D2lError
from tui.services.polling import wait_event
from tui.services.secrets import SecretStore, token_name

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

DEFAULT_LOCAL_PORT = 8889  # the chapter's `ssh -L 8889:localhost:8888`
DEFAULT_REMOTE_PORT = 8888
LOCAL_PORT_TRIES = 20
# Jupyter in the d2l environment made by the setup (RECIPE: ~/d2l, a uv venv). A word without a
# slash is looked up on the instance's PATH: --demo's stand-in (tui/demo/bin/jupyter).
DEFAULT_JUPYTER = "$HOME/d2l/bin/jupyter"
DEMO_JUPYTER = "jupyter"
REMOTE_LOG = "$HOME/.d2l-tui/jupyter.log"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15
# Seconds between reconnect attempts after a drop (InstanceLink.connect waits for SSH itself).
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
# How long a browser connection made while the link is down waits for it to come back.
LINK_WAIT_S = 30.0
_CHUNK = 64 * 1024

Connect = Callable[[Callable[[str], None]], Awaitable["asyncssh.SSHClientConnection"]]
OnStatus = Callable[[TunnelStatus], None]


class JupyterMissing(D2lError):
    """The instance has no Jupyter where the app looks (not set up yet)."""


class JupyterStartFailed(D2lError):
    """Jupyter was started but did not come up."""


class PortsBusy(D2lError):
    """Every local port the tunnel may use is taken."""


# --- on the instance --------------------------------------------------------------------------------

# Lists the live servers from the runtime files: argv = runtime dir, port filter ("" any), "json"|"pid".
# No single quote in it: it travels inside one in the shell scripts.
_LIST_PY = """
import glob, json, os, sys
rt, port, mode = sys.argv[1], sys.argv[2], sys.argv[3]
for path in sorted(glob.glob(os.path.join(rt, "jpserver-*.json"))):
    try:
        with open(path) as f:
            info = json.load(f)
        pid = int(info["pid"])
        os.kill(pid, 0)
    except PermissionError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        continue
    if port and str(info.get("port")) != port:
        continue
    print(json.dumps(info) if mode == "json" else pid)
"""
# The first port from argv[1] on that nothing on the instance's loopback listens.
_FREE_PORT_PY = """
import socket, sys
first = int(sys.argv[1])
for port in range(first, first + 20):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
"""


def _prelude(jupyter: str) -> str:
    """Shell lines that set J (the jupyter program), py (a Python) and list() (live servers)."""
    return "\n".join(
        [
            "set -u",
            f'J="{jupyter}"',
            'case "$J" in */*) ;; *) J="$(command -v "$J" 2>/dev/null || true)";; esac',
            'if [ -z "$J" ] || [ ! -x "$J" ]; then echo "::no-jupyter::"; exit 3; fi',
            'py="$(dirname "$J")/python"; [ -x "$py" ] || py=python3',
            'rt="$("$J" --runtime-dir 2>/dev/null)"; [ -n "$rt" ] || rt="$HOME/.local/share/jupyter/runtime"',
            f'list() {{ "$py" -c \'{_LIST_PY}\' "$rt" "${{1:-}}" "${{2:-json}}"; }}',
            "",
        ]
    )


def list_script(jupyter: str) -> str:
    return _prelude(jupyter) + "list\n"


def start_script(jupyter: str, framework: str, *, port: int, timeout_s: float) -> str:
    """Start Jupyter detached and wait until its runtime file shows it; the token is stdin's first line.

    The port is the first free one from ``port``; when another program takes it between the check and
    Jupyter's bind (the server dies and the port is busy now), the next one is tried."""
    polls = max(1, int(timeout_s / 0.25))
    return _prelude(jupyter) + "\n".join(
        [
            'IFS= read -r JUPYTER_TOKEN || { echo "::no-token::"; exit 2; }',
            "export JUPYTER_TOKEN",
            f'root="$HOME/d2l-en/{framework}"; [ -d "$root" ] || root="$HOME"',
            f'free() {{ "$py" -c \'{_FREE_PORT_PY}\' "$1"; }}',
            "umask 077",  # the log (and the runtime files) readable by this user only
            'mkdir -p "$HOME/.d2l-tui"',
            f'log="{REMOTE_LOG}"',
            # Jupyter refuses to run as root unless told: a root login on a cloud box is the user's choice.
            'extra=""; [ "$(id -u)" = 0 ] && extra="--allow-root"',
            'cd "$root"',
            f"next={port}",
            "for attempt in 1 2 3 4 5; do",
            '  port="$(free "$next")"',
            '  if [ -z "$port" ]; then echo "::no-port::"; exit 4; fi',
            '  setsid nohup "$J" notebook --no-browser --ip=127.0.0.1 --port="$port" '
            '--ServerApp.port_retries=0 --ServerApp.root_dir="$root" $extra >"$log" 2>&1 </dev/null &',
            "  pid=$!",
            "  i=0",
            f"  while [ $i -lt {polls} ]; do",
            '    out="$(list "$port")"',
            '    if [ -n "$out" ]; then echo "::server:: $out"; exit 0; fi',
            '    kill -0 "$pid" 2>/dev/null || break',
            "    sleep 0.25; i=$((i+1))",
            "  done",
            f'  if [ $i -ge {polls} ]; then echo "::timeout::"; tail -n 15 "$log"; exit 6; fi',
            '  if [ "$(free "$port")" = "$port" ]; then break; fi',  # died, and not for the port
            "  next=$((port + 1))",
            "done",
            'echo "::died::"; tail -n 15 "$log"; exit 5',
            "",
        ]
    )


def stop_script(jupyter: str, port: int | None, *, timeout_s: int = STOP_TIMEOUT_S) -> str:
    """SIGTERM the server(s) (Jupyter shuts its kernels down and removes its runtime file), then
    SIGKILL whatever is left after the timeout."""
    which = str(port) if port else ""
    return _prelude(jupyter) + "\n".join(
        [
            f'pids="$(list "{which}" pid)"',
            # Exited but not yet reaped (a zombie, until init collects it) counts as gone.
            'alive() { kill -0 "$1" 2>/dev/null && [ "$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }',
            'for p in $pids; do kill -TERM "$p" 2>/dev/null; done',
            "i=0",
            f"while [ $i -lt {timeout_s * 4} ]; do",
            "  left=''",
            '  for p in $pids; do alive "$p" && left="$left $p"; done',
            '  [ -z "$left" ] && break',
            "  sleep 0.25; i=$((i+1))",
            "done",
            'for p in $pids; do kill -KILL "$p" 2>/dev/null; done',
            'echo "::stopped:: $(echo $pids | wc -w)"',
            "",
        ]
    )


def _check_word(value: str, what: str) -> str:
    if not value or any(c in value for c in "\"'`\\\n;&|<> ") or "$(" in value:
        raise ValueError(f"unsafe {what}: {value!r}")
    return value


def parse_server(info: dict[str, Any]) -> JupyterServer:
    return JupyterServer(
        port=int(info["port"]),
        pid=int(info.get("pid") or 0),
        root_dir=str(info.get("root_dir") or info.get("notebook_dir") or ""),
        url=str(info.get("url") or ""),
        token=str(info.get("token") or ""),
    )


def _servers(text: str) -> list[JupyterServer]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            server = parse_server(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        if server.token:
            remember_secret(server.token)
        found.append(server)
    return found


def pick(servers: list[JupyterServer], framework: str = "pytorch") -> JupyterServer | None:
    """The server to use: the one serving the book's notebooks, else any."""
    for hint in (f"/d2l-en/{framework}", "/d2l-en"):
        for server in servers:
            if hint in server.root_dir:
                return server
    return servers[0] if servers else None


class JupyterRemote:
    """One SSH connection's worth of Jupyter commands on the instance."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        *,
        label: str = "the instance",
        jupyter: str = DEFAULT_JUPYTER,
        framework: str = "pytorch",
    ) -> None:
        if any(c in jupyter for c in '"`\\\n') or "$(" in jupyter:
            raise ValueError(f"unsafe jupyter path: {jupyter!r}")
        self.conn = conn
        self.label = label
        self.jupyter = jupyter
        self.framework = _check_word(framework, "framework")

    def _missing(self) -> JupyterMissing:
        where = "~/d2l/bin/jupyter" if self.jupyter == DEFAULT_JUPYTER else self.jupyter
        return JupyterMissing(
            f"Jupyter isn't installed on {self.label} yet ({where} is missing).",
            "Set the instance up for the book first: l on the instances screen, or "
            f"`d2l-tui provision {self.label}`.",
        )

    async def servers(self) -> list[JupyterServer]:
        result = await self.conn.run("bash -c " + _quote(list_script(self.jupyter)), check=False)
        out = str(result.stdout or "")
        if "::no-jupyter::" in out:
            raise self._missing()
        return _servers(out)

    async def start(
        self, token: str, *, port: int = DEFAULT_REMOTE_PORT, timeout_s: float = START_TIMEOUT_S
    ) -> JupyterServer:
        script = start_script(self.jupyter, self.framework, port=port, timeout_s=timeout_s)
        result = await self.conn.run(
            "bash -c " + _quote(script), input=token + "\n", check=False, timeout=timeout_s + 30
        )
        out = str(result.stdout or "")
        if "::no-jupyter::" in out:
            raise self._missing()
        if "::server::" in out:
            found = _servers(out.split("::server::", 1)[1])
            if found:
                return found[0]
        if "::no-port::" in out:
            raise JupyterStartFailed(
                f"Every port from {port} to {port + 19} is taken on {self.label}.",
                "Stop what listens there (or reboot the instance), then start the tunnel again.",
            )
        tail = mask_secrets(out.split("::", 2)[-1].strip() if "::" in out else out.strip())
        tail = "\n".join(tail.splitlines()[-6:])
        log.warning("jupyter did not start on %s: %s", self.label, tail)
        why = "did not come up in time" if "::timeout::" in out else "stopped right after it started"
        raise JupyterStartFailed(
            f"Jupyter {why} on {self.label}." + (f" It said:\n{tail}" if tail else ""),
            f"Its log is {REMOTE_LOG.replace('$HOME', '~')} on the instance; fix the cause, then press t again.",
        )

    async def stop(self, port: int | None = None) -> int:
        """Stop the server on ``port`` (every server when None); returns how many were running."""
        result = await self.conn.run("bash -c " + _quote(stop_script(self.jupyter, port)), check=False)
        out = str(result.stdout or "")
        if "::no-jupyter::" in out:
            return 0
        for line in out.splitlines():
            if line.startswith("::stopped::"):
                return int(line.split()[-1] or 0)
        return 0


def _quote(script: str) -> str:
    import shlex

    return shlex.quote(script)


# --- on this computer ---------------------------------------------------------------------------------


class LocalForward:
    """127.0.0.1:PORT (and [::1]:PORT where there is IPv6), held until close(); each connection is
    relayed to the remote port over whichever SSH connection is attached at the time."""

    def __init__(self, preferred: int = DEFAULT_LOCAL_PORT, *, tries: int = LOCAL_PORT_TRIES) -> None:
        self.preferred = preferred
        self.tries = tries
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._target: tuple[asyncssh.SSHClientConnection, int] | None = None
        self._ready = asyncio.Event()
        self._relays: set[asyncio.Task[Any]] = set()
        self.link_wait_s = LINK_WAIT_S

    async def open(self) -> int:
        for port in range(self.preferred, self.preferred + self.tries):
            try:
                self._server = await self._bind(port)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            self.port = port
            return port
        last = self.preferred + self.tries - 1
        raise PortsBusy(
            f"Ports {self.preferred} to {last} on this computer are all taken.",
            "Close a tunnel or program using one of them (an `ssh -L` left running?), then press t again.",
        )

    async def _bind(self, port: int) -> asyncio.AbstractServer:
        try:
            return await asyncio.start_server(self._handle, host=["127.0.0.1", "::1"], port=port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise
        # No IPv6 loopback here: IPv4 only (browsers fall back to it for "localhost").
        return await asyncio.start_server(self._handle, host="127.0.0.1", port=port)

    def attach(self, conn: asyncssh.SSHClientConnection, remote_port: int) -> None:
        self._target = (conn, remote_port)
        self._ready.set()

    def detach(self) -> None:
        self._target = None
        self._ready.clear()

    async def close(self) -> None:
        self.detach()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._relays):
            task.cancel()
        if self._relays:
            log.debug("closing %d relayed connections", len(self._relays))
            await asyncio.wait(list(self._relays), timeout=5)
        if server is not None:
            try:
                await asyncio.wait_for(server.wait_closed(), 5)
            except asyncio.TimeoutError:
                log.info("local forward: some connections were still closing")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The relay runs in a task of its own that close() may cancel: asyncio (3.11) reports a
        # connection callback task that ends cancelled as an error, so this one always returns.
        relay = asyncio.ensure_future(self._serve(reader, writer))
        self._relays.add(relay)
        try:
            await relay
        except asyncio.CancelledError:
            pass
        finally:
            self._relays.discard(relay)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncssh

        if not await wait_event(self._ready, self.link_wait_s):
            return
        target = self._target
        if target is None:
            return
        conn, remote_port = target
        try:
            remote_reader, remote_writer = await conn.open_connection("127.0.0.1", remote_port)
        except (OSError, asyncssh.Error) as exc:
            log.info("tunnel: the instance refused a connection to port %s (%s)", remote_port, exc)
            return
        try:
            await _relay(reader, writer, remote_reader, remote_writer)
        except (OSError, asyncssh.Error) as exc:  # one browser connection never takes the tunnel down
            log.info("tunnel: a relayed connection failed: %s", exc)


async def _relay(
    local_reader: asyncio.StreamReader,
    local_writer: asyncio.StreamWriter,
    remote_reader: Any,
    remote_writer: Any,
) -> None:
    """Both directions until the server side ends (the browser may half-close first)."""
    up = asyncio.ensure_future(_pipe(local_reader, remote_writer))
    down = asyncio.ensure_future(_pipe(remote_reader, local_writer))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and up.result() and not down.done():
            await down
    finally:
        for task in (up, down):
            task.cancel()
        remote_writer.close()


async def _pipe(source: Any, sink: Any) -> bool:
    """Copy until EOF (then pass the EOF on): True; False when either side failed."""
    import asyncssh

    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
        return True
    except (OSError, asyncssh.Error, EOFError):
        return False


# --- the loop -------------------------------------------------------------------------------------------


class Tunnel:
    """One instance's tunnel; ``run()`` until cancelled (or until something needs a person)."""

    def __init__(
        self,
        connect: Connect,
        instance_id: str,
        *,
        label: str = "",
        store: SecretStore | None = None,
        local_port: int = DEFAULT_LOCAL_PORT,
        jupyter: str = DEFAULT_JUPYTER,
        framework: str = "pytorch",
        on_status: OnStatus | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.connect = connect
        self.instance_id = instance_id
        self.label = label or instance_id
        self.store = store if store is not None else SecretStore()
        self.forward = LocalForward(local_port)
        self.jupyter = jupyter
        self.framework = framework
        self.on_status = on_status
        self.sleep = sleep
        self.start_timeout_s = start_timeout_s
        self.status = TunnelStatus(instance_id, "starting", detail=f"Connecting to {self.label}…")
        self.server: JupyterServer | None = None
        self.error: BaseException | None = None  # why it went down, when something needs a person
        self.finished = asyncio.Event()
        self._token = ""  # the server's token, once known
        self._stored = ""  # what the keyring (or memory) holds for this instance

    def _set(self, state: TunnelState, detail: str = "", **changes: Any) -> None:
        self.status = replace(self.status, state=state, detail=detail, **changes)
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:  # a listener's bug must not stop the tunnel
                log.exception("tunnel status listener failed")

    def url(self) -> str:
        if self.forward.port is None or self.server is None:
            return ""
        base = "/"
        if self.server.url.count("/") >= 3:
            base = "/" + self.server.url.split("/", 3)[3]
        query = f"?token={self._token}" if self._token else ""
        return f"http://localhost:{self.forward.port}{base}{query}"

    async def run(self) -> TunnelStatus:
        """Forward until cancelled; returns the final (down) status. Errors that need a person (host
        key, login, no Jupyter, every port taken) end it with the sentence in ``status.detail``."""
        import asyncssh

        failures = 0
        was_up = False
        try:
            port = await self.forward.open()
            self._set("starting", f"Connecting to {self.label}…", local_port=port, failed=False)
            while True:
                waiting = self.status.state

                def on_wait(line: str, state: TunnelState = waiting) -> None:
                    self._set(state, line)

                try:
                    conn = await self.connect(on_wait)
                except Exception as exc:
                    # Once it has been up, a network outage (SSH or AWS unreachable) is waited out;
                    # what needs a person (host key, login, a stopped instance) ends the tunnel.
                    retry = isinstance(exc, (OSError, asyncssh.Error)) and not isinstance(exc, D2lError)
                    if not (retry or (was_up and _transient(exc))):
                        raise
                    failures = await self._backoff(failures, exc)
                    continue
                try:
                    await self._forward_over(conn)
                    failures = 0
                    was_up = True
                    await conn.wait_closed()
                    raise ConnectionResetError("the SSH connection closed")
                except (OSError, asyncssh.Error) as exc:
                    self.forward.detach()
                    failures = await self._backoff(failures, exc)
                finally:
                    self.forward.detach()
                    conn.close()
        except D2lError as exc:
            self.error = exc
            log.warning("tunnel to %s stopped: %s", self.label, exc)
            self.status = replace(self.status, detail=str(exc), failed=True)
        except asyncio.CancelledError:
            self.status = replace(self.status, detail=self._stopped_text())
            raise
        except Exception as exc:
            self.error = exc
            log.error("tunnel to %s failed", self.label, exc_info=exc)
            self.status = replace(
                self.status,
                detail="The tunnel failed unexpectedly; details are in the log file.",
                failed=True,
            )
        finally:
            await self.forward.close()
            self._set("down", self.status.detail or self._stopped_text(), url="", local_port=None)
            self.finished.set()
        return self.status

    def _stopped_text(self) -> str:
        return f"Tunnel stopped. Jupyter keeps running on {self.label} (J stops it)."

    async def _backoff(self, failures: int, exc: BaseException) -> int:
        delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
        log.info("tunnel to %s dropped (%s); reconnecting in %.0f s", self.label, exc, delay)
        keeps = f" localhost:{self.forward.port} stays reserved." if self.forward.port else ""
        self._set("reconnecting", f"Connection lost ({exc}); reconnecting in {delay:.0f} s.{keeps}")
        await self.sleep(delay)
        return failures + 1

    async def _forward_over(self, conn: asyncssh.SSHClientConnection) -> None:
        remote = JupyterRemote(conn, label=self.label, jupyter=self.jupyter, framework=self.framework)
        state = self.status.state
        server = pick(await remote.servers(), self.framework)
        reused = server is not None
        if server is None:
            token = self._token or await self._stored_token() or secrets.token_hex(24)
            remember_secret(token)
            self._set(state, f"Starting Jupyter on {self.label} (this takes a few seconds)…")
            server = await remote.start(token, timeout_s=self.start_timeout_s)
        self.server = server
        self._token = server.token
        notice = await self._keep_token(server.token)
        self.forward.attach(conn, server.port)
        how = "already running there" if reused else "started by d2l-tui"
        self._set(
            "up",
            f"Forwarding localhost:{self.forward.port} to Jupyter on {self.label} "
            f"(port {server.port}, {how}).",
            url=self.url(),
            remote_port=server.port,
            root_dir=server.root_dir,
            reused=reused,
            notice=notice,
        )

    async def _stored_token(self) -> str:
        value = await asyncio.to_thread(self.store.get, token_name(self.instance_id))
        self._stored = value or ""
        return self._stored

    async def _keep_token(self, token: str) -> str:
        if token and token != self._stored:
            await asyncio.to_thread(self.store.set, token_name(self.instance_id), token)
            self._stored = token
        return self.store.notice


def _transient(exc: BaseException) -> bool:
    """An error that a working network would not have raised: retry it."""
    import asyncssh

    from tui.services.ssh import SshUnreachable

    if isinstance(exc, SshUnreachable):
        return True
    if isinstance(exc, D2lError):
        return False
    if isinstance(exc, (OSError, asyncssh.Error)):
        return True
    try:
        import botocore.exceptions as bex
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    return isinstance(exc, (bex.ConnectionError, bex.HTTPClientError))


async def stop_jupyter(
    conn: asyncssh.SSHClientConnection,
    *,
    label: str = "the instance",
    jupyter: str = DEFAULT_JUPYTER,
    port: int | None = None,
) -> int:
    """Stop Jupyter on the instance (the server on ``port``, or every one); how many were running."""
    return await JupyterRemote(conn, label=label, jupyter=jupyter).stop(port)


# --- the app's tunnels ------------------------------------------------------------------------------------

Listener = Callable[[TunnelStatus], None]


class TunnelRegistry:
    """The app's tunnels by instance id: they run as app-level workers and outlive any screen.

    ``status(id)`` is what to show for an instance (None: never had a tunnel in this session; a
    "down" status says why it ended). ``subscribe(callback)`` calls back on the app's loop with each
    new TunnelStatus and returns the function that unsubscribes.
    """

    def __init__(self, store: SecretStore | None = None) -> None:
        self.store = store if store is not None else SecretStore()
        self._tunnels: dict[str, Tunnel] = {}
        self._cancels: dict[str, Callable[[], None]] = {}
        self._statuses: dict[str, TunnelStatus] = {}
        self._listeners: list[Listener] = []

    def status(self, instance_id: str) -> TunnelStatus | None:
        return self._statuses.get(instance_id)

    def statuses(self) -> dict[str, TunnelStatus]:
        return dict(self._statuses)

    def is_active(self, instance_id: str) -> bool:
        status = self._statuses.get(instance_id)
        return status is not None and status.active

    def tunnel(self, instance_id: str) -> Tunnel | None:
        return self._tunnels.get(instance_id)

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def update(self, status: TunnelStatus) -> None:
        """Record an instance's new status and tell the listeners (each tunnel reports through this)."""
        self._statuses[status.instance_id] = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("tunnel listener failed")

    def start(
        self,
        tunnel: Tunnel,
        spawn: Callable[[Coroutine[Any, Any, TunnelStatus]], Callable[[], None]],
    ) -> Tunnel:
        """Run ``tunnel`` through ``spawn`` (which starts the coroutine, e.g. as an app worker, and
        returns how to cancel it). A tunnel already active for the instance is kept and returned."""
        current = self._tunnels.get(tunnel.instance_id)
        if current is not None and self.is_active(tunnel.instance_id):
            return current
        tunnel.store = self.store
        tunnel.on_status = self.update
        self._tunnels[tunnel.instance_id] = tunnel
        self.update(tunnel.status)
        self._cancels[tunnel.instance_id] = spawn(tunnel.run())
        return tunnel

    def stop(self, instance_id: str) -> bool:
        """Cancel the instance's tunnel (its port closes as the worker unwinds); False if none ran."""
        cancel = self._cancels.pop(instance_id, None)
        if cancel is None:
            return False
        cancel()
        return True

    async def stop_and_wait(self, instance_id: str, timeout_s: float = 10) -> None:
        tunnel = self._tunnels.get(instance_id)
        if self.stop(instance_id) and tunnel is not None:
            if not await wait_event(tunnel.finished, timeout_s):
                log.warning("the tunnel to %s took long to close", tunnel.label)

    async def close_all(self, timeout_s: float = 10) -> None:
        """Stop every tunnel and wait until their ports are closed (the app is exiting)."""
        for instance_id in list(self._cancels):
            await self.stop_and_wait(instance_id, timeout_s)


def short_state(status: TunnelStatus | None) -> str:
    """For a table cell: "up :8889", "reconnecting :8889", "starting", or "" (no tunnel)."""
    if status is None or not status.active:
        return ""
    port = f" :{status.local_port}" if status.local_port else ""
    return f"{status.state}{port}"
