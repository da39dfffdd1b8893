"""What the auto-stop agent makes of each Jupyter kernel state (tui/data/autostop/agent.py,
jupyter_signals), read from a loopback server that answers /api/kernels as Jupyter Server does.

A real Jupyter is driven end to end in tests/test_autostop_agent.py; a kernel stuck in "starting"
(Jupyter keeps saying it until the kernel's next message when it missed the first "idle") can't be
made on demand there, so the server here answers with Jupyter's shapes and states.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

AGENT = Path(__file__).resolve().parents[1] / "tui" / "data" / "autostop" / "agent.py"
TOKEN = "kernels-token"
NOW = 1_800_000_000.0


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(epoch))


class Kernels(BaseHTTPRequestHandler):
    kernels: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/api/kernels" or self.headers.get("Authorization") != f"token {TOKEN}":
            self.send_error(403)
            return
        body = json.dumps(self.kernels).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The agent loaded as the instance runs it, its Jupyter runtime folder holding one server's file."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Kernels)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    info = {"pid": os.getpid(), "port": server.server_address[1], "token": TOKEN, "base_url": "/"}
    (runtime / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))
    monkeypatch.setenv("D2L_AUTOSTOP_JUPYTER", str(runtime))
    spec = importlib.util.spec_from_file_location("d2l_autostop_agent", AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        server.shutdown()
        server.server_close()


def signals(agent: ModuleType, state: str, minutes_ago: float) -> list[tuple[float, str]]:
    Kernels.kernels = [
        {
            "id": "k-1",
            "name": "python3",
            "execution_state": state,
            "last_activity": iso(NOW - minutes_ago * 60),
            "connections": 1,
        }
    ]
    return list(agent.jupyter_signals({}, NOW))


def test_a_busy_kernel_is_work_however_long_ago_it_last_spoke(agent: ModuleType) -> None:
    """A cell training for hours without printing is busy with an old last_activity."""
    assert signals(agent, "busy", minutes_ago=180) == [(NOW, "kernel busy")]


def test_an_idle_kernel_counts_from_its_last_activity(agent: ModuleType) -> None:
    assert signals(agent, "idle", minutes_ago=12) == [(NOW - 12 * 60, "kernel ran")]


def test_a_kernel_starting_just_now_is_work(agent: ModuleType) -> None:
    assert signals(agent, "starting", minutes_ago=0.5) == [(NOW, "kernel busy")]


def test_a_kernel_stuck_starting_does_not_keep_the_machine_up(agent: ModuleType) -> None:
    """Past STARTING_MINUTES it is idle since its last activity, so the idle clock runs and the
    instance stops (its bill with it) instead of staying up for a notebook opened and left."""
    assert agent.STARTING_MINUTES * 60 < 20 * 60
    assert signals(agent, "starting", minutes_ago=20) == [(NOW - 20 * 60, "kernel ran")]
