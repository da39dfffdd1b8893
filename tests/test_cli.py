"""`d2l-tui launch … --yes` and `d2l-tui ls` as real subprocesses against a moto server on loopback.

The only thing arranged on the server side is what moto can't know: the images' real root snapshot
sizes (moto reports 15 GiB for every AMI), so the DLAMI's 75 GiB root applies as it does on AWS.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env
from tests.support.cli_run import run_cli, run_process
from tui.demo.cloud import ami_root_sizes
from tui.models import TAG_CLIENT_TOKEN, TAG_MANAGED, TAG_NAME
from tui.services.cloud.aws import Aws

CIDR = "198.51.100.23/32"
LAUNCH = ["launch", "--region", "us-east-1", "--type", "g4dn.xlarge", "--ssh-cidr", CIDR]


@pytest.fixture
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto server, answering DescribeImages with the bundled images' real root sizes."""
    from moto.ec2.models.amis import Ami

    moto_sizes = Ami.block_device_mappings

    def real_sizes(self: Any) -> list[dict[str, Any]]:
        mappings = moto_sizes.fget(self)  # type: ignore[attr-defined]
        size = ami_root_sizes().get(self.id)
        for mapping in mappings:
            if size and mapping["DeviceName"] == self.root_device_name:
                mapping["Ebs"]["VolumeSize"] = size
        return list(mappings)

    monkeypatch.setattr(Ami, "block_device_mappings", property(real_sizes))
    return moto_endpoint


def d2l(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """In this process (tests/support/cli_run.py): the command as `python -m tui` runs it."""
    return run_cli(env, *args)


def d2l_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A real `python -m tui` process: the entry point itself, once per command group."""
    return run_process(env, *args)


def ec2(region: str = "us-east-1") -> Any:
    return Aws(region=region).client("ec2", region)  # AWS_ENDPOINT_URL points at the server


def instances() -> list[dict[str, Any]]:
    return [i for r in ec2().describe_instances()["Reservations"] for i in r["Instances"]]


def _is_progress(line: str) -> bool:
    return line.startswith(("d2l-tui: asking ", "d2l-tui: looking for ", "d2l-tui: still waiting for AWS"))


def assert_one_line_failure(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, result.stderr
    # Progress lines ("asking every enabled region…" after 1 s) are not failures: a busy machine may print one.
    lines = [line for line in result.stderr.splitlines() if not _is_progress(line)]
    assert len(lines) == 1 and lines[0].startswith("d2l-tui: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]
    return lines[0]


def assert_nothing_created(home: Path) -> None:
    assert instances() == []
    assert ec2().describe_key_pairs()["KeyPairs"] == []
    groups = ec2().describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    assert not (home / ".ssh").exists()


def test_launch_then_ls(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = subprocess_env(endpoint, home)
    result = d2l_process(env, *LAUNCH, "--name", "book", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    [data] = instances()
    instance_id, dns = data["InstanceId"], data["PublicDnsName"]
    key_file = home / ".ssh" / "d2l-tui" / "d2l-tui.pem"
    printed_id, ssh_line = result.stdout.splitlines()
    ssh = shlex.split(ssh_line)  # the instances screen's command: the app's key and known_hosts
    assert printed_id == instance_id
    assert ssh[:3] == ["ssh", "-i", str(key_file)] and ssh[-1] == f"ubuntu@{dns}"
    assert f"HostKeyAlias={instance_id}" in ssh and "StrictHostKeyChecking=ask" in ssh
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o400
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    progress = result.stderr.splitlines()
    assert progress[0].startswith(
        "Auto-stop: The instance stops (its disk stays, and is billed) after 30 min idle"
    )  # on by default
    assert progress[1] == "Importing key pair d2l-tui into us-east-1 …" and progress[-2:] == [
        "Ready",
        "Launched book: `d2l-tui provision book` sets it up for the book.",
    ]

    assert data["InstanceType"] == "g4dn.xlarge" and data["KeyName"] == "d2l-tui"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
    tags = {t["Key"]: t["Value"] for t in data["Tags"]}
    assert tags["Name"] == "book" and tags[TAG_MANAGED] == "true" and tags[TAG_NAME] == "book"
    assert len(tags[TAG_CLIENT_TOKEN]) == 36  # a uuid4

    root = data["RootDeviceName"]
    [mapping] = [m for m in data["BlockDeviceMappings"] if m["DeviceName"] == root]
    assert mapping["Ebs"]["DeleteOnTermination"] is True
    [volume] = ec2().describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"]) == (75, "gp3", True)  # DLAMI root: 75
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}[TAG_MANAGED] == "true"

    [group] = ec2().describe_security_groups(GroupIds=[g["GroupId"] for g in data["SecurityGroups"]])[
        "SecurityGroups"
    ]
    rules = [
        (
            p["IpProtocol"],
            p["FromPort"],
            p["ToPort"],
            [r["CidrIp"] for r in p["IpRanges"]],
            p.get("Ipv6Ranges", []),
        )
        for p in group["IpPermissions"]
    ]
    assert rules == [("tcp", 22, 22, [CIDR], [])]
    assert ec2().describe_key_pairs(KeyNames=["d2l-tui"])["KeyPairs"]

    listed = d2l_process(env, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["instances"]
    assert row["id"] == instance_id and row["name"] == "book" and row["region"] == "us-east-1"
    assert (row["type"], row["state"], row["public_dns"]) == ("g4dn.xlarge", "running", dns)

    table = d2l(env, "--region", "us-east-1", "ls")
    assert table.returncode == 0, table.stderr
    header, line = table.stdout.splitlines()
    assert header.split() == ["NAME", "REGION", "TYPE", "STATE", "PUBLIC", "DNS", "ID"]
    assert line.split() == ["book", "us-east-1", "g4dn.xlarge", "running", dns, instance_id]


def test_default_name_and_disk_with_ubuntu(endpoint: str, tmp_path: Path) -> None:
    # An instance of the type's name is in the region already: the wizard's rule numbers the next.
    image = ec2().describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": TAG_MANAGED, "Value": "true"}, {"Key": TAG_NAME, "Value": "d2l-g4dn-xlarge"}]
    ec2().run_instances(
        ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": tags}]
    )
    env = subprocess_env(endpoint, tmp_path / "home")
    result = d2l(env, *LAUNCH, "--image", "ubuntu", "--spot", "--autostop", "off", "--yes")
    assert result.returncode == 0, result.stderr
    [data] = [i for i in instances() if i.get("InstanceLifecycle") == "spot"]
    tags = {t["Key"]: t["Value"] for t in data["Tags"]}
    assert tags[TAG_NAME] == "d2l-g4dn-xlarge-2"
    assert data["InstanceLifecycle"] == "spot"
    volume_id = data["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 64  # Ubuntu's root is 8


def test_disk_smaller_than_the_image_is_refused_before_anything_is_sent(
    endpoint: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    result = d2l(subprocess_env(endpoint, home), *LAUNCH, "--disk", "10", "--yes")
    assert_one_line_failure(result, 1, "10 GiB", "75 GiB", "--disk 75")
    assert_nothing_created(home)


def test_plain_ubuntu_refuses_a_disk_the_books_setup_does_not_fit_on(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = d2l(subprocess_env(endpoint, home), *LAUNCH, "--image", "ubuntu", "--disk", "10", "--yes")
    assert_one_line_failure(result, 1, "10 GiB", "at least 30 GiB", "PyTorch", "--disk 30", "--own-setup")
    assert_nothing_created(home)


def test_own_setup_lifts_the_books_floor_but_not_the_snapshot(endpoint: str, tmp_path: Path) -> None:
    """--own-setup: only the user's steps will run, so a 10 GiB disk on Ubuntu (8 GiB snapshot) is
    launched; 6 GiB is still below the snapshot and refused, with no word of --own-setup."""
    env = subprocess_env(endpoint, tmp_path / "home")
    below = d2l(env, *LAUNCH, "--image", "ubuntu", "--disk", "6", "--own-setup", "--yes")
    assert_one_line_failure(below, 1, "6 GiB", "at least 8 GiB", "--disk 8")
    assert "--own-setup" not in below.stderr
    result = d2l(
        env, *LAUNCH, "--image", "ubuntu", "--disk", "10", "--own-setup", "--autostop", "off", "--yes"
    )
    assert result.returncode == 0, result.stderr
    [data] = instances()
    volume_id = data["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    assert ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 10


def test_without_yes_nothing_happens(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = d2l(subprocess_env(endpoint, home), *LAUNCH)
    assert_one_line_failure(result, 2, "--yes")
    assert_nothing_created(home)


def test_unknown_instance_type_is_one_line(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["launch", "--type", "g4dn.xlargo", "--ssh-cidr", CIDR, "--yes"]
    result = d2l(subprocess_env(endpoint, home), *args)
    assert_one_line_failure(result, 1, "g4dn.xlargo is not an EC2 instance type")
    assert_nothing_created(home)


def test_bad_cidr_is_one_line(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = d2l(
        subprocess_env(endpoint, home), "launch", "--type", "g4dn.xlarge", "--ssh-cidr", "10.0.0.1/8", "--yes"
    )
    assert_one_line_failure(result, 1, "10.0.0.0/8")
    assert_nothing_created(home)


@pytest.mark.parametrize(
    "source", ["0.0.0.0/0", "0.0.0.0/0.0.0.0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"]
)
def test_a_wide_ssh_source_needs_its_own_flag(endpoint: str, tmp_path: Path, source: str) -> None:
    home = tmp_path / "home"
    args = ["launch", "--type", "g4dn.xlarge", "--ssh-cidr", source, "--yes"]
    result = d2l(subprocess_env(endpoint, home), *args)
    assert_one_line_failure(result, 2, "--allow-wide-ssh", "Prefer your own address")
    assert_nothing_created(home)


def test_with_the_flag_a_wide_source_launches_with_the_rule_as_given(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = [
        "launch",
        "--type",
        "g4dn.xlarge",
        "--ssh-cidr",
        "10.0.0.0/255.0.0.0",
        "--allow-wide-ssh",
        "--yes",
    ]
    result = d2l(subprocess_env(endpoint, home), *args)
    assert result.returncode == 0, result.stderr
    assert "warning: This opens SSH to 10.0.0.0/8" in result.stderr
    (instance,) = instances()
    (group,) = ec2().describe_security_groups(GroupIds=[instance["SecurityGroups"][0]["GroupId"]])[
        "SecurityGroups"
    ]
    sources = [(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]]
    assert sources == [(22, "10.0.0.0/8")]


def test_undetectable_public_ip_asks_for_ssh_cidr(endpoint: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = subprocess_env(endpoint, home)
    # checkip.amazonaws.com unreachable, deterministically: its HTTPS goes to a closed loopback port.
    env.update(HTTPS_PROXY=f"http://127.0.0.1:{_closed_port()}", https_proxy="", NO_PROXY="", no_proxy="")
    result = d2l(env, "launch", "--type", "g4dn.xlarge", "--yes")
    assert_one_line_failure(result, 1, "public IP", "--ssh-cidr")
    assert_nothing_created(home)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_arguments_exit_2_with_usage(endpoint: str, tmp_path: Path) -> None:
    env = subprocess_env(endpoint, tmp_path / "home")
    result = d2l(env, "launch", "--type", "G4DN", "--yes")
    assert result.returncode == 2 and "is not an instance type like g4dn.xlarge" in result.stderr
    assert d2l(env, "launch", "--type", "g4dn.xlarge", "--disk", "lots", "--yes").returncode == 2
    assert d2l(env, "frobnicate").returncode == 2
    assert instances() == []


def test_no_credentials_says_aws_configure(tmp_path: Path) -> None:
    empty_config, empty_credentials = tmp_path / "config", tmp_path / "credentials"
    empty_config.write_text("")
    empty_credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path / "home"),
        AWS_CONFIG_FILE=str(empty_config),
        AWS_SHARED_CREDENTIALS_FILE=str(empty_credentials),
        # Not on EC2: don't wait for the instance metadata service the chain would try last.
        AWS_EC2_METADATA_DISABLED="true",
    )
    for args in (LAUNCH + ["--yes"], ["ls"]):
        result = d2l(env, *args)
        assert_one_line_failure(result, 1, "No AWS credentials were found", "aws configure")
    log = (Path(env["XDG_STATE_HOME"]) / "d2l-tui" / "d2l-tui.log").read_text()
    assert "NoCredentialsError" in log and "Traceback" in log
    assert not (tmp_path / "home" / ".ssh").exists()


def test_headless_commands_never_import_textual(endpoint: str, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('textual is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from tui.__main__ import main\n"
        "rc = main(['--region', 'us-east-1', 'ls', '--json'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'textual']\n"
        "sys.exit(rc)\n"
    )
    env = subprocess_env(endpoint, tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"complete": True, "instances": [], "failed_regions": []}


def test_demo_launch_runs_on_the_simulated_cloud(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["HOME"] = str(tmp_path / "home")
    result = d2l(env, "--demo", "launch", "--type", "g5g.xlarge", "--image", "ubuntu", "--yes")
    assert result.returncode == 0, result.stderr
    instance_id, ssh = result.stdout.splitlines()
    assert instance_id.startswith("i-")
    # The simulated user's address, and a key kept out of ~/.ssh.
    assert "Security group sg-" in result.stderr and "203.0.113.7/32" in result.stderr
    key = Path(env["XDG_STATE_HOME"]) / "d2l-tui" / "simulated-ssh" / "d2l-tui.pem"
    assert ssh.startswith(f"ssh -i {key} ") and " ubuntu@ec2-" in ssh and key.is_file()
    assert not (tmp_path / "home" / ".ssh").exists()
    # What it launched is gone when the command ends: the next `--demo ls` would find nothing.
    assert "new, empty simulated cloud for every command" in result.stderr


def test_demo_ls_says_each_command_has_its_own_simulated_cloud(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["HOME"] = str(tmp_path / "home")
    result = d2l(env, "--demo", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No instances")
    [line] = [line for line in result.stderr.splitlines() if "simulated cloud" in line]
    assert "new, empty simulated cloud for every command" in line and "`d2l-tui --demo`" in line


def test_demo_commands_on_an_instance_say_the_simulated_cloud_starts_empty(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env["HOME"] = str(tmp_path / "home")
    result = d2l(env, "--demo", "gpu", "book", "--once")
    assert result.returncode == 1
    assert "No instance named 'book'" in result.stderr
    assert (
        "new, empty simulated cloud for every command" in result.stderr and "d2l-tui --demo" in result.stderr
    )
