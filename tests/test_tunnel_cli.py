"""`d2l-tui tunnel NAME` as a subprocess: AWS is a moto server, the instance is a real sshd whose
~/d2l/bin/jupyter is the demo's stand-in (it starts in a fraction of a second).

The command prints the URL, holds the forward until Ctrl-C (SIGINT), then gives the port back.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.sshd import OpenSshServer, free_port, point_host_at
from tests.test_cli_provision import console_shows, launch_instance
from tests.test_tunnel import STAND_IN, Instance, refused
from tui.demo.ssh_host import console_output_for


@pytest.fixture
def instance(
    moto_endpoint: str,
    sshd: OpenSshServer,
    client_key: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Instance]:
    data = launch_instance("d2l-tun", client_key[1])
    home = tmp_path / "home"
    point_host_at(home, data["PublicDnsName"], sshd)
    key_dir = home / ".ssh" / "d2l-tui"
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(client_key[0], key_dir / "d2l-tun.pem")
    (key_dir / "d2l-tun.pem").chmod(0o400)
    console_shows(monkeypatch, console_output_for(sshd.host_public_key))
    inst = Instance(sshd, client_key[0])
    inst.give_jupyter(STAND_IN)
    yield inst
    inst.kill_servers()


def read_line(stream: Any, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return str(stream.readline()) if ready else ""


def test_prints_the_url_holds_the_forward_and_ctrl_c_closes_it(
    moto_endpoint: str, instance: Instance, tmp_path: Path
) -> None:
    port = free_port()
    env = subprocess_env(moto_endpoint, tmp_path / "home")
    command = [sys.executable, "-m", "tui", "tunnel", "d2l-tun", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = read_line(proc.stdout, 60).strip()
        assert url.startswith(f"http://localhost:{port}/?token="), proc.stderr.read() if proc.stderr else ""
        token = url.split("token=")[1]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/status?token={token}", timeout=30
        ) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=30)
        assert denied.value.code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Tunnel closed" in err and "Jupyter keeps running on d2l-tun" in err
    assert "memory only" in err and "Traceback" not in err
    assert refused(port)
    assert len(instance.runtime_files()) == 1  # Jupyter outlives the command

    log = (tmp_path / "state" / "d2l-tui" / "d2l-tui.log").read_text()
    assert token not in log

    stopped = subprocess.run(
        [sys.executable, "-m", "tui", "tunnel", "d2l-tun", "--stop-jupyter"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "Jupyter stopped on d2l-tun." in stopped.stderr
    deadline = time.monotonic() + 10
    while instance.runtime_files() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.runtime_files() == []


def test_an_instance_without_jupyter_exits_1_with_the_next_step(
    moto_endpoint: str, instance: Instance, tmp_path: Path
) -> None:
    os.unlink(instance.home / "d2l" / "bin" / "jupyter")
    result = subprocess.run(
        [sys.executable, "-m", "tui", "tunnel", "d2l-tun", "--port", str(free_port())],
        env=subprocess_env(moto_endpoint, tmp_path / "home"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert "Jupyter isn't installed on d2l-tun yet" in result.stderr and "provision d2l-tun" in result.stderr
    assert "Traceback" not in result.stderr
