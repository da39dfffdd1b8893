"""Jupyter on the instance: find, start and stop the server (``JupyterRemote``, one SSH
connection's worth of commands).

- a running server is found through its runtime file (``jpserver-PID.json`` in ``jupyter
  --runtime-dir``), which is what ``jupyter server list --json`` reads, without that command's
  seconds of imports; a file whose process is gone is ignored, as ``server list`` does;
- none running: Jupyter Notebook is started from the d2l environment (``~/d2l/bin/jupyter``), in the
  notebooks folder, bound to 127.0.0.1, detached (``setsid nohup``) so it outlives the connection and
  the app; the token is preset through ``JUPYTER_TOKEN``, which the start script reads from its stdin:
  it is never on a command line (``ps`` shows those to every user) and its log is written 0600;
- the token the app uses is the one the server's runtime file holds: read from the server itself.

Jupyter keeps running on the instance until ``stop_jupyter``, whatever happens to the tunnel to it
(tui.services.remote.tunnel).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from tui.logs import mask_secrets, remember_secret
from tui.models import JupyterServer
from tui.services.errors import D2lError

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger(__name__)

DEFAULT_REMOTE_PORT = 8888
# Jupyter in the d2l environment made by the setup (RECIPE: ~/d2l, a uv venv). A word without a
# slash is looked up on the instance's PATH: --demo's stand-in (tui/demo/bin/jupyter).
DEFAULT_JUPYTER = "$HOME/d2l/bin/jupyter"
DEMO_JUPYTER = "jupyter"
REMOTE_LOG = "$HOME/.d2l-tui/jupyter.log"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15


class JupyterMissing(D2lError):
    """The instance has no Jupyter where the app looks (not set up yet)."""


class JupyterStartFailed(D2lError):
    """Jupyter was started but did not come up."""


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


async def stop_jupyter(
    conn: asyncssh.SSHClientConnection,
    *,
    label: str = "the instance",
    jupyter: str = DEFAULT_JUPYTER,
    port: int | None = None,
) -> int:
    """Stop Jupyter on the instance (the server on ``port``, or every one); how many were running."""
    return await JupyterRemote(conn, label=label, jupyter=jupyter).stop(port)
