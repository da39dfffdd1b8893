"""A garbled file of the app's own (known_hosts, the ssh config include) never turns what AWS did into
a failure: `launch`, `stop` and `terminate` as real subprocesses against a moto server on loopback,
with the files broken on disk as a crash, a sync tool or an editor leaves them."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import LAUNCH, assert_one_line_failure, d2l, endpoint, instances  # noqa: F401
from tests.test_cli_lifecycle import state
from tests.test_lifecycle import run
from tui.services.cloud.aws import Aws

GARBLED = b"# d2l-tui\ni-0abc ssh-ed25519 AAAA\xff\xfe broken\n"


def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "state" / "d2l-tui" / "known_hosts"  # XDG_STATE_HOME from conftest's isolated_env


def garble(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(GARBLED)
    return path


def test_launch_with_a_garbled_known_hosts_exits_0_and_names_the_file(endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.conftest import subprocess_env

    home = tmp_path / "home"
    env = subprocess_env(endpoint, home)
    hosts = garble(known_hosts(tmp_path))
    garble(home / ".ssh" / "d2l-tui" / "config")

    result = d2l(env, *LAUNCH, "--name", "book", "--yes")

    assert result.returncode == 0, result.stderr  # a script retrying on 1 would launch a second one
    assert "Traceback" not in result.stderr + result.stdout
    [data] = instances()
    assert data["State"]["Name"] == "running"
    printed_id, ssh_line = result.stdout.splitlines()
    assert printed_id == data["InstanceId"]
    # ssh gets the strict setting: with its pins unreadable it must not accept a key nobody saw.
    assert "StrictHostKeyChecking=yes" in ssh_line
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith("d2l-tui: warning: ") and "is running" in warning
    assert f"not UTF-8 at line 2): fix or remove {hosts}, then retry" in warning
    assert hosts.read_bytes() == GARBLED  # it holds trust: never rewritten or moved behind the user's back


def test_stop_and_terminate_with_a_garbled_include_set_it_aside_and_exit_0(
    moto_endpoint: str, tmp_path: Path
) -> None:
    from tests.conftest import subprocess_env

    home = tmp_path / "home"
    env = subprocess_env(moto_endpoint, home)
    iid = run(Aws(region="us-east-1"), "us-east-1", "box")
    include = garble(home / ".ssh" / "d2l-tui" / "config")
    garble(known_hosts(tmp_path))

    stopped = d2l(env, "stop", "box", "--region", "us-east-1")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == iid and state(iid) == "stopped"
    assert "Traceback" not in stopped.stderr
    [notice] = [line for line in stopped.stderr.splitlines() if "warning" in line]
    assert f"{include} could not be read (not UTF-8 at line 2)" in notice
    [aside] = include.parent.glob("config.corrupt-*")
    assert aside.name in notice and aside.read_bytes() == GARBLED  # kept for a look, under its new name
    assert not include.exists() or include.read_text("utf-8").startswith("# Written by d2l-tui")

    garble(include)
    gone = d2l(env, "terminate", "box", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert state(iid) == "terminated" and gone.stdout.strip() == iid
    assert "Traceback" not in gone.stderr and "could not be read" in gone.stderr


def test_ssh_refuses_a_garbled_known_hosts_with_one_sentence(moto_endpoint: str, tmp_path: Path) -> None:
    from tests.conftest import subprocess_env

    env = subprocess_env(moto_endpoint, tmp_path / "home")
    run(Aws(region="us-east-1"), "us-east-1", "shell-box")
    hosts = garble(known_hosts(tmp_path))

    refused = d2l(env, "ssh", "shell-box")  # nothing done in AWS: refusing is the outcome

    assert_one_line_failure(refused, 1, "known_hosts cannot be read (not UTF-8 at line 2)", str(hosts))
    assert hosts.read_bytes() == GARBLED
